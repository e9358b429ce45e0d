"""Excel workbooks through openpyxl: loaded once, saved atomically, under a file lock."""

from __future__ import annotations

import os
import re
import stat
import warnings
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import date
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout
from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl import load_workbook
from openpyxl.cell.cell import MergedCell
from openpyxl.cell.rich_text import CellRichText
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.formula import ArrayFormula
from python_calamine import CalamineWorkbook

from sheets_sync import faults
from sheets_sync.backends.base import WorkbookChanged, WorkbookError, WorkbookInUse
from sheets_sync.backends.excel.calamine import calamine_panicked, panics_unprinted
from sheets_sync.backends.excel.files import file_stamp, in_use_message, open_by
from sheets_sync.backends.excel.patch import (
    FORMULA_ELEMENT,
    FORMULA_STARTS,
    cell_place,
    date_format,
    patchable,
    patched_members,
    sheet_parts,
    write_archive,
    xml_text,
)
from sheets_sync.backends.excel.style import decorate_cell, decorate_new_tab, place_charts, take_line_style
from sheets_sync.core.cells import (
    CellValue,
    CellWrite,
    Formula,
    Grid,
    LineChart,
    TabRename,
    TabSpec,
    column_letter,
    split_tab_changes,
    storable_text,
)
from sheets_sync.store.files import fsync_directory, remove_stale_temporaries, written_copy

