"""A keyed table that renders only the rows on screen.

Textual's DataTable measures every cell of every added row and renders a
row at ~6 ms; with 255 VRIDs advertising 10×/s every row changes on every
snapshot, so the console spent its whole CPU redrawing and key presses
waited seconds.  This table is synchronised, never refilled: ``sync``
diffs rows by key and only rows whose cells changed lose their cached
line; ``render_line`` draws just the visible rows (Textual's Line API), so
a refresh costs what the screen shows, not what the table holds.  Column
widths come from the cells' cell lengths, which the console's cells
already know, so nothing is measured by rendering.

The operator's cursor stays on its row key across updates (a row that
moves keeps the cursor; a removed row leaves it on the same position).

Big tables can be synchronised lazily (``sync_lazy``): a row is given as a
signature (the inputs its cells are made from, cheap to compare) and a
function that makes its cells.  Only the rows on screen (and the cursor's)
are made at once; the adverts screen's 510 rows cost ~30 ms to make and
compare, which was most of the delay of the key that shows it.  A row
never made is made a few at a time after the frame is drawn, so column
widths settle within a few frames; a row whose signature changed while off
screen keeps its old widths until it is made again (a few per update, and
always when it scrolls into view).  Tables of at most ``EAGER_ROWS`` rows
are made in full, exactly as ``sync`` does.
"""

from __future__ import annotations

import collections
import functools
import itertools
from typing import Callable, ClassVar, Iterable, Sequence

from rich.cells import cell_len
from rich.control import strip_control_codes
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Row = tuple[str, Sequence[object]]

PAD = 1   # blank cells either side of every cell, like DataTable's cell_padding
EAGER_ROWS = 100     # sync_lazy makes every row of a table this small (pictures and tests stay exact)
TURN = 64            # rows never made, made after each frame until none is left
STALE_TURN = 16      # rows off screen whose signature changed, made again per update
LazyRow = tuple[str, object, Callable[[], Sequence[object]]]


@functools.lru_cache(maxsize=64)
def _column_meta(column: int) -> Style:
    return Style.from_meta({"column": column})


def _width(value: object) -> int:
    if isinstance(value, Text):
        return value.cell_len
    return cell_len(str(value))


def _window(strip: Strip, start: int, width: int, style: Style) -> Strip:
    """``strip.crop_extend(start, start + width, style)`` without its cache:
    a strip already that wide is its own crop, and Strip.crop_extend stores
    it in its own cache, a reference cycle per line drawn that only the
    cyclic collector frees (thousands of strips a second on a busy table;
    the full collections they set off took 30-40 ms, the longest pauses a
    key press met)."""
    return strip.extend_cell_length(start + width, style).crop(start, start + width)


