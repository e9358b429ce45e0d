"""batchUpdate requests on embedded objects and rules: protected ranges, data validation,
conditional formats and charts.

Replies follow recorded Google traffic where it exists (addProtectedRange, setDataValidation,
deleteProtectedRange): proto3 JSON leaves out a GridRange's sheetId 0, false booleans and
empty lists, Google adds the requesting account to a protected range's editors, and its
reply says ``requestingUserCanEdit``. Replies to addChart echo the chart with its id
(assumed). Ranges of rules, protections and charts do not follow inserted or deleted rows.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping
from typing import Any

from sheets_sync.testing.auth import SERVICE_ACCOUNT_EMAIL
from sheets_sync.testing.grid import _grid_limit_error, _grid_range, _Spreadsheet
from sheets_sync.testing.responses import _ApiError


def _checked_range(spreadsheet: _Spreadsheet, grid_range: Mapping[str, Any]) -> dict[str, Any]:
    """A GridRange as Google stores and answers it, after checking it lies on an existing grid."""
    sheet, start_row, start_col, end_row, end_col = _grid_range(spreadsheet, grid_range)
    if end_row > sheet.row_count or end_col > sheet.column_count or start_row < 0 or start_col < 0:
        raise _grid_limit_error(sheet, start_row, start_col, max(end_row, start_row + 1), max(end_col, start_col + 1))
    stored = {key: value for key, value in grid_range.items() if value is not None}
    if stored.get("sheetId", 0) == 0:
        stored.pop("sheetId", None)
    return copy.deepcopy(stored)


def _without_defaults(value: Any) -> Any:
    """proto3 JSON: false, empty strings and empty lists are left out; messages stay."""
    if isinstance(value, dict):
        return {key: _without_defaults(item) for key, item in value.items()
                if item is not None and item is not False and item != "" and item != []}
    if isinstance(value, list):
        return [_without_defaults(item) for item in value]
    return value


def _new_object_id(spreadsheet: _Spreadsheet) -> int:
    taken = {chart.get("chartId") for sheet in spreadsheet.sheets for chart in sheet.charts} | {
        protected.get("protectedRangeId") for sheet in spreadsheet.sheets for protected in sheet.protected_ranges}
    while True:
        candidate = secrets.randbelow(2**31 - 2) + 1
        if candidate not in taken:
            return candidate


def _add_protected_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("protectedRange") or {}
    if "range" not in wanted:
        raise _ApiError(400, "FakeSheetsServer protects ranges only (not named ranges or tables).")
    sheet = spreadsheet.sheet_by_id(wanted["range"].get("sheetId", 0))
    protected = _without_defaults({key: copy.deepcopy(value) for key, value in wanted.items()
                                   if key not in ("requestingUserCanEdit", "protectedRangeId", "range")})
    protected = {"protectedRangeId": _new_object_id(spreadsheet), "range": _checked_range(spreadsheet, wanted["range"]),
                 **protected, "requestingUserCanEdit": True}
    protected.setdefault("editors", {})
    reply = copy.deepcopy(protected)
    users = list(protected["editors"].get("users", []))
    protected["editors"]["users"] = users + [SERVICE_ACCOUNT_EMAIL] * (SERVICE_ACCOUNT_EMAIL not in users)
    sheet.protected_ranges.append(protected)
    return {"addProtectedRange": {"protectedRange": reply}}


def _delete_protected_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("protectedRangeId")
    for sheet in spreadsheet.sheets:
        for protected in sheet.protected_ranges:
            if protected["protectedRangeId"] == wanted:
                sheet.protected_ranges.remove(protected)
                return {}
    raise _ApiError(400, f"No protected range with id: {wanted}")


def _set_data_validation(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    grid_range = request.get("range") or {}
    sheet = spreadsheet.sheet_by_id(grid_range.get("sheetId", 0))
    stored = _checked_range(spreadsheet, grid_range)
    rule = request.get("rule")
    sheet.data_validations = [(old, old_rule) for old, old_rule in sheet.data_validations if old != stored]
    if rule:
        if (rule.get("condition") or {}).get("type") in (None, "CONDITION_TYPE_UNSPECIFIED"):
            raise _ApiError(400, "Invalid DataValidationRule: a condition type is required.")
        sheet.data_validations.append((stored, _without_defaults(copy.deepcopy(dict(rule)))))
    return {}


def _add_conditional_format_rule(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    rule = request.get("rule") or {}
    ranges = rule.get("ranges") or []
    if not ranges or ("booleanRule" in rule) == ("gradientRule" in rule):
        raise _ApiError(400, "Invalid ConditionalFormatRule: it needs ranges and one of booleanRule or gradientRule.")
    sheets = {spreadsheet.sheet_by_id(grid_range.get("sheetId", 0)).sheet_id for grid_range in ranges}
    if len(sheets) != 1:
        raise _ApiError(400, "All ranges of a conditional format rule must be on the same sheet.")
    sheet = spreadsheet.sheet_by_id(sheets.pop())
    stored = {**_without_defaults(copy.deepcopy(dict(rule))),
              "ranges": [_checked_range(spreadsheet, grid_range) for grid_range in ranges]}
    index = request.get("index", 0)
    if not 0 <= index <= len(sheet.conditional_formats):
        raise _ApiError(400, f"Invalid index {index}: the sheet has {len(sheet.conditional_formats)} rules.")
    sheet.conditional_formats.insert(index, stored)
    return {}


def _add_chart(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    chart = copy.deepcopy(dict(request.get("chart") or {}))
    overlay = (chart.get("position") or {}).get("overlayPosition")
    if not overlay or "anchorCell" not in overlay:
        raise _ApiError(400, "FakeSheetsServer places charts over cells only (position.overlayPosition.anchorCell).")
    anchor = overlay["anchorCell"]
    sheet = spreadsheet.sheet_by_id(anchor.get("sheetId", 0))
    if anchor.get("rowIndex", 0) >= sheet.row_count or anchor.get("columnIndex", 0) >= sheet.column_count:
        raise _grid_limit_error(sheet, anchor.get("rowIndex", 0), anchor.get("columnIndex", 0),
                                anchor.get("rowIndex", 0) + 1, anchor.get("columnIndex", 0) + 1)
    basic = (chart.get("spec") or {}).get("basicChart")
    if basic is None:
        raise _ApiError(400, "FakeSheetsServer draws basic charts only (spec.basicChart).")
    for part in [*basic.get("domains", []), *basic.get("series", [])]:
        data = part.get("domain") or part.get("series") or {}
        sources = (data.get("sourceRange") or {}).get("sources") or []
        if not sources:
            raise _ApiError(400, "Invalid chart: every domain and series needs a sourceRange.")
        data["sourceRange"]["sources"] = [_checked_range(spreadsheet, source) for source in sources]
    chart_id = chart.get("chartId")
    if chart_id is None:
        chart_id = _new_object_id(spreadsheet)
    elif any(existing.get("chartId") == chart_id for other in spreadsheet.sheets for existing in other.charts):
        raise _ApiError(400, f"An object with the id {chart_id} already exists.")
    chart = {**_without_defaults(chart), "chartId": chart_id}
    sheet.charts.append(chart)
    return {"addChart": {"chart": copy.deepcopy(chart)}}


def _delete_embedded_object(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("objectId")
    for sheet in spreadsheet.sheets:
        for chart in sheet.charts:
            if chart.get("chartId") == wanted:
                sheet.charts.remove(chart)
                return {}
    raise _ApiError(400, f"No object with id: {wanted}")
