"""Excel workbooks through openpyxl: loaded once, saved atomically, under a file lock."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from filelock import FileLock, Timeout
from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl import load_workbook
from openpyxl.cell.rich_text import CellRichText
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.formula import ArrayFormula

from .base import CellValue, CellWrite, Formula, Grid, TabSpec, WorkbookError, column_letter, tab_spec

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
LOCK_TIMEOUT_SECONDS = 30


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

    def __enter__(self) -> "ExcelWorkbook":
        try:
            self._lock.acquire()
        except Timeout:
            raise WorkbookError(f"{self.label} is locked by another sheets-sync run; try again when it ends.") from None
        return self

    def __exit__(self, *exc_info) -> None:
        self._lock.release()

    def _loaded(self) -> OpenpyxlWorkbook:
        if self._book is None:
            if not self.path.exists() and self._create:
                self._book = OpenpyxlWorkbook()
                self._book.remove(self._book.active)
            else:
                self._book = self._load()
        return self._book

    def _load(self) -> OpenpyxlWorkbook:
        try:
            return load_workbook(self.path, rich_text=True)
        except FileNotFoundError:
            raise WorkbookError(f"{self.label} does not exist.") from None
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
            hint = " (it may be password-protected or not an .xlsx file)" if isinstance(
                error, (zipfile.BadZipFile, InvalidFileException)) else ""
            raise WorkbookError(f"{self.label} cannot be opened as an Excel workbook{hint}.") from None

    def tab_titles(self) -> list[str]:
        return list(self._loaded().sheetnames)

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        book = self._loaded()
        return {
            tab: [[_cell_value(cell) for cell in row] for row in book[tab].iter_rows()]
            for tab in tabs if tab in book.sheetnames
        }

    def write(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec] = ()) -> None:
        if not writes and not new_tabs:
            return
        book = self._loaded()
        for spec in map(tab_spec, new_tabs):
            if spec.title not in book.sheetnames:
                sheet = book.create_sheet(spec.title)
                if spec.frozen_rows or spec.frozen_columns:
                    sheet.freeze_panes = f"{column_letter(spec.frozen_columns + 1)}{spec.frozen_rows + 1}"
                if spec.default_width:
                    sheet.sheet_format.defaultColWidth = spec.default_width
                for column, width in spec.column_widths:
                    sheet.column_dimensions[column_letter(column)].width = width
        for write in writes:
            cell = book[write.tab].cell(row=write.row, column=write.col)
            self._set(cell, write.value)
            if write.number_format:
                cell.number_format = write.number_format
        self._save(book)

    @staticmethod
    def _set(cell, value: CellValue) -> None:
        cell.value = value
        if isinstance(value, str) and not isinstance(value, Formula):
            # openpyxl would otherwise store client text such as "=HYPERLINK(...)" as a formula.
            cell.data_type = "s"
        elif isinstance(value, datetime) and cell.number_format in ("General", DATE_FORMAT):
            cell.number_format = DATETIME_FORMAT
        elif isinstance(value, date) and not isinstance(value, datetime) and cell.number_format == "General":
            cell.number_format = DATE_FORMAT

    def _save(self, book: OpenpyxlWorkbook) -> None:
        # Formula cells lose their cached values when openpyxl saves (EXCEL-NOTES), so ask
        # the spreadsheet program to recalculate whenever the file is opened.
        book.calculation.fullCalcOnLoad = True
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            book.save(temporary)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            raise WorkbookError(f"{self.label} could not be saved ({error.strerror or error}).") from None
        finally:
            temporary.unlink(missing_ok=True)
