"""The workbook contract every backend (Excel, Google Sheets, memory) fulfils.

The engine only ever does three things to a spreadsheet: read whole tabs as grids, learn
which tabs exist, and write a batch of single cells (creating or renaming tabs first where needed).
Everything else -- which cells should change -- is computed in the pure core; the values
crossing this boundary are described in :mod:`sheets_sync.core.cells`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sheets_sync.core.cells import CellWrite, Grid, LineChart, TabRename, TabSpec


class WorkbookError(Exception):
    """A workbook could not be read or written; the message is one sentence for a person."""


class WorkbookInUse(WorkbookError):
    """A person has the workbook open (an Excel or LibreOffice owner file is present), so
    nothing was written to it; the next run after it is closed catches up."""


class WorkbookChanged(WorkbookError):
    """Someone changed the workbook between this run's read and its write.

    ``written`` False: nothing of this write landed (Excel refuses the save). True: the
    cells were written at the positions planned (Google has no conditional write) and rows
    have moved under them, so they must be re-planned and written again at once. Either
    way the next :meth:`Workbook.read` returns the fresh content to re-plan on.
    """

    def __init__(self, message: str, *, written: bool) -> None:
        super().__init__(message)
        self.written = written


class Workbook(Protocol):
    """One spreadsheet file or Google spreadsheet, opened for one sync run."""

    label: str
    """How messages name it: a file path relative to the config, or a spreadsheet id."""

    def tab_titles(self) -> list[str]:
        """Titles of the existing tabs, in order."""
        ...

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        """The grids of the named tabs that exist (missing tabs are left out)."""
        ...

    def write(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename] = (),
              charts: Sequence[LineChart] = ()) -> None:
        """Rename the tabs of each :class:`TabRename` in ``new_tabs``, create the others (in
        order, at the end), then set every cell in ``writes``.

        ``charts``: every tab named by one of them loses the charts it has and gets these
        (so a chart whose data block grew is placed again, never doubled).

        All or nothing as far as the backend allows: Excel saves atomically; Google sends
        one batch. Writing nothing must not touch the file or make a request.
        """
        ...
