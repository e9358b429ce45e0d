"""``spreadsheets:batchUpdate``: the requests on sheets, cells and dimensions, the table of every
request kind served, and the spreadsheet a batch answers with."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from typing import Any

from sheets_sync.testing.cells import _Cell, _extended_value_cell, _json_number
from sheets_sync.testing.formulas import _evaluate
from sheets_sync.testing.grid import (
    DEFAULT_COLUMNS,
    DEFAULT_ROWS,
    _copy_masked,
    _grid_range,
    _mask_paths,
    _new_sheet,
    _parse_field_mask,
    _Range,
    _Sheet,
    _Spreadsheet,
)
from sheets_sync.testing.objects import (
    _add_chart,
    _add_conditional_format_rule,
    _add_protected_range,
    _delete_embedded_object,
    _delete_protected_range,
    _set_data_validation,
)
from sheets_sync.testing.responses import _ApiError
from sheets_sync.testing.values import _render_cell, _RenderOptions


def _add_sheet(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    properties = copy.deepcopy(request.get("properties", {}))
    sheet_id = properties.pop("sheetId", None)
    if sheet_id is None:
        sheet_id = spreadsheet.new_sheet_id()
    elif any(sheet.sheet_id == sheet_id for sheet in spreadsheet.sheets):
        raise _ApiError(400, f"A sheet with the id {sheet_id} already exists.")
    title = properties.pop("title", None)
    if title is None:
        number = len(spreadsheet.sheets) + 1
        while spreadsheet.sheet_by_title(f"Sheet{number}"):
            number += 1
        title = f"Sheet{number}"
    if spreadsheet.sheet_by_title(title):
        raise _ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
    index = properties.pop("index", len(spreadsheet.sheets))
    grid = {"rowCount": DEFAULT_ROWS, "columnCount": DEFAULT_COLUMNS} | properties.pop("gridProperties", {})
    sheet = _new_sheet(sheet_id, title, grid.pop("rowCount"), grid.pop("columnCount"))
    sheet.properties["gridProperties"].update(grid)
    sheet.properties.update({key: value for key, value in properties.items() if key != "sheetType"})
    spreadsheet.sheets.insert(min(index, len(spreadsheet.sheets)), sheet)
    reply = spreadsheet.json()["sheets"][spreadsheet.sheets.index(sheet)]["properties"]
    return {"addSheet": {"properties": reply}}


def _delete_sheet(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet = spreadsheet.sheet_by_id(request.get("sheetId"))
    if len(spreadsheet.sheets) == 1:
        raise _ApiError(400, "You can't remove all the sheets in a document.")
    spreadsheet.sheets.remove(sheet)
    return {}


def _update_sheet_properties(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("properties", {})
    sheet = spreadsheet.sheet_by_id(wanted.get("sheetId"))
    fields = request.get("fields")
    if not fields:
        raise _ApiError(400, "At least one field must be updated, but none were specified.")
    old_index = spreadsheet.sheets.index(sheet)
    updated = copy.deepcopy(sheet.properties)
    _copy_masked(updated, wanted, fields)
    new_index = updated.pop("index", None)
    updated["sheetId"], updated["sheetType"] = sheet.sheet_id, "GRID"
    if "title" not in updated or updated["title"] == "":
        raise _ApiError(400, "The sheet title must not be empty.")
    other = spreadsheet.sheet_by_title(updated["title"])
    if other is not None and other is not sheet:
        raise _ApiError(400, f'A sheet with the name "{updated["title"]}" already exists. Please enter another name.')
    grid = updated.setdefault("gridProperties", {})
    rows, columns = grid.setdefault("rowCount", sheet.row_count), grid.setdefault("columnCount", sheet.column_count)
    if rows < 1 or columns < 1:
        raise _ApiError(400, "A sheet must keep at least one row and one column.")
    hidden_others = all(s.properties.get("hidden") for s in spreadsheet.sheets if s is not sheet)
    if updated.get("hidden") and hidden_others:
        raise _ApiError(400, "You can't hide all the sheets in a document.")
    if not updated.get("hidden"):
        updated.pop("hidden", None)
    sheet.properties = updated
    sheet.resize(rows, columns)
    if new_index is not None and new_index not in (old_index, old_index + 1):
        # Google counts the target index before the move.
        spreadsheet.sheets.pop(old_index)
        spreadsheet.sheets.insert(new_index - 1 if new_index > old_index else new_index, sheet)
    return {}


def _update_spreadsheet_properties(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    if not request.get("fields"):
        raise _ApiError(400, "At least one field must be updated, but none were specified.")
    _copy_masked(spreadsheet.properties, request.get("properties", {}), request["fields"])
    return {}


def _update_cells(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    paths = {".".join(path) for path in _mask_paths(_parse_field_mask(request.get("fields") or "*"))}
    sets_value = bool(paths & {"*", "userEnteredValue"})
    sets_format = bool(paths & {"*", "userEnteredFormat", "userEnteredFormat.numberFormat"})
    sets_background = bool(paths & {"*", "userEnteredFormat", "userEnteredFormat.backgroundColor"})
    sets_note = bool(paths & {"*", "note"})
    rows = request.get("rows", [])
    if "start" in request:
        start = request["start"]
        sheet = spreadsheet.sheet_by_id(start.get("sheetId", 0))
        first_row, first_col = start.get("rowIndex", 0), start.get("columnIndex", 0)
        given = {
            (first_row + r, first_col + c): cell_data
            for r, row_data in enumerate(rows)
            for c, cell_data in enumerate(row_data.get("values", []))
        }
        targets = list(given)
    elif "range" in request:
        sheet, first_row, first_col, end_row, end_col = _grid_range(spreadsheet, request["range"])
        given = {
            (first_row + r, first_col + c): cell_data
            for r, row_data in enumerate(rows)
            for c, cell_data in enumerate(row_data.get("values", []))
        }
        # With a range, cells of the range that rows leave out are reset too.
        targets = [(r, c) for r in range(first_row, end_row) for c in range(first_col, end_col)]
    else:
        raise _ApiError(400, "Invalid updateCells: one of start or range must be set.")
    for row, col in targets:
        if row >= sheet.row_count:
            raise _ApiError(400, f"GridCoordinate.rowIndex[{row}] is after last row in grid[{sheet.row_count - 1}]")
        if col >= sheet.column_count:
            raise _ApiError(
                400, f"GridCoordinate.columnIndex[{col}] is after last column in grid[{sheet.column_count - 1}]"
            )
    for position in targets:
        cell_data = given.get(position, {})
        if sets_value:
            sheet.put(*position, _extended_value_cell(cell_data.get("userEnteredValue", {})))
        if sets_format:
            number_format = cell_data.get("userEnteredFormat", {}).get("numberFormat")
            if number_format:
                sheet.formats[position] = (number_format.get("type", "NUMBER"), number_format.get("pattern", ""))
            else:
                sheet.formats.pop(position, None)
        if sets_background:
            background = cell_data.get("userEnteredFormat", {}).get("backgroundColor")
            if background:
                sheet.backgrounds[position] = dict(background)
            else:
                sheet.backgrounds.pop(position, None)
        if sets_note:
            if cell_data.get("note"):
                sheet.notes[position] = cell_data["note"]
            else:
                sheet.notes.pop(position, None)
    return {}


def _repeat_cell(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    """A format set on every cell of a range. Background colours are kept, as updateCells keeps
    them; other formats (bold, wrapping, alignment, text format) are accepted, not modelled."""
    sheet, first_row, first_col, end_row, end_col = _grid_range(spreadsheet, request.get("range") or {})
    if end_row > sheet.row_count or end_col > sheet.column_count:
        raise _ApiError(400, f"Invalid range: it ends after the grid ({sheet.row_count} rows, "
                             f"{sheet.column_count} columns).")
    paths = {".".join(path) for path in _mask_paths(_parse_field_mask(request.get("fields") or ""))}
    if not paths:
        raise _ApiError(400, "Invalid repeatCell: fields is required.")
    if paths & {"*", "userEnteredFormat", "userEnteredFormat.backgroundColor"}:
        background = ((request.get("cell") or {}).get("userEnteredFormat") or {}).get("backgroundColor")
        for position in ((row, col) for row in range(first_row, end_row) for col in range(first_col, end_col)):
            if background:
                sheet.backgrounds[position] = dict(background)
            else:
                sheet.backgrounds.pop(position, None)
    return {}


def _append_dimension(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet = spreadsheet.sheet_by_id(request.get("sheetId"))
    length = request.get("length", 0)
    if length < 1:
        raise _ApiError(400, "length must be at least 1.")
    if request.get("dimension") == "COLUMNS":
        sheet.resize(sheet.row_count, sheet.column_count + length)
    else:
        sheet.resize(sheet.row_count + length, sheet.column_count)
    return {}


def _dimension_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> tuple[_Sheet, str, int, int]:
    dimension_range = request.get("range", {})
    sheet = spreadsheet.sheet_by_id(dimension_range.get("sheetId"))
    dimension = dimension_range.get("dimension", "ROWS")
    size = sheet.row_count if dimension == "ROWS" else sheet.column_count
    start, end = dimension_range.get("startIndex", 0), dimension_range.get("endIndex", size)
    if not 0 <= start < end:
        raise _ApiError(400, f"Invalid dimension range [{start}, {end}).")
    return sheet, dimension, start, end


def _update_dimension_properties(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_range(spreadsheet, request)
    if request.get("fields") != "pixelSize":
        raise _ApiError(400, "FakeSheetsServer only updates pixelSize of rows or columns.")
    for index in range(start, end):
        sheet.pixel_sizes[(dimension, index)] = int(request["properties"]["pixelSize"])
    return {}


def _insert_dimension(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_range(spreadsheet, request)
    sheet.shift(dimension, start, end - start)
    return {}


def _delete_dimension(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_range(spreadsheet, request)
    size = sheet.row_count if dimension == "ROWS" else sheet.column_count
    if end - start >= size:
        raise _ApiError(400, "You can't delete all the rows (or columns) on the sheet.")
    sheet.shift(dimension, start, start - min(end, size))
    return {}


def _sort_key(cell: _Cell | None) -> tuple[int, Any] | None:
    if cell is None:
        return None
    if cell.kind == "numberValue":
        return (0, cell.value)
    if cell.kind == "boolValue":
        return (2, cell.value)
    return (1, str(cell.value).casefold())


def _sort_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, first_row, first_col, end_row, end_col = _grid_range(spreadsheet, request.get("range", {}))
    specs = [
        (first_col + spec.get("dimensionIndex", 0), spec.get("sortOrder") == "DESCENDING")
        for spec in request.get("sortSpecs", [{}])
    ]
    columns = range(first_col, end_col)
    lines = [
        ({c: sheet.cells.get((r, c)) for c in columns}, {c: sheet.formats.get((r, c)) for c in columns})
        for r in range(first_row, end_row)
    ]

    def compare(a: tuple[dict, dict], b: tuple[dict, dict]) -> int:
        for column, descending in specs:
            key_a, key_b = _sort_key(a[0].get(column)), _sort_key(b[0].get(column))
            if key_a == key_b:
                continue
            if key_a is None or key_b is None:  # blanks go last in both orders
                return 1 if key_a is None else -1
            order = -1 if key_a < key_b else 1
            return -order if descending else order
        return 0

    lines.sort(key=functools.cmp_to_key(compare))
    for offset, (cells, formats) in enumerate(lines):
        for column in columns:
            position = (first_row + offset, column)
            sheet.put(*position, cells[column])
            if formats[column] is None:
                sheet.formats.pop(position, None)
            else:
                sheet.formats[position] = formats[column]
    return {}


_BATCH_UPDATE_REQUESTS: dict[str, Callable[[_Spreadsheet, Mapping[str, Any]], dict[str, Any]]] = {
    "addSheet": _add_sheet,
    "deleteSheet": _delete_sheet,
    "updateSheetProperties": _update_sheet_properties,
    "updateSpreadsheetProperties": _update_spreadsheet_properties,
    "updateCells": _update_cells,
    "repeatCell": _repeat_cell,
    "appendDimension": _append_dimension,
    "updateDimensionProperties": _update_dimension_properties,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "sortRange": _sort_range,
    "addProtectedRange": _add_protected_range,
    "deleteProtectedRange": _delete_protected_range,
    "setDataValidation": _set_data_validation,
    "addConditionalFormatRule": _add_conditional_format_rule,
    "addChart": _add_chart,
    "deleteEmbeddedObject": _delete_embedded_object,
}


def _batch_update(spreadsheet: _Spreadsheet, body: Mapping[str, Any], grid_data: bool = False) -> dict[str, Any]:
    replies = []
    for index, request in enumerate(body.get("requests", [])):
        if len(request) != 1:
            raise _ApiError(400, f"Invalid requests[{index}]: exactly one kind of request must be set.")
        (kind, payload), = request.items()
        handler = _BATCH_UPDATE_REQUESTS.get(kind)
        if handler is None:
            raise _ApiError(400, f"Invalid requests[{index}]: FakeSheetsServer does not implement '{kind}'.")
        try:
            replies.append(handler(spreadsheet, payload))
        except _ApiError as error:
            raise _ApiError(error.code, f"Invalid requests[{index}].{kind}: {error.message}") from None
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        answer["updatedSpreadsheet"] = _updated_spreadsheet(spreadsheet, body, grid_data)
    return answer


def _get_spreadsheet(spreadsheet: _Spreadsheet, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """What ``spreadsheets.get`` answers: limited to the sheets of ``ranges``, with grid data
    when asked -- a field mask decides when there is one (Google then ignores
    ``includeGridData``), so it must name ``sheets.data`` (or everything)."""
    fields = (query.get("fields") or [""])[-1]
    if fields:
        tree = _parse_field_mask(fields)
        sheets = tree.get("sheets", {}) if tree is not None and "*" not in tree else None
        grid_data = sheets is None or "*" in sheets or "data" in sheets
    else:
        grid_data = (query.get("includeGridData") or ["false"])[-1].lower() == "true"
    return _updated_spreadsheet(spreadsheet, {"responseRanges": query.get("ranges", [])}, grid_data)


def _updated_spreadsheet(spreadsheet: _Spreadsheet, body: Mapping[str, Any], grid_data: bool) -> dict[str, Any]:
    """The Spreadsheet a batchUpdate answers with: after the batch, limited to the sheets of
    ``responseRanges`` when given (as spreadsheets.get with ``ranges``), each with one GridData
    per range when grid data is asked for."""
    answer = spreadsheet.json()
    ranges = [spreadsheet.parse_range(text) for text in body.get("responseRanges") or []]
    if not ranges:
        ranges = [_Range(sheet, 0, 0, None, None) for sheet in spreadsheet.sheets] if grid_data else []
        if not ranges:
            return answer
    by_sheet: dict[int, list[_Range]] = {}
    for rng in ranges:
        by_sheet.setdefault(rng.sheet.sheet_id, []).append(rng)
    sheets = []
    for index, sheet in enumerate(spreadsheet.sheets):
        if sheet.sheet_id in by_sheet:
            entry = answer["sheets"][index]
            if grid_data:
                entry["data"] = [_grid_data(rng) for rng in by_sheet[sheet.sheet_id]]
            sheets.append(entry)
    answer["sheets"] = sheets
    return answer


def _grid_data(rng: _Range) -> dict[str, Any]:
    """A GridData of the range: rows up to the last with a value, cells up to each row's last
    (empty ones as ``{}``), every row's and column's pixel size; proto3 leaves out start 0."""
    start_row, start_col, end_row, end_col = rng.clipped()
    sheet = rng.sheet
    inside = [(row, col) for row, col in sheet.cells if start_row <= row < end_row and start_col <= col < end_col]
    data: dict[str, Any] = {}
    if start_row:
        data["startRow"] = start_row
    if start_col:
        data["startColumn"] = start_col
    if inside:
        last_row = max(row for row, _ in inside)
        row_data = []
        for row in range(start_row, last_row + 1):
            columns = [col for r, col in inside if r == row]
            values = [_cell_data_json(sheet, (row, col)) for col in range(start_col, max(columns) + 1)] if columns else []
            row_data.append({"values": values} if values else {})
        data["rowData"] = row_data
    data["rowMetadata"] = [{"pixelSize": sheet.pixel_sizes.get(("ROWS", row), 21)} for row in range(start_row, end_row)]
    data["columnMetadata"] = [{"pixelSize": sheet.pixel_sizes.get(("COLUMNS", col), 100)}
                              for col in range(start_col, end_col)]
    return data


def _cell_data_json(sheet: _Sheet, position: tuple[int, int]) -> dict[str, Any]:
    """A CellData: what was entered, what it evaluates to and shows as, its number format."""
    cell_json: dict[str, Any] = {}
    cell = sheet.cells.get(position)
    if cell is not None:
        entered = _json_number(cell.value) if cell.kind == "numberValue" else cell.value
        cell_json["userEnteredValue"] = {cell.kind: entered}
        if cell.kind != "formulaValue":
            cell_json["effectiveValue"] = {cell.kind: entered}
        elif isinstance(result := _evaluate(sheet, position, cell.value), float):
            cell_json["effectiveValue"] = {"numberValue": _json_number(result)}
        shown = _render_cell(sheet, position, _RenderOptions())
        cell_json["formattedValue"] = shown if isinstance(shown, str) else str(shown)
    cell_format: dict[str, Any] = {}
    if (number_format := sheet.formats.get(position)) is not None:
        cell_format["numberFormat"] = {"type": number_format[0], "pattern": number_format[1]}
    if (background := sheet.backgrounds.get(position)) is not None:
        cell_format["backgroundColor"] = dict(background)
    if cell_format:
        cell_json["userEnteredFormat"] = cell_format
    if (note := sheet.notes.get(position)) is not None:
        cell_json["note"] = note
    return cell_json
