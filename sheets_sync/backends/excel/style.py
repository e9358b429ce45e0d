"""How the Excel backend draws what :class:`~sheets_sync.core.cells.TabSpec`, :class:`~sheets_sync.core.cells.CellWrite` and
:class:`~sheets_sync.core.cells.LineChart` describe: header look, column styles (wrapped
text, ID columns as left-aligned text), page setup for printing, dropdowns, sheet
protection, conditional colours, cell notes and fills, native line charts. openpyxl keeps
all of them when it loads and saves a workbook again (EXCEL-NOTES), so they are drawn once
and survive every later run.

Column styles live on the column (``<col style=..>``), as a person formatting a whole column
makes them; a cell the engine creates later takes its row's or column's style
(:func:`take_line_style`), as Excel and LibreOffice give a typed cell, so a row appended a
year later still wraps its ``Detail``.
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import copy

from openpyxl.chart import LineChart as OpenpyxlLineChart
from openpyxl.chart import Reference
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils.cell import column_index_from_string
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.dimensions import ColumnDimension
from openpyxl.worksheet.properties import PageSetupProperties

from sheets_sync.core.cells import CellWrite, LineChart, TabSpec, column_letter

MAX_ROW, MAX_COLUMN = 1_048_576, 16_384
STANDARD_WIDTH = 9.140625  # Excel's width of a column nobody sized
LIST_FORMULA_LIMIT = 255  # Excel refuses longer literal lists in a list validation
NOTE_AUTHOR = "sheets-sync"


TEXT_FORMAT = "@"
LINE_WIDTH_EMU = 28575  # 2.25 points: lines that tell apart at a glance
LINE_HEIGHT = 15.0  # points: a line of 11-point text, Excel's own row height
LABELS_ON_AXIS = 14  # category labels a chart's x axis shows side by side at most


def decorate_new_tab(sheet, spec: TabSpec) -> None:
    """Header look, column styles, page setup, dropdowns, conditional colours and
    protection of a tab the engine just created."""
    first_row = spec.frozen_rows + 1
    _style_header(sheet, spec)
    _style_columns(sheet, spec)
    _page_setup(sheet, spec)
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


def take_line_style(sheet, cell) -> None:
    """Give a cell the engine just created the style of its row (a formatted row) or else of
    its column, as Excel and LibreOffice give a cell typed there."""
    row = sheet.row_dimensions.get(cell.row)
    if row is not None and row.customFormat:
        cell._style = copy(row._style)
        return
    for dimension in sheet.column_dimensions.values():
        if not dimension.has_style:
            continue
        first = dimension.min or column_index_from_string(dimension.index)  # unset until a save or load
        if first <= cell.column <= (dimension.max or first):
            cell._style = copy(dimension._style)
            return


def decorate_cell(cell, write: CellWrite) -> None:
    """The note and fill a write carries (the value is set by the backend); a row whose
    wrapped text was written is made tall enough to show it."""
    if write.note is not None:
        cell.comment = _comment(write.note) if write.note else None
    if write.fill is not None:
        cell.fill = _fill(write.fill) if write.fill else PatternFill(fill_type=None)
    if cell.alignment.wrap_text and isinstance(write.value, str):
        fit_row_height(cell.parent, cell.row)


def text_lines(text: str, width: float) -> int:
    """Lines ``text`` takes wrapped in a column ``width`` characters wide, word by word. A
    width counts digits; a line of words holds about a seventh more characters (a narrow
    guess: rather a line too many than one cut off)."""
    per_line = max(1, int(width * 1.12) - 1)
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0
        for word in paragraph.split(" "):
            if used and used + 1 + len(word) <= per_line:
                used += 1 + len(word)
                continue
            lines += 1 if used else 0
            extra, used = divmod(len(word), per_line)
            lines += extra - (1 if extra and not used else 0)
            used = used or (per_line if extra else 0)
    return lines


def fit_row_height(sheet, row: int) -> None:
    """Give ``row`` the height its wrapped cells need. Excel measures rows itself, LibreOffice
    does not when it opens a file openpyxl wrote: without a height, a wrapped cell shows
    its first line only."""
    lines = 1
    for dimension in sheet.column_dimensions.values():
        if dimension.has_style and dimension.alignment.wrap_text:
            first = dimension.min or column_index_from_string(dimension.index)
            for column in range(first, (dimension.max or first) + 1):
                cell = sheet._cells.get((row, column))
                if cell is not None and isinstance(cell.value, str) and cell.alignment.wrap_text:
                    lines = max(lines, text_lines(cell.value, dimension.width or STANDARD_WIDTH))
    sheet.row_dimensions[row].height = LINE_HEIGHT * lines if lines > 1 else None


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


def _style_header(sheet, spec: TabSpec) -> None:
    """Bold header rows on ``header_fill``: its cells, or the whole row as a row style."""
    if spec.header_fill is None:
        return
    for row in range(1, spec.frozen_rows + 1):
        targets = ([sheet.cell(row=row, column=column) for column in range(1, spec.header_columns + 1)]
                   if spec.header_columns else [sheet.row_dimensions[row]])
        for target in targets:
            font = target.font  # the workbook's own font, made bold: a bare Font has no name
            target.font = Font(name=font.name, sz=font.sz, family=font.family, scheme=font.scheme, color=font.color,
                               bold=True)
            target.alignment = Alignment(vertical="top")
            if spec.header_fill:
                target.fill = _fill(spec.header_fill)


def _column_styles(spec: TabSpec) -> dict[int, tuple[Alignment, str | None]]:
    """Each styled column's alignment and number format."""
    styles: dict[int, tuple[Alignment, str | None]] = {}
    if spec.wrap_columns:  # rows grow: every column of the table reads from the top
        styles.update((column, (Alignment(vertical="top"), None)) for column, _ in spec.column_widths)
    for column in spec.text_columns:
        styles[column] = (Alignment(horizontal="left", vertical="top"), TEXT_FORMAT)
    for column in spec.wrap_columns:
        horizontal = styles[column][0].horizontal if column in styles else None
        styles[column] = (Alignment(horizontal=horizontal, vertical="top", wrap_text=True),
                          styles[column][1] if column in styles else None)
    return styles


