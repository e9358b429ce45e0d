"""The ``spreadsheets:batchUpdate`` requests that draw what :class:`~sheets_sync.core.cells.TabSpec`,
:class:`~sheets_sync.core.cells.CellWrite` and :class:`~sheets_sync.core.cells.LineChart` describe on Google Sheets.

They travel in the one batch a write sends (the three-requests-per-spreadsheet bound holds):
``repeatCell`` (the header's bold and fill; wrapped columns; ID columns as left-aligned
text), ``setDataValidation`` (a list of choices, not strict), ``addProtectedRange``
(editable by the service account only), ``addConditionalFormatRule``, cell ``note`` and
background colour inside ``updateCells``, and ``deleteEmbeddedObject`` + ``addChart`` for
charts. A TabSpec's print settings have no counterpart: the Sheets API has no page setup
(Google Sheets asks for it in its print dialog each time).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sheets_sync.core.cells import CellWrite, LineChart, TabSpec

PIXELS_PER_CM = 37.8
PROTECTED_DESCRIPTION = "Filled in by sheets-sync: the next run writes its own value back."


def color(rgb: str) -> dict[str, float]:
    """A Sheets ``Color`` for ``"RRGGBB"``."""
    red, green, blue = (int(rgb[index:index + 2], 16) / 255 for index in (0, 2, 4))
    return {"red": round(red, 4), "green": round(green, 4), "blue": round(blue, 4)}


def decorated_cell_data(data: dict[str, Any], fields: str, write: CellWrite) -> tuple[dict[str, Any], str]:
    """``data``/``fields`` of an ``updateCells`` cell plus the write's note and fill."""
    if write.fill is not None:
        if write.fill:
            data = {**data, "userEnteredFormat": {**data.get("userEnteredFormat", {}),
                                                  "backgroundColor": color(write.fill)}}
        fields += ",userEnteredFormat.backgroundColor"  # listed but absent: the colour is removed
    if write.note is not None:
        if write.note:
            data = {**data, "note": write.note}
        fields += ",note"  # listed but absent: the note is removed
    return data, fields


def tab_requests(spec: TabSpec, sheet_id: int, editor: str) -> list[dict[str, Any]]:
    """Dropdowns, protected ranges and conditional colours of a tab added in this batch."""
    requests: list[dict[str, Any]] = []
    below_header = {"sheetId": sheet_id, "startRowIndex": spec.frozen_rows}
    requests.extend(format_requests(spec, sheet_id))
    for column, choices in spec.dropdowns:
        requests.append({"setDataValidation": {
            "range": {**below_header, "startColumnIndex": column - 1, "endColumnIndex": column},
            "rule": {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": choice} for choice in choices]},
                     "strict": False, "showCustomUi": True},
        }})
    for first, last in _runs(spec.read_only_columns):
        requests.append({"addProtectedRange": {"protectedRange": {
            "range": {"sheetId": sheet_id, "startColumnIndex": first - 1, "endColumnIndex": last},
            "description": PROTECTED_DESCRIPTION,
            "warningOnly": False,
            "editors": {"users": [editor]},
        }}})
    for index, rule in enumerate(spec.color_rules):
        cell_format: dict[str, Any] = {"backgroundColor": color(rule.fill)}
        if rule.font:
            cell_format["textFormat"] = {"foregroundColor": color(rule.font)}
        requests.append({"addConditionalFormatRule": {"index": index, "rule": {
            "ranges": [{**below_header, "startColumnIndex": rule.column - 1, "endColumnIndex": rule.column}],
            "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": rule.text}]},
                            "format": cell_format},
        }}})
    return requests


