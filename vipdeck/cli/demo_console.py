"""The console as the demo opens it: the real app, plus the demo's faults.

The demo is for seeing what operators fear, so its console adds keys that
cause those failures in the lab (listed on the help screen under "Demo
faults"), a status line that shows the client's success rate per VIP and
the backend answering (a failover's cost, seen from outside), and Ctrl-C as
quit.  A subclass in the command line, so the console itself knows nothing
of the demo.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import vipdeck.console  # noqa: F401  (first: it sets Textual's frame rate before Textual is imported)
from rich.text import Text
from textual.binding import Binding

from vipdeck.console.app import ConsoleApp
from vipdeck.console.help import HelpScreen

# key, the Demo method and its argument, the help line
FAULTS: list[tuple[str, str, str]] = [
    ("K", "crash", "kill node1's daemon with SIGKILL (no priority-0 advert; its VIPs stay behind)"),
    ("S", "restart", "start node1's daemon again"),
    ("X", "split", "cut VRRP between node1 and the others (nftables in node1: split brain) / heal it"),
    ("H", "http", "stop / start node3's HTTP server (its HTTP_GET check fails / recovers)"),
    ("D", "down", "touch / remove the seed's `down` file (chk_down: node1's VI_1 priority -20)"),
]


def console_kwargs(peers: list[str], app_class: type = ConsoleApp) -> dict[str, Any]:
    """THE place where the demo hands node2 to the cluster view: the peers
    are passed when the console takes them (``ConsoleApp(peers=[...])``, the
    cluster work), left out while it does not, so the demo runs either way."""
    if "peers" in inspect.signature(app_class.__init__).parameters:
        return {"peers": list(peers)}
    return {}


class DemoConsole(ConsoleApp):
    BINDINGS = [
        # the demo is quit with q or Ctrl-C alike (Textual's Ctrl-C only tells you about Ctrl-Q)
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        *(Binding(key, f"fault('{name}')", name, show=False) for key, name, _ in FAULTS),
    ]

    def __init__(self, client, demo, *, peers: list[str] = (), **kw):
        super().__init__(client, **console_kwargs(peers), **kw)
        self.demo = demo
        self.faults: dict[str, Callable[[], str]] = {
            "crash": lambda: demo.crash("node1"),
            "restart": lambda: demo.restart("node1"),
            "split": lambda: demo.heal_vrrp() if demo.cut else demo.cut_vrrp(),
            "http": lambda: demo.toggle_http("node3"),
            "down": demo.toggle_down,
        }

    def on_mount(self) -> None:
        # (Textual calls ConsoleApp.on_mount too: handlers run for every class)
        self.set_interval(1.0, self._update_status)

    def action_help(self) -> None:
        rows = [("Demo faults" if i == 0 else "", key, what) for i, (key, _, what) in enumerate(FAULTS)]
        rows.append(("", "q, Ctrl-C", "quit the demo: its whole lab is removed (vipdeck demo --cleanup after a kill -9)"))
        self.push_screen(HelpScreen(extra=rows))

    def action_fault(self, name: str) -> None:
        # in a thread: stopping a server or a daemon waits for it
        self.run_worker(lambda: self._fault(name), thread=True, name=f"fault-{name}", group="faults")

    def _fault(self, name: str) -> None:
        try:
            msg, severity = self.faults[name](), "warning"
        except Exception as exc:   # a fault that could not be caused is said, not raised
            msg, severity = f"{name}: {exc}", "error"
        self.call_from_thread(self.notify, msg, title="demo fault", severity=severity, timeout=8)
        self.call_from_thread(self.request_refresh)

    def status_text(self) -> Text:
        t = super().status_text()
        client = getattr(self.demo, "client", None)
        if client is None:
            return t
        # the client's view of the service, a failover's cost: per VIP, the share answered
        # over the last 10 s and who answered last (or why the last request failed)
        t.append("  client")
        for vip, ok, sent, who in client.summary():
            pct = 100 * ok // sent if sent else 0
            style = "bold green" if sent and ok == sent else ("bold red" if ok * 2 < sent or not ok
                                                             else "bold yellow")
            t.append(f" .{vip.rsplit('.', 1)[-1]} ")
            t.append(f"{pct}%" if sent else "–", style=style)
            t.append(f" {who}", style="dim")
        t.append(f"  demo {self.demo.prefix}-*", style="dim")
        return t
