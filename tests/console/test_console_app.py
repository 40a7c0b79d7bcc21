"""The console driven by the Pilot against a scripted engine.

Every change key is checked end to end: the modal appears, and the request
the ScriptedClient records has the right op and arguments (or none at all
on cancel, in read-only mode, or when the selection makes no sense).
"""

from __future__ import annotations

import time

from textual.command import CommandPalette
from textual.widgets import TabbedContent

from vipdeck.console.app import ConsoleApp
from vipdeck.console.modals import ConfirmScreen
from vipdeck.console.help import HelpScreen
from vipdeck.console.testing import ScriptedClient, settle, synthetic_snapshot, wait_for
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.engine.control.schema import ControlError
from tests.support.paths import FIXTURES

FIX = FIXTURES / "console"
SIZE = (140, 40)


def client(name: str = "node1", **kw) -> ScriptedClient:
    return ScriptedClient.from_fixture(FIX / f"{name}.json", **kw)


def app_for(c: ScriptedClient, **kw) -> ConsoleApp:
    kw.setdefault("localtime", time.gmtime)
    kw.setdefault("frozen", True)
    kw.setdefault("system_probe", None)
    kw.setdefault("refresh_interval", 30.0)     # refreshes here are driven by events
    kw.setdefault("coalesce", 0.05)
    kw.setdefault("confirm_delay", 0.05)        # the typed-ahead test uses the real one
    return ConsoleApp(c, **kw)


def table(app: ConsoleApp, table_id: str) -> KeyedTable:
    return app.query_one(f"#{table_id}", KeyedTable)


def plain(cell) -> str:
    return getattr(cell, "plain", str(cell))


def row(app: ConsoleApp, table_id: str, key: str) -> list[str]:
    return [plain(c) for c in table(app, table_id).row_cells(key)]


def last_notice(app: ConsoleApp) -> str:
    return app.notices[-1][2] if app.notices else ""


async def confirm_modal(pilot) -> ConfirmScreen:
    """The confirmation, once it takes keys."""
    await wait_for(lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.armed, 3,
                   "the confirmation modal")
    return pilot.app.screen


# -- screens --------------------------------------------------------------------------------

async def test_overview_shows_node_instances_and_why():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        assert table(app, "instances").keys == ["VI_1", "VI_2"]
        vi1 = row(app, "instances", "VI_1")
        assert vi1[:5] == ["VI_1", "51", "MASTER", "100 → 100", "2 ok"]
        assert vi1[5] == "this node" and vi1[6] == "198.18.0.198/32"
        assert vi1[7] == "2m11s BACKUP→MASTER preempt"
        vi2 = row(app, "instances", "VI_2")
        assert vi2[2:6] == ["BACKUP", "98 → 95", "chk_nginx −3, 1 ok", "198.18.0.2 (100, <1s)"]
        node = app.query_one("#node").render().plain
        assert "node1" in node and "load 0.42 0.31 0.20" in node and "584.0 MiB / 1.9 GiB" in node
        assert "normal election" in node
        detail = app.query_one("#instance-detail").render().plain
        assert "preempt (priority 100 > master 198.18.0.2 priority 96)" in detail
        await pilot.press("down")
        detail = app.query_one("#instance-detail").render().plain
        assert "chk_nginx (script) failed −3" in detail and "effective 95" in detail


async def test_overview_drained_node_shows_who_when_why():
    c = client("node1-drained")
    app = app_for(c)
    async with app.run_test(size=SIZE):
        await settle(app, c)
        node = app.query_one("#node").render().plain
        assert "DRAINED by alice 10m00s ago: kernel upgrade" in node
        assert row(app, "instances", "VI_1")[-1] == "drained"
        assert "DRAINED" in app.query_one("#status").render().plain