LOCK_TIMEOUT_SECONDS = 30
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""How an encrypted (password to open) .xlsx and an old .xls file begin: an OLE container."""


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.sheets-sync.lock")


def _cell_value(cell) -> CellValue:
    value = cell.value
    if isinstance(value, ArrayFormula):
        return Formula(value.text)
    if isinstance(value, CellRichText):
        return str(value)
    if cell.data_type == "f" and isinstance(value, str):
        return Formula(value)
    return value


class ExcelWorkbook:
    """One .xlsx file for one run. Use as a context manager: the lock is held until exit.

    ``create=True`` starts an empty workbook when the file does not exist yet (the
    tracking workbook on a first run); nothing is written until :meth:`write` has cells.
    """

    def __init__(self, path: Path, *, create: bool = False, label: str | None = None) -> None:
        self.path = path
        self.label = label or path.name
        self._create = create
        self._lock = FileLock(_lock_path(path), timeout=LOCK_TIMEOUT_SECONDS)
        self._book: OpenpyxlWorkbook | None = None
        self._stamp = None  # the file as read (excel_files.file_stamp); a save checks it is still so
        self._prepared: tuple[tuple[list, list, list], Future[Path | None]] | None = None  # see prepare()

    def __enter__(self) -> "ExcelWorkbook":
        try:
            self._lock.acquire()
        except Timeout:
            raise WorkbookError(f"{self.label} is locked by another sheets-sync run; try again when it ends.") from None
        remove_stale_temporaries(self.path)  # a killed run's half-written copy; the lock says none is in use
        return self

    def __exit__(self, *exc_info) -> None:
        if self._prepared is not None:  # prepared, then never written (the run stopped first)
            (_, future), self._prepared = self._prepared, None
            if not future.cancel() and future.exception() is None and (copy := future.result()) is not None:
                copy.unlink(missing_ok=True)
        self._lock.release()

    def _loaded(self) -> OpenpyxlWorkbook:
        if self._book is None:
            stamp = file_stamp(self.path)  # before reading: a save meanwhile shows as a change
            if self._stamp is not None and stamp != self._stamp:  # read by values, then saved by someone
                raise self._changed()
            self._stamp = stamp
            if self._stamp is None and self._create:
                self._book = OpenpyxlWorkbook()
                self._book.remove(self._book.active)
            else:
                self._book = self._load()
        return self._book

    def _load(self) -> OpenpyxlWorkbook:
        try:
            book = openpyxl_load(self.path)
            faults.checkpoint("excel.loaded", path=self.path)
            return book
        except FileNotFoundError:
            raise WorkbookError(f"{self.label} does not exist.") from None
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
            if _starts_with(self.path, OLE_SIGNATURE):
                raise WorkbookError(
                    f"{self.label} cannot be opened: it is password-protected or an old .xls file; open it in Excel "
                    "and save it as an .xlsx workbook without a password to open.") from None
            hint = " (it may be password-protected or not an .xlsx file)" if isinstance(
                error, (zipfile.BadZipFile, InvalidFileException)) else ""
            raise WorkbookError(f"{self.label} cannot be opened as an Excel workbook{hint}.") from None

    def tab_titles(self) -> list[str]:
        if self._book is None:  # the names alone, from the file's index: loading it takes seconds
            if not self.path.exists():
                return []
            try:
                with zipfile.ZipFile(self.path) as archive:
                    return list(sheet_parts(archive))
            except Exception:  # zipfile and ElementTree raise their own errors: openpyxl then says what is wrong
                pass
        return list(self._loaded().sheetnames)

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        if self._book is None and self._create and not self.path.exists():
            return {}  # nothing to read yet; the workbook is made when there is something to write
        if self._book is None and (grids := self._read_values(tabs)) is not None:
            faults.checkpoint("excel.loaded", path=self.path)
            return grids
        book = self._loaded()
        return {
            tab: [[_cell_value(cell) for cell in row] for row in book[tab].iter_rows()]
            for tab in tabs if tab in book.sheetnames
        }

    def write(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename] = (),
              charts: Sequence[LineChart] = ()) -> None:
        if not writes and not new_tabs and not charts:
            return
        self._refuse_if_open()
        in_place = self._patchable(writes, new_tabs, charts)
        if self._prepared is None and not in_place:
            self._loaded()
        if self._stamp is not None and read_only_on_disk(self.path):
            raise WorkbookError(f"{self.label} is read-only on disk, so nothing was written to it; make it writable "
                                "and run again.")
        copy = self._take_prepared(writes, new_tabs, charts)
        if copy is None and in_place:
            copy = self._patched_copy(writes)
        if copy is not None:
            self._replace_with(copy)
            return
        book = self._loaded()
        apply_writes(book, writes, new_tabs, charts)
        self._replace_with(self._saved_copy(lambda target: save_book(book, target)))

    def _patchable(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename],
                   charts: Sequence[LineChart]) -> bool:
        """Whether ``writes`` may go straight into the file's XML (excel/patch.py): plain values
        for a workbook read by value, not loaded with openpyxl, and no tab or chart to add."""
        return self._book is None and self._stamp is not None and not new_tabs and not charts and patchable(writes)

    def _patched_copy(self, writes: Sequence[CellWrite]) -> Path | None:
        """A temporary copy of the workbook with ``writes`` set in its XML, or ``None`` when the
        file needs openpyxl for them."""
        try:
            with zipfile.ZipFile(self.path) as archive:
                members = patched_members(archive, writes)
                return None if members is None else self._saved_copy(
                    lambda target: write_archive(archive, members, target))
        except FileNotFoundError:
            raise WorkbookError(f"{self.label} does not exist.") from None
        except zipfile.BadZipFile:
            return None  # openpyxl then says what is wrong with the file

    def preparable(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename] = (),
                   charts: Sequence[LineChart] = ()) -> bool:
        """Whether :func:`prepare_saves` would take these writes: there are some, and the
        workbook was read by value, not loaded here, or is yet to be created. (Patches go to
        the workers too: 200 of them are seconds of work in a first sync.)"""
        return ((bool(writes) or bool(new_tabs) or bool(charts)) and self._book is None and self._prepared is None
                and (self._stamp is not None or self._create))

    def _take_prepared(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename],
                       charts: Sequence[LineChart]) -> Path | None:
        """The prepared copy, if it holds exactly these cells; any other is deleted."""
        if self._prepared is None:
            return None
        (job, future), self._prepared = self._prepared, None
        try:
            copy = future.result()
        except Exception:  # e.g. a worker that died: the write is done here, which says what is wrong
            return None
        if job != (list(writes), list(new_tabs), list(charts)):
            if copy is not None:
                copy.unlink(missing_ok=True)
            return None
        if copy is None:  # the file had changed since it was read
            raise self._changed()
        return copy

    @staticmethod
    def _set(cell, value: CellValue) -> None:
        if isinstance(value, str) and not isinstance(value, Formula):
            value = storable_text(value)  # openpyxl refuses control characters; a run must not die of one
        current_format = cell.number_format  # before openpyxl puts its own default for a date in
        cell.value = value
        if isinstance(value, str) and not isinstance(value, Formula):
            # openpyxl would otherwise store client text such as "=HYPERLINK(...)" as a formula;
            # the quote prefix keeps it text when a person edits the cell, as typing '= does.
            cell.data_type = "s"
            if value.startswith(FORMULA_STARTS):
                cell.quotePrefix = True
        elif isinstance(value, date):
            cell.number_format = date_format(value, current_format)

    def _saved_copy(self, save: Callable[[BinaryIO], None]) -> Path:
        """A temporary file beside the workbook, filled by ``save`` and made durable."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return written_copy(self.path, lambda handle: save(
                faults.PartialWriteWatch(handle, "excel.save.partial", path=self.path)
                if faults.armed("excel.save.partial") else handle))
        except OSError as error:
            raise WorkbookError(f"{self.label} could not be saved ({error.strerror or error}).") from None

    def _replace_with(self, temporary: Path) -> None:
        """Rename a complete new copy over the workbook, unless a person has it open or saved
        it since this run read it."""
        try:
            faults.checkpoint("excel.before_replace", path=self.path)
            # Last look before the rename, so the window for losing someone's save is this short.
            self._refuse_if_open()
            if file_stamp(self.path) != self._stamp:
                self._book = None  # the next read loads what they saved
                raise self._changed()
            if self._stamp is not None:
                _keep_owner_and_mode(self.path, temporary)
            os.replace(temporary, self.path)
            faults.checkpoint("excel.replaced", path=self.path)
            fsync_directory(self.path.parent)
            self._stamp = file_stamp(self.path)
        except OSError as error:
            raise WorkbookError(f"{self.label} could not be saved ({error.strerror or error}).") from None
        finally:
            temporary.unlink(missing_ok=True)

    def _read_values(self, tabs: Sequence[str]) -> dict[str, Grid] | None:
        """The tabs read with python-calamine, many times faster than loading the workbook
        with openpyxl (which :meth:`write` then does), error values put back as openpyxl
        reads them. ``None`` where only openpyxl reads them as the engine needs them (see
        :func:`_calamine_misreads`), and for files calamine cannot read (openpyxl then says
        what is wrong with them)."""
        stamp = file_stamp(self.path)  # before reading: a save meanwhile shows as a change
        if stamp is None:
            return None
        try:
            with panics_unprinted(), zipfile.ZipFile(self.path) as archive:
                parts = sheet_parts(archive)
                book = CalamineWorkbook.from_path(str(self.path))
                wanted = [tab for tab in dict.fromkeys(tabs) if tab in book.sheet_names]
                misreads = {tab: _calamine_misreads(archive.read(parts[tab])) if tab in parts else None
                            for tab in wanted}
                if None in misreads.values():
                    return None
                grids = {tab: _calamine_grid(book.get_sheet_by_name(tab), misreads[tab]) for tab in wanted}
        except Exception:  # zipfile, ElementTree and calamine each raise their own errors for a bad file
            return None
        except BaseException as error:
            if not calamine_panicked(error):
                raise
            return None
        self._stamp = stamp
        return grids

    def _changed(self) -> WorkbookChanged:
        # Forget the file as it was: the next read takes what is on disk now (run/settle.py re-plans on it).
        self._book, self._stamp = None, None
        return WorkbookChanged(f"{self.label} was saved by someone else while sheets-sync was working on it; "
                               "nothing was written over it.", written=False)

    def _refuse_if_open(self) -> None:
        """Leave a workbook that a person has open alone (see excel_files)."""
        found = open_by(self.path)
        if found is not None:
            self._book = None  # what was applied in memory is dropped; a later read starts afresh
            raise WorkbookInUse(in_use_message(self.label, *found, "this run's changes"))


