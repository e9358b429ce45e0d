"""The cell and table vocabulary shared by the pure core and every backend.

Cell values crossing the boundary between the core and a workbook backend:

=========================  =====================================================
Python value               meaning
=========================  =====================================================
``None``                   empty cell
``str``                    text, always stored as text (never parsed, never a
                           formula, even when it starts with ``=``, ``+``, ``-``,
                           ``@``)
``Formula``                a live formula the engine built (``"=B2-B5"``)
``int``/``float``/         a number; ``Decimal`` is money and is written exactly
``Decimal``
``bool``                   a boolean
``date``/``datetime``      a date (or date-time) cell, shown as a date
=========================  =====================================================

Reads return the same kinds, except that a backend may hand back a date cell as a
spreadsheet serial number (Google's ``SERIAL_NUMBER`` rendering): use
:func:`cell_as_date` and :func:`cells_equal` rather than comparing raw values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TypeAlias


class Formula(str):
    """A formula the engine wrote itself. Client text is never wrapped in this."""

    __slots__ = ()


CellValue: TypeAlias = "str | Formula | int | float | Decimal | bool | date | datetime | None"
Grid: TypeAlias = "list[list[CellValue]]"
"""Row-major cells of one tab; ``grid[0][0]`` is A1. Rows may be ragged or trimmed."""


@dataclass(frozen=True, slots=True)
class CellWrite:
    """One cell to set. ``row`` and ``col`` are 1-based, as spreadsheets count.

    ``number_format`` is a spreadsheet format pattern (``"#,##0.00"``, ``"0.0%"``,
    ``"yyyy-mm-dd"``) that Excel and Google Sheets both understand; ``None`` keeps the
    cell's own format (an operator's choice survives the engine rewriting the value).

    ``note`` and ``fill`` decorate the cell together with its value: ``note`` is a cell note
    (an Excel comment), ``fill`` a background colour as ``"RRGGBB"``; ``""`` removes either,
    ``None`` leaves it as it is. Neither is ever read back or compared: a planner only
    emits a write when the value differs, and the decoration travels with it.
    """

    tab: str
    row: int
    col: int
    value: CellValue
    number_format: str | None = None
    note: str | None = None
    fill: str | None = None


@dataclass(frozen=True, slots=True)
class TabSpec:
    """How a tab the engine creates should look: frozen header rows/columns, widths."""

    title: str
    frozen_rows: int = 1
    frozen_columns: int = 0
    column_widths: tuple[tuple[int, float], ...] = ()
    """(1-based column, width in characters) pairs."""
    default_width: float | None = None
    """Width in characters of every other column, also those added later."""
    dropdowns: tuple[tuple[int, tuple[str, ...]], ...] = ()
    """(1-based column, choices): below the frozen rows, the column offers these choices and
    still accepts any other text (Excel: no error message; Google: not strict)."""
    read_only_columns: tuple[int, ...] = ()
    """1-based columns only the engine fills. Excel: the sheet is protected (no password: a
    guard, not security) with every other column left unlocked; Google: protected ranges
    that only the service account may edit."""
    color_rules: tuple["ColorRule", ...] = ()
    """Conditional formatting: cells below the frozen rows that equal a text get colours."""
    header_fill: str | None = None
    """With it, the header (the frozen rows) is bold on this background (``"RRGGBB"``; ``""``
    for none); a header write's own ``fill`` still wins."""
    header_columns: int = 0
    """How many cells of each header row look so; 0: the whole row, cells written there
    later too (a tab that grows to the right)."""
    wrap_columns: tuple[int, ...] = ()
    """1-based columns whose text wraps inside the column (long sentences stay readable),
    top aligned. Like every column style here it is the column's own: cells typed or written
    there later take it (Excel and LibreOffice give a new cell its column's style)."""
    text_columns: tuple[int, ...] = ()
    """1-based columns of IDs: text format and left aligned, so a typed ``000123`` keeps
    its zeros and every ID lines up the same way."""
    landscape: bool = True
    """Printing (Excel; Google Sheets' API has no print settings): paper orientation."""
    fit_width: int = 1
    """Pages wide the tab is scaled to fit when printed (0: as many as it takes)."""
    fit_height: int = 0
    """Pages tall the tab is scaled to fit when printed (0: as many as it takes). The frozen
    rows repeat on every printed page, and so do the frozen columns when it spans pages wide."""
    print_scale: int = 100
    """Percent the tab is printed at when neither ``fit_width`` nor ``fit_height`` is set."""
    print_gridlines: bool = True


@dataclass(frozen=True, slots=True)
class ColorRule:
    """Cells of ``column`` (below the frozen rows) whose text is exactly ``text`` get a
    background ``fill`` and, if given, a ``font`` colour (both ``"RRGGBB"``)."""

    column: int
    text: str
    fill: str
    font: str | None = None


