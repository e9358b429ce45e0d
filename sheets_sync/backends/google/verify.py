"""Google Sheets: noticing that people moved rows between a run's read and its write.

The Sheets API has no conditional write: ``spreadsheets:batchUpdate`` sets cells at the
positions given, even when a person inserted, deleted or sorted rows (or retyped a lead ID)
since the run read the tab. So the run's single batchUpdate also asks for the rows it wrote
*as they are right after the batch* (``includeSpreadsheetInResponse`` with
``responseRanges``: row 1 and every row written, whole rows; a field mask keeps just the
entered values). The answer is atomic with the write, so comparing it with what the run read
-- every cell of those rows except the ones the batch set -- tells for sure whether each
written row still is the row the cells were planned for. When one is not, the backend
raises :class:`~sheets_sync.backends.base.WorkbookChanged` (``written=True``) and the engine
reads the tab again, plans again and writes again (``run/settle.py``): two more requests, only
in that rare case, so a normal run stays at two requests per spreadsheet.

The price of having no conditional write: in that rare case the first batch's cells sit on
the moved rows for one round trip (well under a second) until the correcting batch lands,
or, if the run dies in between, until the next run. Client-owned cells are not among them:
the engine only writes its own columns, found by header, and the header row is checked too.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

from sheets_sync.core.cells import CellValue, Formula, Grid, column_letter

MAX_RANGES_PER_TAB = 20
"""More separate row runs than this in one tab are checked as one span (fewer, larger ranges)."""

RESPONSE_FIELDS = ("updatedSpreadsheet.sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),"
                   "data(startRow,startColumn,rowData.values.userEnteredValue))")


def _quoted(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def rows_to_check(cells: Mapping[tuple[str, int, int], Any], read: Mapping[str, Grid]) -> dict[str, list[tuple[int, int]]]:
    """Per tab that was read and is written: (first, last) runs of 1-based rows -- row 1 (the
    headers the columns were found by), every row written, and the last row read (rows
    appended below it hold nothing of anyone's to compare, but rows inserted or deleted
    above them move that one)."""
    rows: dict[str, set[int]] = {}
    for tab, row, _ in cells:
        if tab in read:
            rows.setdefault(tab, {1, max(len(read[tab]), 1)}).add(row)
    spans: dict[str, list[tuple[int, int]]] = {}
    for tab, numbers in rows.items():
        ordered = sorted(numbers)
        merged: list[list[int]] = []
        for number in ordered:
            if merged and number == merged[-1][1] + 1:
                merged[-1][1] = number
            else:
                merged.append([number, number])
        if len(merged) > MAX_RANGES_PER_TAB:
            merged = [[ordered[0], ordered[-1]]]
        spans[tab] = [(first, last) for first, last in merged]
    return spans


def verified_body(batch: list[dict[str, Any]], spans: Mapping[str, list[tuple[int, int]]]) -> dict[str, Any]:
    body: dict[str, Any] = {"requests": batch}
    if spans:
        body.update(includeSpreadsheetInResponse=True, responseIncludeGridData=True,
                    responseRanges=[f"{_quoted(tab)}!{first}:{last}" for tab, runs in spans.items()
                                    for first, last in runs])
    return body


def batch_update(client, spreadsheet_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """One ``spreadsheets:batchUpdate`` answering only what the check needs."""
    params = {"fields": RESPONSE_FIELDS} if body.get("includeSpreadsheetInResponse") else None
    return client.request("post", SPREADSHEET_BATCH_UPDATE_URL % spreadsheet_id, params=params, json=body).json()


def _entered(cell: Mapping[str, Any]) -> CellValue:
    value = cell.get("userEnteredValue") or {}
    if "formulaValue" in value:
        return Formula(value["formulaValue"])
    for kind in ("stringValue", "numberValue", "boolValue"):
        if kind in value:
            return value[kind]
    return None


def _key(value: CellValue) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float, Decimal)):
        return ("number", float(value))
    return ("text", str(value))  # FORMULA rendering cannot tell text "=x" from a formula


def _same(read: CellValue, now: CellValue) -> bool:
    """Whether a cell as the run read it (FORMULA rendering) is the cell as entered now."""
    return _key(read) == _key(now)


def _row_key(cells: list[CellValue], skip: frozenset[int]) -> tuple:
    return tuple((col, key) for col, value in enumerate(cells, start=1)
                 if col not in skip and (key := _key(value)) is not None)


def _rows_now(answer: Mapping[str, Any]) -> dict[str, dict[int, list[CellValue]]]:
    """The answer's rows by tab and 1-based row number (rows it does not list are empty)."""
    return _rows_of(answer.get("updatedSpreadsheet") or {})


def _rows_of(spreadsheet: Mapping[str, Any]) -> dict[str, dict[int, list[CellValue]]]:
    tabs: dict[str, dict[int, list[CellValue]]] = {}
    for sheet in spreadsheet.get("sheets", []):
        now = tabs.setdefault(sheet.get("properties", {}).get("title"), {})
        for data in sheet.get("data", []):
            start = data.get("startRow", 0) + 1
            for offset, row_data in enumerate(data.get("rowData", [])):
                now[start + offset] = [_entered(cell) for cell in row_data.get("values", [])]
    return tabs