_LONG_INTEGER = re.compile(rb"<(?:\w+:)?v>(-?\d{16,})<")
_PLAIN_LONG_INTEGER = re.compile(rb"<v>(-?\d{16,})<")
_PLAIN_FORMULA = re.compile(rb"<f[\s>/]")
_ERROR_TYPE = re.compile(rb"\st=(?:\"e\"|'e')")
_CELL_START = re.compile(rb"<(?:\w+:)?c\s")
_VALUE_NEXT = re.compile(rb"\s*<(?:\w+:)?v>([^<]*)</")
_FORMULA_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*)>\s*<(?:\w+:)?f>([^<&]*(?:&(?:amp|lt|gt|quot|apos);[^<&]*)*)</")


def _calamine_misreads(sheet_xml: bytes) -> dict[tuple[int, int], CellValue] | None:
    """What python-calamine reads differently from openpyxl in a worksheet, by 0-based (row,
    column): error values (calamine gives blanks; openpyxl their text, such as ``#N/A``) and
    formulas (calamine gives their cached results; openpyxl, and the engine, the formula).
    ``None`` when calamine cannot be used at all: an integer a float cannot hold (calamine
    reads numbers as floats), or an error value or formula not written plainly with its
    cell reference beside it (shared and array formulas, formulas with an error result).

    A returns tab grows to megabytes of XML: the rare cells are found by byte searches and
    read where they are, not by patterns tried at every cell."""
    prefixed = b":v>" in sheet_xml or b":f" in sheet_xml  # a namespace prefix: the slower, general patterns
    long_integers = (_LONG_INTEGER if prefixed else _PLAIN_LONG_INTEGER).findall(sheet_xml)
    if any(float(number) != int(number) for number in long_integers):
        return None
    cells = []
    if b't="e"' in sheet_xml or b"t='e'" in sheet_xml:
        errors = _error_cells(sheet_xml)
        if errors is None:
            return None
        cells += errors
    if prefixed or _PLAIN_FORMULA.search(sheet_xml):
        formulas = [(attributes, Formula("=" + xml_text(text)))
                    for attributes, text in _FORMULA_CELL.findall(sheet_xml)]
        if len(formulas) != len(FORMULA_ELEMENT.findall(sheet_xml)):
            return None
        cells += formulas
    misreads: dict[tuple[int, int], CellValue] = {}
    for attributes, value in cells:
        place = cell_place(attributes)
        if place is None:
            return None
        misreads[(place[0] - 1, place[1] - 1)] = value
    return misreads


