"""What a run reads: the lead log, each client's returns tab, the tracking workbook and its
Review tab. A source that cannot be read is reported in the run's summary and left out;
the others are still synced."""

from __future__ import annotations

from contextlib import ExitStack
from copy import copy
from dataclasses import dataclass
from datetime import datetime

from sheets_sync import faults
from sheets_sync.backends.base import Workbook, WorkbookError
from sheets_sync.backends.open import Opener, google_opener
from sheets_sync.config import Config, Location
from sheets_sync.core.cells import CellWrite, Grid
from sheets_sync.core.ids import ClientLeadIndex
from sheets_sync.core.model import Problem
from sheets_sync.core.project.credits import CREDITS_TAB
from sheets_sync.core.project.returns import CLIENT_COLUMNS, ENGINE_COLUMNS, PastedRow, read_returns_rows
from sheets_sync.core.project.table import TabError, TableLayout, with_table
from sheets_sync.core.review import (
    REVIEW_COLUMNS,
    REVIEW_ENGINE,
    REVIEW_REQUIRED,
    REVIEW_TAB,
    ReviewTab,
    read_review_rows,
    review_key,
)
from sheets_sync.leadlog import LeadLog, LeadLogCache, load_lead_log
from sheets_sync.run.summary import SyncReport


@dataclass
class ReturnsSource:
    client: str
    location: Location
    workbook: Workbook
    tab: str
    grid: Grid
    layout: TableLayout
    rows: list[PastedRow]
    header_writes: list[CellWrite]
    tab_exists: bool
    credits: Grid | None = None
    """The client's ``Credits`` tab as read (None: it has none yet)."""


def decided_rows_only(source: ReturnsSource, sightings: dict[tuple[str, str], object]) -> ReturnsSource:
    """The returns tab without the rows pasted since the run read it (IDs it has not seen):
    the next run decides and stamps them; this one leaves their cells alone."""
    fresh = copy(source)
    fresh.rows = [row for row in source.rows
                  if all((source.client, token.key) in sightings for token in row.tokens)]
    return fresh  # a pending row's engine cells are blank (or, if its ID was retyped, cleared)


