"""The `?` screen: every key, and what the console assumes."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from vipdeck.console.changes import CHANGES

NAVIGATION: list[tuple[str, str, str]] = [
    ("Screens", "1 … 5, Tab / Shift+Tab, mouse", "Overview, Adverts, VIPs, IPVS, Events"),
    ("", "?", "this help (Esc closes)"),
    ("", ": or Ctrl+P", "command palette: screens, every change below, reload"),
    ("", "/", "filter the current screen: words must all match, !word excludes; on Events also "
              "kind:transition,operator and sev:warning (at least)"),
    ("", "↑ ↓ PgUp PgDn Home End", "move the cursor; the detail panel follows"),
    ("", "q", "quit (attached to a daemon: VIPs are not affected)"),
    ("Cluster (--peer)", "n", "which node the changes go to: this one, then each peer (the status line says)"),
    ("", "o", "on the overview: the cursor to the cluster rows (f / t / c then act on that VRID) and back"),
    ("Events (5)", "p", "show / hide passing checks (hidden at first)"),
]


def keys(extra: list[tuple[str, str, str]] = ()) -> list[tuple[str, str, str]]:
    """Navigation, then every change of ``changes.CHANGES`` with a key, by
    group, then ``extra`` rows (group, key, what): keys an embedding program
    adds, such as the demo's faults."""
    rows = list(NAVIGATION)
    group = None
    for c in CHANGES:
        if not c.key:
            continue
        rows.append(("" if c.group == group else c.group, c.key, c.help))
        group = c.group
    return rows + list(extra)


NOTES = """\
Every change opens a confirmation that states its consequence; it ignores keys for a moment
after it opens (so keys typed ahead cannot answer it). Enter confirms, Esc cancels; a change to
the whole node (drain, undrain, reload) opens with Cancel focused: Tab to Confirm.
Draining shows which VIPs move to which peer (the best other router heard for each VRID on
the wire); when no peer has been heard the warning is loud and you must type the host name
or "drain". A drained node sent one priority-0 advert per master and then elects with
priority 1: it takes VIPs back only when no other router is alive. In --read-only mode change
keys only show a notice.
f / t / c act on the instance under the cursor on screens 1-3; w / W / r / R on the real
server under the cursor on screen 4.
Events: newest at the bottom; the cursor follows new events while it is on the last row.
Ages are computed from the engine's clock in each snapshot."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 112; height: auto; max-height: 90%; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """

    def __init__(self, extra: list[tuple[str, str, str]] = ()):
        super().__init__()
        self.extra = list(extra)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold magenta")
        table.add_column(style="bold cyan")
        table.add_column()
        for group, key, what in keys(self.extra):
            table.add_row(group, key, what)
        with VerticalScroll():
            yield Static(Text("vipdeck console: keys", style="bold"))
            yield Static(table)
            yield Static(Text(NOTES, style="dim"))

    async def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
