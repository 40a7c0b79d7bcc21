"""The key line at the bottom: the bindings that work here, clickable.

Textual's Footer recomposes a widget per key whenever focus moves, which
cost ~70 ms of every screen switch on a loaded console.  This bar is one
line of text rebuilt from ``screen.active_bindings`` (the same source the
Footer reads) and redrawn only when the keys shown change; a click runs
the binding's action in the namespace it was bound in.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget
from textual.widgets import Static


class KeyBar(Static):
    COMPONENT_CLASSES = {"key-bar--key"}
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $footer-background; color: $footer-foreground; }
    KeyBar > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self._shown: tuple = ()
        self._targets: list[tuple[int, int, Widget, str]] = []   # x from, x to, namespace, action

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        shown = []
        seen_actions = set()
        for node, binding, enabled, _tooltip in screen.active_bindings.values():
            if not binding.show or binding.action in seen_actions:
                continue
            seen_actions.add(binding.action)
            shown.append((node, binding.action, self.app.get_key_display(binding), binding.description, enabled))
        key = tuple((a, k, d, e, id(n)) for n, a, k, d, e in shown)
        if key == self._shown:
            return
        self._shown = key
        text = Text(no_wrap=True, overflow="ellipsis")
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        self._targets = []
        for node, action, key_display, description, enabled in shown:
            start = text.cell_len
            text.append(f" {key_display} ", style=key_style if enabled else "dim")
            text.append(f"{description} ", style="" if enabled else "dim")
            self._targets.append((start, text.cell_len, node, action))
        self.update(text)

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for start, end, node, action in self._targets:
            if start <= offset.x < end:
                event.stop()
                await self.app.run_action(action, node)
                return

    @property
    def keys_shown(self) -> list[str]:
        """The actions on the bar, in order (for tests)."""
        return [a for a, *_ in self._shown]
