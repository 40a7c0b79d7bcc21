"""The `?` screen: every key, and what the console assumes."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: list[tuple[str, str, str]] = [
    ("Screens", "1 … 5, Tab / Shift+Tab, mouse", "Overview, Adverts, VIPs, IPVS, Events"),
    ("", "?", "this help (Esc closes)"),
    ("", ":", "command palette (also Ctrl+P): screens, actions, reload"),
    ("", "/", "filter the current screen's table (Enter keeps it, Esc clears)"),
    ("", "↑ ↓ PgUp PgDn Home End", "move the cursor; the detail panel follows"),
    ("", "q", "quit (attached to a daemon: VIPs are not affected)"),
    ("Node", "d", "drain this node: every instance resigns and stays BACKUP"),
    ("", "u", "undrain: back to normal election"),
    ("Instance", "f", "fail over the selected MASTER instance (optional hold seconds)"),
    ("", "t", "take over the selected BACKUP instance"),
    ("", "c", "clear the selected instance's hold or takeover"),
    ("IPVS (4)", "w", "set the selected real server's weight (an override, shown as 3 (cfg 1))"),
    ("", "W", "clear the weight override"),
    ("", "r", "drain the real server (weight 0: DRAINING until idle, then DRAINED)"),
    ("", "R", "undrain the real server"),
]

NOTES = """\
Every change opens a confirmation that states its consequence; Enter confirms, Esc cancels.
Draining shows which VIPs move to which peer (the best other router heard for each VRID on
the wire); when no peer has been heard the warning is loud and you must type the host name
or "drain". In --read-only mode change keys only show a notice.
The instance used by f / t / c is the one under the cursor on screens 1-3.
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

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold magenta")
        table.add_column(style="bold cyan")
        table.add_column()
        for group, key, what in KEYS:
            table.add_row(group, key, what)
        with VerticalScroll():
            yield Static(Text("vipdeck console: keys", style="bold"))
            yield Static(table)
            yield Static(Text(NOTES, style="dim"))

    async def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
