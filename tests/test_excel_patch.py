"""Writes set straight in a workbook's XML (excel_patch.py) read back exactly as openpyxl's own
save of the same writes, in openpyxl and python-calamine (LibreOffice: test_libreoffice.py);
files the patch is not sure of go to openpyxl."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from python_calamine import CalamineWorkbook

from sheets_sync.backends.base import WorkbookChanged
from sheets_sync.backends.excel.patch import patched_members, write_archive
from sheets_sync.backends.excel.workbook import ExcelWorkbook, apply_writes, save_book
from sheets_sync.core.cells import CellWrite, storable_text

TAB = "Returns"
FORMATS = [None, "#,##0.00", "yyyy-mm-dd", "0.0%", "0", "[$$-409]#,##0.00;[Red]-[$$-409]#,##0.00"]

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["=HYPERLINK(\"x\")", "+1 555", "-", "@me", "  padded  ", "a\r\nb", "<b>&amp;</b>", "000123", "4.12346E+15"])
values = st.one_of(
    st.none(), texts, st.booleans(),
    # openpyxl writes numbers with 16 significant digits (the patch writes them exactly):
    # compare where both are exact
    st.integers(-10**15, 10**15), st.floats(-1e12, 1e12).filter(lambda number: float(f"{number:.16g}") == number),
    st.decimals(min_value=-10**9, max_value=10**9, places=2),
    st.dates(min_value=date(1900, 3, 1), max_value=date(2199, 12, 31)),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2199, 12, 31)).map(
        lambda moment: moment.replace(microsecond=0)),
)
writes = st.lists(st.builds(CellWrite, st.just(TAB), st.integers(1, 14), st.integers(1, 7), values,
                            st.sampled_from(FORMATS)), max_size=25)
existing_cells = st.dictionaries(st.tuples(st.integers(1, 12), st.integers(1, 6)),
                                 st.tuples(st.one_of(st.none(), texts.map(storable_text), st.integers(0, 10**6), st.dates()),
                                           st.sampled_from(["none", "bold", "fill", "date", "money"])),
                                 max_size=30)


def _workbook(path: Path, cells) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = TAB
    for (row, column), (value, look) in cells.items():
        cell = sheet.cell(row=row, column=column, value=value)
        if isinstance(value, str):
            cell.data_type = "s"  # text, even when it starts with "=" (a formula is the case below)
        if look == "bold":
            cell.font = Font(bold=True)
        elif look == "fill":
            cell.fill = PatternFill("solid", start_color="FFEE00")
        elif look == "date":
            cell.number_format = "dd/mm/yyyy"
        elif look == "money":
            cell.number_format = "#,##0.00"
    book.create_sheet("Instructions")["A1"] = "Paste the IDs of bad leads in the Returns tab."
    book.save(path)
    return path


def _through_openpyxl(source: Path, target: Path, cell_writes) -> None:
    book = load_workbook(source, rich_text=True)
    apply_writes(book, cell_writes, (), ())
    with open(target, "wb") as handle:
        save_book(book, handle)


def _through_patch(source: Path, target: Path, cell_writes) -> None:
    with zipfile.ZipFile(source) as archive:
        members = patched_members(archive, cell_writes)
        assert members is not None
        with open(target, "wb") as handle:
            write_archive(archive, members, handle)


def _cells(path: Path) -> dict:
    sheet = load_workbook(path)[TAB]
    return {cell.coordinate: (cell.value, cell.number_format, bool(cell.quotePrefix), bool(cell.font.b),
                              cell.fill.fgColor.rgb if cell.fill.fill_type else None)
            for row in sheet.iter_rows() for cell in row if cell.value is not None or cell.has_style}


def _calamine(path: Path) -> list[list] | str:
    try:
        return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(TAB).to_python(skip_empty_area=False)
    except BaseException as error:  # calamine panics on a huge number in a date cell
        return type(error).__name__


@pytest.mark.filterwarnings("ignore:Cell .* is marked as a date")  # a number written in a date cell
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=existing_cells, cell_writes=writes)
def test_a_patch_reads_back_as_openpyxls_save_of_the_same_writes(tmp_path_factory, cells, cell_writes) -> None:
    folder = tmp_path_factory.mktemp("patch")
    source = _workbook(folder / "source.xlsx", cells)
    _through_openpyxl(source, folder / "openpyxl.xlsx", cell_writes)
    _through_patch(source, folder / "patched.xlsx", cell_writes)
    assert _cells(folder / "patched.xlsx") == _cells(folder / "openpyxl.xlsx")
    assert _calamine(folder / "patched.xlsx") == _calamine(folder / "openpyxl.xlsx")


def _returns_workbook(path: Path) -> Path:
    return _workbook(path, {(1, 1): ("Lead ID", "bold"), (1, 2): ("Reason", "bold"), (2, 1): ("000123", "none"),
                            (2, 2): ("wrong number", "none"), (3, 1): ("BB-7K2M9QX", "fill")})


STATUS_WRITES = [CellWrite(TAB, 1, 3, "Status"), CellWrite(TAB, 2, 3, "Approved"),
                 CellWrite(TAB, 2, 4, Decimal("12.50"), "#,##0.00"), CellWrite(TAB, 3, 3, "=not a formula")]


def test_a_workbook_read_by_value_is_written_without_loading_it(tmp_path: Path) -> None:
    path = _returns_workbook(tmp_path / "returns.xlsx")
    expected = tmp_path / "expected.xlsx"
    _through_openpyxl(path, expected, STATUS_WRITES)
    with ExcelWorkbook(path) as workbook:
        workbook.read([TAB])
        workbook.write(STATUS_WRITES)
        assert workbook._book is None
    assert _cells(path) == _cells(expected)
    assert load_workbook(path)["Instructions"]["A1"].value == "Paste the IDs of bad leads in the Returns tab."


def test_a_workbook_saved_by_someone_after_the_read_is_not_patched_over(tmp_path: Path) -> None:
    path = _returns_workbook(tmp_path / "returns.xlsx")
    with ExcelWorkbook(path) as workbook:
        workbook.read([TAB])
        book = load_workbook(path)
        book[TAB]["A4"] = "a row they added"
        book.save(path)
        with pytest.raises(WorkbookChanged):
            workbook.write(STATUS_WRITES)
    assert load_workbook(path)[TAB]["A4"].value == "a row they added"
    assert load_workbook(path)[TAB]["C2"].value is None


@pytest.mark.parametrize("case", ["merged", "note", "no references", "formula to overwrite"])
def test_what_the_patch_is_not_sure_of_goes_to_openpyxl(tmp_path: Path, case: str) -> None:
    path = _returns_workbook(tmp_path / "returns.xlsx")
    writes = list(STATUS_WRITES)
    if case == "merged":
        book = load_workbook(path)
        book[TAB].merge_cells("E1:F1")
        book.save(path)
    elif case == "note":
        writes.append(CellWrite(TAB, 1, 3, "Status", note="Filled in by sheets-sync"))
    elif case == "no references":
        _rewrite_sheet(path, lambda xml: xml.replace(b' r="A2"', b""))
    else:
        book = load_workbook(path)
        book[TAB]["C2"] = "=A2"
        book.save(path)
    with zipfile.ZipFile(path) as archive:
        assert patched_members(archive, writes) is None
    with ExcelWorkbook(path) as workbook:
        workbook.read([TAB])
        workbook.write(writes)
        assert workbook._book is not None
    assert load_workbook(path)[TAB]["C2"].value == "Approved"


def test_formulas_elsewhere_are_recalculated_when_the_file_is_opened(tmp_path: Path) -> None:
    path = _returns_workbook(tmp_path / "returns.xlsx")
    book = load_workbook(path)
    book["Instructions"]["B1"] = "=COUNTIF(Returns!C:C,\"Approved\")"
    book.save(path)
    with ExcelWorkbook(path) as workbook:
        workbook.read([TAB])
        workbook.write(STATUS_WRITES)
        assert workbook._book is None
    assert load_workbook(path).calculation.fullCalcOnLoad is True


def _rewrite_sheet(path: Path, change) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {info: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members.items():
            archive.writestr(info, change(data) if info.filename == "xl/worksheets/sheet1.xml" else data)