def _error_cells(sheet_xml: bytes) -> list[tuple[bytes, str]] | None:
    """(attributes, text) of each cell typed as an error value, or ``None`` if one is not a
    plain ``<c ... t="e"><v>#N/A</v></c>``."""
    found = []
    for mark in _ERROR_TYPE.finditer(sheet_xml):
        start, end = sheet_xml.rfind(b"<", 0, mark.start()), sheet_xml.find(b">", mark.end())
        value = _VALUE_NEXT.match(sheet_xml, end + 1) if end > 0 else None
        if start < 0 or not _CELL_START.match(sheet_xml, start) or value is None or sheet_xml[end - 1] == ord("/"):
            return None
        found.append((sheet_xml[start:end], xml_text(value[1])))
    return found


def _calamine_grid(sheet, misreads: dict[tuple[int, int], CellValue]) -> Grid:
    grid = [[None if cell == "" else cell for cell in row] for row in sheet.to_python(skip_empty_area=False)]
    if misreads:  # a formula without a cached result may lie beyond what calamine read
        height = max(len(grid), max(row for row, _ in misreads) + 1)
        width = max(max(map(len, grid), default=0), max(column for _, column in misreads) + 1)
        grid = [row + [None] * (width - len(row)) for row in grid]
        grid += [[None] * width for _ in range(height - len(grid))]
        for (row, column), value in misreads.items():
            grid[row][column] = value
    return grid


