"""Closed periods (SPEC §4.4): weeks that were reported (invoiced, sent to the accountant)
and whose engine rows never change again.

``sheets-sync close --through DATE`` records in the ledger, for every week ending on or
before DATE not closed before, the engine figures its tabs showed: that snapshot is what
those weeks show from then on, whatever the lead log, a correction, a reversal or an undo
does later. Money booked later for a lead of a closed week (a late refund, a reversal, an
undo, a moved credit) is shown beside it, in ``Refunds after close``, and counted by the
formula rows; the cash view books it in the (open) week it happened.

A snapshot belongs to the layout it was taken under (the Dashboard's layout line). After a
re-layout the new tabs' closed weeks are worked out from the ledger as of each week's close
and the lead log, and money booked after the close goes to ``Refunds after close`` as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from sheets_sync.core.money import ZERO
from sheets_sync.core.project.tracking import REPLACEMENT, GroupKey, Refund, WeekFigures, group_key
from sheets_sync.core.weeks import week_ending

FROZEN = ("delivered", "gross_revenue", "lead_cost", "refunded_leads", "refunds", "refunds_cash_view",
          "replaced_leads")
"""The engine rows a close freezes."""

Figures = MutableMapping[GroupKey, MutableMapping[date, WeekFigures]]


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    through: date
    """Weeks ending on or before it are closed."""
    closed_at: datetime
    last_seq: int
    """The ledger's newest entry when it closed: every entry after it is booked after the close
    (ledger order, not clock time: two things can happen in the same second)."""
    layout: str
    figures: Mapping[GroupKey, Mapping[date, WeekFigures]]
    """The weeks this close froze (those an earlier close froze are not repeated)."""


def frozen_weeks(periods: Sequence[ClosedPeriod], layout: str) -> dict[tuple[GroupKey, date], WeekFigures]:
    """Every frozen (group, week) of ``layout``, as the close that first froze it saw it."""
    frozen: dict[tuple[GroupKey, date], WeekFigures] = {}
    for period in sorted(periods, key=lambda period: period.last_seq):
        if period.layout == layout:
            for key, weeks in period.figures.items():
                for week, figure in weeks.items():
                    frozen.setdefault((key, week), figure)
    return frozen


def to_close(figures: Mapping[GroupKey, Mapping[date, WeekFigures]], through: date,
             periods: Sequence[ClosedPeriod], layout: str) -> dict[GroupKey, dict[date, WeekFigures]]:
    """The figures a close through ``through`` freezes: the weeks up to it not frozen before."""
    frozen = frozen_weeks(periods, layout)
    found: dict[GroupKey, dict[date, WeekFigures]] = {}
    for key, weeks in figures.items():
        for week, figure in weeks.items():
            if week <= through and (key, week) not in frozen:
                found.setdefault(key, {})[week] = figure
    return found


def apply_closes(figures: Figures, refunds: Sequence[Refund], periods: Sequence[ClosedPeriod], layout: str,
                 group_by: Sequence[str], week_end_weekday: int) -> list[Refund]:
    """Show the closed weeks as they were closed, and the money booked since beside them.
    ``figures`` are a run's weekly figures of every group (changed in place); returns the
    refunds booked before their week's close (the ones that may restate a week's cells)."""
    if not periods:
        return list(refunds)
    frozen = frozen_weeks(periods, layout)
    for (key, week), figure in frozen.items():
        figures.setdefault(key, {})[week] = replace(figure, refunds_after_close=ZERO)
    closes = sorted(periods, key=lambda period: period.through)
    on_time = []
    for refund in refunds:
        week = week_ending(refund.lead.delivered_on, week_end_weekday)
        last_seq = next((period.last_seq for period in closes if week <= period.through), None)
        if last_seq is None or refund.seq <= last_seq:
            on_time.append(refund)
            continue
        key = group_key(refund.lead, group_by)
        figure = figures.setdefault(key, {}).setdefault(week, WeekFigures())
        if (key, week) not in frozen:  # worked out anew: take the late money out of the closed rows
            figure.refunded_leads -= refund.refunded
            if refund.credit_type == REPLACEMENT:
                figure.replaced_leads -= refund.refunded
            else:
                figure.refunds -= refund.credit
        if refund.credit_type != REPLACEMENT:
            figure.refunds_after_close += refund.credit
    return on_time


def encode_figures(figures: Mapping[GroupKey, Mapping[date, WeekFigures]]) -> str:
    """The snapshot as the ledger keeps it: JSON, money as exact decimal text."""
    return json.dumps([[list(key), week.isoformat(), *(str(getattr(figure, name)) for name in FROZEN)]
                       for key, weeks in sorted(figures.items()) for week, figure in sorted(weeks.items())])


def decode_figures(text: str) -> dict[GroupKey, dict[date, WeekFigures]]:
    found: dict[GroupKey, dict[date, WeekFigures]] = {}
    for key, week, *values in json.loads(text):
        fields = {name: (int(value) if name in ("delivered", "refunded_leads", "replaced_leads") else Decimal(value))
                  for name, value in zip(FROZEN, values)}
        found.setdefault(tuple(key), {})[date.fromisoformat(week)] = WeekFigures(**fields)
    return found
