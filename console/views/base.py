"""What every numbered screen shares: the latest snapshot and a `/` filter
(words, ``!word`` to exclude: ``console.filtering``)."""

from __future__ import annotations

import time
from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label

from vipdeck.console.derive import SnapView
from vipdeck.console.filtering import TextFilter
from vipdeck.console.widgets.keyed_table import KeyedTable


class FilterBar(Horizontal):
    DEFAULT_CSS = """
    FilterBar { height: 1; display: none; background: $boost; }
    FilterBar.shown { display: block; }
    FilterBar > Label { width: auto; padding: 0 1; color: $accent; }
    FilterBar > Input { border: none; height: 1; padding: 0; width: 1fr; background: $boost; }
    """

    def compose(self) -> ComposeResult:
        yield Label("filter /")
        yield Input(placeholder="words to match, !word to exclude (Enter keeps it, Esc clears)",
                    id="filter-input", compact=True)


class View(Vertical):
    """One numbered screen; ``show(snapview)`` brings it up to date."""

    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("tab", "app.next_tab(1)", "Next screen", show=False),
        Binding("shift+tab", "app.next_tab(-1)", "Previous screen", show=False),
    ]
    DEFAULT_CSS = """
    View { height: 1fr; }
    View KeyedTable { height: auto; max-height: 70%; }
    View .panel { height: auto; padding: 0 1; }
    View .detail { height: auto; max-height: 12; padding: 0 1; border-top: solid $primary-darken-2; }
    """

    FILTER_FIELDS = False     # whether kind: and sev: words pick events (the events screen)

    def __init__(self, *, localtime: Callable[[float], time.struct_time] = time.localtime,
                 frozen: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filter_text = ""
        self.text_filter = TextFilter()
        self.sv: SnapView | None = None
        self.localtime = localtime
        self.frozen = frozen
        self.shown_version = -1       # which snapshot this view last rendered

    def compose(self) -> ComposeResult:
        yield from self.compose_body()
        yield FilterBar()

    def compose_body(self) -> ComposeResult:  # pragma: no cover - abstract
        return iter(())

    def on_mount(self) -> None:
        if self.frozen:
            self.query_one("#filter-input", Input).cursor_blink = False

    # -- updates ------------------------------------------------------------------------

    def show(self, sv: SnapView, version: int = 0) -> None:
        self.sv = sv
        self.shown_version = version
        self.render_view(sv)

    def activate(self) -> None:
        """The operator switched to this screen (after ``show`` if a snapshot is newer)."""

    def rerender(self) -> None:
        if self.sv is not None:
            self.render_view(self.sv)

    def render_view(self, sv: SnapView) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def main_table(self) -> KeyedTable | None:
        tables = list(self.query(KeyedTable))
        return tables[0] if tables else None

    def focus_main(self) -> None:
        t = self.main_table()
        if t is not None:
            t.focus()

    # -- selection (for the actions) ----------------------------------------------------

    def selected_instance(self) -> str | None:
        return None

    def selected_rs(self) -> tuple[str, str] | None:
        return None

    # -- filter ---------------------------------------------------------------------------

    def open_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.add_class("shown")
        inp = self.query_one("#filter-input", Input)
        inp.value = self.filter_text
        # at once, not at the next idle moment as Widget.focus does: the keys
        # typed after "/" are queued already and must reach the filter, not the
        # bindings (typing "/operator" fast once ran its r and t as commands)
        self.screen.set_focus(inp)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter-input":
            event.stop()
            self.set_filter(event.value)
            self.rerender()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter-input":
            event.stop()
            if not self.filter_text:
                self.query_one(FilterBar).remove_class("shown")
            self.focus_main()

    def action_clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        if not bar.has_class("shown") and not self.filter_text:
            return
        self.set_filter("")
        self.query_one("#filter-input", Input).value = ""
        bar.remove_class("shown")
        self.rerender()
        self.focus_main()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.text_filter = TextFilter.parse(self.filter_text, fields=self.FILTER_FIELDS)

    def keep(self, *hay: object) -> bool:
        return self.text_filter.matches(*hay)
