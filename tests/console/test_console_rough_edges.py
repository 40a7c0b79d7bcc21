"""What a new user tripped over (issue 11, "Rough edges"), each driven through
the real app under its Pilot.

Keys typed ahead are delivered the way a terminal delivers a fast typist's
burst: all queued at once through the driver, without the Pilot's wait for
idleness between keys (which would hide the very race being tested).
"""

from __future__ import annotations

import time

from textual import events
from textual.command import CommandPalette

from vipdeck.console.app import ConsoleApp
from vipdeck.console.modals import ConfirmScreen
from vipdeck.console.testing import ScriptedClient, settle, wait_for
from vipdeck.console.widgets.keyed_table import KeyedTable
from tests.support.paths import FIXTURES

FIX = FIXTURES / "console"
SIZE = (140, 40)
CHARS = {"slash": "/", "enter": "\r", "escape": "\x1b"}


def client(name: str = "node1", **kw) -> ScriptedClient:
    return ScriptedClient.from_fixture(FIX / f"{name}.json", **kw)


def app_for(c: ScriptedClient, **kw) -> ConsoleApp:
    kw.setdefault("localtime", time.gmtime)
    kw.setdefault("frozen", True)
    kw.setdefault("system_probe", None)
    kw.setdefault("refresh_interval", 30.0)
    kw.setdefault("coalesce", 0.05)
    return ConsoleApp(c, **kw)


def type_ahead(app: ConsoleApp, *keys: str) -> None:
    """Queue keys as one burst from the terminal."""
    for key in keys:
        ev = events.Key(key, CHARS.get(key, key if len(key) == 1 else None))
        ev.set_sender(app)
        app._driver.send_message(ev)


def plain(cell) -> str:
    return getattr(cell, "plain", str(cell))


def row(app: ConsoleApp, table_id: str, key: str) -> list[str]:
    return [plain(c) for c in app.query_one(f"#{table_id}", KeyedTable).row_cells(key)]


async def armed_modal(pilot) -> ConfirmScreen:
    await wait_for(lambda: isinstance(pilot.app.screen, ConfirmScreen) and getattr(pilot.app.screen, "armed", True),
                   3, "the confirmation")
    return pilot.app.screen


def status_line(app: ConsoleApp) -> str:
    """The status line as drawn (cut to the terminal's width)."""
    status = app.query_one("#status")
    return "".join(seg.text for seg in status.render_line(0))


# -- keys typed ahead ----------------------------------------------------------------------------

async def test_typing_a_filter_fast_on_the_events_screen_changes_nothing():
    """`/operator` then Enter, typed fast: once the r and the t ran as commands
    and the Enter confirmed "Take over VI_2?"."""
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("down", "5")          # VI_2 (a BACKUP: takeover applies) left selected on screen 1
        type_ahead(app, "slash", *"operator", "enter")
        await wait_for(lambda: c.requests or app.view("events").filter_text == "operator", 3, "the filter")
        await pilot.pause(0.6)
        assert c.requests == []
        assert app.view("events").filter_text == "operator"
        assert not isinstance(app.screen, ConfirmScreen)
        assert not [n for n in app.notices if n[0] == "warning"]      # no key ran as a command


async def test_keys_typed_before_a_confirmation_opened_do_not_answer_it():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("down")
        type_ahead(app, "t", *"ok", "enter")       # the t opens it, the rest was typed before it showed
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), 3, "the confirmation")
        modal = app.screen
        await pilot.pause(0.6)
        assert app.screen is modal and c.requests == []
        assert modal.query_one("#field-reason").value == ""
        await armed_modal(pilot)
        await pilot.press("enter")                   # pressed after reading it: confirms
        await wait_for(lambda: c.requests, 3, "the takeover request")
        assert c.requests == [("takeover", {"instance": "VI_2"})]


async def test_a_node_wide_change_opens_with_cancel_focused():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("d")
        modal = await armed_modal(pilot)
        assert app.focused is modal.query_one("#cancel")
        await pilot.press("enter")
        await wait_for(lambda: not isinstance(app.screen, ConfirmScreen), 3, "the cancel")
        assert c.requests == [] and "cancelled" in app.notices[-1][2]


# -- the palette -----------------------------------------------------------------------------------

async def test_ctrl_p_opens_the_palette_and_it_offers_the_ipvs_changes():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("ctrl+p")
        await wait_for(lambda: isinstance(app.screen, CommandPalette), 3, "the command palette")
        titles = {cmd.title for cmd in app.get_system_commands(app.screen)}
        assert {"Set real server weight", "Clear real server weight override", "Drain real server",
                "Undrain real server", "Drain node", "Reload configuration"} <= titles
        await pilot.press("escape")
        await pilot.press("4", "down", "colon")      # on the IPVS screen, a real server selected
        await wait_for(lambda: isinstance(app.screen, CommandPalette), 3, "the command palette")
        await pilot.press(*"drain real")
        await wait_for(lambda: "Drain real server" in str(
            app.screen.query_one("CommandList").get_option_at_index(0).prompt), 3, "the command")
        await pilot.press("enter")
        modal = await armed_modal(pilot)
        assert modal.plan.op == "rs_drain" and modal.plan.args == {"vs": "198.18.0.198:80", "rs": "198.18.1.202:80"}


