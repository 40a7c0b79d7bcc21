"""update_if_changed: a text panel is repainted when its text changes and the
screen laid out again only when its height changes (a layout of the whole
console costs 12-25 ms with 255 VRIDs on two nodes; the detail panes'
counters and ages change on every snapshot, their number of lines rarely)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from vipdeck.console.widgets.update import update_if_changed


class PanelApp(App):
    CSS = "#detail { height: auto; padding: 0 1; } #below { height: 1; }"

    def compose(self) -> ComposeResult:
        yield Static(id="detail")
        yield Static("below", id="below")


def spy_layouts(widget: Static) -> list[bool]:
    """The ``layout`` argument of every refresh the widget asks for."""
    asked: list[bool] = []
    refresh = widget.refresh

    def spy(*regions, layout: bool = False, **kw):
        asked.append(layout)
        return refresh(*regions, layout=layout, **kw)

    widget.refresh = spy
    return asked


def lines(app: App) -> list[str]:
    return [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]


async def test_a_new_text_of_the_same_height_is_repainted_without_a_layout():
    app = PanelApp()
    async with app.run_test(size=(40, 10)) as pilot:
        detail = app.query_one("#detail", Static)
        assert update_if_changed(detail, Text("sent 1\nreceived 1"))
        await pilot.pause()
        asked = spy_layouts(detail)
        assert update_if_changed(detail, Text("sent 2\nreceived 2"))
        assert asked and not any(asked)
        assert not update_if_changed(detail, Text("sent 2\nreceived 2"))     # the same: nothing at all
        assert len(asked) == 1
        await pilot.pause()
        assert lines(app)[:3] == [" sent 2", " received 2", "below"]


async def test_a_taller_or_shorter_text_lays_the_screen_out_again():
    app = PanelApp()
    async with app.run_test(size=(40, 10)) as pilot:
        detail = app.query_one("#detail", Static)
        update_if_changed(detail, Text("one line"))
        await pilot.pause()
        asked = spy_layouts(detail)
        update_if_changed(detail, Text("two\nlines"))
        await pilot.pause()
        assert any(asked) and detail.size.height == 2
        assert lines(app)[:3] == [" two", " lines", "below"]
        # a line too long for the panel wraps: the same number of text lines, one more on screen
        update_if_changed(detail, Text("two\n" + "long " * 16))
        await pilot.pause()
        assert detail.size.height == 4 and lines(app)[4] == "below"
        update_if_changed(detail, Text("one"))
        await pilot.pause()
        assert detail.size.height == 1 and lines(app)[:2] == [" one", "below"]


async def test_after_a_resize_the_next_text_is_laid_out():
    app = PanelApp()
    async with app.run_test(size=(40, 10)) as pilot:
        detail = app.query_one("#detail", Static)
        update_if_changed(detail, Text("long " * 6))        # 30 cells: one line at 40 columns
        await pilot.pause()
        await pilot.resize_terminal(20, 10)
        await pilot.pause()
        asked = spy_layouts(detail)
        update_if_changed(detail, Text("LONG " * 6))
        await pilot.pause()
        assert any(asked) and detail.size.height == 2
