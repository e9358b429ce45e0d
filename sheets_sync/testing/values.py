"""The ``spreadsheets.values`` endpoints: get, update, append, clear and their batch forms."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sheets_sync.core.cells import column_letter
from sheets_sync.testing.cells import (
    _DATE_TYPES,
    _formatted_number,
    _json_number,
    _NumberFormat,
    _raw_cell,
    _user_entered_cell,
)
from sheets_sync.testing.formulas import _evaluate
from sheets_sync.testing.grid import _a1, _grid_limit_error, _Range, _Sheet, _Spreadsheet
from sheets_sync.testing.responses import _ApiError

_RENDER_OPTIONS = {"FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"}
_DATE_RENDER_OPTIONS = {"SERIAL_NUMBER", "FORMATTED_STRING"}


# --------------------------------------------------------------------------- reading values


@dataclass(frozen=True, slots=True)
class _RenderOptions:
    value: str = "FORMATTED_VALUE"
    date_time: str = "SERIAL_NUMBER"
    major_dimension: str = "ROWS"

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]], *, for_response: bool = False) -> _RenderOptions:
        """Read the options of a values call; ``for_response`` reads its ``response...`` variants."""

        def pick(name: str, default: str, allowed: set[str]) -> str:
            if for_response:
                name = "response" + name[0].upper() + name[1:]
            chosen = (query.get(name) or [default])[-1] or default
            if chosen not in allowed:
                raise _ApiError(400, f"Invalid value at '{name}' ({chosen})")
            return chosen

        major = (query.get("majorDimension") or ["ROWS"])[-1]
        if major not in ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED", ""):
            raise _ApiError(400, f"Invalid value at 'majorDimension' ({major})")
        return cls(
            pick("valueRenderOption", "FORMATTED_VALUE", _RENDER_OPTIONS),
            pick("dateTimeRenderOption", "SERIAL_NUMBER", _DATE_RENDER_OPTIONS),
            "COLUMNS" if major == "COLUMNS" and not for_response else "ROWS",
        )


def _render_cell(sheet: _Sheet, position: tuple[int, int], options: _RenderOptions) -> Any:
    cell = sheet.cells[position]
    number_format = sheet.formats.get(position)
    if cell.kind == "stringValue":
        return cell.value
    if cell.kind == "boolValue":
        return ("TRUE" if cell.value else "FALSE") if options.value == "FORMATTED_VALUE" else cell.value
    if cell.kind == "formulaValue":
        if options.value == "FORMULA":
            return cell.value
        result = _evaluate(sheet, position, cell.value)
        if result is None or isinstance(result, str):
            return cell.value if result is None else result
        return _render_number(result, number_format, options)
    return _render_number(cell.value, number_format, options)


def _render_number(number: float | int, number_format: _NumberFormat | None, options: _RenderOptions) -> Any:
    if options.value == "FORMATTED_VALUE":
        return _formatted_number(number, number_format)
    if number_format and number_format[0] in _DATE_TYPES and options.date_time == "FORMATTED_STRING":
        return _formatted_number(number, number_format)
    return _json_number(number)


def _read_values(rng: _Range, options: _RenderOptions) -> dict[str, Any]:
    """A ValueRange of the range: trailing empty cells and lines trimmed, gaps inside as ""."""
    rng.check_inside_grid()
    start_row, start_col, end_row, end_col = rng.clipped()
    rendered: dict[tuple[int, int], Any] = {}  # (line, item): rows and cells, or columns and cells
    first_line, first_item = (start_col, start_row) if options.major_dimension == "COLUMNS" else (start_row, start_col)
    for position in rng.sheet.cells:
        row, col = position
        if start_row <= row < end_row and start_col <= col < end_col:
            key = (col, row) if options.major_dimension == "COLUMNS" else (row, col)
            rendered[key] = _render_cell(rng.sheet, position, options)
    answer: dict[str, Any] = {"range": rng.a1(), "majorDimension": options.major_dimension}
    if not rendered:
        return answer
    lines: list[list[Any]] = [[] for _ in range(max(line for line, _ in rendered) - first_line + 1)]
    for (line, item), value in sorted(rendered.items()):
        cells = lines[line - first_line]
        cells.extend([""] * (item - first_item - len(cells)))
        cells.append(value)
    answer["values"] = lines
    return answer


# --------------------------------------------------------------------------- writing values


def _value_matrix(body: Mapping[str, Any]) -> list[list[Any]]:
    values = body.get("values", [])
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(line, list) for line in values):
        message = f"Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), {json.dumps(values)}"
        raise _ApiError(400, message)
    return values


def _write_values(
    spreadsheet: _Spreadsheet, rng: _Range, body: Mapping[str, Any], input_option: str, range_text: str
) -> dict[str, Any]:
    """Write a ValueRange at ``rng``; answers an UpdateValuesResponse."""
    if input_option not in ("RAW", "USER_ENTERED"):
        raise _ApiError(400, "'valueInputOption' is required but not specified" if not input_option
                        else f"Invalid valueInputOption: {input_option}")
    columns_major = body.get("majorDimension") == "COLUMNS"
    placed: dict[tuple[int, int], Any] = {}
    for line_index, line in enumerate(_value_matrix(body)):
        for item_index, value in enumerate(line):
            if value is not None:  # null means "leave this cell alone"
                offset = (item_index, line_index) if columns_major else (line_index, item_index)
                placed[(rng.start_row + offset[0], rng.start_col + offset[1])] = value
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id}
    if not placed:
        answer["updatedRange"] = _a1(rng.sheet, rng.start_row, rng.start_col, rng.start_row + 1, rng.start_col + 1)
        return answer
    last_row = max(row for row, _ in placed)
    last_col = max(col for _, col in placed)
    bounded = not rng.single_cell
    if bounded and rng.end_row is not None and last_row >= rng.end_row:
        raise _ApiError(400, f"Requested writing within range [{range_text}], but tried writing to row [{last_row + 1}]")
    if bounded and rng.end_col is not None and last_col >= rng.end_col:
        raise _ApiError(400, f"Requested writing within range [{range_text}], but tried writing to column "
                             f"[{column_letter(last_col + 1)}]")
    if last_row >= rng.sheet.row_count or last_col >= rng.sheet.column_count:
        raise _grid_limit_error(rng.sheet, rng.start_row, rng.start_col, last_row + 1, last_col + 1)
    parse = _raw_cell if input_option == "RAW" else _user_entered_cell
    for (row, col), value in placed.items():
        rng.sheet.put(row, col, *parse(value))
    answer.update(
        updatedRange=_a1(rng.sheet, rng.start_row, rng.start_col, last_row + 1, last_col + 1),
        updatedRows=len({row for row, _ in placed}),
        updatedColumns=len({col for _, col in placed}),
        updatedCells=len(placed),
    )
    return answer


def _find_table(rng: _Range) -> tuple[int, int, int, int] | None:
    """Google's "table" for values:append: the block around the last filled cell of the range."""
    start_row, start_col, end_row, end_col = rng.clipped()
    cells = rng.sheet.cells
    filled = [(r, c) for r, c in cells if start_row <= r < end_row and start_col <= c < end_col]
    if not filled:
        return None
    anchor_row, anchor_col = max(filled)
    left = right = anchor_col
    while (anchor_row, left - 1) in cells:
        left -= 1
    while (anchor_row, right + 1) in cells:
        right += 1

    def row_used(row: int) -> bool:
        return any((row, col) in cells for col in range(left, right + 1))

    top = bottom = anchor_row
    while top > 0 and row_used(top - 1):
        top -= 1
    while row_used(bottom + 1):
        bottom += 1
    return top, left, bottom + 1, right + 1


