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


# -- lazy rows (sync_lazy): only what is seen is made ------------------------------------

from vipdeck.console.widgets.keyed_table import EAGER_ROWS  # noqa: E402


class Maker:
    """Rows for sync_lazy that count how often their cells are made."""

    def __init__(self):
        self.made: Counter = Counter()

    def rows(self, n: int, tick: int = 0, changed: set[int] | None = None) -> list:
        out = []
        for k in range(n):
            sig = tick if changed is None or k in changed else 0
            out.append((f"VI_{k}", sig, lambda k=k, sig=sig: self.make(k, sig)))
        return out

    def make(self, k: int, sig: int) -> tuple:
        self.made[k] += 1
        return (f"VI_{k}", Text("MASTER" if (k + sig) % 7 == 0 else "BACKUP", style="green"), "n" * (k % 5))

    def cells(self, n: int, tick: int = 0) -> list:
        return [(f"VI_{k}", (f"VI_{k}", Text("MASTER" if (k + tick) % 7 == 0 else "BACKUP", style="green"),
                             "n" * (k % 5))) for k in range(n)]


class TwoTables(App):
    """A lazy table and an eager one given the same rows, one shown at a time."""

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="lazy")
        yield KeyedTable(COLUMNS, id="eager")


async def settle(pilot, t: KeyedTable) -> None:
    for _ in range(200):        # the turns run after frames: a bounded number of them
        if not t._unmeasured:
            return
        await pilot.pause()
    raise AssertionError(f"{len(t._unmeasured)} rows never made")


async def test_a_big_lazy_table_makes_only_the_rows_on_screen_and_draws_what_an_eager_one_draws():
    app = TwoTables()
    m = Maker()
    n = 510
    async with app.run_test(size=(60, 20)) as pilot:
        lazy, eager = app.query_one("#lazy", KeyedTable), app.query_one("#eager", KeyedTable)
        eager.display = False
        lazy.sync_lazy(m.rows(n))
        # the table is not laid out yet: the cursor's row at once, the rest after frames
        await settle(pilot, lazy)
        assert set(m.made) == set(range(n)) and max(m.made.values()) == 1
        eager.sync(m.cells(n))
        assert lazy._widths == eager._widths
        picture = screen_lines(app)

        # the next snapshot changes every row: only those on screen (and a few stale ones) are made
        m.made.clear()
        lazy.sync_lazy(m.rows(n, tick=1))
        visible = lazy._rows_visible()
        assert visible < 30 and len(m.made) <= visible + 1 + 16
        assert set(range(visible)) <= set(m.made)
        assert lazy.pending_count == n - len(m.made)
        await pilot.pause()

        # an unchanged signature makes nothing again
        m.made.clear()
        lazy.sync_lazy(m.rows(n, tick=1))
        assert not m.made

        # rows scrolled into view are made before they are drawn, and look like the eager table's
        lazy.focus()
        await pilot.press("end")
        await pilot.pause()
        assert lazy.cursor_row == n - 1 and m.made[n - 1] == 1
        lazy_picture = screen_lines(app)
        lazy.display, eager.display = False, True
        eager.sync(m.cells(n, tick=1))
        eager.focus()
        await pilot.press("end")
        await pilot.pause()
        assert screen_lines(app) == lazy_picture
        assert picture != lazy_picture

        # a pending row read by a caller is made then (a stale row never reaches a caller)
        stale = next(iter(lazy._pending))
        assert lazy.row_cells(stale) == dict(m.cells(n, tick=1))[stale]


async def test_a_small_lazy_table_is_made_in_full_at_once():
    app = TwoTables()
    m = Maker()
    async with app.run_test(size=(60, 20)):
        lazy, eager = app.query_one("#lazy", KeyedTable), app.query_one("#eager", KeyedTable)
        lazy.sync_lazy(m.rows(EAGER_ROWS))
        assert lazy.pending_count == 0 and len(m.made) == EAGER_ROWS
        eager.sync(m.cells(EAGER_ROWS))
        assert lazy._widths == eager._widths
        m.made.clear()
        lazy.sync_lazy(m.rows(EAGER_ROWS, tick=3, changed={5, 9}))
        assert set(m.made) == {5, 9}
        assert lazy.stats["updates"] == 2


