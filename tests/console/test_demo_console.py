"""The demo's console (vipdeck/cli/demo_console.py) under its Pilot, with a
stand-in for the lab: the fault keys call the lab's faults and say what they
did, the help lists them, the status line carries the client's success rate
and who answered, and node2 reaches the cluster view through one place."""

from __future__ import annotations

import time

from vipdeck.cli.demo_console import FAULTS, DemoConsole, console_kwargs
from vipdeck.console.app import ConsoleApp
from vipdeck.console.help import HelpScreen
from vipdeck.console.testing import ScriptedClient, settle, wait_for
from tests.support.paths import FIXTURES

SIZE = (160, 50)


class FakeClient:
    def summary(self):
        return [("198.18.0.198", 5, 10, "timeout"), ("198.18.0.197", 10, 10, "node4")]


class FakeDemo:
    prefix = "vdemo0000"
    client = FakeClient()
    cut = False

    def __init__(self):
        self.calls: list[tuple] = []

    def crash(self, name):
        self.calls.append(("crash", name))
        return f"{name}'s daemon killed (SIGKILL)"

    def restart(self, name):
        self.calls.append(("restart", name))
        return "restarted"

    def cut_vrrp(self):
        self.calls.append(("cut",))
        self.cut = True
        return "cut"

    def heal_vrrp(self):
        self.calls.append(("heal",))
        self.cut = False
        return "healed"

    def toggle_http(self, name):
        self.calls.append(("http", name))
        return "http"

    def toggle_down(self):
        self.calls.append(("down",))
        return "down"


def app_for(demo):
    c = ScriptedClient.from_fixture(FIXTURES / "console" / "node1.json")
    return c, DemoConsole(c, demo, localtime=time.gmtime, frozen=True, system_probe=None, refresh_interval=30.0,
                          coalesce=0.05)


def status_line(app) -> str:
    return "".join(seg.text for seg in app.query_one("#status").render_line(0))


async def test_fault_keys_cause_the_labs_faults_and_say_so():
    demo = FakeDemo()
    c, app = app_for(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("K")
        await wait_for(lambda: demo.calls == [("crash", "node1")], 3, "the crash")
        await wait_for(lambda: any("SIGKILL" in n[2] for n in app.notices), 3, "the notice")
        await pilot.press("S", "X", "X", "H", "D")
        await wait_for(lambda: len(demo.calls) == 6, 3, "every fault")
        assert sorted(demo.calls[1:]) == sorted([("restart", "node1"), ("cut",), ("heal",), ("http", "node3"),
                                                 ("down",)])
        assert c.requests == []     # faults are the lab's, never a change request to the daemon


async def test_the_help_lists_every_fault_key():
    c, app = app_for(FakeDemo())
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("question_mark")
        await wait_for(lambda: isinstance(app.screen, HelpScreen), 3, "the help")
        assert [(k, w) for _, k, w in app.screen.extra[:len(FAULTS)]] == [(k, w) for k, _, w in FAULTS]
        assert app.screen.extra[-1][1] == "q, Ctrl-C" and "removed" in app.screen.extra[-1][2]
        assert app.screen.extra[0][0] == "Demo faults"


async def test_the_status_line_shows_the_clients_success_rate_and_who_answered():
    c, app = app_for(FakeDemo())
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.pause()
        line = status_line(app)
        assert "client .198 50% timeout .197 100% node4" in line, line


async def test_ctrl_c_quits():
    c, app = app_for(FakeDemo())
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("ctrl+c")
        await wait_for(lambda: not app.is_running, 3, "the app to quit")


def test_node2_reaches_the_cluster_view_when_the_console_takes_peers():
    class WithPeers(ConsoleApp):
        def __init__(self, client=None, *, peers=(), **kw):
            super().__init__(client, **kw)

    class WithoutPeers(ConsoleApp):
        def __init__(self, client=None, **kw):
            super().__init__(client, **kw)

    assert console_kwargs(["/x/node2.sock"], WithPeers) == {"peers": ["/x/node2.sock"]}
    assert console_kwargs(["/x/node2.sock"], WithoutPeers) == {}
    assert console_kwargs(["/x/node2.sock"]) == {"peers": ["/x/node2.sock"]}     # the console of main
