"""One sync pass: read every source, decide new requests, commit the ledger, project, write.

The ledger is the commit point. Everything written to a sheet afterwards is a projection
of (lead log, ledger), so a run that dies after the commit is finished by the next one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from datetime import datetime, timezone

from sheets_sync import faults
from sheets_sync.backends.base import Workbook, WorkbookChanged, WorkbookError
from sheets_sync.backends.excel.files import in_use_message, open_by
from sheets_sync.backends.open import Opener, path_label, workspace_opener
from sheets_sync.config import Config, ConfigError, Policy
from sheets_sync.core.alerts import find_alerts
from sheets_sync.core.books import Booking, LedgerState, SaleIndex, sale_of
from sheets_sync.core.cells import CellWrite, Grid, TabSpec
from sheets_sync.core.corrections import corrections, moment_of, price_settlement
from sheets_sync.core.ids import ClientLeadIndex
from sheets_sync.core.model import APPROVED, REJECTED, Lead, NewEntry, Problem
from sheets_sync.core.money import ZERO
from sheets_sync.core.policy import ClientHistory, Request, decide
from sheets_sync.core.project.audit import AUDIT_TAB, audit_tab_writes
from sheets_sync.core.project.credits import CREDITS_TAB, CREDITS_TAB_SPEC, credit_lines, plan_credits_tab
from sheets_sync.core.project.dashboard import (
    DASHBOARD_TAB,
    DASHBOARD_TAB_SPEC,
    build_dashboard,
    plan_dashboard,
    shown_layout,
)
from sheets_sync.core.project.layout import engine_tab, relayout
from sheets_sync.core.project.marks import mark_tracking_writes, restatement_notes
from sheets_sync.core.project.returns import plan_returns_tab
from sheets_sync.core.project.template import new_returns_tab, policy_note
from sheets_sync.core.project.tracking import (
    TabLayoutError,
    group_key,
    plan_tracking_tab,
    tab_titles,
    tracking_tab_spec,
)
from sheets_sync.core.review import (
    REVIEW_TAB,
    REVIEW_TAB_SPEC,
    ReviewTab,
    plan_review_tab,
    review_lines,
    settle_reviews,
    waiting_items,
)
from sheets_sync.leadlog.columns import LeadLog
from sheets_sync.notify.send import tell
from sheets_sync.run.figures import tracking_figures
from sheets_sync.run.findings import client_findings, missing_sales
from sheets_sync.run.policy_notes import PolicyNotes
from sheets_sync.run.read import Reader, ReturnsSource
from sheets_sync.run.settle import write_settled
from sheets_sync.run.speed import rare_garbage_collection, save_in_workers, started_beside
from sheets_sync.run.summary import SyncReport
from sheets_sync.store.audit_csv import append_audit_csv
from sheets_sync.store.ledger import Ledger, LedgerError, open_ledger
from sheets_sync.store.lock import RunLockedError, workspace_lock

__all__ = ["RunLockedError", "Sync", "SyncReport", "run_sync"]


class AsOfError(ConfigError):
    """``--as-of`` names a time that has not come yet."""


class Sync:
    """One run over a config. ``Sync(config, ...).run()`` returns a :class:`SyncReport`."""

    def __init__(self, config: Config, *, as_of: datetime | None = None, dry_run: bool = False,
                 on_step: Callable[[str], None] | None = None, opener: Opener | None = None) -> None:
        self.config = config
        self.opener = opener or workspace_opener(config)
        now = datetime.now(config.zone)
        as_of = as_of or now
        # The run's moment in the workspace timezone, where every time it stamps is shown.
        # Through UTC, as the ledger stores it: a wall-clock time the zone skips (02:30 on a
        # spring-forward night) becomes the moment it names, shown the same in every later run.
        local = as_of.replace(tzinfo=config.zone) if as_of.tzinfo is None else as_of
        if local > now:
            raise AsOfError(f"--as-of {as_of:%Y-%m-%d %H:%M} is later than now ({now:%Y-%m-%d %H:%M} in "
                            f"{config.timezone}): a run can stamp what it saw only at a time that has come.")
        self.as_of = local.astimezone(timezone.utc).astimezone(config.zone)
        self.started_at = now
        self.run_id = f"{self.as_of:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        self.report = SyncReport(self.run_id, self.as_of, dry_run)
        self.on_step = on_step or (lambda step: None)
        self.booking = Booking(self.as_of, config.calendar)
        self._policies: dict[str, Policy] = {}
        self._indexes: dict[str, ClientLeadIndex] = {}
        self.closes: list = []

    def _policy(self, client: str) -> Policy:
        """The client's effective policy, merged once per run (every decision asks for it)."""
        if client not in self._policies:
            self._policies[client] = self.config.policy_for(client)
        return self._policies[client]

    def run(self) -> SyncReport:
        # A dry run only reads, and must leave no file behind, not even a lock file.
        with (nullcontext() if self.report.dry_run else workspace_lock(self.config.ledger)), \
                rare_garbage_collection(), ExitStack() as stack:
            faults.checkpoint("run.locked")
            self._run(stack, Reader(self.config, self.report, stack, self.opener))
            faults.checkpoint("run.done")
        return self.report

    def _open_ledger(self, leads: LeadLog) -> Ledger:
        """The ledger; an older schema is upgraded (a dry run upgrades a copy in memory and
        writes nothing)."""
        sale_facts = lambda client, lead_id: self._lead(leads, client, lead_id)  # noqa: E731
        ledger = open_ledger(self.config, sale_facts, mode="dry_run" if self.report.dry_run else "write")
        if ledger.backup is not None:
            self.report.problems.append(Problem(
                "ledger", f"upgraded to the self-contained schema; the ledger as it was is kept in {ledger.backup.name}"))
        return ledger

    # -- the run ---------------------------------------------------------------------------

    def _run(self, stack: ExitStack, read: Reader) -> None:
        config = self.config
        self.policy_notes = PolicyNotes(config.base_dir)  # read under the lock: a run before may have written it
        # The returns tabs are read while a lead log file is parsed: python-calamine parses it
        # without holding the interpreter, so on a machine of several cores the reads are free.
        # (A Google lead log is read after them, one HTTP client at a time.)
        with started_beside(read.lead_log if config.leads.kind != "google" else None) as leads_read:
            opened = {}
            for client, client_config in config.clients.items():
                self.on_step(f"Reading returns of {client}")
                opened[client] = read.open_returns(client, client_config.returns)
                faults.checkpoint("read.returns")
            self.on_step("Reading the lead log")
            lead_log = leads_read() if leads_read is not None else read.lead_log()
        if lead_log is None:
            return
        parsed, unfilled_cache = lead_log
        leads, respelled = parsed.without(parsed.implausible(self.as_of.replace(tzinfo=None))).one_spelling_each()
        self.report.problems += [*leads.problems, *(Problem(leads.source, sentence) for sentence in respelled)]
        self.report.leads_read = len(leads)
        names = config.client_names
        self.report.problems += client_findings(leads, names)
        positions = leads.positions_by_client(names)
        log_indexes = {client: ClientLeadIndex(leads.ids_at(found := positions.get(client, [])), found)
                       for client in config.clients}
        self._indexes = log_indexes
        ledger = stack.enter_context(self._open_ledger(leads))
        zones = ledger.zones_of_runs()
        self.closes = ledger.closes()
        closed = max((period.through for period in self.closes), default=None)
        if closed is not None and self.booking.cash_week <= closed:
            raise AsOfError(f"--as-of {self.as_of:%Y-%m-%d %H:%M} falls in the weeks closed through "
                            f"{closed.isoformat()}: nothing can be booked in a closed week any more.")
        if unfilled_cache is not None:
            unfilled_cache.save(parsed)
        state = LedgerState(ledger.entries(), lambda client: names.get(client.casefold(), client))
        sightings: dict[tuple[str, str], datetime] = {}
        for (client, key), seen in ledger.sightings().items():  # a former name's stamps carry over
            sightings.setdefault((state.canonical(client), key), seen)
        # A sale the ledger knows is named as the ledger first recorded it, whatever form a
        # re-exported log gives its ID now (SPEC §3.1): so it is never decided again.
        def sale_indexes() -> dict[str, SaleIndex]:
            self._indexes = {client: SaleIndex(index, state.of_client(client)) for client, index in log_indexes.items()}
            return self._indexes

        def follow_the_log() -> bool:  # after every settling: an approval may be of a sale the log has moved
            booked = len(self.report.new_entries)
            for correction in corrections(state, list(config.clients), lambda sale: self._lead(leads, *sale),
                                          lambda client, lead_id: self._indexes[client].match(lead_id).lead_id,
                                          lambda run_id: zones.get(run_id, config.zone), self.booking):
                self._record(correction, state)
            return len(self.report.new_entries) > booked

        indexes = sale_indexes()
        if follow_the_log():  # a sale re-filed under another client is that client's, pasted IDs included
            indexes = sale_indexes()
        self.report.problems += missing_sales(state, self._indexes, config.zone)

        self.on_step("Reading the tracking workbook")
        # An entry holds the sale's group values under the lead's field names.
        titles = tab_titles(leads.groups(config.tracking.group_by)
                            | {group_key(entry, config.tracking.group_by) for entry in state.entries})
        tracking_tabs = [REVIEW_TAB, AUDIT_TAB, DASHBOARD_TAB, *titles.values()]
        tracking, tracking_grids = read.tracking(tracking_tabs)
        faults.checkpoint("read.tracking")

        self.on_step("Matching pasted IDs")
        sources = [source for client, found in opened.items()
                   if (source := read.matched(found, indexes[client])) is not None]

        review = read.review(tracking_grids.get(REVIEW_TAB) if tracking else [], names, indexes)

        self.on_step("Deciding")
        histories = self._histories(leads, names, state)
        if review is not None:
            self._settle_reviews(review, state, leads, histories)
        follow_the_log()
        new_sightings = self._decide_requests(sources, state, sightings, leads, histories)
        if review is not None:  # a request decided afresh (after an undo) that the Review tab already settles
            self._settle_reviews(review, state, leads, histories)
            follow_the_log()
        for client, key, seen in new_sightings:
            sightings.setdefault((client, key), seen)

        self.report.waiting = waiting_items(state)
        if config.notify is not None and "alerts" in config.notify.on:
            self.report.alerts = find_alerts(leads, state.entries, config, self.as_of)
        faults.checkpoint("decided")
        if not self.report.dry_run and (self.report.new_entries or new_sightings):
            try:
                ledger.record_run(self.run_id, self.started_at, self.as_of, self.report.new_entries, new_sightings)
            except LedgerError as error:
                self.report.fail(ledger.label, str(error))
                return
            faults.checkpoint("ledger.committed")

        # Each workbook is planned from what was read and written; if a person changed it in
        # between, it is read again and planned again (settle.py).
        self.on_step("Planning the returns tabs" if self.report.dry_run else "Writing the returns tabs")
        tracking_inputs = (tracking_grids, review)
        with ExitStack() as saving:
            # Worker processes save the workbooks (excel.prepare_saves) while this one plans
            # the next: the tracking workbook first, the longest single save.
            tracking_plan = None if tracking is None else self._plan_tracking(*tracking_inputs, titles, leads, state)
            if tracking_plan is not None and not self.report.dry_run:
                save_in_workers(saving, [(tracking, *tracking_plan)])
            plans = [self._plan_returns(source, state, sightings) for source in sources]
            if not self.report.dry_run:
                save_in_workers(saving, [(source.workbook, *plan, []) for source, plan in zip(sources, plans)])
            if tracking is not None and config.tracking.excel is not None and not self.report.dry_run:
                self._append_audit_csv(state)  # while the workers save
            for source, plan in zip(sources, plans):
                write_settled(self.report, f"{source.client} returns ({source.location.describe()})",
                              lambda current, source=source, plan=plan: self._project_returns(
                                  current, state, sightings, plan if current is source else None), source,
                              lambda source=source: read.reread_returns(source, indexes[source.client], sightings))
            if tracking is not None:
                self.on_step("Planning the tracking workbook" if self.report.dry_run else "Writing the tracking workbook")
                write_settled(self.report, f"tracking ({tracking.label})",
                              lambda inputs: self._project_tracking(
                                  tracking, inputs, titles, leads, state,
                                  tracking_plan if inputs is tracking_inputs else None),
                              tracking_inputs,
                              lambda: read.reread_tracking(tracking, tracking_tabs, names, indexes))
        if not self.report.dry_run:
            self.policy_notes.save()

    def _append_audit_csv(self, state: LedgerState) -> None:
        label = path_label(self.config.audit_csv, self.config)
        if (found := open_by(self.config.audit_csv)) is not None:
            self.report.fail(label, in_use_message(label, *found, "its new rows"))
            return
        try:
            self.report.audit_rows_added = append_audit_csv(self.config.audit_csv, state.entries)
        except OSError as error:  # e.g. Excel has the file open and locked
            self.report.fail(label, f"{label} could not be written ({error.strerror or error}); "
                                    "the next run adds the rows it is missing.")

    def _histories(self, leads: LeadLog, names: dict[str, str], state: LedgerState) -> dict[str, ClientHistory]:
        histories = {client: ClientHistory(dates) for client, dates in leads.delivery_dates_by_client(names).items()}
        for sale in list(state.latest):
            if sale[0] in histories and (approval := state.approval(sale)) is not None:
                histories[sale[0]].approve(sale_of(approval, self.config.zone))
        return histories

    def _lead(self, leads: LeadLog, client: str, lead_id: str) -> Lead | None:
        """The sale ``lead_id`` of ``client`` as the lead log lists it now, if it does."""
        index = self._indexes.get(client)
        position = None if index is None else index.position(lead_id)
        return None if position is None else leads.lead_at(position)

    def _entry(self, client: str, lead: Lead, kind: str, status: str, rule: str, detail: str, reason: str,
               first_seen: datetime, *, lead_id: str | None = None) -> NewEntry:
        """A new entry deciding on ``lead`` (a sale of the lead log) as the ledger names it."""
        delivered_at = moment_of(lead, self.config.zone)
        return NewEntry(
            client=client, lead_id=lead_id or lead.lead_id, kind=kind, status=status, rule=rule, detail=detail,
            reason=reason, credit=lead.price if status == APPROVED else ZERO, credit_type=self._policy(client).credit,
            first_seen=first_seen, decided_at=self.as_of, delivered_at=delivered_at, vertical=lead.vertical,
            country=lead.country, source=lead.source, campaign=lead.campaign, price=lead.price,
            lead_week=self.config.calendar.week(delivered_at), cash_week=self.booking.cash_week)

    def _record(self, entry: NewEntry, state: LedgerState) -> None:
        self.report.new_entries.append(entry)
        state.add(entry, self.run_id)

    def _settle_reviews(self, review: ReviewTab, state: LedgerState, leads: LeadLog,
                        histories: dict[str, ClientHistory]) -> None:
        """Operator decisions typed on the Review tab become review or override entries."""
        for outcome in settle_reviews(review, state, self.as_of):
            sale = (outcome.client, outcome.lead_id)
            if outcome.kind == "adjustment":
                self._record(price_settlement(state, outcome.refers_to, outcome.status == APPROVED, self.booking),
                             state)
                continue
            if outcome.kind == "reversal":
                self._record(self.booking.entry_like(
                    outcome.refers_to, kind="reversal", status=REJECTED, rule=outcome.rule, detail=outcome.detail,
                    credit=-state.credited[sale], refers_to=outcome.refers_to.seq), state)
                continue
            known = state.latest.get(sale)
            lead = self._lead(leads, *sale) or sale_of(known, self.config.zone)
            self._record(self._entry(outcome.client, lead, outcome.kind, outcome.status, outcome.rule, outcome.detail,
                                     outcome.reason, outcome.first_seen, lead_id=outcome.lead_id), state)
            if outcome.status == APPROVED and outcome.client in histories:
                histories[outcome.client].approve(lead)

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
                    local_seen = first_seen.astimezone(self.config.zone).replace(tzinfo=None)
                    request = Request(source.client, lead, row.reason, local_seen.date(), self.config.currency,
                                      local_seen)
                    verdict = decide(request, policy, history)
                    self._record(self._entry(source.client, lead, "decision", verdict.status, verdict.rule,
                                             verdict.detail, row.reason, first_seen, lead_id=token.lead_id), state)
        return new_sightings

    # -- projecting and writing -------------------------------------------------------------

    def _write(self, workbook: Workbook, writes: list[CellWrite], new_tabs: list, source: str,
               charts: list | None = None) -> bool:
        """Whether the workbook holds what was planned (a dry run writes nothing)."""
        self.report.changes.extend((workbook.label, write) for write in writes)
        if self.report.dry_run or (not writes and not new_tabs and not charts):
            return not self.report.dry_run
        faults.checkpoint("write.workbook", label=workbook.label)
        try:
            workbook.write(writes, new_tabs, charts or ())
            self.report.written.append(workbook.label)
            return True
        except WorkbookChanged:
            raise  # write_settled reads it again and plans again
        except WorkbookError as error:
            self.report.fail(source, str(error))
            return False

    def _plan_returns(self, source: ReturnsSource, state: LedgerState,
                      sightings: dict[tuple[str, str], datetime]) -> tuple[list[CellWrite], list[TabSpec]]:
        """The cells to write in a client's returns tab, and the tab to create first if any."""
        seen = {token.key: sightings[(source.client, token.key)].astimezone(self.config.zone)
                for row in source.rows for token in row.tokens if (source.client, token.key) in sightings}
        policy = self._policy(source.client)
        new_tabs, header_writes = [], self.policy_notes.header_write(
            source.location, source.tab, source.grid, source.layout, policy_note(policy, self.config.currency))
        if not source.tab_exists or source.header_writes:  # a new tab, or one without headers: the template's
            spec, header_writes = new_returns_tab(source.tab, policy, self.config.currency)
            new_tabs = [] if source.tab_exists else [spec]
        writes = header_writes + plan_returns_tab(source.tab, source.grid, source.layout, source.rows,
                                                  state.of_client(source.client), state.credits_of(source.client),
                                                  seen, self.config.calendar)
        credits = credit_lines(state.entries_of(source.client), state.by_seq, self.config.zone)
        if source.tab != CREDITS_TAB and (credits or source.credits is not None):  # its account (SPEC §4.3)
            writes += plan_credits_tab(source.credits, credits)
            new_tabs += [CREDITS_TAB_SPEC] if source.credits is None else []
        return writes, new_tabs

    def _project_returns(self, source: ReturnsSource, state: LedgerState, sightings: dict[tuple[str, str], datetime],
                         plan: tuple[list[CellWrite], list[TabSpec]] | None = None) -> None:
        """Plan (unless ``plan`` was made from this very source) and write a returns tab."""
        writes, new_tabs = plan or self._plan_returns(source, state, sightings)
        for write in writes:
            if write.tab == source.tab and write.col == source.layout.column_of["Status"] and write.row > 1 \
                    and write.value:
                self.report.row_statuses[write.value] += 1
        if self._write(source.workbook, writes, new_tabs, f"{source.client} returns ({source.location.describe()})"):
            self.policy_notes.written(source.location, source.tab)

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
        worked_out = tracking_figures(config, leads, state.entries, self.closes)
        figures, refunds = worked_out.figures, worked_out.refunds
        restated = restatement_notes(worked_out.on_time, config.tracking.group_by, config.week_end_weekday)
        dashboard = build_dashboard(figures, titles, leads.summary(config.client_names), refunds, state.entries, config,
                                    max((period.last_seq for period in self.closes), default=0))
        writes: list[CellWrite] = []
        new_tabs: list = []
        moved = relayout(grids, shown_layout(grids.get(DASHBOARD_TAB)), dashboard.layout, config.week_end_weekday)
        if moved is not None:  # the old layout's tabs are kept aside; this layout's are made anew
            new_tabs += moved.renames
            grids = {title: grid for title, grid in grids.items() if title not in {tab.old for tab in moved.renames}}
            if all(problem.message != moved.message for problem in self.report.problems):
                self.report.problems.append(Problem("tracking", moved.message))
        for key, title in sorted(titles.items(), key=lambda item: item[1]):
            try:
                writes += mark_tracking_writes(
                    plan_tracking_tab(title, grids.get(title, []), figures.get(key, {}), config.week_end_weekday),
                    grids.get(title, []), restated.get(key, {}), self.booking.cash_week)
            except TabLayoutError as error:
                self.report.fail(f"tracking tab {title}", str(error))
                continue
            if title not in grids:
                new_tabs.append(tracking_tab_spec(title))
        for title in sorted(set(grids) - set(titles.values())):
            if engine_tab(title, grids[title]):  # a group with no sales any more shows the truth: zeros
                try:
                    writes += plan_tracking_tab(title, grids[title], {}, config.week_end_weekday)
                except TabLayoutError as error:
                    self.report.fail(f"tracking tab {title}", str(error))
        if review is not None:
            writes += review.header_writes + plan_review_tab(review.grid, review.layout,
                                                             review_lines(state, review, config.zone))
            if REVIEW_TAB not in grids:
                new_tabs.append(REVIEW_TAB_SPEC)
        dashboard_plan = plan_dashboard(grids.get(DASHBOARD_TAB), dashboard)
        writes += dashboard_plan.writes
        if DASHBOARD_TAB not in grids:
            new_tabs.append(DASHBOARD_TAB_SPEC)
        if config.tracking.google is not None:
            audit_writes, self.report.audit_rows_added = audit_tab_writes(grids.get(AUDIT_TAB), state.entries)
            if AUDIT_TAB not in grids:
                new_tabs.append(AUDIT_TAB)
            writes += audit_writes
        return writes, new_tabs, list(dashboard_plan.charts)


def run_sync(config: Config, *, as_of: datetime | None = None, dry_run: bool = False,
             on_step: Callable[[str], None] | None = None, opener: Opener | None = None) -> SyncReport:
    """One sync pass over ``config``. Raises only :class:`RunLockedError` and ledger errors;
    every source problem is reported in the returned :class:`SyncReport`. ``opener`` opens
    the workbooks the config names (default: the Excel files and Google spreadsheets
    themselves). With ``notify:`` in the config, what is new is sent (SPEC §7)."""
    try:
        report = Sync(config, as_of=as_of, dry_run=dry_run, on_step=on_step, opener=opener).run()
    except LedgerError as error:
        if not dry_run:
            tell(config, failures=[Problem("ledger", str(error))])
        raise
    if not dry_run:
        report.problems += tell(config, waiting=report.waiting, alerts=report.alerts, failures=report.failures)
    return report
