"""``sheets-sync undo RUN``: void every ledger entry a run made, by new entries (SPEC §3.1).

Nothing is deleted: each live entry of the run gets an ``undo`` entry that takes its money
back (booked now, so the cash view shows it in this week) and voids its decision, so the
next run decides those requests afresh; the run's first-seen stamps are void too. The next
``run`` writes the sheets and the audit log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sheets_sync.config import Config, ConfigError
from sheets_sync.core.books import Booking, LedgerState
from sheets_sync.core.model import LedgerEntry
from sheets_sync.core.money import ZERO
from sheets_sync.store.ledger import open_ledger
from sheets_sync.store.lock import workspace_lock


class UndoError(ConfigError):
    """The run named cannot be undone (unknown, or undone already)."""


@dataclass(frozen=True)
class UndoReport:
    run_id: str
    undone_run: str
    entries: list[LedgerEntry]

    @property
    def credits_taken_back(self) -> Decimal:
        return -sum((entry.credit for entry in self.entries), ZERO)


def undo_run(config: Config, run_id: str, *, now: datetime | None = None) -> UndoReport:
    """Undo run ``run_id`` of the workspace's ledger; raises :class:`UndoError` when it
    cannot be."""
    moment = (now or datetime.now(config.zone)).astimezone(config.zone)
    path = config.ledger.label
    with workspace_lock(config.ledger), open_ledger(config, create=False) as ledger:  # none is made here
        runs = ledger.runs()
        if run_id not in runs:
            known = ", ".join(runs[-3:]) or "none yet"
            raise UndoError(f"No run {run_id!r} in ledger {path} (latest runs: {known}).")
        if run_id in ledger.undone_runs():
            raise UndoError(f"Run {run_id} was undone already; nothing to do.")
        state = LedgerState(ledger.entries())
        undid = {entry.refers_to for entry in state.entries if entry.run_id == run_id and entry.kind == "undo"}
        if undid:
            of = sorted({entry.run_id for entry in state.entries if entry.seq in undid})
            raise UndoError(f"Run {run_id} is itself an undo (of run {', '.join(of)}); an undo is not undone: "
                            "the requests it voided were decided afresh by the runs after it.")
        undo_id = f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        booking = Booking(moment, config.calendar)
        undone = [booking.entry_like(entry, kind="undo", status="Undone", rule="undo",
                                     detail=f"Run {run_id} undone on {booking.day}; decided afresh by the next run.",
                                     credit=-entry.credit, refers_to=entry.seq)
                  for entry in state.entries_of_run(run_id)]
        ledger.record_run(undo_id, moment.astimezone(timezone.utc), moment, undone, (), undoes=run_id)
        return UndoReport(undo_id, run_id, [state.add(entry, undo_id) for entry in undone])
