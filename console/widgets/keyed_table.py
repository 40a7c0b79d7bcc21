"""A DataTable that is synchronised, not refilled.

Refilling a table on every tick costs ~160 ms for 1000 rows and sends the
cursor back to row 0; diffing by row key and updating only the cells that
changed costs a fraction of that and leaves the operator's cursor where it
was.  Rows are rebuilt only when their order changes (a rare, structural
event such as a new real server).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

Row = tuple[str, Sequence[object]]

REBUILD_ABOVE = 64   # removing rows one by one is O(n) each


def _width(value: object) -> int:
    if isinstance(value, Text):
        return value.cell_len
    return cell_len(str(value))


class KeyedTable(DataTable):
    def __init__(self, columns: Sequence[tuple], **kwargs):
        """``columns``: (key, label) or (key, label, fixed width)."""
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
        self._spec = list(columns)
        self._cells: dict[str, tuple] = {}
        self._order: list[str] = []
        self.stats = {"updates": 0, "appends": 0, "removes": 0, "rebuilds": 0}

    def on_mount(self) -> None:
        for key, label, *width in self._spec:
            self.add_column(label, key=key, width=width[0] if width else None)

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    @property
    def selected_key(self) -> str | None:
        if not self._order:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except (CellDoesNotExist, RowDoesNotExist):
            return None

    def row_cells(self, key: str) -> tuple | None:
        return self._cells.get(key)

    def select_key(self, key: str) -> bool:
        if key not in self._cells:
            return False
        self.move_cursor(row=self.get_row_index(key), animate=False)
        return True

    def sync(self, rows: Iterable[Row]) -> None:
        """Make the table show exactly ``rows`` (key, cells) in that order."""
        new_order: list[str] = []
        new: dict[str, tuple] = {}
        for key, cells in rows:
            if key in new:
                continue        # a duplicate key would break the table; keep the first
            new_order.append(key)
            new[key] = tuple(cells)
        kept = [k for k in self._order if k in new]
        removed = len(self._order) - len(kept)
        appended = new_order[len(kept):]
        if new_order[:len(kept)] != kept or removed > REBUILD_ABOVE:
            self._rebuild(new_order, new)
            return
        with self.app.batch_update():
            if removed:
                for k in [k for k in self._order if k not in new]:
                    self.remove_row(k)
                    del self._cells[k]
                    self.stats["removes"] += 1
            cols = [c[0] for c in self._spec]
            for k in kept:
                old = self._cells[k]
                row = new[k]
                if old == row:
                    continue
                for ci, (a, b) in enumerate(zip(old, row)):
                    if a != b:
                        col = cols[ci]
                        wider = _width(b) > self.columns[self._col_key(col)].content_width
                        self.update_cell(k, col, b, update_width=wider)
                        self.stats["updates"] += 1
                self._cells[k] = row
            self._append(appended, new)
            self._order = new_order

    def append(self, rows: Iterable[Row]) -> None:
        """Add rows at the end (the events stream) without looking at the rest."""
        new = {}
        order = []
        for key, cells in rows:
            if key in self._cells or key in new:
                continue
            new[key] = tuple(cells)
            order.append(key)
        self._append(order, new)
        self._order.extend(order)

    def drop_first(self, n: int) -> None:
        """Forget the oldest ``n`` rows (bounded event history)."""
        if n <= 0:
            return
        if n > REBUILD_ABOVE:
            rest = self._order[n:]
            self._rebuild(rest, {k: self._cells[k] for k in rest})
            return
        for k in self._order[:n]:
            self.remove_row(k)
            del self._cells[k]
            self.stats["removes"] += 1
        del self._order[:n]

    def _append(self, order: list[str], new: dict[str, tuple]) -> None:
        for k in order:
            self.add_row(*new[k], key=k)
            self._cells[k] = new[k]
            self.stats["appends"] += 1

    def _col_key(self, col: str) -> ColumnKey:
        return ColumnKey(col)

    def _rebuild(self, order: list[str], new: dict[str, tuple]) -> None:
        cursor_key = self.selected_key
        cursor_row = self.cursor_row
        scroll_y = self.scroll_y
        self.stats["rebuilds"] += 1
        with self.app.batch_update():
            self.clear()
            self._cells = {}
            self._order = []
            self._append(order, new)
            self._order = list(order)
            if not order:
                return
            if cursor_key in self._cells:
                row = self.get_row_index(cursor_key)
            else:
                row = min(cursor_row, len(order) - 1)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
            self.move_cursor(row=row, animate=False)