class Reader:
    """Reads a workspace's sources for one run; workbooks stay open (and, for Excel, locked)
    until ``stack`` closes, except in a dry run, which locks nothing."""

    def __init__(self, config: Config, report: SyncReport, stack: ExitStack, opener: Opener) -> None:
        self.config = config
        self.open = opener
        self.report = report
        self.stack = stack

    def _hold(self, workbook: Workbook) -> Workbook:
        if self.report.dry_run or not hasattr(workbook, "__enter__"):
            return workbook
        return self.stack.enter_context(workbook)

    def lead_log(self) -> tuple[LeadLog, LeadLogCache | None] | None:
        """The lead log, from its cache beside the ledger when the file is unchanged; with
        the cache to fill when it was parsed (filled once the run is known to go ahead)."""
        leads_config = self.config.leads
        ledger = self.config.ledger.path
        cache = LeadLogCache(ledger.with_name(f".{ledger.name}.lead-log-cache"), leads_config, self.config.zone)
        log, unfilled = cache.load(), None
        if log is None:
            try:
                log = load_lead_log(leads_config, self.config.zone, google_opener(self.config))
            except WorkbookError as error:
                self.report.fail(leads_config.describe(), str(error))
                return None
            unfilled = None if self.report.dry_run else cache
        faults.checkpoint("read.leads")
        return log, unfilled

    def open_returns(self, client: str, location: Location,
                     workbook: Workbook | None = None) -> ReturnsSource | tuple[str, str]:
        """A client's returns tab as read, its rows not yet matched to leads (:meth:`matched`);
        or, when it cannot be read, the source and what is wrong, to report."""
        tab = location.tab or "Returns"
        label = f"{client} returns ({location.describe()})"
        if location.excel is not None and location.excel.is_dir():
            return label, (f"{location.excel.name} is a folder, not a workbook: correct "
                           f"clients.{client}.returns.excel")
        missing = location.excel is not None and not location.excel.exists()
        if missing and not location.excel.parent.is_dir():
            return label, (f"neither {location.excel.name} nor its folder {location.excel.parent} exists: create the "
                           f"folder and the next run makes the workbook, or correct clients.{client}.returns.excel")
        try:
            workbook = workbook or self._hold(self.open(location.excel, location.google, missing))
            grids = workbook.read([tab, CREDITS_TAB] if tab != CREDITS_TAB else [tab])
            grid, credits = grids.get(tab), grids.get(CREDITS_TAB) if tab != CREDITS_TAB else None
            tab_exists = grid is not None
            grid, layout, header_writes = with_table(grid, tab, (*CLIENT_COLUMNS, *ENGINE_COLUMNS),
                                                     ("Lead ID", "Reason"), ENGINE_COLUMNS)
        except (WorkbookError, TabError) as error:
            return label, str(error)
        if missing:
            self.report.problems.append(Problem(label, (
                f"{location.excel.name} {'would be' if self.report.dry_run else 'was'} created with the client's "
                "returns tab and policy: share it with the client")))
        return ReturnsSource(client, location, workbook, tab, grid, layout, [], header_writes, tab_exists, credits)

    def matched(self, opened: ReturnsSource | tuple[str, str], index: ClientLeadIndex) -> ReturnsSource | None:
        if isinstance(opened, tuple):
            self.report.fail(*opened)
            return None
        opened.rows = read_returns_rows(opened.grid, opened.layout, index)
        return opened

    def reread_returns(self, source: ReturnsSource, index: ClientLeadIndex,
                       sightings: dict[tuple[str, str], datetime]) -> ReturnsSource | None:
        fresh = self.matched(self.open_returns(source.client, source.location, source.workbook), index)
        return None if fresh is None else decided_rows_only(fresh, sightings)

    def tracking(self, tabs: list[str], workbook: Workbook | None = None) -> tuple[Workbook | None, dict[str, Grid]]:
        """The tracking workbook and its tabs: ``tabs`` and every other tab it has (a tab of
        a group that has no sales any more is still the engine's to bring up to date)."""
        tracking = self.config.tracking
        try:
            workbook = workbook or self._hold(self.open(tracking.excel, tracking.google, True))
            return workbook, workbook.read([*tabs, *(title for title in workbook.tab_titles() if title not in tabs)])
        except WorkbookError as error:
            self.report.fail(f"tracking ({tracking.excel or tracking.google})", str(error))
            return None, {}

    def review(self, grid: Grid | None, names: dict[str, str],
               indexes: dict[str, ClientLeadIndex]) -> ReviewTab | None:
        try:
            grid, layout, header_writes = with_table(grid, REVIEW_TAB, REVIEW_COLUMNS, REVIEW_REQUIRED,
                                                     REVIEW_ENGINE)
        except TabError as error:
            self.report.fail(f"tracking tab {REVIEW_TAB}", f"{error}; no review decision was read or written")
            return None
        rows = read_review_rows(grid, layout)
        self.report.problems.extend(
            Problem(f"tracking tab {REVIEW_TAB}", f"Decision {row.typed!r} is neither Approve nor Reject; the row "
                                                  "still waits", row.row)
            for row in rows if row.typed and not row.decision)
        return ReviewTab(grid, layout, header_writes, rows, [review_key(row, names, indexes) for row in rows])

    def reread_tracking(self, tracking: Workbook, tabs: list[str], names: dict[str, str],
                        indexes: dict[str, ClientLeadIndex]) -> tuple[dict[str, Grid], ReviewTab | None] | None:
        workbook, grids = self.tracking(tabs, tracking)
        return None if workbook is None else (grids, self.review(grids.get(REVIEW_TAB), names, indexes))