async def test_system_figures_come_from_psutil_without_node_system():
    c = client()
    raw = c.edit_snapshot()
    del raw["node"]["system"]
    c.set_snapshot(raw)
    probe = {"load": [1.5, 1.0, 0.5], "cpus": 4, "mem_total": 4 << 30, "mem_used": 1 << 30,
             "disk_path": "/", "disk_total": 10 << 30, "disk_used": 5 << 30}
    app = app_for(c, system_probe=lambda: probe)
    async with app.run_test(size=SIZE):
        await settle(app, c)
        node = app.query_one("#node").render().plain
        assert "load 1.50 1.00 0.50 (4 CPUs)" in node and "5.0 GiB / 10.0 GiB (50%)" in node
    from vipdeck.console.system import local_system
    real = local_system()
    assert real["mem_total"] > 0 and len(real["load"]) == 3


async def test_number_keys_tabs_and_help():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        tabs = app.query_one("#tabs", TabbedContent)
        for key, tab in zip("51", ["events", "overview"]):
            await pilot.press(key)
            assert tabs.active == tab
        await pilot.press("tab")
        assert tabs.active == "adverts"
        await pilot.press("shift+tab")
        assert tabs.active == "overview"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_adverts_screen_lists_sources_flags_and_timeline():
    c = client("node1-split-brain")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("2")
        t = table(app, "adverts-table")
        v6 = "fe80::c6:12ff:fe00:9"
        assert t.keys == ["eth0/4/51|198.18.0.1", "eth0/4/51|198.18.0.2", "eth0/4/51|rejected|198.18.0.77",
                          "eth0/4/52|198.18.0.2", "eth0/4/60|198.18.0.9", "eth0/4/60|rejected|198.18.0.9",
                          f"eth0/6/60|{v6}"]
        r = row(app, "adverts-table", "eth0/4/51|198.18.0.1")
        assert r[1] == "198.18.0.1 (here)" and r[-2] == "MASTER" and r[-1] == "SPLIT-BRAIN TTL"
        # a source whose adverts we reject is listed apart, with why: never a master
        r = row(app, "adverts-table", "eth0/4/51|rejected|198.18.0.77")
        assert r[1:4] == ["198.18.0.77", "02:00:c6:12:00:4d", "200"] and r[-2:] == ["REJECTED", "TTL"]
        r = row(app, "adverts-table", "eth0/4/60|198.18.0.9")
        assert r[0] == "60 foreign" and r[-1] == "CHECKSUM"
        # FRR's dual-stack VRID 60: its IPv6 half is a view of its own, no flag
        r = row(app, "adverts-table", f"eth0/6/60|{v6}")
        assert r[0] == "60 v6 foreign" and r[2] == "00:00:5e:00:02:3c" and r[-2] == "MASTER" and r[-1] == ""
        detail = app.query_one("#advert-detail").render().plain
        assert "198.18.0.1 (here) and 198.18.0.2 have both advertised as master for 41.0 s" in detail
        assert "1 source rejected (never counted as master): 198.18.0.77 ttl" in detail
        assert "eth0 dropped before any VRID was read: our own source address 2, too short 1" in detail
        assert "2m11s ago: 198.18.0.2 → 198.18.0.1" in detail and "▲" in detail
        await pilot.press("down", "down", "down", "down")
        detail = app.query_one("#advert-detail").render().plain
        assert detail.startswith("VRID 60 IPv4 on eth0  foreign") and "checksum 0x1234 is wrong" in detail


async def test_vips_screen_shows_holders_and_conflicts():
    c = client("node1-split-brain")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("3")
        r = row(app, "vips-table", "VI_1|198.18.0.198/32")
        assert r[5] == "this node" and r[7] == "yes"
        assert r[9].startswith("split brain on VRID 51")
        r = row(app, "vips-table", "VI_2|198.18.0.197/32")
        assert r[5:8] == ["198.18.0.2", "02:00:c6:12:00:02", "no"] and r[9] == "-"
        assert "1 with issues" in app.query_one("#vip-summary").render().plain