def _append_values(
    spreadsheet: _Spreadsheet, rng: _Range, body: Mapping[str, Any], query: Mapping[str, list[str]]
) -> dict[str, Any]:
    rng.check_inside_grid()
    table = _find_table(rng)
    target_row, target_col = (table[2], table[1]) if table else (rng.start_row, rng.start_col)
    lines = _value_matrix(body)
    columns_major = body.get("majorDimension") == "COLUMNS"
    height = max((len(line) for line in lines), default=0) if columns_major else len(lines)
    width = len(lines) if columns_major else max((len(line) for line in lines), default=0)
    sheet = rng.sheet
    if (query.get("insertDataOption") or ["OVERWRITE"])[-1] == "INSERT_ROWS" and target_row < sheet.row_count:
        sheet.shift("ROWS", target_row, height)
    sheet.properties["gridProperties"].update(  # appending grows the grid, as Google does
        rowCount=max(sheet.row_count, target_row + height), columnCount=max(sheet.column_count, target_col + width)
    )
    target = _Range(sheet, target_row, target_col, None, None)
    input_option = (query.get("valueInputOption") or [""])[-1]
    updates = _write_values(spreadsheet, target, body, input_option, target.a1())
    if (query.get("includeValuesInResponse") or ["false"])[-1].lower() == "true" and "updatedRange" in updates:
        written = spreadsheet.parse_range(updates["updatedRange"])
        updates["updatedData"] = _read_values(written, _RenderOptions.from_query(query, for_response=True))
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id}
    if table:
        answer["tableRange"] = _a1(sheet, *table)
    answer["updates"] = updates
    return answer


def _clear_values(rng: _Range) -> str:
    rng.check_inside_grid()
    start_row, start_col, end_row, end_col = rng.clipped()
    rng.sheet.cells = {
        (row, col): cell
        for (row, col), cell in rng.sheet.cells.items()
        if not (start_row <= row < end_row and start_col <= col < end_col)
    }
    return rng.a1()


def _batch_update_values(spreadsheet: _Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
    input_option = body.get("valueInputOption", "")
    responses = []
    for value_range in body.get("data", []):
        range_text = value_range.get("range", "")
        responses.append(_write_values(spreadsheet, spreadsheet.parse_range(range_text), value_range, input_option,
                                       range_text))
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id}
    written = [spreadsheet.parse_range(response["updatedRange"]) for response in responses if "updatedCells" in response]
    if written:
        rows = {(rng.sheet.sheet_id, row) for rng in written for row in range(rng.start_row, rng.clipped()[2])}
        cols = {(rng.sheet.sheet_id, col) for rng in written for col in range(rng.start_col, rng.clipped()[3])}
        answer.update(
            totalUpdatedRows=len(rows),
            totalUpdatedColumns=len(cols),
            totalUpdatedCells=sum(response["updatedCells"] for response in responses if "updatedCells" in response),
            totalUpdatedSheets=len({rng.sheet.sheet_id for rng in written}),
        )
    if responses:
        answer["responses"] = responses
    return answer
