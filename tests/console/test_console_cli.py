"""`vipdeck console` start-up paths, the screenshot tool, and a real socket.

Start-up failures must be one clear line and exit status 1, never a
traceback; the socket test runs the console against the real control
server (Unix socket, event stream) and checks it survives the daemon going
away and coming back.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time

from vipdeck.console.app import ConsoleApp
from vipdeck.console.screenshots import main as screenshots_main
from vipdeck.console.screenshots import take_screenshots
from vipdeck.console.testing import ScriptedClient, wait_for
from vipdeck.cli import main as vipdeck
from vipdeck.engine.control.client import SocketClient
from vipdeck.engine.control.server import ControlServer
from vipdeck.engine.events import EventBus
from tests.support.paths import FIXTURES

FIX = FIXTURES / "console" / "node1.json"


def test_missing_socket_is_a_clear_error(tmp_path, capsys):
    rc = vipdeck(["console", "--socket", str(tmp_path / "nope.sock")])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"no daemon control socket at {tmp_path / 'nope.sock'}" in err and "Traceback" not in err


def test_socket_nobody_listens_on_is_a_clear_error(tmp_path, capsys):
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)            # bound, never listening: what a crashed daemon leaves behind
    try:
        rc = vipdeck(["console", "--socket", path, "--read-only"])
    finally:
        s.close()
    assert rc == 1 and "daemon not listening" in capsys.readouterr().err


def test_embedded_engine_absent_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "vipdeck.engine.embedded", None)
    rc = vipdeck(["console", "-f", str(tmp_path / "keepalived.conf")])
    err = capsys.readouterr().err
    assert rc == 1 and "embedded engine is not available" in err


def test_screenshots_one_svg_per_screen(tmp_path, capsys):
    paths = asyncio.run(take_screenshots(ScriptedClient.from_fixture(FIX), tmp_path))
    names = sorted(p.name for p in paths)
    assert names == ["1-overview.svg", "2-adverts.svg", "3-vips.svg", "4-ipvs.svg", "5-events.svg",
                     "drain-preview.svg", "help.svg"]
    ipvs = (tmp_path / "4-ipvs.svg").read_text()
    assert ipvs.startswith("<svg") and "198.18.1.203:80" in ipvs
    assert "Drain&#160;node&#160;node1?" in (tmp_path / "drain-preview.svg").read_text()
    assert screenshots_main(["--socket", str(tmp_path / "none.sock"), "--out", str(tmp_path / "x")]) == 1


class FixtureApi:
    """A control API serving fixture data (the socket and the bus are real)."""

    def __init__(self) -> None:
        data = json.loads(FIX.read_text())
        self.snap = data["snapshot"]
        self.bus = EventBus(clock=lambda: self.snap["node"]["now"])
        self.changes: list[tuple[str, dict, int]] = []

    async def handle(self, op: str, args: dict, uid: int) -> dict:
        if op == "snapshot":
            return self.snap
        if op == "events":
            return {"events": self.bus.since(args.get("since") or 0, args.get("limit")), "last": self.bus.last_seq}
        self.changes.append((op, args, uid))
        return {"message": f"{op} done"}


async def test_console_over_a_real_socket_follows_and_reconnects(tmp_path):
    api = FixtureApi()
    api.bus.emit("daemon", "started", action="start")
    path = str(tmp_path / "control.sock")
    server = ControlServer(path, api)
    await server.start()
    app = ConsoleApp(SocketClient(path, who="tester"), frozen=True, system_probe=None, localtime=time.gmtime)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(lambda: app.version > 0 and app.events_view.events, 5, "snapshot and events")
            api.bus.emit("transition", "VI_2 BACKUP -> MASTER", instance="VI_2")
            await wait_for(lambda: any(e["message"] == "VI_2 BACKUP -> MASTER" for e in app.events_view.events),
                           5, "the streamed event")
            await pilot.press("u")          # not drained: a notice, nothing sent
            assert api.changes == []
            await pilot.press("d")
            await wait_for(lambda: getattr(app.screen, "armed", False), 3, "the modal")
            await pilot.press("tab", "enter")
            await wait_for(lambda: api.changes, 5, "the drain request")
            op, args, uid = api.changes[0]
            assert (op, args["who"], uid) == ("drain", "tester", os.getuid())

            await server.stop()             # the daemon goes away ...
            await wait_for(lambda: not app.connected, 5, "the console noticing")
            status = app.query_one("#status").render().plain
            assert "● live" not in status
            assert any(t in status for t in ("no daemon control socket", "daemon not listening", "event stream closed"))
            server = ControlServer(path, api)
            await server.start()            # ... and comes back
            await wait_for(lambda: app.connected, 10, "the console reconnecting")
            api.bus.emit("check", "after the restart")
            await wait_for(lambda: any(e["message"] == "after the restart" for e in app.events_view.events),
                           10, "events after reconnecting")
    finally:
        await server.stop()