async def test_an_excluded_vip_is_listed_and_marked():
    c = client()
    raw = c.edit_snapshot()
    raw["instances"][0]["vips"].append({"address": "2001:db8:5::100/64", "dev": "eth1", "label": None,
                                        "present": True, "last_garp": None, "excluded": True})
    c.set_snapshot(raw)
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("3")
        r = row(app, "vips-table", "VI_1|2001:db8:5::100/64")
        assert r[1] == "eth1 excluded" and r[5] == "this node" and r[7] == "yes" and r[9] == "-"
        assert row(app, "vips-table", "VI_1|198.18.0.198/32")[1] == "eth0 (eth0:0)"


async def test_ipvs_screen_tree_weights_and_checkers():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("4")
        t = table(app, "ipvs-table")
        assert t.keys == ["vs|198.18.0.198:80", "rs|198.18.0.198:80|198.18.1.202:80",
                          "rs|198.18.0.198:80|198.18.1.203:80", "vs|198.18.0.197:80",
                          "rs|198.18.0.197:80|198.18.1.202:80", "rs|198.18.0.197:80|198.18.1.203:80"]
        r = row(app, "ipvs-table", "rs|198.18.0.198:80|198.18.1.202:80")
        assert r[:7] == ["  -> 198.18.1.202:80", "DR", "3 (cfg 1)", "12", "40", "UP", "HTTP_GET ok"]
        r = row(app, "ipvs-table", "rs|198.18.0.198:80|198.18.1.203:80")
        assert r[5] == "DOWN" and r[6] == "TCP_CHECK FAIL" and r[8] == "3"
        assert r[9].startswith("connect to 198.18.1.203:80")
        assert row(app, "ipvs-table", "rs|198.18.0.197:80|198.18.1.202:80")[2] == "0 (cfg 1)"
        assert row(app, "ipvs-table", "rs|198.18.0.197:80|198.18.1.202:80")[5] == "DRAINING"
        assert row(app, "ipvs-table", "vs|198.18.0.198:80")[9] == "sorry 198.18.1.200:80 idle"
        await pilot.press("down", "down")
        detail = app.query_one("#ipvs-detail").render().plain
        assert "connect to 198.18.1.203:80: connection refused" in detail


async def test_ipvs_unavailable_says_so_and_keeps_the_table():
    c = client("node1-ipvs-unavailable")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("4")
        banner = app.query_one("#ipvs-banner").render().plain
        assert "IPVS UNAVAILABLE" in banner and "ip_vs module" in banner
        assert len(table(app, "ipvs-table").keys) == 6
        r = row(app, "ipvs-table", "rs|198.18.0.198:80|198.18.1.203:80")
        assert r[3] == "-" and r[5] == "DOWN"
        assert "IPVS unavailable" in app.query_one("#status").render().plain


async def test_events_newest_at_bottom_filter_and_live_append():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("5")
        t = table(app, "events-table")
        assert len(t.keys) == 28                      # two passing checks hidden
        await pilot.press("p")                        # shown
        assert len(t.keys) == 30 and t.keys[0] == "1" and t.keys[-1] == "30"
        assert t.cursor_row == 29
        await pilot.press("slash", *"VI_2")
        assert set(t.keys) == {"4", "10", "12", "27"} or all(
            "VI_2" in " ".join(row(app, "events-table", k)) for k in t.keys)
        assert 0 < len(t.keys) < 30
        assert "match “VI_2”" in app.query_one("#events-summary").render().plain
        await pilot.press("enter")                    # keep the filter, back to the table
        assert app.focused is t
        ev = c.push_event("transition", "VI_2 BACKUP → MASTER (master down)", "warning",
                          instance="VI_2", to="MASTER", reason="master_down")
        c.push_event("check", "198.18.1.203:80 TCP_CHECK ok", vs="198.18.0.198:80", rs="198.18.1.203:80")
        await wait_for(lambda: str(ev["seq"]) in t.keys, 3, "the live event")
        assert "32" not in t.keys                    # filtered out
        assert t.keys[-1] == "31" and t.cursor_row == len(t.keys) - 1
        await pilot.press("escape")                  # clears the filter
        assert len(t.keys) == 32 and t.keys[-1] == "32"
        assert row(app, "events-table", "31")[:4] == ["22:13:20", "warning", "transition", "VI_2"]