def format_requests(spec: TabSpec, sheet_id: int) -> list[dict[str, Any]]:
    """``repeatCell`` requests for the header look and the column styles of a new tab. Each
    sets only its own fields, so the values and number formats written later keep them."""
    requests: list[dict[str, Any]] = []
    if spec.header_fill is not None and spec.frozen_rows:
        header = {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": spec.frozen_rows}
        if spec.header_columns:  # else the whole rows, as wide as the grid is
            header.update(startColumnIndex=0, endColumnIndex=spec.header_columns)
        look: dict[str, Any] = {"textFormat": {"bold": True}, "verticalAlignment": "TOP"}
        if spec.header_fill:
            look["backgroundColor"] = color(spec.header_fill)
        requests.append(_repeat(header, look))
    if spec.wrap_columns:  # rows grow: every cell reads from the top
        requests.append(_repeat({"sheetId": sheet_id, "startRowIndex": spec.frozen_rows},
                                {"verticalAlignment": "TOP"}))
    for column in spec.text_columns:
        requests.append(_repeat(_below_header(spec, sheet_id, column),
                                {"numberFormat": {"type": "TEXT"}, "horizontalAlignment": "LEFT",
                                 "verticalAlignment": "TOP"}))
    for column in spec.wrap_columns:
        requests.append(_repeat(_below_header(spec, sheet_id, column),
                                {"wrapStrategy": "WRAP", "verticalAlignment": "TOP"}))
    return requests


def _below_header(spec: TabSpec, sheet_id: int, column: int) -> dict[str, Any]:
    return {"sheetId": sheet_id, "startRowIndex": spec.frozen_rows, "startColumnIndex": column - 1,
            "endColumnIndex": column}


def _repeat(grid_range: dict[str, Any], cell_format: dict[str, Any]) -> dict[str, Any]:
    fields = ",".join(f"userEnteredFormat.{name}" + (".bold" if name == "textFormat" else "") for name in cell_format)
    return {"repeatCell": {"range": grid_range, "cell": {"userEnteredFormat": cell_format}, "fields": fields}}


def chart_requests(charts: Sequence[LineChart], tabs: Mapping[str, tuple[int, tuple[int, ...]]]
                   ) -> tuple[list[dict[str, Any]], dict[str, tuple[int, ...]]]:
    """Requests that remove every chart of the tabs ``charts`` name and add these charts;
    and each such tab's chart ids afterwards. ``tabs`` maps a title to (sheet id, chart ids)."""
    requests: list[dict[str, Any]] = []
    placed: dict[str, list[int]] = {}
    for tab in dict.fromkeys(chart.tab for chart in charts):
        requests.extend({"deleteEmbeddedObject": {"objectId": chart_id}} for chart_id in tabs[tab][1])
        placed[tab] = []
    taken = {chart_id for _, ids in tabs.values() for chart_id in ids}
    for chart in charts:
        if chart.last_series_column < chart.first_series_column or chart.last_row < chart.first_row:
            continue
        chart_id = _new_id(taken)
        placed[chart.tab].append(chart_id)
        requests.append({"addChart": {"chart": _embedded_chart(chart, tabs[chart.tab][0], chart_id)}})
    return requests, {tab: tuple(ids) for tab, ids in placed.items()}


def chart_extent(charts: Iterable[LineChart]) -> dict[str, tuple[int, int]]:
    """The last row and column each tab's charts read from."""
    extent: dict[str, tuple[int, int]] = {}
    for chart in charts:
        rows, columns = extent.get(chart.tab, (0, 0))
        extent[chart.tab] = (max(rows, chart.last_row, chart.anchor_row),
                             max(columns, chart.last_series_column, chart.category_column, chart.anchor_column))
    return extent


def _embedded_chart(chart: LineChart, sheet_id: int, chart_id: int) -> dict[str, Any]:
    def column_range(column: int, first_row: int) -> dict[str, Any]:
        return {"sourceRange": {"sources": [{"sheetId": sheet_id, "startRowIndex": first_row - 1,
                                             "endRowIndex": chart.last_row, "startColumnIndex": column - 1,
                                             "endColumnIndex": column}]}}

    return {
        "chartId": chart_id,
        "spec": {
            "title": chart.title,
            "basicChart": {
                "chartType": "LINE",
                "legendPosition": "BOTTOM_LEGEND" if chart.legend == "bottom" else "RIGHT_LEGEND",
                "headerCount": 1,
                "axis": [{"position": "BOTTOM_AXIS", "title": chart.x_title},
                         {"position": "LEFT_AXIS", "title": chart.y_title}],
                "domains": [{"domain": column_range(chart.category_column, chart.header_row)}],
                "series": [{"series": column_range(column, chart.header_row), "targetAxis": "LEFT_AXIS",
                            **({"colorStyle": {"rgbColor": color(chart.colors[index % len(chart.colors)])}}
                               if chart.colors else {})}
                           for index, column in enumerate(range(chart.first_series_column,
                                                                chart.last_series_column + 1))],
            },
        },
        "position": {"overlayPosition": {
            "anchorCell": {"sheetId": sheet_id, "rowIndex": chart.anchor_row - 1,
                           "columnIndex": chart.anchor_column - 1},
            "widthPixels": round(chart.width_cm * PIXELS_PER_CM),
            "heightPixels": round(chart.height_cm * PIXELS_PER_CM),
        }},
    }


def _runs(columns: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs of 1-based columns as (first, last)."""
    runs: list[tuple[int, int]] = []
    for column in sorted(set(columns)):
        if runs and runs[-1][1] + 1 == column:
            runs[-1] = (runs[-1][0], column)
        else:
            runs.append((column, column))
    return runs


def _new_id(taken: set[int]) -> int:
    while True:
        candidate = secrets.randbelow(2**31 - 2) + 1
        if candidate not in taken:
            taken.add(candidate)
            return candidate
