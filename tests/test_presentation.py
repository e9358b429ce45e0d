"""What a person sees and prints (issue 15, points 3, 10 and 11), on Excel: the Review tab's
look and the facts to decide with, the returns tab's wrapped Detail and ID column, the
Dashboard's chart and words, and every engine tab's page setup. The Google side of the same
TabSpecs is in test_google_decorations.py."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from conftest import Workspace
from openpyxl import load_workbook
from test_dashboard import _workspace as dashboard_workspace
from test_returns_engine import edit_cells
from test_returns_template import _workspace_with_a_missing_returns_tab
from test_review import waiting  # noqa: F401 (a fixture)

from sheets_sync.backends.excel.style import text_lines
from sheets_sync.core.project.dashboard import BLOCK_COLUMN, BLOCK_HEADER_ROW, DASHBOARD_TAB, LINE_COLORS
from sheets_sync.core.review import REVIEW_COLUMNS

LONG_REASON = "the customer says a neighbour filled in the form with his number as a prank and he never asked us"


def _printed(sheet, *, fit_width: int | None = 1) -> None:
    """Landscape, scaled as asked, the header rows on every page."""
    assert sheet.page_setup.orientation == "landscape"
    if fit_width is not None:
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert (int(sheet.page_setup.fitToWidth), int(sheet.page_setup.fitToHeight)) == (fit_width, 0)
    assert sheet.print_title_rows == "$1:$1"


def test_the_review_tab_is_styled_wrapped_printable_and_shows_delivery_and_price(waiting: Workspace) -> None:
    sheet = load_workbook(waiting.root / "tracking.xlsx")["Review"]
    header = [cell for cell in sheet[1]]
    assert [cell.value for cell in header] == list(REVIEW_COLUMNS)
    assert REVIEW_COLUMNS[-2:] == ("Delivered", "Price")  # added at the right of SPEC's columns
    assert all(cell.font.bold and cell.font.name and cell.fill.fgColor.rgb.endswith("D9E1F2") for cell in header)
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["E"].width >= 50
    why, delivered, price = sheet["E2"], sheet["H2"], sheet["I2"]
    assert why.alignment.wrap_text and "'he hung up on us'" in why.value
    assert (delivered.value, delivered.number_format) == (datetime(2024, 2, 27, 10, 0), "yyyy-mm-dd hh:mm")
    assert (price.value, price.number_format) == (22.22, "#,##0.00")
    assert sheet["B2"].alignment.horizontal == "left" and sheet["B2"].number_format == "@"
    _printed(sheet)
    assert sheet.print_options.gridLines


def test_a_review_tab_of_an_older_release_gets_delivery_and_price_appended(waiting: Workspace) -> None:
    path = waiting.root / "tracking.xlsx"
    book = load_workbook(path)
    sheet = book["Review"]
    sheet.delete_cols(8, 2)  # as the release before this one made it: SPEC §2.4's seven columns
    book.save(path)
    edit_cells(path, "Review", {"H1": "Operator note", "H2": "ask Bob"})
    assert waiting.run(as_of="2024-03-03T11:00").exit_code == 0
    rows = [list(row) for row in load_workbook(path)["Review"].iter_rows(values_only=True)]
    assert rows[0] == [*REVIEW_COLUMNS[:7], "Operator note", "Delivered", "Price"]
    assert rows[1][1] == "A2" and rows[1][7:] == ["ask Bob", datetime(2024, 2, 27, 10, 0), 22.22]
    assert waiting.run(as_of="2024-03-03T12:00").changes == []


def test_detail_wraps_in_a_wide_column_and_its_row_grows_and_ids_line_up_as_text(workspace: Workspace) -> None:
    path = _workspace_with_a_missing_returns_tab(workspace)
    workspace.run(as_of="2024-02-13T12:00")  # the engine creates the client's returns tab
    sheet = load_workbook(path)["Returns"]
    assert [cell.font.bold for cell in sheet[1]] == [True] * 8
    assert sheet.column_dimensions["E"].width >= 60 and sheet.column_dimensions["E"].alignment.wrap_text
    assert sheet.column_dimensions["A"].alignment.horizontal == "left"
    assert sheet.column_dimensions["A"].number_format == "@"  # a typed 000123 keeps its zeros
    _printed(sheet)

    for run, (lead, as_of) in enumerate((("000101", "2024-02-14T10:00"), ("000102", "2024-02-14T11:00")), start=2):
        edit_cells(path, "Returns", {f"A{run}": lead, f"B{run}": LONG_REASON})  # the second: a plain patch
        workspace.run(as_of=as_of)
        sheet = load_workbook(path)["Returns"]
        detail = sheet.cell(run, 5)
        assert len(detail.value) > 100 and detail.alignment.wrap_text, detail.value
        lines = text_lines(detail.value, sheet.column_dimensions["E"].width)
        assert lines >= 2 and sheet.row_dimensions[run].height >= 15 * lines


@pytest.mark.parametrize(("text", "width", "lines"), [
    ("short", 9, 1), ("x" * 9, 9, 1), ("x" * 10, 9, 2), ("x" * 25, 9, 3), ("one two three four five six", 9, 4),
    ("a\nb", 30, 2),
])
def test_text_lines_counts_wrapped_lines_generously(text: str, width: int, lines: int) -> None:
    assert text_lines(text, width) == lines


def test_the_dashboard_chart_tells_groups_apart_and_speaks_plain_words(workspace: Workspace) -> None:
    dashboard_workspace(workspace).run(as_of="2024-02-24T10:00")
    book = load_workbook(workspace.root / "tracking.xlsx")
    sheet = book[DASHBOARD_TAB]
    (chart,) = sheet._charts
    colors = [str(series.graphicalProperties.line.solidFill.srgbClr) for series in chart.series]
    assert colors == list(LINE_COLORS[:2]) and len(set(LINE_COLORS)) == len(LINE_COLORS)
    assert chart.x_axis.number_format.formatCode == "mmm d" and chart.legend.position == "b"
    assert sheet.cell(BLOCK_HEADER_ROW + 1, BLOCK_COLUMN).number_format == "mmm d"  # "Feb 17"
    texts = [str(value) for row in sheet.iter_rows(values_only=True) for value in row if isinstance(value, str)]
    codes = [text for text in texts if re.search(r"\b[a-z]+(?:_[a-z]+)+\b", text)]
    assert codes == []  # no config key (cap_window_days), no reason code (wrong_number)
    assert "Wrong number" in texts and "under way and left out" in texts[0]
    assert sheet.sheet_format.defaultColWidth >= 17  # "Auto Insurance UK" reads whole
    _printed_dashboard = sheet.page_setup
    assert _printed_dashboard.orientation == "landscape" and int(_printed_dashboard.fitToWidth) == 1
    assert not sheet.print_options.gridLines


def test_tracking_tabs_print_landscape_with_labels_and_weeks_on_every_page(workspace: Workspace) -> None:
    dashboard_workspace(workspace).run(as_of="2024-02-24T10:00")
    sheet = load_workbook(workspace.root / "tracking.xlsx")["Solar US"]
    assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.scale) == 70
    assert sheet.print_title_rows == "$1:$1" and sheet.print_title_cols == "$A:$A"
    assert sheet.print_options.gridLines
    assert sheet["A1"].font.bold and sheet["B1"].font.bold  # the week written after the tab was made too