async def test_filter_on_other_screens():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("slash", *"VI_2", "enter")
        assert table(app, "instances").keys == ["VI_2"]
        await pilot.press("escape")
        assert table(app, "instances").keys == ["VI_1", "VI_2"]
        await pilot.press("4", "slash")
        app.focused.value = "refused"
        await pilot.pause()
        assert table(app, "ipvs-table").keys == ["vs|198.18.0.198:80", "rs|198.18.0.198:80|198.18.1.203:80"]


# -- live updates -------------------------------------------------------------------------

async def test_updates_change_cells_in_place_and_keep_the_cursor():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        t = table(app, "instances")
        await pilot.press("down")
        assert t.selected_key == "VI_2"
        rebuilds, updates = t.stats["rebuilds"], t.stats["updates"]
        raw = c.edit_snapshot()
        vi2 = raw["instances"][1]
        vi2.update(state="MASTER", last_transition={"from": "BACKUP", "to": "MASTER", "reason": "master_down",
                                                    "detail": "", "time": raw["node"]["now"] - 2})
        c.set_snapshot(raw)
        c.push_event("transition", "VI_2 BACKUP → MASTER", instance="VI_2", to="MASTER")
        await wait_for(lambda: row(app, "instances", "VI_2")[2] == "MASTER", 3, "VI_2 MASTER")
        assert row(app, "instances", "VI_2")[5] == "this node"
        assert t.stats["rebuilds"] == rebuilds and t.stats["updates"] > updates   # rows changed in place
        assert t.selected_key == "VI_2" and t.cursor_row == 1


async def test_event_bursts_are_coalesced():
    c = client()
    app = app_for(c, refresh_interval=60.0)
    async with app.run_test(size=SIZE):
        await settle(app, c)
        before = c.snapshot_calls
        for k in range(300):
            c.push_event("advert", f"anomaly {k}", "warning", vrid=51, flag="ttl")
        await wait_for(lambda: len(app.events_view.events) == 330, 5, "the burst")
        await wait_for(lambda: c.snapshot_calls > before, 3, "a refresh")
        assert c.snapshot_calls - before <= 3


async def test_a_switch_right_after_start_stays_put_and_settles():
    """A focus request still queued from startup once pulled the console back
    to Overview, and the two screens then chased each other for ever."""
    c = ScriptedClient(synthetic_snapshot(255, 2))
    app = app_for(c)
    activations = []
    app.on_tabbed_content_tab_activated = lambda ev, h=app.on_tabbed_content_tab_activated: (
        activations.append(ev.pane.id), h(ev))[-1]
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.version > 0, 5, "the first snapshot")
        app.action_show_tab("adverts")
        for k in range(3):                     # three more snapshots shown
            seen = app.version
            c.push_event("transition", f"tick {k}", instance="VI_1")
            await wait_for(lambda: app.version > seen, 3, "a refresh")
        await pilot.pause()
        assert app.active_tab == "adverts"
        assert app.focused is table(app, "adverts-table")
        assert activations.count("overview") <= 1 and len(activations) <= 3, activations


async def test_event_flood_while_hidden_is_kept_then_shown():
    c = client()
    app = app_for(c, max_events=100)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        t = table(app, "events-table")
        rows_before = t.row_count
        for k in range(500):
            c.push_event("advert", f"flood {k}", "warning", vrid=51, flag="ttl")
        await wait_for(lambda: app.events_view.events[-1]["message"] == "flood 499", 5, "the flood")
        assert t.row_count == rows_before              # hidden: nothing formatted
        await pilot.press("5")
        assert t.row_count == 100 and row(app, "events-table", t.keys[-1])[4] == "flood 499"
        assert t.cursor_row == 99
        assert "100 events" in app.query_one("#events-summary").render().plain


