"""One sync pass: read every source, decide new requests, commit the ledger, project, write.

The ledger is the commit point. Everything written to a sheet afterwards is a projection
of (lead log, ledger), so a run that dies after the commit is finished by the next one.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import faults
from .backends.base import CellValue, CellWrite, Grid, TabSpec, Workbook, WorkbookChanged, WorkbookError
from .backends.excel_files import in_use_message, open_by
from .backends.excel import ExcelWorkbook, prepare_saves
from .config import Config, Location, Policy
from .dashboard import DASHBOARD_TAB, DASHBOARD_TAB_SPEC, build_dashboard, plan_dashboard
from .ids import ClientLeadIndex
from .leads import LeadLog, LeadLogCache, load_lead_log
from .ledger import Ledger, LedgerError
from .model import APPROVED, REJECTED, LedgerEntry, Lead, NewEntry, Problem
from .money import ZERO
from .policy import ClientHistory, Request, decide
from .returns import (AUDIT_COLUMNS, CLIENT_COLUMNS, ENGINE_COLUMNS, REVIEW_COLUMNS, REVIEW_TAB, REVIEW_TAB_SPEC,
                      PastedRow, ReviewLine, ReviewRow, TabError, TableLayout, audit_rows, csv_safe, needs_review,
                      plan_returns_tab, plan_review_tab, read_returns_rows, read_review_rows, table_layout)
from .returns_template import new_returns_tab
from .tracking import (Refund, TabLayoutError, plan_tracking_tab, tab_titles, tracking_tab_spec,
                       weekly_figures)
from .tracking_marks import mark_tracking_writes, restatement_notes
from .settle import decided_rows_only, write_settled
from .weeks import local_date, week_ending

AUDIT_TAB = "Audit log"
REVIEW_REQUIRED = ("Client", "Lead ID", "Decision")
REVIEW_ENGINE = ("Reason", "Requested", "Why", "Decided")


class RunLockedError(Exception):
    """Another run holds the workspace."""


@dataclass
class SyncReport:
    """What one run did (or, with ``dry_run``, would do)."""

    run_id: str
    as_of: datetime
    dry_run: bool
    leads_read: int = 0
    new_entries: list[NewEntry] = field(default_factory=list)
    row_statuses: Counter = field(default_factory=Counter)
    changes: list[tuple[str, CellWrite]] = field(default_factory=list)
    audit_rows_added: int = 0
    written: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)

    @property
    def credits(self) -> Decimal:
        return sum((entry.credit for entry in self.new_entries if entry.status == APPROVED), ZERO)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def fail(self, source: str, message: str) -> None:
        self.failures.append(Problem(source, message))

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "leads_read": self.leads_read,
            "decisions": dict(Counter(entry.status for entry in self.new_entries)),
            "rows_by_status": dict(self.row_statuses),
            "credits": str(self.credits),
            "cells_written": 0 if self.dry_run else len(self.changes),
            "cells_to_write": len(self.changes),
            "workbooks_written": self.written,
            "audit_rows_added": self.audit_rows_added,
            "problems": [str(problem) for problem in self.problems],
            "errors": [{"source": failure.source, "message": failure.message} for failure in self.failures],
            "exit_code": self.exit_code,
        }


class LedgerState:
    """The latest ledger entry per (client, lead), kept current as a run decides."""

    def __init__(self, entries: list[LedgerEntry]) -> None:
        self.entries = list(entries)
        self.latest: dict[tuple[str, str], LedgerEntry] = {}
        self.by_kind: dict[tuple[str, str, str], LedgerEntry] = {}
        self._latest_by_client: dict[str, dict[str, LedgerEntry]] = defaultdict(dict)
        for entry in entries:
            self._index(entry)

    def _index(self, entry: LedgerEntry) -> None:
        self.latest[(entry.client, entry.lead_id)] = entry
        self.by_kind[(entry.client, entry.lead_id, entry.kind)] = entry
        self._latest_by_client[entry.client][entry.lead_id] = entry

    def add(self, new: NewEntry, run_id: str) -> LedgerEntry:
        entry = LedgerEntry(*_new_entry_values(new), len(self.entries) + 1, run_id)
        self.entries.append(entry)
        self._index(entry)
        return entry

    def of_client(self, client: str) -> Mapping[str, LedgerEntry]:
        """The latest entry per lead ID of one client."""
        return self._latest_by_client.get(client, {})


_new_entry_values = attrgetter(*NewEntry.__dataclass_fields__)
"""A :class:`NewEntry`'s fields in order: a :class:`LedgerEntry` takes them first."""


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