@dataclass(frozen=True, slots=True)
class LineChart:
    """A native line chart over a block of cells of ``tab``: one line per column
    ``first_series_column``..``last_series_column`` (named by ``header_row``), one point per
    row ``first_row``..``last_row``, labelled by ``category_column``. The chart's top left
    corner sits on cell (``anchor_row``, ``anchor_column``)."""

    tab: str
    title: str
    anchor_row: int
    anchor_column: int
    header_row: int
    first_row: int
    last_row: int
    category_column: int
    first_series_column: int
    last_series_column: int
    y_title: str = ""
    x_title: str = ""
    y_number_format: str | None = None
    width_cm: float = 24.0
    height_cm: float = 10.0
    colors: tuple[str, ...] = ()
    """Line colours (``"RRGGBB"``) of the series in order, repeated when there are more
    series; empty: the program's own."""
    x_number_format: str | None = None
    """How category labels (dates) read; ``None``: as the cells show them."""
    legend: str = "right"
    """``right`` or ``bottom``."""


@dataclass(frozen=True, slots=True)
class TabRename:
    """An existing tab kept under a new title (with its cells, formats and charts); listed
    among a write's ``new_tabs``, before any new tab that takes its old title."""

    old: str
    new: str


def tab_spec(tab: "str | TabSpec") -> TabSpec:
    return tab if isinstance(tab, TabSpec) else TabSpec(tab)


def split_tab_changes(changes: Sequence[str | TabSpec | TabRename]) -> tuple[list[TabRename], list[TabSpec]]:
    """A write's ``new_tabs``: the renames, in order, and the tabs to create."""
    return ([change for change in changes if isinstance(change, TabRename)],
            [tab_spec(change) for change in changes if not isinstance(change, TabRename)])


EXCEL_EPOCH = date(1899, 12, 30)


def cell_as_date(value: CellValue) -> date | None:
    """The date a cell holds, whether stored as a date, a date-time, a serial or ISO text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)) and 1 <= value < 2958466:
        return EXCEL_EPOCH + timedelta(days=int(value))
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _as_datetime(value: CellValue) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        whole = datetime(1899, 12, 30) + timedelta(days=float(value))
        return (whole + timedelta(milliseconds=500)).replace(microsecond=0)
    return None


def cells_equal(wanted: CellValue, current: CellValue) -> bool:
    """Whether a cell already shows ``wanted``, across the ways backends hand values back."""
    if type(wanted) is str and type(current) is str:  # most engine cells: one comparison
        return wanted == current
    if current is None:  # an empty cell: the first time a row is answered
        return wanted is None or wanted == ""
    if wanted is None or wanted == "":
        return current is None or current == ""
    if isinstance(wanted, Formula):
        return isinstance(current, str) and current.replace(" ", "") == wanted.replace(" ", "")
    if isinstance(current, Formula) and isinstance(wanted, str):
        # Google's FORMULA rendering hands back text that starts with "=" as if it were a
        # formula; the same text is the same cell, or such text would be rewritten every run.
        return current == wanted
    if isinstance(wanted, (date, datetime)):
        return _as_datetime(wanted) == _as_datetime(current) if not isinstance(current, str) else False
    if isinstance(wanted, bool) or isinstance(current, bool):
        return type(wanted) is type(current) and wanted == current
    if isinstance(wanted, (int, float, Decimal)):
        if not isinstance(current, (int, float, Decimal)):
            return False
        return Decimal(str(wanted)) == Decimal(str(current))
    return isinstance(current, str) and wanted == current


def cell_text(value: CellValue) -> str:
    """A cell as trimmed text; whole-number floats lose their ``.0`` (``123.0 -> "123"``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_NOT_STORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def storable_text(text: str) -> str:
    """``text`` without the characters no workbook can store: control characters other than
    tab and line breaks (not allowed in an .xlsx file's XML) and lone surrogates (not
    encodable). They are invisible, so dropping them changes nothing a person sees."""
    return _NOT_STORABLE.sub("", text)


@cache  # a few thousand columns at most, asked for once per cell written
def column_letter(col: int) -> str:
    """``1 -> "A"``, ``27 -> "AA"``."""
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def grid_cell(grid: Grid, row: int, col: int) -> CellValue:
    """The value at 1-based (row, col), ``None`` outside the grid."""
    if row - 1 < len(grid):
        cells = grid[row - 1]
        if col - 1 < len(cells):
            return cells[col - 1]
    return None


def date_serial(value: date) -> float | int:
    """The spreadsheet serial number of a date; a datetime keeps its wall-clock time,
    whatever its zone."""
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) - datetime(1899, 12, 30)).total_seconds() / 86400
    return (value - EXCEL_EPOCH).days