async def test_unreachable_engine_is_reported_not_fatal():
    class Gone(ScriptedClient):
        async def snapshot(self):
            raise ControlError("unavailable", "daemon not listening on /run/vipdeck/control.sock")

        async def follow(self, since=0):
            raise ControlError("unavailable", "daemon not listening on /run/vipdeck/control.sock")
            yield  # pragma: no cover

    app = app_for(Gone({}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: "daemon not listening" in app.query_one("#status").render().plain, 3, "status")
        await pilot.press("d")
        assert "No snapshot" in last_notice(app)


# -- actions ------------------------------------------------------------------------------

async def test_drain_cancel_sends_nothing_then_confirm_sends_reason():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("d")
        modal = await confirm_modal(pilot)
        body = modal.query_one("#body").render().plain
        assert "VI_1 (VRID 51) 198.18.0.198/32 → 198.18.0.2\n      priority 96, heard 0.3 s ago over the wire " \
               "(VRID 52)" in body
        assert "VI_2 (VRID 52) BACKUP here, no change" in body
        await pilot.press("escape")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "cancelled" in last_notice(app) and c.requests == []
        await pilot.press("d")
        await confirm_modal(pilot)
        await pilot.click("#cancel")
        assert not isinstance(app.screen, ConfirmScreen) and c.requests == []
        await pilot.press("d")
        modal = await confirm_modal(pilot)
        assert app.focused is modal.query_one("#cancel")    # node-wide: a stray Enter cancels
        await pilot.press("shift+tab", *"ku", "enter")       # back to the reason field
        await wait_for(lambda: c.requests, 3, "the drain request")
        assert c.requests == [("drain", {"reason": "ku"})]
        await wait_for(lambda: "drain: ok" in [n[1] for n in app.notices], 3, "the result notice")


async def test_drain_with_a_silent_backup_alive_on_another_vrid_asks_no_typing():
    """The demo's false alarm: node2 is silent on VRID 51 (we are master) but master of VRID 52."""
    c = client("node1-alone")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("d")
        modal = await confirm_modal(pilot)
        body = modal.query_one("#body").render().plain
        assert not modal.query_one("#dialog").has_class("danger") and not modal.query("#typed")
        assert "→ 198.18.0.2" in body and "NOBODY" not in body and "never heard on VRID 51" in body


async def test_drain_without_peer_requires_typed_confirmation():
    c = client("node1-peer-down")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("d")
        modal = await confirm_modal(pilot)
        assert modal.query_one("#dialog").has_class("danger")
        body = modal.query_one("#body").render().plain
        assert "no other router can take VI_1 (198.18.0.198/32), VI_2 (198.18.0.197/32)" in body
        assert "not counted on: 198.18.0.2: priority 96" in body and "STALE" in body
        await pilot.press("enter")                        # nothing typed
        assert app.screen is modal
        await pilot.press(*"node2", "enter")              # wrong name
        assert app.screen is modal and "to confirm" in modal.query_one("#error").render().plain
        await pilot.click("#confirm")
        assert app.screen is modal and c.requests == []
        assert app.focused is modal.query_one("#typed")       # focus goes back to what needs fixing
        modal.query_one("#typed").value = ""
        await pilot.press(*"DRAIN", "enter")              # the word, any case (or the host name)
        await wait_for(lambda: c.requests, 3, "the drain request")
        assert c.requests == [("drain", {})]


async def test_undrain():
    c = client("node1-drained")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("d")
        assert "already drained" in last_notice(app) and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("u")
        modal = await confirm_modal(pilot)
        assert "priority 100 > master 198.18.0.2 (96): takes the VIPs back" in modal.query_one("#body").render().plain
        await pilot.press("tab", "enter")                 # Cancel has the focus, Confirm is next
        await wait_for(lambda: c.requests, 3, "the undrain request")
        assert c.requests == [("undrain", {})]


async def test_failover_selected_master_with_hold():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("down", "f")                     # VI_2 is a backup
        assert "BACKUP here" in last_notice(app) and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("up", "f")
        modal = await confirm_modal(pilot)
        assert "Expected new master: 198.18.0.2" in modal.query_one("#body").render().plain
        await pilot.press(*"30", "tab", "x", "enter")
        await wait_for(lambda: c.requests, 3, "the failover request")
        assert c.requests == [("failover", {"instance": "VI_1", "hold": 30, "reason": "x"})]
        await pilot.press("2", "f")                        # Adverts: the selected row's VRID decides
        await confirm_modal(pilot)
        await pilot.press("enter")
        await wait_for(lambda: len(c.requests) == 2, 3, "the second failover request")
        assert c.requests[1] == ("failover", {"instance": "VI_1", "hold": None})


async def test_takeover_and_clear():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("down", "t")
        modal = await confirm_modal(pilot)
        assert "current master 198.18.0.2 (priority 100)" in modal.query_one("#body").render().plain
        await pilot.press("enter")
        await wait_for(lambda: c.requests, 3, "the takeover request")
        assert c.requests == [("takeover", {"instance": "VI_2"})]
        await pilot.press("c")
        assert "no operator hold" in last_notice(app)
        raw = c.edit_snapshot()
        raw["instances"][1]["operator"].update(takeover=True, who="carol", when=raw["node"]["now"], why="test")
        raw["instances"][0]["operator"].update(hold_until=raw["node"]["now"] + 240, who="carol",
                                               when=raw["node"]["now"])
        c.set_snapshot(raw)
        c.push_event("operator", "takeover", action="takeover")
        await wait_for(lambda: row(app, "instances", "VI_2")[-1] == "takeover (carol)", 3, "the takeover shown")
        assert row(app, "instances", "VI_1")[-1] == "hold 4m00s (carol)"
        await pilot.press("c")
        await confirm_modal(pilot)
        await pilot.press("enter")
        await pilot.press("up", "c")
        await confirm_modal(pilot)
        await pilot.press("enter")
        await wait_for(lambda: len(c.requests) == 3, 3, "release and clear_hold")
        assert c.requests[1:] == [("release", {"instance": "VI_2"}), ("clear_hold", {"instance": "VI_1"})]


async def test_weight_set_validate_and_clear():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("w")
        assert "IPVS screen" in last_notice(app)
        await pilot.press("4", "w")                         # a service row: not a real server
        assert "no real server selected" in last_notice(app)
        await pilot.press("down", "w")
        modal = await confirm_modal(pilot)
        assert "weight 3 (cfg 1) → the new weight" in modal.query_one("#body").render().plain
        await pilot.press("enter")                          # required
        assert app.screen is modal and "required" in modal.query_one("#error").render().plain
        modal.query_one("#field-weight").value = "70000"
        await pilot.press("enter")
        assert app.screen is modal and "between 0 and 65535" in modal.query_one("#error").render().plain
        modal.query_one("#field-weight").value = ""
        await pilot.press(*"5", "enter")
        await wait_for(lambda: c.requests, 3, "the weight request")
        assert c.requests == [("weight", {"vs": "198.18.0.198:80", "rs": "198.18.1.202:80", "weight": 5})]
        await pilot.press("W")
        await confirm_modal(pilot)
        await pilot.press("enter")
        await wait_for(lambda: len(c.requests) == 2, 3, "the clear request")
        assert c.requests[1] == ("weight", {"vs": "198.18.0.198:80", "rs": "198.18.1.202:80", "clear": True})
        await pilot.press("down", "W")                      # no override on .203
        assert "no weight override" in last_notice(app) and len(c.requests) == 2


async def test_rs_drain_and_undrain():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("4")
        table(app, "ipvs-table").move_cursor(row=5)          # 198.18.0.197:80 -> .203 (UP)
        assert app.view("ipvs").selected_rs() == ("198.18.0.197:80", "198.18.1.203:80")
        await pilot.press("r")
        modal = await confirm_modal(pilot)
        body = modal.query_one("#body").render().plain
        assert "its 7 active connections continue" in body and "no other real server" in body
        await pilot.press("enter")
        await pilot.press("up", "R")                         # .202 is DRAINING
        await confirm_modal(pilot)
        await pilot.press("enter")
        await wait_for(lambda: len(c.requests) == 2, 3, "both requests")
        assert c.requests == [("rs_drain", {"vs": "198.18.0.197:80", "rs": "198.18.1.203:80"}),
                              ("rs_undrain", {"vs": "198.18.0.197:80", "rs": "198.18.1.202:80"})]


async def test_read_only_sends_nothing():
    c = client()
    app = app_for(c, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        assert "READ-ONLY" in app.query_one("#status").render().plain
        for key in ["d", "u", "f", "t", "c", "4", "down", "w", "W", "r", "R"]:
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmScreen)
        assert sum(1 for n in app.notices if n[1] == "read-only") == 9
        assert c.requests == []


async def test_refused_request_is_shown_as_error():
    c = client(replies={"drain": ControlError("forbidden", "'drain' changes the node and is allowed to root only")})
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("d")
        await confirm_modal(pilot)
        await pilot.press("tab", "enter")
        await wait_for(lambda: any(n[0] == "error" for n in app.notices), 3, "the error notice")
        sev, title, msg = app.notices[-1]
        assert title == "drain refused (forbidden)" and "root only" in msg


async def test_reload_from_the_command_palette():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("colon")
        await wait_for(lambda: isinstance(app.screen, CommandPalette), 3, "the command palette")
        await pilot.press(*"reload")
        await wait_for(lambda: "Reload" in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt),
                       3, "the reload command")
        await pilot.press("enter")
        await confirm_modal(pilot)
        await pilot.press("tab", "enter")
        await wait_for(lambda: c.requests, 3, "the reload request")
        assert c.requests == [("reload", {})]