@dataclass
class ReviewTab:
    """The operator's Review tab as read, each row's (client, lead ID) resolved."""

    grid: Grid
    layout: TableLayout
    header_writes: list[CellWrite]
    rows: list[ReviewRow]
    keys: list[tuple[tuple[str, str] | None, str]]
    """Per row, the (client, lead ID) it names, or ``None`` and why not."""


def _label(path: Path, config: Config) -> str:
    try:
        return str(path.relative_to(config.base_dir))
    except ValueError:
        return str(path)


def open_workbook(config: Config, excel: Path | None, google: str | None, *, create: bool = False) -> Workbook:
    if excel is not None:
        return ExcelWorkbook(excel, create=create, label=_label(excel, config))
    from .backends.google import open_google_workbook

    return open_google_workbook(google, config.credentials_file,
                                retry_budget_seconds=config.google.retry_budget_seconds)


def _with_table(grid: Grid | None, tab: str, columns: tuple[str, ...], required: tuple[str, ...],
                engine: tuple[str, ...]) -> tuple[Grid, TableLayout, list[CellWrite]]:
    """A table's grid and layout; a missing tab is treated as a fresh one with all headers."""
    if grid is None or not grid or not any(cell not in (None, "") for cell in grid[0]):
        fresh = [list(columns)]
        layout = table_layout(fresh, required, engine, tab)
        return fresh, layout, [CellWrite(tab, 1, column, name) for column, name in enumerate(columns, start=1)]
    return grid, table_layout(grid, required, engine, tab), []


def _review_key(row: ReviewRow, names: dict[str, str], indexes: dict[str, ClientLeadIndex]
                ) -> tuple[tuple[str, str] | None, str]:
    client = names.get(row.client.casefold())
    if client is None:
        return None, f"No client named {row.client!r} in the config."
    from .ids import split_pasted

    tokens = split_pasted(row.lead_text)
    match = indexes[client].match(tokens[0]) if len(tokens) == 1 else None
    if match is None or match.lead_id is None:
        return None, f"No lead {row.lead_text!r} was delivered to {client}."
    return (client, match.lead_id), ""


def _goodwill_why(row: ReviewRow, latest: LedgerEntry | None) -> str:
    if latest is not None and latest.status == APPROVED:
        return f"Already approved ({latest.rule}) on {latest.decided_at:%Y-%m-%d}; no further credit."
    if row.decision == "Reject":
        return "Nothing to reject: only requests waiting for review can be rejected here."
    return "Type Approve in Decision to grant this return as a goodwill credit."