# -- no hidden selection ------------------------------------------------------------------------------

async def test_instance_changes_on_screens_4_and_5_do_not_act_on_screen_1s_selection():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("down")                    # VI_2 selected on screen 1
        for screen in ("4", "5"):
            for key in ("f", "t", "c"):
                await pilot.press(screen, key)
                await pilot.pause()
                assert not isinstance(app.screen, ConfirmScreen), (screen, key)
                assert "screens 1-3" in app.notices[-1][2]
        assert c.requests == []


# -- IPVS unavailable -------------------------------------------------------------------------------

async def test_without_ipvs_a_weight_says_nothing_was_applied():
    c = client("node1-ipvs-unavailable")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("4", "down", "w")
        modal = await armed_modal(pilot)
        assert "nothing reaches the kernel" in modal.query_one("#body").render().plain
        await pilot.press(*"5", "enter")
        await wait_for(lambda: c.requests, 3, "the weight request")
        await wait_for(lambda: any(n[1].startswith("weight") for n in app.notices), 3, "the result")
        sev, title, msg = [n for n in app.notices if n[1].startswith("weight")][-1]
        assert (sev, title) == ("warning", "weight: NOT applied") and "nothing was applied to the kernel" in msg


async def test_without_ipvs_a_drained_server_is_never_shown_drained():
    c = client("node1-ipvs-unavailable")      # .202 in 198.18.0.197:80 drained: the engine says DRAINED
    assert c.edit_snapshot()["virtual_servers"][1]["real_servers"][0]["state"] == "DRAINED"
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("4")
        cells = row(app, "ipvs-table", "rs|198.18.0.197:80|198.18.1.202:80")
        assert cells[3] == "-" and cells[5] == "NOT APPLIED"
        app.query_one("#ipvs-table", KeyedTable).move_cursor(row=4)
        await pilot.pause()
        detail = app.query_one("#ipvs-detail").render().plain
        assert "drain not applied: IPVS is unavailable" in detail and "DRAINED" not in detail


# -- the status line ----------------------------------------------------------------------------------

async def test_badges_stay_on_the_status_line_at_100_columns():
    """As in the demo: a host name apart from the router_id, a long socket path."""
    c = client("node1-drained")
    raw = c.edit_snapshot()
    raw["node"].update(hostname="vm", router_id="node1")
    c.set_snapshot(raw)
    app = app_for(c, read_only=True, label="/tmp/vdemo4f1c2a-node1-vd-q8z3x1ab/control.sock")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, c)
        await pilot.pause()
        line = status_line(app)
        assert "READ-ONLY" in line and "DRAINED" in line, line


# -- the Auth column, a drained priority -------------------------------------------------------------

async def test_the_auth_column_names_the_type_for_peers_and_for_us():
    """The engine sends the wire's number (1 = PASS): it showed 1 for peers and - for us."""
    c = client()
    raw = c.edit_snapshot()
    for a in raw["adverts"]:
        for s in a["sources"]:
            s["auth_type"] = 1
    c.set_snapshot(raw)
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("2")
        assert row(app, "adverts-table", "eth0/4/51|198.18.0.2")[6] == "PASS"
        here = [k for k in app.query_one("#adverts-table", KeyedTable).keys if k.startswith("eth0/4/51|")
                and "(here)" in row(app, "adverts-table", k)[1]]
        assert here and row(app, "adverts-table", here[0])[6] == "PASS"    # we accept only our own type


async def test_a_drained_instance_says_what_priority_it_elects_with():
    """The engine elects with priority 1 while drained (after one priority-0 advert):
    the console says both, as the README and `vipdeck status` do."""
    c = client("node1-drained")
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        assert row(app, "instances", "VI_1")[3] == "100 → 1"
        detail = app.query_one("#instance-detail").render().plain
        assert "effective 1 (drained: resigned with a priority-0 advert, elects with priority 1" in detail


async def test_the_drain_preview_says_priority_0_then_1():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("d")
        body = (await armed_modal(pilot)).query_one("#body").render().plain
        assert "resigns at once with a priority-0 advert" in body
        assert "every instance elects with priority 1" in body


# -- the events screen --------------------------------------------------------------------------------

async def test_events_hide_passing_checks_and_filter_by_kind_severity_and_bang_word():
    c = client()
    app = app_for(c)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("5")
        t = app.query_one("#events-table", KeyedTable)
        ok_runs = {"8", "30"}                    # HTTP_GET ok: info, ok
        assert not ok_runs & set(t.keys) and "24" in t.keys     # a slow (warning) run stays
        assert "2 passing checks hidden (p shows)" in app.query_one("#events-summary").render().plain
        await pilot.press("p")
        assert ok_runs <= set(t.keys)
        await pilot.press("p", "slash", *"!check", "enter")
        assert t.keys and not [k for k in t.keys if row(app, "events-table", k)[2] == "check"]
        await pilot.press("escape", "slash", *"kind:transition,operator", "enter")
        assert t.keys and {row(app, "events-table", k)[2] for k in t.keys} == {"transition", "operator"}
        await pilot.press("escape", "slash", *"sev:warning !advert", "enter")
        kept = [row(app, "events-table", k) for k in t.keys]
        assert kept and all(r[1] in ("warning", "error") and r[2] != "advert" for r in kept)
