"""Reading with python-calamine: streaming a tab's rows, and its failures on a cell it cannot convert.

On some cells (a huge negative number formatted as a date) python-calamine's Rust code
panics: Python gets a ``PanicException``, a ``BaseException`` that cannot be imported, and
Rust has already printed the panic (with a backtrace under ``RUST_BACKTRACE``) straight to
file descriptor 2. The callers turn the panic into one sentence or read the file another
way, so that print is held back; anything else written meanwhile is passed on.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import BinaryIO

from python_calamine import CalamineWorkbook

from sheets_sync.backends.base import WorkbookError
from sheets_sync.core.cells import CellValue


def calamine_panicked(error: BaseException) -> bool:
    """Whether ``error`` is a python-calamine panic."""
    return type(error).__name__ == "PanicException"


class _HeldBack:
    """File descriptor 2 pointed at a temporary file while any thread runs python-calamine
    (a run reads returns tabs while it parses the lead log): the first to start points it
    there, the last to finish points it back, and passes on what was written unless one of
    them panicked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._held: BinaryIO | None = None
        self._terminal = -1
        self._panicked = False

    def enter(self) -> None:
        with self._lock:
            if self._users == 0:
                sys.stderr.flush()
                self._held, self._panicked = tempfile.TemporaryFile(), False
                self._terminal = os.dup(2)
                os.dup2(self._held.fileno(), 2)
            self._users += 1

    def exit(self, panicked: bool) -> None:
        with self._lock:
            self._panicked |= panicked
            self._users -= 1
            if self._users == 0 and self._held is not None:
                os.dup2(self._terminal, 2)
                os.close(self._terminal)
                if not self._panicked and self._held.tell():
                    self._held.seek(0)
                    os.write(2, self._held.read())
                self._held.close()
                self._held = None


_HELD_BACK = _HeldBack()


@contextmanager
def panics_unprinted() -> Iterator[None]:
    """Run python-calamine with what Rust prints of a panic held back (see the module)."""
    _HELD_BACK.enter()
    panicked = False
    try:
        yield
    except BaseException as error:
        panicked = calamine_panicked(error)
        raise
    finally:
        _HELD_BACK.exit(panicked)


def stream_rows(path: Path, tab: str | None) -> Iterator[list[CellValue]]:
    """The rows of one tab from A1 on, streamed by python-calamine (the fast reader; see
    EXCEL-NOTES). Read them inside :func:`panics_as_errors`."""
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own error types for every unreadable file
        raise WorkbookError(f"{path} cannot be read as an Excel workbook ({error.__class__.__name__}).") from None
    name = tab or workbook.sheet_names[0]
    if name not in workbook.sheet_names:
        raise WorkbookError(f"{path} has no tab named {name!r} (tabs: {', '.join(workbook.sheet_names)}).")
    sheet = workbook.get_sheet_by_name(name)
    # iter_rows yields the empty rows above the first used cell but starts each row at the
    # first used column: put the empty columns back, so that column and row numbers hold.
    first_column = sheet.start[1] if sheet.start else 0
    rows = sheet.iter_rows()
    return ([*repeat("", first_column), *row] for row in rows) if first_column else rows


@contextmanager
def panics_as_errors(path: Path) -> Iterator[None]:
    """While rows stream from python-calamine: its panic on a cell becomes one sentence."""
    try:
        with panics_unprinted():
            yield
    except BaseException as error:
        if not calamine_panicked(error):
            raise
        raise WorkbookError(f"{path} cannot be read: a cell holds a number formatted as a date that no date can be "
                            "(Excel shows it as ####); correct that cell and run again.") from None
