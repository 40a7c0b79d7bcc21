"""KeyedTable and KeyBar on their own, in a minimal Textual app.

The table is what keeps the console responsive with hundreds of rows that
all change on every snapshot, so these tests pin down its contract: rows
diffed by key, the cursor kept on its row, only visible rows drawn, and
the keys and mouse an operator uses.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding

from vipdeck.console.widgets.key_bar import KeyBar
from vipdeck.console.widgets.keyed_table import KeyedTable

COLUMNS = [("name", "Name"), ("state", "State"), ("note", "Note", 8)]


def rows(n: int, state: str = "BACKUP", start: int = 0) -> list[tuple[str, tuple]]:
    return [(f"VI_{k}", (f"VI_{k}", Text(state, style="green"), "x")) for k in range(start, start + n)]


class TableApp(App):
    BINDINGS = [Binding("d", "drain", "Drain"), Binding("z", "hidden", "Hidden", show=False)]

    def __init__(self):
        super().__init__()
        self.highlighted: list[str | None] = []
        self.drained = 0

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="t")
        yield KeyBar()

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self.highlighted.append(event.row_key)

    def action_drain(self) -> None:
        self.drained += 1

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)


def screen_lines(app: App) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_sync_diffs_by_key_and_keeps_the_cursor_on_its_row():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        t = app.table
        t.sync(rows(5))
        t.focus()
        await pilot.press("down", "down")
        assert t.selected_key == "VI_2" and t.cursor_row == 2
        before = dict(t.stats)
        new = rows(5)
        new[2] = ("VI_2", ("VI_2", Text("MASTER", style="bold"), "x"))
        t.sync(new)
        assert t.stats["updates"] == before["updates"] + 1          # one cell changed
        assert t.stats["rebuilds"] == before["rebuilds"]
        assert t.row_cells("VI_2")[1].plain == "MASTER"
        t.sync([("VI_new", ("VI_new", "INIT", "")), *new])          # a row above the cursor
        assert t.selected_key == "VI_2" and t.cursor_row == 3
        t.sync([r for r in new if r[0] != "VI_2"])                  # the cursor's row goes away
        assert t.cursor_row == 3 and t.selected_key == "VI_4"
        t.sync([])
        assert t.selected_key is None and t.row_count == 0
        await pilot.pause()
        assert app.highlighted[-1] is None and "VI_2" in app.highlighted


async def test_only_visible_rows_are_drawn_and_columns_fit_their_cells():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        t = app.table
        t.sync(rows(2000))
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[0].split() == ["Name", "State", "Note"]
        assert lines[1].split()[:2] == ["VI_0", "BACKUP"]
        assert len(t._strips) <= 12                                  # drawn, not 2000
        t.sync(rows(2000, state="MASTER"))                           # every row changes
        await pilot.pause()
        assert len(t._strips) <= 12
        assert screen_lines(app)[1].split()[:2] == ["VI_0", "MASTER"]
        t.sync([("a", ("a", "b", "a note longer than eight"))])
        await pilot.pause()
        line = screen_lines(app)[1]
        assert "a note …" in line and "longer" not in line             # fixed width, marked as cut
        t.sync([("a", ("a" * 30, "b", ""))])
        assert t._widths[0] == 30
        t.sync([("a", ("a", "b", ""))])
        assert t._widths[0] == len("Name")                          # narrows again


async def test_keys_and_mouse_move_the_cursor_and_scroll():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        t = app.table
        t.sync(rows(100))
        t.focus()
        await pilot.press("end")
        assert t.cursor_row == 99 and t.scroll_y > 80
        assert "VI_99" in " ".join(screen_lines(app))
        await pilot.press("home")
        assert t.cursor_row == 0 and t.scroll_y == 0
        await pilot.press("pagedown")
        assert 5 <= t.cursor_row <= 12
        await pilot.press("home")
        await pilot.click(KeyedTable, offset=(3, 4))                 # header is line 0: row 3
        assert t.selected_key == "VI_3"
        await pilot.click(KeyedTable, offset=(3, 0))                 # the header selects nothing
        assert t.selected_key == "VI_3"


async def test_append_and_drop_first_for_a_stream():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        t = app.table
        t.append(rows(10))
        t.append(rows(10))                                           # same keys: ignored
        assert t.row_count == 10
        t.move_cursor(row=9)
        t.append(rows(5, start=10))
        t.drop_first(4)
        assert t.keys[0] == "VI_4" and t.keys[-1] == "VI_14"
        assert t.selected_key == "VI_9" and t.cursor_row == 5
        t.drop_first(20)
        assert t.row_count == 0 and t.selected_key is None
        await pilot.pause()


async def test_key_bar_lists_shown_bindings_and_clicks_run_them():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        bar = app.query_one(KeyBar)
        await pilot.pause()
        assert "drain" in bar.keys_shown and "hidden" not in bar.keys_shown
        text = bar.render().plain
        x = text.index("Drain")
        await pilot.click(KeyBar, offset=(x, 0))
        assert app.drained == 1


# -- column widths, kept per column as counts of cell widths ------------------------------

from collections import Counter  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

cell = st.one_of(st.text("ab", max_size=6), st.builds(lambda s, b: Text(s, style="bold" if b else ""),
                                                      st.text("xy", max_size=6), st.booleans()))
table_rows = st.lists(st.tuples(st.sampled_from("pqrstu"), st.lists(cell, min_size=2, max_size=4)), max_size=6)
op = st.one_of(st.tuples(st.just("sync"), table_rows), st.tuples(st.just("append"), table_rows),
               st.tuples(st.just("drop"), st.integers(0, 3)))


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=12))
def test_the_widths_are_those_a_fresh_table_measures(ops):
    """Any history of syncs, appends and drops: after a sync that changed the
    rows the columns are as wide as a table given the same rows at once
    makes them (a synced table shrinks with its rows), a sync counts the
    cells that changed, and the width counts match the rows."""
    t = KeyedTable(COLUMNS)
    for kind, arg in ops:
        if kind == "drop":
            t.drop_first(arg)
        elif kind == "append":
            t.append(arg)
        else:
            before = {k: t.row_cells(k) for k in t.keys}
            updates = t.stats["updates"]
            t.sync(arg)
            changed = 0
            for k in t.keys:
                old, new = before.get(k), t.row_cells(k)
                if old is not None and old != new:
                    changed += sum(1 for a, b in zip(old, new) if a != b) or 1
            assert t.stats["updates"] == updates + changed
            if before == {k: t.row_cells(k) for k in t.keys} and list(before) == t.keys:
                continue        # nothing changed: nothing measured (widths kept from before a drop)
            fresh = KeyedTable(COLUMNS)
            fresh.sync([(k, t.row_cells(k)) for k in t.keys])
            assert t._widths == fresh._widths
            assert all(t._cell_widths[k] == fresh._cell_widths[k] for k in t.keys)
        counts = [Counter() for _ in COLUMNS]
        for k in t.keys:
            for i, w in enumerate(t._cell_widths[k][:len(COLUMNS)]):
                counts[i][w] += 1
        assert t._width_counts == counts
