"""How the Excel backend draws what :class:`~sheets_sync.core.cells.TabSpec`, :class:`~sheets_sync.core.cells.CellWrite` and
:class:`~sheets_sync.core.cells.LineChart` describe: dropdowns, sheet protection, conditional colours, cell
notes and fills, native line charts. openpyxl keeps all of them when it loads and saves a
workbook again (EXCEL-NOTES), so they are drawn once and survive every later run.
"""

from __future__ import annotations

from collections.abc import Iterable

from openpyxl.chart import LineChart as OpenpyxlLineChart
from openpyxl.chart import Reference
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill, Protection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.dimensions import ColumnDimension

from sheets_sync.core.cells import CellWrite, LineChart, TabSpec, column_letter

MAX_ROW, MAX_COLUMN = 1_048_576, 16_384
STANDARD_WIDTH = 9.140625  # Excel's width of a column nobody sized
LIST_FORMULA_LIMIT = 255  # Excel refuses longer literal lists in a list validation
NOTE_AUTHOR = "sheets-sync"


def decorate_new_tab(sheet, spec: TabSpec) -> None:
    """Dropdowns, conditional colours and protection of a tab the engine just created."""
    first_row = spec.frozen_rows + 1
    for column, choices in spec.dropdowns:
        validation = DataValidation(type="list", formula1=_list_formula(choices), allow_blank=True,
                                    showErrorMessage=False)  # a list to pick from; other text is welcome too
        validation.add(_column_range(column, first_row))
        sheet.add_data_validation(validation)
    for rule in spec.color_rules:
        sheet.conditional_formatting.add(_column_range(rule.column, first_row), CellIsRule(
            operator="equal", formula=['"' + rule.text.replace('"', '""') + '"'], fill=_fill(rule.fill),
            font=Font(color=rule.font) if rule.font else None))
    if spec.read_only_columns:
        _protect(sheet, spec)


def decorate_cell(cell, write: CellWrite) -> None:
    """The note and fill a write carries (the value is set by the backend)."""
    if write.note is not None:
        cell.comment = _comment(write.note) if write.note else None
    if write.fill is not None:
        cell.fill = _fill(write.fill) if write.fill else PatternFill(fill_type=None)


def place_charts(book, charts: Iterable[LineChart]) -> None:
    """Replace the charts of every tab named in ``charts`` by the line charts given for it."""
    by_tab: dict[str, list[LineChart]] = {}
    for chart in charts:
        by_tab.setdefault(chart.tab, []).append(chart)
    for tab, tab_charts in by_tab.items():
        sheet = book[tab]
        sheet._charts.clear()  # openpyxl has no public way to remove a chart it loaded
        for chart in tab_charts:
            if chart.last_series_column >= chart.first_series_column and chart.last_row >= chart.first_row:
                sheet.add_chart(_line_chart(sheet, chart), f"{column_letter(chart.anchor_column)}{chart.anchor_row}")


def _column_range(column: int, first_row: int) -> str:
    letter = column_letter(column)
    return f"{letter}{first_row}:{letter}{MAX_ROW}"


def _list_formula(choices: tuple[str, ...]) -> str:
    """A literal list as a list validation holds it; choices that would not fit are left out."""
    kept: list[str] = []
    for choice in (choice.replace(",", " ").replace('"', "'").strip() for choice in choices):
        if choice and len(",".join([*kept, choice])) + 2 <= LIST_FORMULA_LIMIT:
            kept.append(choice)
    return '"' + ",".join(kept) + '"'


def _fill(rgb: str) -> PatternFill:
    return PatternFill(fill_type="solid", start_color=rgb, end_color=rgb)


def _comment(text: str) -> Comment:
    lines = text.splitlines() or [""]
    longest = max(len(line) for line in lines)
    # openpyxl's default note box (144 x 79 points) cuts longer notes off.
    return Comment(text, NOTE_AUTHOR, width=max(144, min(480, 6 * longest + 12)), height=max(40, 16 * len(lines) + 12))


def _protect(sheet, spec: TabSpec) -> None:
    """Lock the read-only columns: every other column gets an unlocked column style (which
    Excel gives each cell typed there), then the sheet is protected, without a password."""
    locked = set(spec.read_only_columns)
    widths = dict(spec.column_widths)
    last = max(locked)
    for column in range(1, last + 1):
        if column not in locked:
            dimension = sheet.column_dimensions[column_letter(column)]
            dimension.width = widths.get(column, spec.default_width or STANDARD_WIDTH)
            dimension.protection = Protection(locked=False)
    rest = ColumnDimension(sheet, index=column_letter(last + 1), min=last + 1, max=MAX_COLUMN,
                           width=spec.default_width or STANDARD_WIDTH)
    rest.protection = Protection(locked=False)
    sheet.column_dimensions[column_letter(last + 1)] = rest
    protection = sheet.protection
    protection.sheet = True
    # In OOXML True means "not allowed": people may still size rows and columns, sort and
    # filter (Excel only lets either touch unlocked cells) and insert rows.
    protection.formatColumns = protection.formatRows = protection.sort = protection.autoFilter = False
    protection.insertRows = False


def _line_chart(sheet, spec: LineChart) -> OpenpyxlLineChart:
    chart = OpenpyxlLineChart()
    chart.title = spec.title
    chart.width, chart.height = spec.width_cm, spec.height_cm
    chart.add_data(Reference(sheet, min_col=spec.first_series_column, max_col=spec.last_series_column,
                             min_row=spec.header_row, max_row=spec.last_row), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=spec.category_column, min_row=spec.first_row,
                                   max_row=spec.last_row))
    for series in chart.series:
        series.smooth = False  # a smoothed line invents values between the weeks
    chart.y_axis.title = spec.y_title or None
    chart.x_axis.title = spec.x_title or None
    if spec.y_number_format:
        chart.y_axis.number_format = spec.y_number_format
        chart.y_axis.numFmt.sourceLinked = False
    chart.x_axis.number_format = "yyyy-mm-dd"
    # openpyxl 3.1 leaves axes flagged as deleted unless told otherwise; Excel then hides them.
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.legend.position = "r"
    return chart