def _style_columns(sheet, spec: TabSpec) -> None:
    widths = dict(spec.column_widths)
    for column, (alignment, number_format) in _column_styles(spec).items():
        dimension = sheet.column_dimensions[column_letter(column)]
        dimension.width = widths.get(column, spec.default_width or STANDARD_WIDTH)
        dimension.alignment = alignment
        if number_format:
            dimension.number_format = number_format


def _page_setup(sheet, spec: TabSpec) -> None:
    """Printing: orientation, scaled to ``fit_width`` pages wide (and ``fit_height`` tall)
    or to ``print_scale``, the frozen header rows (and columns, when it spans pages wide) on
    every page."""
    setup = sheet.page_setup
    setup.orientation = "landscape" if spec.landscape else "portrait"
    if sheet.sheet_properties.pageSetUpPr is None:
        sheet.sheet_properties.pageSetUpPr = PageSetupProperties()
    if spec.fit_width or spec.fit_height:
        setup.fitToWidth, setup.fitToHeight = spec.fit_width, spec.fit_height
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    else:
        setup.scale = spec.print_scale
    if spec.frozen_rows:
        sheet.print_title_rows = f"1:{spec.frozen_rows}"
    if spec.frozen_columns and spec.fit_width != 1:
        sheet.print_title_cols = f"A:{column_letter(spec.frozen_columns)}"
    sheet.print_options.gridLines = spec.print_gridlines
    sheet.print_options.horizontalCentered = False
    margins = sheet.page_margins
    margins.left = margins.right = 0.4
    margins.top = margins.bottom = 0.5


def _protect(sheet, spec: TabSpec) -> None:
    """Lock the read-only columns: every other column gets an unlocked column style (which
    Excel gives each cell typed there), then the sheet is protected, without a password."""
    locked = set(spec.read_only_columns)
    widths = dict(spec.column_widths)
    last = max(locked | set(_column_styles(spec)))
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
    for index, series in enumerate(chart.series):
        series.smooth = False  # a smoothed line invents values between the weeks
        if spec.colors:
            line = series.graphicalProperties.line
            line.solidFill = spec.colors[index % len(spec.colors)]
            line.width = LINE_WIDTH_EMU
    chart.y_axis.title = spec.y_title or None
    chart.x_axis.title = spec.x_title or None
    if spec.y_number_format:
        chart.y_axis.number_format = spec.y_number_format
        chart.y_axis.numFmt.sourceLinked = False
    chart.x_axis.number_format = spec.x_number_format or "yyyy-mm-dd"
    points = spec.last_row - spec.first_row + 1
    if points > LABELS_ON_AXIS:  # every label on one line: every second (third ...) one is shown
        chart.x_axis.tickLblSkip = -(-points // LABELS_ON_AXIS)
    if spec.x_number_format:
        chart.x_axis.numFmt.sourceLinked = False
    # openpyxl 3.1 leaves axes flagged as deleted unless told otherwise; Excel then hides them.
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.legend.position = "b" if spec.legend == "bottom" else "r"
    return chart