@contextmanager
def _rare_garbage_collection() -> Iterator[None]:
    """A run makes millions of small objects that live until it ends (columns, grids, the
    ledger); Python's collector would scan them again and again. Objects made before the
    run are left out of its scans and young ones are collected less often, until it ends."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class Sync:
    """One run over a config. ``Sync(config, ...).run()`` returns a :class:`SyncReport`."""

    def __init__(self, config: Config, *, as_of: datetime | None = None, dry_run: bool = False,
                 on_step: Callable[[str], None] | None = None) -> None:
        self.config = config
        now = datetime.now(config.zone)
        as_of = as_of or now
        # The run's moment in the workspace timezone, where every time it stamps is shown.
        # Through UTC, as the ledger stores it: a wall-clock time the zone skips (02:30 on a
        # spring-forward night) becomes the moment it names, shown the same in every later run.
        local = as_of.replace(tzinfo=config.zone) if as_of.tzinfo is None else as_of
        self.as_of = local.astimezone(timezone.utc).astimezone(config.zone)
        self.started_at = now
        self.run_id = f"{self.as_of:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        self.report = SyncReport(self.run_id, self.as_of, dry_run)
        self.on_step = on_step or (lambda step: None)
        self.cash_week = week_ending(local_date(self.as_of, config.zone), config.week_end_weekday)
        self._policies: dict[str, Policy] = {}
        self._indexes: dict[str, ClientLeadIndex] = {}

    def _policy(self, client: str) -> Policy:
        """The client's effective policy, merged once per run (every decision asks for it)."""
        if client not in self._policies:
            self._policies[client] = self.config.policy_for(client)
        return self._policies[client]

    def run(self) -> SyncReport:
        with self._workspace_lock(), _rare_garbage_collection(), ExitStack() as stack:
            faults.checkpoint("run.locked")
            self._run(stack)
            faults.checkpoint("run.done")
        return self.report

    @contextmanager
    def _workspace_lock(self) -> Iterator[None]:
        if self.report.dry_run:  # it only reads, and must leave no file behind, not even a lock file
            yield
            return
        path = self.config.ledger.path
        lock = FileLock(path.with_name(f".{path.name}.sheets-sync.lock"), timeout=5)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise RunLockedError(f"Another sheets-sync run is using ledger {path}; this run did nothing. "
                                 "Try again when it ends.") from None
        try:
            yield
        finally:
            lock.release()

    def _hold(self, stack: ExitStack, workbook: Workbook) -> Workbook:
        """Hold a workbook (and its lock, for Excel) until the run ends; a dry run locks nothing."""
        if self.report.dry_run or not hasattr(workbook, "__enter__"):
            return workbook
        return stack.enter_context(workbook)

    # -- reading ---------------------------------------------------------------------------

    def _read_leads(self) -> tuple[LeadLog, LeadLogCache | None] | None:
        """The lead log, from its cache beside the ledger when the file is unchanged; with
        the cache to fill when it was parsed (filled once the run is known to go ahead)."""
        leads_config = self.config.leads
        ledger = self.config.ledger.path
        cache = LeadLogCache(ledger.with_name(f".{ledger.name}.lead-log-cache"), leads_config, self.config.zone)
        log, unfilled = cache.load(), None
        if log is None:
            try:
                log = load_lead_log(leads_config, self.config.zone,
                                    open_google=lambda sheet: open_workbook(self.config, None, sheet))
            except WorkbookError as error:
                self.report.fail(leads_config.describe(), str(error))
                return None
            unfilled = None if self.report.dry_run else cache
        self.report.problems.extend(log.problems)
        self.report.leads_read = len(log)
        faults.checkpoint("read.leads")
        return log, unfilled

    def _open_ledger(self) -> Ledger:
        path = self.config.ledger.path
        if self.report.dry_run and (not path.exists() or path.stat().st_size == 0):
            return Ledger(Path(":memory:"))
        return Ledger(path)

    def _read_returns(self, stack: ExitStack, client: str, location: Location, index: ClientLeadIndex,
                      workbook: Workbook | None = None) -> ReturnsSource | None:
        return self._matched(self._open_returns(stack, client, location, workbook), index)

    def _open_returns(self, stack: ExitStack, client: str, location: Location,
                      workbook: Workbook | None = None) -> ReturnsSource | tuple[str, str]:
        """A client's returns tab as read, its rows not yet matched to leads (:meth:`_matched`);
        or, when it cannot be read, the source and what is wrong, to report."""
        tab = location.tab or "Returns"
        try:
            workbook = workbook or self._hold(stack, open_workbook(self.config, location.excel, location.google))
            grid = workbook.read([tab]).get(tab)
            tab_exists = grid is not None
            grid, layout, header_writes = _with_table(grid, tab, (*CLIENT_COLUMNS, *ENGINE_COLUMNS),
                                                      ("Lead ID", "Reason"), ENGINE_COLUMNS)
        except (WorkbookError, TabError) as error:
            return f"{client} returns ({location.describe()})", str(error)
        return ReturnsSource(client, location, workbook, tab, grid, layout, [], header_writes, tab_exists)

    def _matched(self, opened: ReturnsSource | tuple[str, str], index: ClientLeadIndex) -> ReturnsSource | None:
        if isinstance(opened, tuple):
            self.report.fail(*opened)
            return None
        opened.rows = read_returns_rows(opened.grid, opened.layout, index)
        return opened

    # -- the run ---------------------------------------------------------------------------

    def _run(self, stack: ExitStack) -> None:
        config = self.config
        # The returns tabs are read while a lead log file is parsed: python-calamine parses it
        # without holding the interpreter, so on a machine of several cores the reads are free.
        # (A Google lead log is read after them, one HTTP client at a time.)
        with ThreadPoolExecutor(1) as reader:
            leads_read = reader.submit(self._read_leads) if config.leads.kind != "google" else None
            opened = {}
            for client, client_config in config.clients.items():
                self.on_step(f"Reading returns of {client}")
                opened[client] = self._open_returns(stack, client, client_config.returns)
                faults.checkpoint("read.returns")
            self.on_step("Reading the lead log")
            read = leads_read.result() if leads_read is not None else self._read_leads()
        if read is None:
            return
        leads, unfilled_cache = read
        ledger = stack.enter_context(self._open_ledger())
        if unfilled_cache is not None:
            unfilled_cache.save(leads)
        state = LedgerState(ledger.entries())
        sightings = ledger.sightings()

        names = {name.casefold(): name for name in config.clients}
        positions = leads.positions_by_client(names)
        indexes: dict[str, ClientLeadIndex] = {}
        for client in config.clients:
            found = positions.get(client, [])
            indexes[client] = ClientLeadIndex(leads.ids_at(found), found)
        self._indexes = indexes

        self.on_step("Reading the tracking workbook")
        titles = tab_titles(leads.groups(config.tracking.group_by))
        tracking_tabs = [REVIEW_TAB, AUDIT_TAB, DASHBOARD_TAB, *titles.values()]
        tracking, tracking_grids = self._read_tracking(stack, tracking_tabs)
        faults.checkpoint("read.tracking")

        self.on_step("Matching pasted IDs")
        sources = [source for client, found in opened.items()
                   if (source := self._matched(found, indexes[client])) is not None]

        review = self._read_review(tracking_grids.get(REVIEW_TAB) if tracking else [], names, indexes)

        self.on_step("Deciding")
        histories = self._histories(leads, names, state)
        if review is not None:
            self._settle_reviews(review, state, leads, histories)
        new_sightings = self._decide_requests(sources, state, sightings, leads, histories)
        for client, key, seen in new_sightings:
            sightings.setdefault((client, key), seen)

        faults.checkpoint("decided")
        if not self.report.dry_run and (self.report.new_entries or new_sightings):
            try:
                ledger.record_run(self.run_id, self.started_at, self.as_of, self.report.new_entries, new_sightings)
            except LedgerError as error:
                self.report.fail(str(ledger.path), str(error))
                return
            faults.checkpoint("ledger.committed")

        # Each workbook is planned from what was read and written; if a person changed it in
        # between, it is read again and planned again (settle.py).
        self.on_step("Writing returns tabs")
        tracking_inputs = (tracking_grids, review)
        with ExitStack() as saving:
            # Worker processes save the workbooks (excel.prepare_saves) while this one plans
            # the next: the tracking workbook first, the longest single save.
            tracking_plan = None if tracking is None else self._plan_tracking(*tracking_inputs, titles, leads, state)
            if tracking_plan is not None:
                self._prepare_excel_writes(saving, [(tracking, *tracking_plan)])
            plans = [self._plan_returns(source, state, sightings) for source in sources]
            self._prepare_excel_writes(saving, [(source.workbook, *plan, []) for source, plan in zip(sources, plans)])
            if tracking is not None and config.tracking.excel is not None and not self.report.dry_run:
                self._append_audit_csv(state)  # while the workers save
            for source, plan in zip(sources, plans):
                write_settled(self.report, f"{source.client} returns ({source.location.describe()})",
                              lambda current, source=source, plan=plan: self._project_returns(
                                  current, state, sightings, plan if current is source else None), source,
                              lambda source=source: self._reread_returns(stack, source, indexes, sightings))
            if tracking is not None:
                self.on_step("Writing the tracking workbook")
                write_settled(self.report, f"tracking ({tracking.label})",
                              lambda inputs: self._project_tracking(
                                  tracking, inputs, titles, leads, state,
                                  tracking_plan if inputs is tracking_inputs else None),
                              tracking_inputs,
                              lambda: self._reread_tracking(stack, tracking, tracking_tabs, names, indexes))

    def _reread_returns(self, stack: ExitStack, source: ReturnsSource, indexes: dict[str, ClientLeadIndex],
                        sightings: dict[tuple[str, str], datetime]) -> ReturnsSource | None:
        fresh = self._read_returns(stack, source.client, source.location, indexes[source.client], source.workbook)
        return None if fresh is None else decided_rows_only(fresh, sightings)

    def _reread_tracking(self, stack: ExitStack, tracking: Workbook, tabs: list[str], names: dict[str, str],
                         indexes: dict[str, ClientLeadIndex]) -> tuple[dict[str, Grid], ReviewTab | None] | None:
        workbook, grids = self._read_tracking(stack, tabs, tracking)
        return None if workbook is None else (grids, self._read_review(grids.get(REVIEW_TAB), names, indexes))

    def _append_audit_csv(self, state: LedgerState) -> None:
        label = _label(self.config.audit_csv, self.config)
        if (found := open_by(self.config.audit_csv)) is not None:
            self.report.fail(label, in_use_message(label, *found, "its new rows"))
            return
        try:
            self.report.audit_rows_added = append_audit_csv(self.config.audit_csv, state.entries)
        except OSError as error:  # e.g. Excel has the file open and locked
            self.report.fail(label, f"{label} could not be written ({error.strerror or error}); "
                                    "the next run adds the rows it is missing.")

    def _read_review(self, grid: Grid | None, names: dict[str, str],
                     indexes: dict[str, ClientLeadIndex]) -> ReviewTab | None:
        try:
            grid, layout, header_writes = _with_table(grid, REVIEW_TAB, REVIEW_COLUMNS, REVIEW_REQUIRED,
                                                      REVIEW_ENGINE)
        except TabError as error:
            self.report.fail(f"tracking tab {REVIEW_TAB}", f"{error}; no review decision was read or written")
            return None
        rows = read_review_rows(grid, layout)
        return ReviewTab(grid, layout, header_writes, rows, [_review_key(row, names, indexes) for row in rows])

    def _read_tracking(self, stack: ExitStack, tabs: list[str],
                       workbook: Workbook | None = None) -> tuple[Workbook | None, dict[str, Grid]]:
        tracking = self.config.tracking
        try:
            workbook = workbook or self._hold(stack, open_workbook(self.config, tracking.excel, tracking.google,
                                                                   create=True))
            return workbook, workbook.read(tabs)
        except WorkbookError as error:
            self.report.fail(f"tracking ({tracking.excel or tracking.google})", str(error))
            return None, {}

    def _histories(self, leads: LeadLog, names: dict[str, str], state: LedgerState) -> dict[str, ClientHistory]:
        histories = {client: ClientHistory(dates) for client, dates in leads.delivery_dates_by_client(names).items()}
        for entry in state.entries:
            if entry.status == APPROVED and entry.client in histories \
                    and (lead := self._lead(leads, entry.client, entry.lead_id)):
                histories[entry.client].approve(lead)
        return histories

    def _lead(self, leads: LeadLog, client: str, lead_id: str) -> Lead | None:
        """The lead ``lead_id`` of ``client``; found by its ID alone if the log now files it
        under another client."""
        index = self._indexes.get(client)
        position = None if index is None else index.position(lead_id)
        return leads.lead(lead_id) if position is None else leads.lead_at(position)

    def _entry(self, client: str, lead: Lead, kind: str, status: str, rule: str, detail: str, reason: str,
               first_seen: datetime) -> NewEntry:
        config = self.config
        return NewEntry(
            client=client, lead_id=lead.lead_id, kind=kind, status=status, rule=rule, detail=detail, reason=reason,
            credit=lead.price if status == APPROVED else ZERO, credit_type=self._policy(client).credit,
            first_seen=first_seen, decided_at=self.as_of,
            lead_week=week_ending(lead.delivered_on, config.week_end_weekday), cash_week=self.cash_week)

    def _record(self, entry: NewEntry, state: LedgerState) -> None:
        self.report.new_entries.append(entry)
        state.add(entry, self.run_id)

    def _settle_reviews(self, review: ReviewTab, state: LedgerState, leads: LeadLog,
                        histories: dict[str, ClientHistory]) -> None:
        """Operator decisions typed on the Review tab become review or override entries."""
        for row, (key, _) in zip(review.rows, review.keys):
            if key is None or not row.decision:
                continue
            latest = state.latest.get(key)
            lead = self._lead(leads, *key)
            when = f"{self.as_of:%Y-%m-%d}"
            if latest is not None and needs_review(latest):
                approve = row.decision == "Approve"
                entry = self._entry(
                    key[0], lead, "review", APPROVED if approve else REJECTED, "operator_review",
                    f"{'Approved' if approve else 'Rejected'} on review by the operator on {when}.",
                    latest.reason, latest.first_seen)
            elif row.decision == "Approve" and (latest is None or latest.status == REJECTED) \
                    and (key[0], key[1], "override") not in state.by_kind:
                before = f" (the policy had said: {latest.detail})" if latest else ""
                entry = self._entry(key[0], lead, "override", APPROVED, "operator_override",
                                    f"Approved by the operator as a goodwill credit on {when}{before}",
                                    latest.reason if latest else "", latest.first_seen if latest else self.as_of)
            else:
                continue
            self._record(entry, state)
            if entry.status == APPROVED and key[0] in histories:
                histories[key[0]].approve(lead)

    def _decide_requests(self, sources: list[ReturnsSource], state: LedgerState,
                         sightings: dict[tuple[str, str], datetime], leads: LeadLog,
                         histories: dict[str, ClientHistory]) -> list[tuple[str, str, datetime]]:
        """New requests, in config order of clients then row order (SPEC §3)."""
        new_sightings = []
        for source in sources:
            policy = self._policy(source.client)
            history = histories.setdefault(source.client, ClientHistory([]))
            for row in source.rows:
                for token in row.tokens:
                    if (source.client, token.key) not in sightings:
                        seen = sightings.get((source.client, token.pasted_key), self.as_of)
                        sightings[(source.client, token.key)] = seen
                        new_sightings.append((source.client, token.key, seen))
                    if token.lead_id is None or token.duplicate_of_row is not None:
                        continue
                    if (source.client, token.lead_id) in state.latest:
                        continue
                    lead = self._lead(leads, source.client, token.lead_id)
                    first_seen = sightings[(source.client, token.key)]
                    request = Request(source.client, lead, row.reason, local_date(first_seen, self.config.zone),
                                      self.config.currency)
                    verdict = decide(request, policy, history)
                    self._record(self._entry(source.client, lead, "decision", verdict.status, verdict.rule,
                                             verdict.detail, row.reason, first_seen), state)
        return new_sightings

    # -- projecting and writing -------------------------------------------------------------

    def _write(self, workbook: Workbook, writes: list[CellWrite], new_tabs: list, source: str,
               charts: list | None = None) -> None:
        self.report.changes.extend((workbook.label, write) for write in writes)
        if self.report.dry_run or (not writes and not new_tabs and not charts):
            return
        faults.checkpoint("write.workbook", label=workbook.label)
        try:
            workbook.write(writes, new_tabs, charts or ())
            self.report.written.append(workbook.label)
        except WorkbookChanged:
            raise  # write_settled reads it again and plans again
        except WorkbookError as error:
            self.report.fail(source, str(error))

    def _plan_returns(self, source: ReturnsSource, state: LedgerState,
                      sightings: dict[tuple[str, str], datetime]) -> tuple[list[CellWrite], list[TabSpec]]:
        """The cells to write in a client's returns tab, and the tab to create first if any."""
        seen = {token.key: sightings[(source.client, token.key)].astimezone(self.config.zone)
                for row in source.rows for token in row.tokens if (source.client, token.key) in sightings}
        new_tabs, header_writes = [], source.header_writes
        if not source.tab_exists:  # a client's first returns tab: the template (returns_template.py)
            spec, header_writes = new_returns_tab(source.tab, self._policy(source.client),
                                                  self.config.currency)
            new_tabs = [spec]
        writes = header_writes + plan_returns_tab(source.tab, source.grid, source.layout, source.rows,
                                                  state.of_client(source.client), seen)
        return writes, new_tabs

    def _prepare_excel_writes(self, saving: ExitStack, plans: list[tuple[Workbook, list[CellWrite], list, list]]) -> None:
        """Let worker processes load and save the Excel workbooks that need openpyxl while this
        process goes on (excel.prepare_saves): on a machine with several cores the saves, most
        of a run's time, then run side by side. ``saving`` shuts the workers down when the
        workbooks are written."""
        # A fault armed in a save must be reached in this process (faults.py).
        if self.report.dry_run or (os.cpu_count() or 1) < 2 or faults.armed("excel.save.partial"):
            return
        pool = prepare_saves([plan for plan in plans if isinstance(plan[0], ExcelWorkbook)])
        if pool is not None:
            saving.enter_context(pool)

    def _project_returns(self, source: ReturnsSource, state: LedgerState, sightings: dict[tuple[str, str], datetime],
                         plan: tuple[list[CellWrite], list[TabSpec]] | None = None) -> None:
        """Plan (unless ``plan`` was made from this very source) and write a returns tab."""
        writes, new_tabs = plan or self._plan_returns(source, state, sightings)
        for write in writes:
            if write.col == source.layout.column_of["Status"] and write.row > 1 and write.value:
                self.report.row_statuses[write.value] += 1
        self._write(source.workbook, writes, new_tabs, f"{source.client} returns ({source.location.describe()})")

    def _project_tracking(self, tracking: Workbook, inputs: tuple[dict[str, Grid], ReviewTab | None], titles: dict,
                          leads: LeadLog, state: LedgerState,
                          plan: tuple[list[CellWrite], list, list] | None = None) -> None:
        """Plan (unless ``plan`` was made from these very inputs) and write the tracking workbook."""
        writes, new_tabs, charts = plan or self._plan_tracking(*inputs, titles, leads, state)
        self._write(tracking, writes, new_tabs, f"tracking ({tracking.label})", charts)

    def _plan_tracking(self, grids: dict[str, Grid], review: ReviewTab | None, titles: dict, leads: LeadLog,
                       state: LedgerState) -> tuple[list[CellWrite], list, list]:
        """The tracking workbook's cells, the tabs to create first, and the dashboard's charts."""
        config = self.config
        refunds = []
        for entry in state.entries:
            if entry.status != APPROVED:
                continue
            lead = self._lead(leads, entry.client, entry.lead_id)
            if lead is None:
                self.report.problems.append(Problem(
                    "ledger", f"approved lead {entry.lead_id} of {entry.client} is no longer in the lead log; "
                              "its refund is not shown on a tracking tab"))
                continue
            refunds.append(Refund(lead, entry.credit, entry.cash_week, local_date(entry.decided_at, config.zone)))
        figures = weekly_figures(leads.delivered(config.tracking.group_by, config.week_end_weekday), refunds,
                                 config.tracking.group_by, config.week_end_weekday)
        restated = restatement_notes(refunds, config.tracking.group_by, config.week_end_weekday)
        writes: list[CellWrite] = []
        new_tabs = []
        for key, title in sorted(titles.items(), key=lambda item: item[1]):
            try:
                writes += mark_tracking_writes(
                    plan_tracking_tab(title, grids.get(title, []), figures.get(key, {}), config.week_end_weekday),
                    grids.get(title, []), restated.get(key, {}), self.cash_week)
            except TabLayoutError as error:
                self.report.fail(f"tracking tab {title}", str(error))
                continue
            if title not in grids:
                new_tabs.append(tracking_tab_spec(title))
        if review is not None:
            writes += review.header_writes + plan_review_tab(review.grid, review.layout,
                                                             self._review_lines(state, review))
            if REVIEW_TAB not in grids:
                new_tabs.append(REVIEW_TAB_SPEC)
        dashboard = plan_dashboard(grids.get(DASHBOARD_TAB),
                                   build_dashboard(figures, titles, leads, refunds, state.entries, config))
        writes += dashboard.writes
        if DASHBOARD_TAB not in grids:
            new_tabs.append(DASHBOARD_TAB_SPEC)
        if config.tracking.google is not None:
            audit_writes = self._audit_tab_writes(grids.get(AUDIT_TAB), state)
            if AUDIT_TAB not in grids:
                new_tabs.append(AUDIT_TAB)
            writes += audit_writes
        return writes, new_tabs, list(dashboard.charts)

    def _review_lines(self, state: LedgerState, review: ReviewTab) -> list[tuple[int | None, ReviewLine]]:
        row_of: dict[tuple[str, str], int] = {}
        lines: list[tuple[int | None, ReviewLine]] = []
        for row, (key, problem) in zip(review.rows, review.keys):
            if key is None:
                lines.append((row.row, ReviewLine(row.client, row.lead_text, None, None, problem, None)))
            elif key not in row_of:
                row_of[key] = row.row
        for entry in state.entries:
            if not needs_review(entry):
                continue
            key = (entry.client, entry.lead_id)
            outcome = state.by_kind.get((*key, "review"))
            lines.append((row_of.pop(key, None), ReviewLine(
                entry.client, entry.lead_id, entry.reason, entry.first_seen,
                outcome.detail if outcome else entry.detail, outcome.decided_at if outcome else None)))
        rows_by_number = {row.row: row for row in review.rows}
        for key, number in row_of.items():
            override = state.by_kind.get((*key, "override"))
            why = override.detail if override else _goodwill_why(rows_by_number[number], state.latest.get(key))
            lines.append((number, ReviewLine(key[0], key[1], None, None, why, override.decided_at if override else None)))
        return lines

    def _audit_tab_writes(self, grid: Grid | None, state: LedgerState) -> list[CellWrite]:
        """On Google the audit log is a tab; new entries go to explicit rows below the last,
        so a retried write can never add a row twice."""
        used = len(grid or [])
        rows = ([list(AUDIT_COLUMNS)] if not used else []) + audit_rows(state.entries, max(used - 1, 0))
        self.report.audit_rows_added = len(rows) - (0 if used else 1)
        return [CellWrite(AUDIT_TAB, used + offset, column, value)
                for offset, cells in enumerate(rows, start=1) for column, value in enumerate(cells, start=1)
                if value is not None]