lazy_rows = st.lists(st.tuples(st.sampled_from("pqrstu"), st.integers(0, 3), st.lists(cell, min_size=2, max_size=4)),
                     max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("lazy"), lazy_rows), st.tuples(st.just("sync"), table_rows)),
                max_size=10))
def test_lazy_and_plain_syncs_in_any_order_leave_the_rows_and_widths_of_a_fresh_table(ops):
    """Whatever mix of sync and sync_lazy came before, the table holds the
    last rows given (a row whose signature did not change keeps its cells),
    measured as a fresh table measures them."""
    t = KeyedTable(COLUMNS)
    shown: dict[str, tuple] = {}
    sigs: dict[str, int] = {}
    for kind, arg in ops:
        if kind == "sync":
            t.sync(arg)
            shown, sigs = {}, {}
            for k, cells in arg:
                shown.setdefault(k, tuple(cells))
        else:
            rows, new, new_sigs = [], {}, {}
            for k, sig, cells in arg:
                if k in new:
                    continue
                rows.append((k, sig, lambda c=tuple(cells): c))
                new_sigs[k] = sig
                # the table may keep its cells for an unchanged signature
                new[k] = shown[k] if k in shown and sigs.get(k) == sig else tuple(cells)
            t.sync_lazy(rows)
            shown, sigs = new, new_sigs
        assert t.keys == list(shown)
        assert {k: t.row_cells(k) for k in t.keys} == shown
        fresh = KeyedTable(COLUMNS)
        fresh.sync(list(shown.items()))
        assert t._widths == fresh._widths


# -- no reference cycle per line drawn ----------------------------------------------------

import gc  # noqa: E402

from rich.segment import Segment  # noqa: E402
from rich.style import Style  # noqa: E402
from textual.strip import Strip  # noqa: E402

from vipdeck.console.widgets.keyed_table import _window  # noqa: E402


def test_a_line_cut_to_the_window_is_freed_without_the_cyclic_collector():
    """Strip.crop_extend caches a strip that is already as wide as the window
    in its own cache: a cycle per line, left for full collections."""
    gc.disable()
    try:
        for cut, expect_cycles in ((lambda s: s.crop_extend(0, 10, None), True),
                                   (lambda s: _window(s, 0, 10, Style()), False)):
            gc.collect()
            for _ in range(10):
                line = cut(Strip([Segment("0123456789")], 10))
                assert line.text == "0123456789"
            del line
            assert (gc.collect() > 0) == expect_cycles
        wide = Strip([Segment("0123456789abc")], 13)
        assert _window(wide, 2, 6, Style()).text == "234567"
        assert _window(wide, 10, 6, Style()).text == "abc   "
    finally:
        gc.enable()
        gc.collect()


async def test_simple_cells_are_drawn_as_text_renders_them():
    """The one-segment path for simple cells draws what Text.render draws:
    the control codes Text strips are stripped from a string cell too."""
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        t = app.table
        spans = Text("ab")
        spans.append("cd", style="red")
        t.sync([("k", ("x\by\x07", Text("MASTER", style="bold green"), spans))])
        await pilot.pause()
        line = t._line(t.row_cells("k"))
        texts = [seg.text for seg in line]
        assert not any("\x07" in x or "\b" in x for x in texts) and "xy" in texts
        styled = [seg for seg in line if seg.text == "MASTER"]
        assert styled and styled[0].style.bold and styled[0].style.color.name == "green"
        assert styled[0].style.meta == {"column": 1}
        red = [seg for seg in line if seg.text == "cd"]
        assert red and red[0].style.color.name == "red" and red[0].style.meta == {"column": 2}
