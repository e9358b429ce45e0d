"""Excel workbooks through openpyxl: loaded once, saved atomically, under a file lock."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import posixpath
import re
import signal
import stat
import sys
import threading
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path
from xml.etree import ElementTree

from filelock import FileLock, Timeout
from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl import load_workbook
from openpyxl.cell.cell import MergedCell
from openpyxl.cell.rich_text import CellRichText
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.formula import ArrayFormula
from python_calamine import CalamineWorkbook

from .. import faults
from .base import (CellValue, CellWrite, Formula, Grid, LineChart, TabSpec, WorkbookChanged, WorkbookError,
                   WorkbookInUse, column_letter, storable_text, tab_spec)
from .excel_files import (FileStamp, file_stamp, fsync_directory, in_use_message, open_by,
                          remove_stale_temporaries, temporary_path)
from .excel_style import decorate_cell, decorate_new_tab, place_charts

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
LOCK_TIMEOUT_SECONDS = 30
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""How an encrypted (password to open) .xlsx and an old .xls file begin: an OLE container."""
FORMULA_STARTS = ("=", "+", "-", "@")
"""What makes Excel read a typed entry as a formula."""


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
            book = load_workbook(self.path, rich_text=True)
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
        return list(self._loaded().sheetnames)

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        if self._book is None and (grids := self._read_values(tabs)) is not None:
            faults.checkpoint("excel.loaded", path=self.path)
            return grids
        book = self._loaded()
        return {
            tab: [[_cell_value(cell) for cell in row] for row in book[tab].iter_rows()]
            for tab in tabs if tab in book.sheetnames
        }

    def write(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec] = (),
              charts: Sequence[LineChart] = ()) -> None:
        if not writes and not new_tabs and not charts:
            return
        self._refuse_if_open()
        if self._prepared is None:
            self._loaded()
        if self._stamp is not None and read_only_on_disk(self.path):
            raise WorkbookError(f"{self.label} is read-only on disk, so nothing was written to it; make it writable "
                                "and run again.")
        copy = self._take_prepared(writes, new_tabs, charts)
        if copy is not None:
            self._replace_with(copy)
            return
        book = self._loaded()
        _apply(book, writes, new_tabs, charts)
        self._save(book)

    def prepare(self, pool: Executor, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec] = (),
                charts: Sequence[LineChart] = ()) -> None:
        """Start applying ``writes`` and saving the result to a temporary copy in ``pool`` (other
        processes), for a later :meth:`write` of the very same cells to finish by renaming
        the copy over the workbook. Loading and saving are most of a write's time; this way
        they run beside the engine. Only a workbook read by value (not loaded here) is
        prepared; :meth:`write` still makes every check (open, read-only, saved meanwhile)
        right before the rename."""
        if self._book is None and self._stamp is not None and self._prepared is None:
            job = (list(writes), list(new_tabs), list(charts))
            self._prepared = job, pool.submit(save_prepared_copy, self.path, self._stamp, *job)

    def _take_prepared(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec],
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
        cell.value = value
        if isinstance(value, str) and not isinstance(value, Formula):
            # openpyxl would otherwise store client text such as "=HYPERLINK(...)" as a formula;
            # the quote prefix keeps it text when a person edits the cell, as typing '= does.
            cell.data_type = "s"
            if value.startswith(FORMULA_STARTS):
                cell.quotePrefix = True
        elif isinstance(value, datetime) and cell.number_format in ("General", DATE_FORMAT):
            cell.number_format = DATETIME_FORMAT
        elif isinstance(value, date) and not isinstance(value, datetime) and cell.number_format == "General":
            cell.number_format = DATE_FORMAT

    def _save(self, book: OpenpyxlWorkbook) -> None:
        temporary = temporary_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                watched = faults.PartialWriteWatch(handle, "excel.save.partial", path=self.path) \
                    if faults.armed("excel.save.partial") else handle
                _save_book(book, watched, handle)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise WorkbookError(f"{self.label} could not be saved ({error.strerror or error}).") from None
        self._replace_with(temporary)

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
        with openpyxl (which :meth:`write` then does). ``None`` where only openpyxl reads
        them as the engine needs them: tabs with formulas, error values or integers longer
        than a float holds (calamine gives their cached results, blanks, rounded numbers),
        and files calamine cannot read (openpyxl then says what is wrong with them)."""
        stamp = file_stamp(self.path)  # before reading: a save meanwhile shows as a change
        if stamp is None:
            return None
        try:
            with zipfile.ZipFile(self.path) as archive:
                parts = _sheet_parts(archive)
                book = CalamineWorkbook.from_path(str(self.path))
                wanted = [tab for tab in dict.fromkeys(tabs) if tab in book.sheet_names]
                if any(tab not in parts or not _values_read_alike(archive.read(parts[tab])) for tab in wanted):
                    return None
                grids = {tab: [[None if cell == "" else cell for cell in row]
                               for row in book.get_sheet_by_name(tab).to_python(skip_empty_area=False)]
                         for tab in wanted}
        except Exception:  # zipfile, ElementTree and calamine each raise their own errors for a bad file
            return None
        self._stamp = stamp
        return grids

    def _changed(self) -> WorkbookChanged:
        # Forget the file as it was: the next read takes what is on disk now (settle.py re-plans on it).
        self._book, self._stamp = None, None
        return WorkbookChanged(f"{self.label} was saved by someone else while sheets-sync was working on it; "
                               "nothing was written over it.", written=False)

    def _refuse_if_open(self) -> None:
        """Leave a workbook that a person has open alone (see excel_files)."""
        found = open_by(self.path)
        if found is not None:
            self._book = None  # what was applied in memory is dropped; a later read starts afresh
            raise WorkbookInUse(in_use_message(self.label, *found, "this run's changes"))


_FORMULA_OR_ERROR = re.compile(rb"<(?:\w+:)?f[\s>/]|\st=[\"']e[\"']")
_LONG_INTEGER = re.compile(rb"<(?:\w+:)?v>(-?\d{16,})<")


def _values_read_alike(sheet_xml: bytes) -> bool:
    """Whether python-calamine reads this worksheet's cells as openpyxl does: no formulas or
    error values, and no integer that a float cannot hold exactly (calamine reads numbers
    as floats; openpyxl keeps integers whole)."""
    return _FORMULA_OR_ERROR.search(sheet_xml) is None and all(
        float(number) == int(number) for number in _LONG_INTEGER.findall(sheet_xml))


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Tab title -> the member of the .xlsx archive that holds the tab's cells."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relationships = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = {relationship.get("Id"): relationship.get("Target", "") for relationship in relationships}
    parts = {}
    for sheet in workbook.iter(f"{_MAIN_NS}sheet"):
        path = target[sheet.get(_RELATIONSHIP_ID)]  # relative to xl/, unless it starts with /
        parts[sheet.get("name")] = path[1:] if path.startswith("/") else posixpath.normpath(f"xl/{path}")
    return parts


def _apply(book: OpenpyxlWorkbook, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec],
           charts: Sequence[LineChart]) -> None:
    """Create ``new_tabs``, set every cell of ``writes`` and place ``charts`` in a loaded workbook."""
    for spec in map(tab_spec, new_tabs):
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
        cell = sheet.cell(row=write.row, column=write.col)
        if isinstance(cell, MergedCell):  # an engine cell a person merged into a neighbour
            _unmerge_around(sheet, write.row, write.col)
            cell = sheet.cell(row=write.row, column=write.col)
        ExcelWorkbook._set(cell, write.value)
        if write.number_format:
            cell.number_format = write.number_format
        decorate_cell(cell, write)
    place_charts(book, charts)


def _save_book(book: OpenpyxlWorkbook, target, handle) -> None:
    """Save ``book`` into ``target`` (``handle``, or a watch over it) and make it durable."""
    # Formula cells lose their cached values when openpyxl saves (EXCEL-NOTES), so ask
    # the spreadsheet program to recalculate whenever the file is opened.
    book.calculation.fullCalcOnLoad = True
    book.save(target)
    handle.flush()
    os.fsync(handle.fileno())


_PR_SET_PDEATHSIG = 1


def save_pool(workers: int) -> ProcessPoolExecutor | None:
    """Worker processes for :meth:`ExcelWorkbook.prepare` (POSIX only; else ``None``). A worker
    ends with the run that started it, even one killed mid-run: no process outlives a run."""
    if os.name != "posix":
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_end_with_parent, initargs=(os.getpid(),))


def _end_with_parent(parent: int) -> None:
    if sys.platform == "linux":  # the kernel kills this worker the moment its parent dies
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.1)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # it died before this worker got here
        os._exit(1)


def save_prepared_copy(path: Path, stamp: FileStamp, writes: list[CellWrite], new_tabs: list[str | TabSpec],
                       charts: list[LineChart]) -> Path | None:
    """In a worker process (:meth:`ExcelWorkbook.prepare`): the workbook at ``path`` with
    ``writes`` applied, saved to a temporary file beside it; ``None`` if the file is no
    longer the one the run read (``stamp``). A copy left by a killed run is removed by the
    next run that opens the workbook."""
    if file_stamp(path) != stamp:
        return None
    book = load_workbook(path, rich_text=True)
    _apply(book, writes, new_tabs, charts)
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as handle:
            _save_book(book, handle, handle)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


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