def _csv_text(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, str):  # client names and lead IDs: never a formula when Excel opens the file
        return csv_safe(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


def _audit_csv_text(value: CellValue) -> str:
    """:func:`_csv_text`, with the dates and local times (a run's rows repeat them) formatted
    once each."""
    kind = type(value)
    if kind is date or (kind is datetime and value.tzinfo is None):
        return _date_csv_text(value)
    return _csv_text(value)


@lru_cache(maxsize=4096, typed=True)
def _date_csv_text(value: date) -> str:
    return _csv_text(value)


def append_audit_csv(path: Path, entries: list[LedgerEntry]) -> int:
    """Append the ledger entries the CSV does not hold yet; returns how many were added.

    A line cut off by a killed run is dropped first, so the file only ever holds whole rows
    in ledger order and its row count says which entries it has.
    """
    faults.checkpoint("audit.before_append")
    existing = path.read_bytes() if path.exists() else b""
    if existing and not existing.endswith(b"\n"):
        cut = existing.rfind(b"\n") + 1
        while cut and existing[:cut].count(b'"') % 2:  # that newline was inside a quoted field
            cut = existing.rfind(b"\n", 0, cut - 1) + 1
        existing = existing[:cut]
        with path.open("r+b") as handle:
            handle.truncate(len(existing))
    already = max(len(list(csv.reader(io.StringIO(existing.decode("utf-8-sig"))))) - 1, 0)
    rows = audit_rows(entries, already)
    if not rows and existing:
        return 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not existing:
        writer.writerow(AUDIT_COLUMNS)
    writer.writerows([list(map(_audit_csv_text, row)) for row in rows])
    data = buffer.getvalue().encode("utf-8")
    # One write() call (unbuffered): a killed process leaves all of it or none. Only a power
    # cut can tear it, and the next run drops the torn line (above); the fault point
    # audit.partial tears it on purpose to prove that.
    torn = len(data) // 2 if faults.armed("audit.partial") else 0
    with path.open("ab", buffering=0) as handle:
        if torn:
            handle.write(data[:torn])
            faults.checkpoint("audit.partial")
        view = memoryview(data)[torn:]
        while view:
            view = view[handle.write(view):]
        os.fsync(handle.fileno())
    faults.checkpoint("audit.appended")
    return len(rows)


def run_sync(config: Config, *, as_of: datetime | None = None, dry_run: bool = False,
             on_step: Callable[[str], None] | None = None) -> SyncReport:
    """One sync pass over ``config``. Raises only :class:`RunLockedError` and ledger errors;
    every source problem is reported in the returned :class:`SyncReport`."""
    return Sync(config, as_of=as_of, dry_run=dry_run, on_step=on_step).run()