# -- quitting -----------------------------------------------------------------------------

async def test_quit_attached_to_daemon_does_not_touch_vips():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("q")
        await wait_for(lambda: app._exit, 3, "exit")
    assert c.requests == [] and c.closed


async def test_quit_embedded_asks_then_resigns():
    c = client()
    stops: list[bool] = []

    async def stop(resign: bool) -> None:
        stops.append(resign)

    async def starter():
        return c, stop

    app = ConsoleApp(starter=starter, localtime=time.gmtime, frozen=True, system_probe=None, confirm_delay=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        assert "embedded engine" in app.query_one("#status").render().plain
        await pilot.press("q")
        modal = await confirm_modal(pilot)
        body = modal.query_one("#body").render().plain
        assert "holds VIPs 198.18.0.198/32 (VI_1); quitting will resign them to the peer" in body
        assert "VI_1 → 198.18.0.2" in body
        await pilot.press("escape")
        assert stops == [] and not app._exit
        await pilot.press("q")
        await confirm_modal(pilot)
        await pilot.press("enter")                        # Cancel has the focus
        assert stops == [] and not app._exit
        await pilot.press("q")
        await confirm_modal(pilot)
        await pilot.press("tab", "enter")
        await wait_for(lambda: app._exit, 3, "exit")
    assert stops == [True]


async def test_embedded_start_failure_exits_with_code_1():
    def starter():
        raise RuntimeError("keepalived.conf:3: unknown keyword 'vrrp_instanse'")

    app = ConsoleApp(starter=starter, frozen=True, system_probe=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app._exit, 3, "exit")
    assert app.return_code == 1


async def test_embedded_engine_is_stopped_even_on_ctrl_q():
    c = client()
    stops: list[bool] = []

    async def stop(resign: bool) -> None:
        stops.append(resign)

    app = ConsoleApp(starter=lambda: (c, stop), frozen=True, system_probe=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        app.exit()          # e.g. the app crashing or being killed by the terminal
    assert stops == [True]


async def test_what_exists_once_the_first_snapshot_is_shown_is_frozen_until_the_console_exits():
    """console.collector: full collections walk only what came after start-up
    (they took 30-50 ms at 255 VRIDs); nothing stays frozen after the app."""
    import gc
    from vipdeck.console import collector
    gc.unfreeze()
    before = gc.get_threshold()
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await wait_for(lambda: gc.get_freeze_count() > 0, 3, "objects frozen")
        assert app.collector.frozen
        assert gc.get_threshold()[2] == collector.RARE     # full collections left to idle()
        await pilot.press("2")
    assert gc.get_freeze_count() == 0 and not app.collector.frozen
    assert gc.get_threshold() == before
