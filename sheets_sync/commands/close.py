"""``sheets-sync close --through DATE``: close the weeks ending on or before DATE (SPEC §4.4).

The close is a record in the ledger (core/closing.py): what the closed weeks' engine rows
show, frozen from then on. The next ``run`` shows it; money booked later for a lead of a
closed week goes to ``Refunds after close``. The lead log is read as a run reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sheets_sync.config import Config, ConfigError
from sheets_sync.core.closing import to_close
from sheets_sync.core.money import ZERO
from sheets_sync.leadlog.sources import workspace_lead_log
from sheets_sync.run.figures import tracking_figures
from sheets_sync.store.ledger import open_ledger
from sheets_sync.store.lock import workspace_lock


@dataclass(frozen=True)
class CloseReport:
    through: date
    weeks: list[date]
    """The week endings this close froze (any group)."""
    groups: int
    delivered: int
    gross_revenue: Decimal
    refunds: Decimal


def close_through(config: Config, through: date, *, now: datetime | None = None) -> CloseReport:
    """Freeze the weeks ending on or before ``through``. Raises :class:`ConfigError` for a
    date still to come, :class:`~sheets_sync.store.ledger.LedgerError` for one before
    an earlier close (or a ledger that cannot be used)."""
    moment = (now or datetime.now(config.zone)).astimezone(config.zone)
    if through >= config.calendar.week(moment):
        raise ConfigError(f"--through {through.isoformat()} is not before the week in progress (it ends "
                          f"{config.calendar.week(moment).isoformat()}): only weeks that have ended can be closed.")
    parsed = workspace_lead_log(config)
    leads = parsed.without(parsed.implausible(moment.replace(tzinfo=None)))
    with workspace_lock(config.ledger), open_ledger(config) as ledger:
        closes = ledger.closes()
        worked_out = tracking_figures(config, leads, ledger.entries(), closes)
        frozen = to_close(worked_out.figures, through, closes, worked_out.layout)
        ledger.record_close(through, moment, worked_out.layout, frozen)
    figures = [figure for weeks in frozen.values() for figure in weeks.values()]
    return CloseReport(through, sorted({week for weeks in frozen.values() for week in weeks}), len(frozen),
                       sum(figure.delivered for figure in figures), sum((f.gross_revenue for f in figures), ZERO),
                       sum((figure.refunds for figure in figures), ZERO))
