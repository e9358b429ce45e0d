"""Engine cell values and Google Sheets' cell data, both ways: a read's FORMULA-rendered
values as :mod:`sheets_sync.core.cells` values, and a write's cells as typed ``updateCells``
requests (see the Google workbook module's docstring for what is exact and why)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sheets_sync.backends.google.style import decorated_cell_data
from sheets_sync.core.cells import CellValue, CellWrite, Formula, Grid, date_serial

_VALUE_FIELDS = "userEnteredValue"
_VALUE_AND_FORMAT_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat"


@dataclass
class _Block:
    """Cells of one tab forming a rectangle, sent as one ``updateCells``."""

    tab: str
    first_row: int
    first_col: int
    fields: str
    rows: list[list[dict[str, Any]]] = field(default_factory=list)


def grid_of(rows: list[list[Any]]) -> Grid:
    return [[_cell_value(value) for value in row] for row in rows]


def _cell_value(value: Any) -> CellValue:
    """A FORMULA-rendered value as a base.CellValue (see the module docstring on text with '=')."""
    if value == "":
        return None
    if isinstance(value, str) and value.startswith("="):
        return Formula(value)
    return value


def _number_format(pattern: str) -> dict[str, str]:
    """A Sheets NumberFormat for a pattern Excel and Sheets share."""
    if "%" in pattern:
        kind = "PERCENT"
    elif "y" in pattern:
        kind = "DATE_TIME" if "h" in pattern else "DATE"
    else:
        kind = "NUMBER"
    return {"type": kind, "pattern": pattern}


def _cell_data(value: CellValue, number_format: str | None) -> tuple[dict[str, Any], str]:
    """The CellData for ``value`` and the fields it sets; an explicit format wins."""
    data, fields = _value_data(value)
    if number_format is not None:
        data = {**data, "userEnteredFormat": {"numberFormat": _number_format(number_format)}}
        fields = _VALUE_AND_FORMAT_FIELDS
    return data, fields


def _value_data(value: CellValue) -> tuple[dict[str, Any], str]:
    """The CellData for ``value`` and the fields it sets (number formats only for dates)."""
    if value is None or value == "":
        return {}, _VALUE_FIELDS  # listed in the mask but absent: the value is cleared
    if isinstance(value, Formula):
        return {"userEnteredValue": {"formulaValue": str(value)}}, _VALUE_FIELDS
    if isinstance(value, str):
        return {"userEnteredValue": {"stringValue": value}}, _VALUE_FIELDS
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}, _VALUE_FIELDS
    if isinstance(value, (date, datetime)):
        kind, pattern = ("DATE_TIME", "yyyy-mm-dd hh:mm:ss") if isinstance(value, datetime) else ("DATE", "yyyy-mm-dd")
        return (
            {"userEnteredValue": {"numberValue": date_serial(value)},
             "userEnteredFormat": {"numberFormat": {"type": kind, "pattern": pattern}}},
            _VALUE_AND_FORMAT_FIELDS,
        )
    if isinstance(value, (int, float, Decimal)):
        # Sheets keeps doubles; a Decimal of cents survives the trip through float exactly.
        number = float(value) if isinstance(value, Decimal) else value
        return {"userEnteredValue": {"numberValue": number}}, _VALUE_FIELDS
    raise TypeError(f"cannot write a {type(value).__name__} to Google Sheets")


def update_cells_requests(cells: Mapping[tuple[str, int, int], CellWrite], sheet_ids: Mapping[str, int]) -> list[dict]:
    """One ``updateCells`` per rectangle of cells that share a tab and a field mask.

    Runs of adjacent cells in a row are joined, then runs of the same columns in consecutive
    rows; a gap never becomes part of a request, so cells not written stay untouched.
    """
    runs: list[_Block] = []
    for (tab, row, col), write in sorted(cells.items(), key=lambda item: item[0]):
        data, fields = decorated_cell_data(*_cell_data(write.value, write.number_format), write)
        last = runs[-1] if runs else None
        if (last is not None and (last.tab, last.first_row, last.fields) == (tab, row, fields)
                and last.first_col + len(last.rows[0]) == col):
            last.rows[0].append(data)
        else:
            runs.append(_Block(tab, row, col, fields, [[data]]))
    blocks: list[_Block] = []
    open_blocks: dict[tuple[str, int, int, str], _Block] = {}
    for run in runs:
        key = (run.tab, run.first_col, len(run.rows[0]), run.fields)
        block = open_blocks.get(key)
        if block is not None and block.first_row + len(block.rows) == run.first_row:
            block.rows.append(run.rows[0])
        else:
            open_blocks[key] = run
            blocks.append(run)
    return [
        {"updateCells": {
            "start": {"sheetId": sheet_ids[block.tab], "rowIndex": block.first_row - 1,
                      "columnIndex": block.first_col - 1},
            "rows": [{"values": values} for values in block.rows],
            "fields": block.fields,
        }}
        for block in blocks
    ]
