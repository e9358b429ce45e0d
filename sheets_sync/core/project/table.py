"""Header-row tables (returns tabs, the Review tab) and the cells a projection writes.

A table's columns are found by header wherever people moved them; a projection computes
every engine cell it owns and :func:`diff_cells` keeps only those that differ from the tab.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sheets_sync.core.cells import CellValue, CellWrite, Formula, Grid, cell_text, cells_equal, grid_cell, storable_text

MONEY, DATE, DATE_TIME = "#,##0.00", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"


CELL_TEXT_LIMIT = 32_767
"""Characters (UTF-16 code units) an Excel cell holds; Google Sheets holds 50,000. Longer
text would be cut by the file (and rewritten by every run) or refused by Google."""


def text_units(text: str) -> int:
    """Length as spreadsheets count it (UTF-16 code units: an emoji counts 2)."""
    return len(text) + sum(1 for char in text if char > "\uffff")


def cell_safe(value: CellValue) -> CellValue:
    """``value`` as every backend can store it exactly, so the engine's text never breaks a
    save and a run compares what it wants with what a cell can hold (no rewrite each run):
    characters no workbook can hold are dropped and text too long for a cell is cut,
    ending in an ellipsis. Anything but text is returned as it is."""
    if not isinstance(value, str) or isinstance(value, Formula):
        return value
    text = storable_text(value)
    if len(text) * 2 > CELL_TEXT_LIMIT and text_units(text) > CELL_TEXT_LIMIT:
        text = _cut(text, CELL_TEXT_LIMIT - 1) + "\u2026"
    return text


def _cut(text: str, units: int) -> str:
    """The longest start of ``text`` within ``units`` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if char > "\uffff" else 1
        if used > units:
            return text[:index]
    return text


class TabError(ValueError):
    """A tab cannot be used as it is; the message says what to fix."""


def _header_key(value: CellValue) -> str:
    return str(value).strip().casefold() if value is not None else ""


@dataclass(frozen=True, slots=True)
class TableLayout:
    """Where each named column of a header-row table is, and which headers must be added."""

    column_of: Mapping[str, int]
    added_headers: tuple[tuple[int, str], ...]


def table_layout(grid: Grid, required: Sequence[str], engine: Sequence[str], tab: str) -> TableLayout:
    """Find ``required`` and ``engine`` headers in row 1 (trimmed, case-insensitive).

    A missing required header is an error; missing engine headers are placed right of every
    column in use, so a column the client fills without a header is never written into.
    """
    header = grid[0] if grid else []
    found: dict[str, int] = {}
    for index, cell in enumerate(header, start=1):
        found.setdefault(_header_key(cell), index)
    missing = [name for name in required if name.casefold() not in found]
    if missing:
        raise TabError(f"tab {tab!r} has no {', '.join(repr(name) for name in missing)} column in row 1")
    last = max((index for cells in grid for index, cell in enumerate(cells, start=1) if cell_text(cell)), default=0)
    column_of = {name: found[name.casefold()] for name in (*required, *engine) if name.casefold() in found}
    added = []
    for name in engine:
        if name not in column_of:
            last += 1
            column_of[name] = last
            added.append((last, name))
    return TableLayout(column_of, tuple(added))


def with_table(grid: Grid | None, tab: str, columns: tuple[str, ...], required: tuple[str, ...],
               engine: tuple[str, ...]) -> tuple[Grid, TableLayout, list[CellWrite]]:
    """A table's grid and layout; a missing tab is treated as a fresh one with all headers."""
    if grid is None or not grid or not any(cell not in (None, "") for cell in grid[0]):
        fresh = [list(columns)]
        layout = table_layout(fresh, required, engine, tab)
        return fresh, layout, [CellWrite(tab, 1, column, name) for column, name in enumerate(columns, start=1)]
    return grid, table_layout(grid, required, engine, tab), []


def local_moment(moment: datetime | None) -> datetime | None:
    """Spreadsheets have no timezone: show local wall-clock time without seconds."""
    return moment.replace(tzinfo=None, second=0, microsecond=0) if moment else None


def diff_cells(tab: str, grid: Grid, wanted: Mapping[tuple[int, int], CellValue],
          format_of_column: Mapping[int, str]) -> list[CellWrite]:
    safe = ((key, cell_safe(value)) for key, value in sorted(wanted.items()))
    return [CellWrite(tab, row, column, value, format_of_column.get(column) if row > 1 else None)
            for (row, column), value in safe
            if not cells_equal(value, grid_cell(grid, row, column))]


def column_formats(layout: TableLayout, by_name: Mapping[str, str]) -> dict[int, str]:
    return {layout.column_of[name]: number_format for name, number_format in by_name.items()
            if name in layout.column_of}