def apply_writes(book: OpenpyxlWorkbook, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename],
           charts: Sequence[LineChart]) -> None:
    """Rename and create ``new_tabs``, set every cell of ``writes`` and place ``charts`` in a
    loaded workbook."""
    renames, specs = split_tab_changes(new_tabs)
    for rename in renames:
        if rename.old in book.sheetnames and rename.new not in book.sheetnames:
            book[rename.old].title = rename.new
    for spec in specs:
        if spec.title not in book.sheetnames:
            sheet = book.create_sheet(spec.title)
            if spec.frozen_rows or spec.frozen_columns:
                sheet.freeze_panes = f"{column_letter(spec.frozen_columns + 1)}{spec.frozen_rows + 1}"
            if spec.default_width:
                sheet.sheet_format.defaultColWidth = spec.default_width
            for column, width in spec.column_widths:
                sheet.column_dimensions[column_letter(column)].width = width
            decorate_new_tab(sheet, spec)
    sheet_of = {tab: book[tab] for tab in {write.tab for write in writes}}  # book[tab] scans every tab
    for write in writes:
        sheet = sheet_of[write.tab]
        new = (write.row, write.col) not in sheet._cells
        cell = sheet.cell(row=write.row, column=write.col)
        if new:  # as Excel gives a typed cell: a wrapped Detail column wraps its new rows
            take_line_style(sheet, cell)
        if isinstance(cell, MergedCell):  # an engine cell a person merged into a neighbour
            _unmerge_around(sheet, write.row, write.col)
            cell = sheet.cell(row=write.row, column=write.col)
        ExcelWorkbook._set(cell, write.value)
        if write.number_format:
            cell.number_format = write.number_format
        decorate_cell(cell, write)
    place_charts(book, charts)


def save_book(book: OpenpyxlWorkbook, target: BinaryIO) -> None:
    # Formula cells lose their cached values when openpyxl saves (EXCEL-NOTES), so ask
    # the spreadsheet program to recalculate whenever the file is opened.
    book.calculation.fullCalcOnLoad = True
    book.save(target)


def openpyxl_load(path: Path) -> OpenpyxlWorkbook:
    with warnings.catch_warnings():  # e.g. "Data Validation extension is not supported": nothing to act on
        warnings.simplefilter("ignore", UserWarning)
        return load_workbook(path, rich_text=True)


def _starts_with(path: Path, signature: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(signature)) == signature
    except OSError:
        return False


def read_only_on_disk(path: Path) -> bool:
    """Whether the file is marked read-only: not writable by this process, or without any
    write permission at all (a read-only file, even for an administrator)."""
    return not os.access(path, os.W_OK) or not stat.S_IMODE(path.stat().st_mode) & 0o222


def _keep_owner_and_mode(original: Path, replacement: Path) -> None:
    """Give the file that replaces ``original`` its permissions (and owner, where allowed):
    a private workbook must not become readable by everyone because a run rewrote it."""
    status = original.stat()
    os.chmod(replacement, stat.S_IMODE(status.st_mode))
    try:
        os.chown(replacement, status.st_uid, status.st_gid)
    except (PermissionError, AttributeError):  # only an administrator may give a file away
        pass


def _unmerge_around(sheet, row: int, col: int) -> None:
    """Unmerge the merged range holding (row, col); its top-left cell keeps its value."""
    for merged in list(sheet.merged_cells.ranges):
        if merged.min_row <= row <= merged.max_row and merged.min_col <= col <= merged.max_col:
            sheet.unmerge_cells(merged.coord)