def _cell(cells: list[CellValue], col: int) -> CellValue:
    return cells[col - 1] if col - 1 < len(cells) else None


def _alike(one: list[CellValue], other: list[CellValue], skip: frozenset[int]) -> bool:
    """Whether two rows hold the same cells, leaving out the columns in ``skip``."""
    return _row_key(one, skip) == _row_key(other, skip)


def grids_from_answer(answer: Mapping[str, Any]) -> dict[str, Grid]:
    """Whole tabs from an answer whose responseRanges were whole tabs, as a read returns them."""
    return grids_of(answer.get("updatedSpreadsheet") or {})


def grids_of(spreadsheet: Mapping[str, Any]) -> dict[str, Grid]:
    """Whole tabs of a Spreadsheet with grid data, as a FORMULA-rendered values read returns
    them: rows and cells that hold nothing are trimmed off the ends (Google lists rows up to
    the last one with any data, a format or a note included)."""
    grids = {}
    for title, rows in _rows_of(spreadsheet).items():
        grid = [_trimmed([_as_read(value) for value in rows.get(number, [])])
                for number in range(1, max(rows, default=0) + 1)]
        while grid and not grid[-1]:
            grid.pop()
        grids[title] = grid
    return grids


def _trimmed(row: list[CellValue]) -> list[CellValue]:
    while row and row[-1] is None:
        row.pop()
    return row


def _as_read(value: CellValue) -> CellValue:
    """A value as FORMULA rendering reads it: text that starts with "=" reads as a formula."""
    if value == "":
        return None
    if isinstance(value, str) and not isinstance(value, Formula) and value.startswith("="):
        return Formula(value)
    return value


def undo_writes(read: Mapping[str, Grid], cells: Mapping[tuple[str, int, int], Any],
                spans: Mapping[str, list[tuple[int, int]]], answer: Mapping[str, Any]
                ) -> dict[tuple[str, int, int], CellValue]:
    """What each cell this batch set on a row that turned out to be another row held before.

    A row that moved (inserted, deleted or sorted rows) is recognised by its other cells: the
    one row read with the same cells elsewhere -- its cells at the written columns are what
    the batch overwrote. A row seen nowhere (inserted, or moved and retyped) held nothing
    there as far as can be known. Rows still as read need no undo.
    """
    undo: dict[tuple[str, int, int], CellValue] = {}
    rows_now = _rows_now(answer)
    written_in: dict[tuple[str, int], set[int]] = {}
    for tab, number, col in cells:
        written_in.setdefault((tab, number), set()).add(col)
    for title, runs in spans.items():
        grid, now = read[title], rows_now.get(title, {})
        indexes: dict[frozenset[int], dict[tuple, list[int]]] = {}  # rows read, by their other cells
        for first, last in runs:
            for row in range(first, last + 1):
                written = frozenset(written_in.get((title, row), ()))
                after = now.get(row, [])
                if not written or _alike(grid[row - 1] if row - 1 < len(grid) else [], after, written):
                    continue
                if written not in indexes:
                    index: dict[tuple, list[int]] = {}
                    for number, cells_then in enumerate(grid, start=1):
                        index.setdefault(_row_key(cells_then, written), []).append(number)
                    indexes[written] = index
                matches = [number for number in indexes[written].get(_row_key(after, written), []) if number != row]
                source = grid[matches[0] - 1] if len(matches) == 1 else []
                for col in written:
                    undo[(title, row, col)] = _cell(source, col)
    return undo


def first_change(read: Mapping[str, Grid], cells: Mapping[tuple[str, int, int], Any],
                 spans: Mapping[str, list[tuple[int, int]]], answer: Mapping[str, Any]) -> str | None:
    """The first cell (``Tab!B7``) of a checked row that is not what the run read, leaving out
    the cells this batch set; ``None`` when every written row is still the row it was."""
    rows_now = _rows_now(answer)
    for title in spans:
        grid, now = read[title], rows_now.get(title, {})
        for first, last in spans[title]:
            for row in range(first, last + 1):
                before = grid[row - 1] if row - 1 < len(grid) else []
                after = now.get(row, [])
                for col in range(1, max(len(before), len(after)) + 1):
                    if (title, row, col) in cells:
                        continue
                    was = before[col - 1] if col - 1 < len(before) else None
                    is_now = after[col - 1] if col - 1 < len(after) else None
                    if not _same(was, is_now):
                        return f"{title}!{column_letter(col)}{row}"
    return None


def grid_sizes(answer: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """(rows, columns) of each tab in the answer, as they are after the batch."""
    sizes = {}
    for sheet in (answer.get("updatedSpreadsheet") or {}).get("sheets", []):
        properties = sheet.get("properties", {})
        grid = properties.get("gridProperties", {})
        if "title" in properties and grid:
            sizes[properties["title"]] = (grid.get("rowCount", 0), grid.get("columnCount", 0))
    return sizes


GRID_MOVED = ("exceeds grid limits", "is after last row", "is after last column", "already exists",
              "Unable to parse range", "No grid with id")
"""Refusals of a whole batch (nothing applied) that mean the tabs changed since they were listed."""
