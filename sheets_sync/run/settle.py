"""Writing a workbook that people change while a run works on it.

A run plans every engine cell from what it read, then writes. A person may save the Excel
file, or insert, delete or sort rows in a Google tab, in between. The backends detect it and
raise :class:`~sheets_sync.backends.base.WorkbookChanged`: Excel before anything is written
(the save is refused), Google right after its single batch (the Sheets API has no
conditional write; the batch answers with the rows as they are after it, see
``backends/google/workbook.py``). Either way the engine reads the fresh content, plans again -- the
same pure projection of (lead log, ledger) -- and writes; so the person's change is kept,
no status stays on a row that moved, and a client cell is never written.

Rows pasted after the run read the tab are left for the next run: they were not decided,
and their first-seen time is the next run's to stamp (``run/sync.py: decided_rows_only``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sheets_sync.backends.base import WorkbookChanged, WorkbookError
from sheets_sync.run.summary import SyncReport

MAX_ATTEMPTS = 4
"""Writes of one workbook in one run: the first, then re-plans while people keep changing it."""

_Inputs = TypeVar("_Inputs")


def write_settled(report: SyncReport, source: str, project: Callable[[_Inputs], None], inputs: _Inputs,
                  refresh: Callable[[], _Inputs | None]) -> None:
    """``project(inputs)`` plans and writes one workbook; when it changed under the run,
    ``refresh()`` reads it again (``None``: it could not, and said so in the report) and the
    projection runs on the fresh content, up to :data:`MAX_ATTEMPTS` times."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        changes, statuses = len(report.changes), report.row_statuses.copy()
        try:
            project(inputs)
            return
        except WorkbookChanged as change:
            del report.changes[changes:]  # the plan that did not stand; the next one is counted
            report.row_statuses = statuses
            if attempt == MAX_ATTEMPTS:
                after = (" Some of its engine cells may show the status of a neighbouring row until then."
                         if change.written else "")
                report.fail(source, f"{change} It kept changing while sheets-sync wrote it ({MAX_ATTEMPTS} "
                                    f"attempts); the next run brings it up to date.{after}")
                return
            try:
                fresh = refresh()
            except WorkbookError as error:
                report.fail(source, str(error))
                return
            if fresh is None:
                return
            inputs = fresh