class KeyedTable(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first", "First row", show=False),
        Binding("end,ctrl+end", "last", "Last row", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header", "keyed-table--cursor", "keyed-table--cursor-blurred",
    }
    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        & > .keyed-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .keyed-table--cursor-blurred {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .keyed-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        &:focus { background-tint: $foreground 5%; }
        &:ansi > .keyed-table--header { background: ansi_bright_blue; color: ansi_default; }
    }
    """

    class RowHighlighted(Message):
        """The row under the cursor is now ``row_key`` (after a move or an update)."""

        def __init__(self, table: "KeyedTable", cursor_row: int, row_key: str | None) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key

        @property
        def control(self) -> "KeyedTable":
            return self.table

    def __init__(self, columns: Sequence[tuple], *, cursor_type: str = "row", **kwargs):
        """``columns``: (key, label) or (key, label, fixed width)."""
        super().__init__(**kwargs)
        self._spec = list(columns)
        self._labels = [Text(str(c[1])) for c in self._spec]
        self._fixed = [c[2] if len(c) > 2 else None for c in self._spec]
        self._cells: dict[str, tuple] = {}
        self._order: list[str] = []
        self._index: dict[str, int] | None = {}
        self._cell_widths: dict[str, tuple[int, ...]] = {}
        # per column, how many rows have each cell width: the widest is known
        # without walking every row (510 rows x 14 cells on the adverts screen)
        self._width_counts: list[collections.Counter] = [collections.Counter() for _ in self._spec]
        self._widths: list[int] = [self._fixed[i] or _width(lab) for i, lab in enumerate(self._labels)]
        self._strips: dict[str, Strip] = {}        # row key -> unstyled line at the current widths
        # lazy rows (sync_lazy): signature and maker per key; a key in _pending has no
        # current cells (_cells[key] is None); its _cell_widths are stale or absent
        self._sigs: dict[str, object] = {}
        self._makers: dict[str, Callable[[], Sequence[object]]] = {}
        self._pending: dict[str, None] = {}     # ordered: the oldest first
        self._unmeasured: dict[str, None] = {}  # pending rows never made (no widths yet)
        self._turn_scheduled = False
        self._header: Strip | None = None
        self._cursor = 0
        self._announced: str | None = None
        self.stats = {"updates": 0, "appends": 0, "removes": 0, "rebuilds": 0}

    # -- what the screens read ----------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[self._cursor]

    def row_cells(self, key: str) -> tuple | None:
        if key in self._pending:
            self._make(key)
            self._after_made()
        return self._cells.get(key)

    @property
    def pending_count(self) -> int:
        """Lazy rows whose cells are not made yet (or stale)."""
        return len(self._pending)

    def get_row_index(self, key: str) -> int:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self._order)}
        return self._index[key]

    def select_key(self, key: str) -> bool:
        if key not in self._cells:
            return False
        self.move_cursor(row=self.get_row_index(key))
        return True

    # -- updates ----------------------------------------------------------------------------

    def relabel(self, labels: Sequence[object]) -> None:
        """New column headings (the cluster view learns its nodes' names late)."""
        new = [Text(str(x)) for x in labels]
        if len(new) != len(self._labels) or new == self._labels:
            return
        self._labels = new
        self._header = None
        self._widths_changed(self._measure_all())
        self._content_changed()

    def sync(self, rows: Iterable[Row]) -> None:
        """Make the table show exactly ``rows`` (key, cells) in that order."""
        if self._sigs or self._pending:
            self._forget_lazy()
        cursor_key = self.selected_key
        new_order: list[str] = []
        new: dict[str, tuple] = {}
        for key, cells in rows:
            if key in new:
                continue        # a duplicate key would make the cursor ambiguous; keep the first
            new_order.append(key)
            new[key] = tuple(cells)
        old = self._cells
        changed = False
        for key in old.keys() - new.keys():
            self._strips.pop(key, None)
            self._count_widths(self._cell_widths.pop(key, ()), -1)
            self.stats["removes"] += 1
            changed = True
        updates = 0
        for key in new_order:
            cells = new[key]
            before = old.get(key)
            if before is None:
                self.stats["appends"] += 1
                w = tuple(_width(c) for c in cells)
            elif before == cells:
                continue
            else:
                # one pass: which cells changed (the stats count cells, the row is
                # redrawn if any did), measuring only those (most rows change in
                # one or two cells: an age, a counter)
                was = self._cell_widths[key]
                diff = 0
                ws = []
                for i, c in enumerate(cells):
                    if i >= len(before):
                        ws.append(_width(c))
                    elif before[i] == c:
                        ws.append(was[i])
                    else:
                        diff += 1
                        ws.append(_width(c))
                updates += diff or 1
                w = tuple(ws)
                if w != was:
                    self._count_widths(was, -1)
                    self._count_widths(w, 1)
            self._strips.pop(key, None)
            if before is None:
                self._count_widths(w, 1)
            self._cell_widths[key] = w
            changed = True
        self.stats["updates"] += updates
        kept_order = [k for k in self._order if k in new]
        if kept_order != new_order[:len(kept_order)]:
            self.stats["rebuilds"] += 1     # rows moved: a structural change
        if new_order != self._order:
            changed = True
        self._cells = new
        self._order = new_order
        self._index = None
        if not changed:
            return
        self._widths_changed(self._measure_all())
        self._restore_cursor(cursor_key)
        self._content_changed()

    def sync_lazy(self, rows: Iterable[LazyRow]) -> None:
        """Make the table show exactly ``rows`` (key, signature, make) in that order.

        A row's cells are made again only when its signature differs from the
        last one (``==``), and then only if it is on screen, under the cursor,
        or its turn has come (see the module's docstring).  ``stats["updates"]``
        counts rows here, not cells (a row's cells are not compared)."""
        cursor_key = self.selected_key
        new_order: list[str] = []
        sigs: dict[str, object] = {}
        makers: dict[str, Callable[[], Sequence[object]]] = {}
        for key, sig, make in rows:
            if key in sigs:
                continue
            new_order.append(key)
            sigs[key] = sig
            makers[key] = make
        cells, pending, old_sigs = self._cells, self._pending, self._sigs
        changed = False
        gone = [k for k in cells if k not in sigs]
        for key in gone:
            del cells[key]
            self._strips.pop(key, None)
            self._count_widths(self._cell_widths.pop(key, ()), -1)
            pending.pop(key, None)
            self._unmeasured.pop(key, None)
        if gone:
            self.stats["removes"] += len(gone)
            changed = True
        appended = updates = 0
        missing = object()
        for key in new_order:
            if key not in cells:
                cells[key] = None
                pending[key] = None
                self._unmeasured[key] = None
                appended += 1
                continue
            before = old_sigs.get(key, missing)
            if before is not missing and before == sigs[key]:
                continue
            if cells[key] is not None:
                cells[key] = None
                pending[key] = None
                self._strips.pop(key, None)
            updates += 1
        self.stats["appends"] += appended
        self.stats["updates"] += updates
        changed = changed or bool(appended or updates)
        kept_order = [k for k in self._order if k in sigs]
        if kept_order != new_order[:len(kept_order)]:
            self.stats["rebuilds"] += 1
        if new_order != self._order:
            changed = True
        self._sigs, self._makers = sigs, makers
        self._order = new_order
        self._index = None
        if not changed:
            return
        self._restore_cursor(cursor_key)
        self._make_due()
        self._widths_changed(self._measure_all())
        self._content_changed()
        self._schedule_turn()

    def _make(self, key: str) -> None:
        """Make one lazy row's cells now and count their widths."""
        cells = tuple(self._makers[key]())
        w = tuple(_width(c) for c in cells)
        was = self._cell_widths.get(key)
        if was != w:
            if was is not None:
                self._count_widths(was, -1)
            self._count_widths(w, 1)
            self._cell_widths[key] = w
        self._cells[key] = cells
        del self._pending[key]
        self._unmeasured.pop(key, None)
        self._strips.pop(key, None)

    def _make_due(self) -> None:
        """After an update: every pending row if the table is small, else the rows
        on screen, the cursor's, and the oldest few stale ones."""
        pending = self._pending
        if not pending:
            return
        order = self._order
        if len(order) <= EAGER_ROWS:
            for key in list(pending):
                self._make(key)
            return
        top = round(self.scroll_y)
        for row in [self._cursor, *range(top, min(len(order), top + self._rows_visible()))]:
            if 0 <= row < len(order) and order[row] in pending:
                self._make(order[row])
        stale = [k for k in itertools.islice((k for k in pending if k not in self._unmeasured), STALE_TURN)]
        for key in stale:
            self._make(key)

    def _after_made(self) -> None:
        if self._measure_all():
            self._widths_changed(True)
            self._content_changed()

    def _schedule_turn(self) -> None:
        if self._unmeasured and not self._turn_scheduled and self.is_attached:
            self._turn_scheduled = True
            self.call_after_refresh(self._turn)

    def _turn(self) -> None:
        """Rows never made, a few after each frame, so column widths settle."""
        self._turn_scheduled = False
        for key in list(itertools.islice(self._unmeasured, TURN)):
            if key in self._pending:
                self._make(key)
            else:
                self._unmeasured.pop(key, None)
        self._after_made()
        self._schedule_turn()

    def _forget_lazy(self) -> None:
        """Back to plain ``sync``: rows without cells are dropped (made new)."""
        for key in list(self._pending):
            self._cells.pop(key, None)
            self._strips.pop(key, None)
            self._count_widths(self._cell_widths.pop(key, ()), -1)
        self._pending.clear()
        self._unmeasured.clear()
        self._sigs = {}
        self._makers = {}

    def append(self, rows: Iterable[Row]) -> None:
        """Add rows at the end (the events stream) without looking at the rest."""
        grew = False
        widths = self._widths
        added = 0
        for key, cells in rows:
            if key in self._cells:
                continue
            cells = tuple(cells)
            self._cells[key] = cells
            if self._index is not None:
                self._index[key] = len(self._order)
            self._order.append(key)
            w = tuple(_width(c) for c in cells)
            self._cell_widths[key] = w
            self._count_widths(w, 1)
            for i, cw in enumerate(w[:len(widths)]):
                if self._fixed[i] is None and cw > widths[i]:
                    widths[i] = cw
                    grew = True
            added += 1
        if not added:
            return
        self.stats["appends"] += added
        if grew:
            self._widths_changed(True)
        self._content_changed()

    def drop_first(self, n: int) -> None:
        """Forget the oldest ``n`` rows (bounded event history)."""
        if n <= 0:
            return
        cursor_key = self.selected_key
        gone, self._order = self._order[:n], self._order[n:]
        for key in gone:
            del self._cells[key]
            self._strips.pop(key, None)
            self._count_widths(self._cell_widths.pop(key, ()), -1)
            self._pending.pop(key, None)
            self._unmeasured.pop(key, None)
            self._sigs.pop(key, None)
            self._makers.pop(key, None)
        self.stats["removes"] += len(gone)
        self._index = None
        self._restore_cursor(cursor_key, shift=-len(gone))
        self._content_changed()

    def clear(self) -> None:
        self.sync([])

    # -- cursor -------------------------------------------------------------------------------

    def move_cursor(self, *, row: int | None = None, animate: bool = False, scroll: bool = True) -> None:
        if row is None or not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        if row != self._cursor:
            self._cursor = row
            self.refresh()
        if scroll:
            self._scroll_cursor_visible()
        self._announce()

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - max(1, self._rows_visible() - 1))

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + max(1, self._rows_visible() - 1))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = offset.y - 1 + round(self.scroll_y)
        if 0 <= row < len(self._order):
            self.focus()
            self.move_cursor(row=row)

    def _restore_cursor(self, key: str | None, shift: int = 0) -> None:
        if not self._order:
            self._cursor = 0
        elif key is not None and key in self._cells:
            self._cursor = self.get_row_index(key)
        else:
            self._cursor = max(0, min(self._cursor + shift, len(self._order) - 1))
        self._announce()

    def _announce(self) -> None:
        key = self.selected_key
        if key != self._announced:
            self._announced = key
            self.post_message(self.RowHighlighted(self, self._cursor, key))

    def _rows_visible(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_visible(self) -> None:
        top = round(self.scroll_y)
        visible = self._rows_visible()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    # -- geometry and drawing ---------------------------------------------------------------

    def _count_widths(self, widths: Sequence[int], step: int) -> None:
        counts = self._width_counts
        for i, cw in enumerate(widths[:len(counts)]):
            c = counts[i]
            n = c[cw] + step
            if n > 0:
                c[cw] = n
            else:
                del c[cw]

    def _measure_all(self) -> bool:
        """Every column as wide as its widest cell or label (from the counts)."""
        widths = [(self._fixed[i] or _width(lab)) if self._fixed[i] is not None
                  else max(_width(lab), max(self._width_counts[i], default=0))
                  for i, lab in enumerate(self._labels)]
        if widths == self._widths:
            return False
        self._widths = widths
        return True

    def _widths_changed(self, changed: bool) -> None:
        if changed:
            self._strips.clear()
            self._header = None

    def _content_changed(self) -> None:
        width = sum(w + 2 * PAD for w in self._widths)
        size = Size(width, len(self._order) + 1)
        if size != self.virtual_size:
            self.virtual_size = size
            self.refresh(layout=True)
        else:
            self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._header = None

    def _line(self, cells: Sequence[object]) -> Strip:
        """One row as segments at the current widths.  A cell that fits and
        has one style (most cells: a number, a state) becomes one segment
        without ``Text.render`` (a row of 14 cells took ~0.1 ms that way)."""
        console = self.app.console
        get_style = console.get_style
        segments: list[Segment] = []
        append = segments.append
        for i, width in enumerate(self._widths):
            # the column in each cell's style keeps cells apart in exported
            # pictures (an SVG run per cell), so columns line up in any font
            meta = _column_meta(i)
            value = cells[i] if i < len(cells) else ""
            pad = Segment(" " * PAD, meta)
            if not isinstance(value, Text):
                value = strip_control_codes(str(value))     # as Text() does: no terminal escapes from the wire
                n = cell_len(value)
                if n <= width:
                    append(pad)
                    append(Segment(value, meta))
                    append(Segment(" " * (width - n + PAD), meta))
                    continue
                value = Text(value)
            n = value.cell_len
            if n <= width and not value.spans:
                append(pad)
                style = value.style
                append(Segment(value.plain, get_style(style) + meta if style else meta))
                append(Segment(" " * (width - n + PAD), meta))
                continue
            text = value
            if text.cell_len > width:
                text = text.copy()
                text.truncate(width, overflow="ellipsis")
            cell = [Segment(" " * PAD)]
            rendered = text.render(console, end="")
            if text.style:   # Text.render leaves the base style to its caller
                rendered = Segment.apply_style(rendered, get_style(text.style))
            cell.extend(rendered)
            cell.append(Segment(" " * (width - text.cell_len + PAD)))
            segments.extend(Segment.apply_style(cell, post_style=meta))
        return Strip(segments, sum(w + 2 * PAD for w in self._widths))

    def render_lines(self, crop: Region) -> list[Strip]:
        """Rows scrolled into view are made before any line is drawn, so the
        lines of one frame share column widths."""
        if self._pending:
            top = round(self.scroll_y)
            order = self._order
            made = False
            for row in range(max(0, top + crop.y - 1), min(len(order), top + crop.bottom - 1)):
                if order[row] in self._pending:
                    self._make(order[row])
                    made = True
            if made and self._measure_all():
                self._widths_changed(True)
                self.call_later(self._content_changed)    # lines outside this crop, the virtual width
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x = round(self.scroll_x)
        base = self.rich_style
        if y == 0:
            if self._header is None:
                self._header = self._line(self._labels)
            style = base + self.get_component_rich_style("keyed-table--header")
            strip = self._header.apply_style(style)
            return _window(strip, scroll_x, width, style)
        row = y - 1 + round(self.scroll_y)
        if row >= len(self._order):
            return Strip.blank(width, base)
        key = self._order[row]
        if key in self._pending:
            self._make(key)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._line(self._cells[key])
        if row == self._cursor:
            cls = "keyed-table--cursor" if self.has_focus else "keyed-table--cursor-blurred"
            style = base + self.get_component_rich_style(cls)
        else:
            style = base
        return _window(strip.apply_style(style), scroll_x, width, style)

    def on_resize(self) -> None:
        self._scroll_cursor_visible()
