"""Screen 5: the event stream, newest at the bottom (like `tail -f`).

New events are appended as they arrive (batched by the app every 0.25 s);
the cursor follows the newest event while it sits on the last row and stays
put once the operator moves it up to read.  The filter's words match any of
time, severity, kind, subject and message (``!word`` excludes), and
``kind:a,b`` / ``!kind:a`` / ``sev:warning`` pick events by their fields
(``console.filtering``).  Passing checks are hidden until ``p`` shows them
(the engine reports a passing run only when it is news, the first success
after a failure; older daemons reported every run).

While another screen is shown, events are only kept (a bounded deque); the
rows are formatted when the operator comes here, so a flood of events costs
the other screens nothing.
"""

from __future__ import annotations

import collections
from typing import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from vipdeck.console import format as fmt
from vipdeck.console.derive import event_subject
from vipdeck.console.filtering import is_passing_check
from vipdeck.console.views.base import View
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.console.widgets.update import update_if_changed

COLUMNS = [("time", "Time"), ("sev", "Severity"), ("kind", "Kind"), ("subject", "Subject", 30), ("message", "Message")]

MAX_EVENTS = 2000


class EventsView(View):
    DEFAULT_CSS = """
    EventsView KeyedTable { height: 1fr; max-height: 100%; }
    """
    BINDINGS = [Binding("p", "toggle_passing", "Passing checks")]
    FILTER_FIELDS = True

    def __init__(self, *, max_events: int = MAX_EVENTS, **kwargs):
        super().__init__(**kwargs)
        self.max_events = max_events
        self.hide_passing = True
        self.events: collections.deque[dict] = collections.deque(maxlen=max_events)
        self._stale = False        # events kept while hidden, not yet in the table

    def compose_body(self) -> ComposeResult:
        yield Static(id="events-summary", classes="panel")
        yield KeyedTable(COLUMNS, id="events-table")

    def on_mount(self) -> None:
        super().on_mount()
        self._summary()

    def _row(self, ev: dict) -> tuple:
        sev = ev.get("severity") or "info"
        style = fmt.SEVERITY_STYLE.get(sev, "")
        return (fmt.clock(ev.get("time"), self.localtime), Text(sev, style=style or "dim"),
                str(ev.get("kind") or ""), event_subject(ev), Text(str(ev.get("message") or ""), style=style))

    def _match(self, ev: dict) -> bool:
        if self.hide_passing and is_passing_check(ev):
            return False
        return self.text_filter.matches_event(ev, ev.get("severity"), ev.get("kind"), event_subject(ev),
                                              ev.get("message"), fmt.clock(ev.get("time"), self.localtime))

    def action_toggle_passing(self) -> None:
        self.hide_passing = not self.hide_passing
        self.rerender()

    def add_events(self, events: Iterable[dict], visible: bool = True) -> None:
        new = list(events)
        if not new:
            return
        self.events.extend(new)
        if not visible:
            self._stale = True
            return
        if self._stale:
            self.rerender()
            return
        new = new[-self.max_events:]
        table = self.query_one("#events-table", KeyedTable)
        at_end = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        rows = [(str(e.get("seq")), self._row(e)) for e in new if self._match(e)]
        table.append(rows)
        # trim in batches: one rebuild per quarter of the history, not one per tick
        if table.row_count > self.max_events + max(50, self.max_events // 4):
            table.drop_first(table.row_count - self.max_events)
        if at_end and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._summary()

    def activate(self) -> None:
        if self._stale:
            self.rerender()

    def rerender(self) -> None:
        self._stale = False
        table = self.query_one("#events-table", KeyedTable)
        table.sync([(str(e.get("seq")), self._row(e)) for e in self.events if self._match(e)])
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._summary()

    def render_view(self, sv) -> None:
        """Events do not come from the snapshot; nothing to do."""

    def _summary(self) -> None:
        table = self.query_one("#events-table", KeyedTable)
        t = Text()
        t.append(f"{len(self.events)} events", style="bold")
        if self.filter_text:
            t.append(f", {table.row_count} match “{self.filter_text}”", style="yellow")
        passing = sum(1 for e in self.events if is_passing_check(e))
        if passing:
            t.append(f", {passing} passing checks " + ("hidden (p shows)" if self.hide_passing else "shown (p hides)"),
                     style="dim")
        warn = sum(1 for e in self.events if e.get("severity") == "warning")
        err = sum(1 for e in self.events if e.get("severity") == "error")
        t.append("  ")
        t.append(f"{err} errors", style="bold red" if err else "dim")
        t.append(", ")
        t.append(f"{warn} warnings", style="yellow" if warn else "dim")
        t.append("   newest at the bottom; / filters (!word excludes, kind:, sev:)", style="dim")
        update_if_changed(self.query_one("#events-summary", Static), t)
