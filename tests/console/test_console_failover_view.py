"""The failover timeline panel and the follow-up of a change, in the real app under Pilot."""

from __future__ import annotations

from textual.widgets import Static

from vipdeck.console.testing import settle, wait_for
from tests.console.test_console_app import SIZE, app_for, client, confirm_modal, table

N2 = "198.18.0.2"


def panel(app) -> str:
    return app.query_one("#advert-failovers", Static).render().plain


async def test_the_adverts_screen_shows_the_failover_timeline_of_the_selected_vrid():
    c = client("node1-peer-down")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("2")
        t = table(app, "adverts-table")
        assert t.select_key(next(k for k in t.keys if k.startswith("eth0/4/52|")))
        await wait_for(lambda: "VI_2: 198.18.0.2 → node1 (here)" in panel(app), 3, "VRID 52's timeline")
        text = panel(app)
        assert "Master_Down_Interval 3629 ms: within it" in text
        lines = [x for x in text.splitlines() if x.startswith("  +")]
        assert [x.split("]")[0].rsplit("[", 1)[1] for x in lines] == ["wire", "engine", "engine", "engine"]
        assert "last advert heard" in lines[0] and "GARP/NA sent (5 frames)" in lines[-1]
        assert "(Δ  3629)" in lines[1]
        # the priority timeline marks our own takeover as a master change
        detail = app.query_one("#advert-detail", Static).render().plain
        assert "198.18.0.2 → 198.18.0.1" in detail and "no master change" not in detail


async def test_a_drain_is_followed_to_its_end():
    c = client("node1")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        now = app.sv.now
        await pilot.press("d")
        await confirm_modal(pilot)
        await pilot.press("tab", "enter")
        await wait_for(lambda: c.requests == [("drain", {})], 3, "the drain request")
        snap = c.edit_snapshot()
        snap["node"]["now"] = now + 1.5
        snap["instances"][0]["state"] = "BACKUP"
        snap["adverts"][0]["history"].append([now + 0.727, N2, 96])
        c.set_snapshot(snap)
        c.push_event("transition", "VI_1 MASTER -> BACKUP: operator", instance="VI_1", vrid=51,
                     time=now + 0.1, reason="operator", detail="drained: resigning", priority=1, master=None,
                     last_advert=None, **{"from": "MASTER", "to": "BACKUP"})
        c.push_event("vip", "VI_1: removed 198.18.0.198/32", instance="VI_1", time=now + 0.104, added=False,
                     vips=["198.18.0.198/32"])
        app.request_refresh()
        await wait_for(lambda: any(n[1] == "drain: followed" for n in app.notices), 5, "the follow-up")
        said = next(n for n in app.notices if n[1] == "drain: followed")
        assert said[0] == "information"
        assert said[2].startswith(f"VI_1: {N2} MASTER after 0.63 s") and "Skew_Time" in said[2]
        assert app.followups == []


async def test_the_failover_preview_reads_the_peer_connections():
    """node2 is silent on the wire (the peer-down picture), but its daemon answers over a
    --peer connection: the preview names it, with its own state and priority."""
    import copy

    from vipdeck.console.app import ConsoleApp
    from vipdeck.console.modals import ConfirmScreen
    from vipdeck.console.testing import ScriptedClient

    c = client("node1-peer-down")
    snap = copy.deepcopy(c._snapshot)
    snap["node"].update(hostname="node2", router_id="node2")
    snap["node"]["interfaces"][0]["addresses"] = [f"{N2}/24"]
    for i in snap["instances"]:
        i.update(state="BACKUP", effective_priority=90)
        i["wire"]["source"] = N2
    app = app_for(c, peers=[("/run/vipdeck/node2.sock", ScriptedClient(snap))])
    assert isinstance(app, ConsoleApp)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await wait_for(lambda: all(p.sv is not None for p in app.peer_links), 5, "node2's snapshot")
        table(app, "instances").select_key("VI_1")
        await pilot.press("f")
        modal = await confirm_modal(pilot)
        body = modal.query_one("#body").render().plain
        assert isinstance(modal, ConfirmScreen) and not modal.plan.typed, body
        assert "Expected new master: node2 (198.18.0.2)" in body
        assert "priority 90, BACKUP, live over the control connection" in body
