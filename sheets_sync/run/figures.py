"""The tracking figures as every command that shows or freezes them works them out: from
the lead log and the ledger's entries, closed weeks as they were closed (core/closing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sheets_sync.config import Config
from sheets_sync.core.books import placements
from sheets_sync.core.closing import ClosedPeriod, apply_closes
from sheets_sync.core.model import LedgerEntry
from sheets_sync.core.project.layout import layout_line
from sheets_sync.core.project.tracking import GroupKey, Refund, WeekFigures, weekly_figures
from sheets_sync.leadlog.columns import LeadLog


@dataclass(frozen=True)
class TrackingFigures:
    figures: dict[GroupKey, dict[date, WeekFigures]]
    refunds: list[Refund]
    """Every credit, placed by its entry's facts."""
    on_time: list[Refund]
    """The credits booked before their week's close (all, without closes): those that restate cells."""
    layout: str
    """The layout the figures are for (the Dashboard's line)."""


def tracking_figures(config: Config, leads: LeadLog, entries: Sequence[LedgerEntry],
                     closes: Sequence[ClosedPeriod]) -> TrackingFigures:
    group_by, weekday = config.tracking.group_by, config.week_end_weekday
    refunds = placements(entries, config.zone)
    figures = weekly_figures(leads.delivered(group_by, weekday), refunds, group_by, weekday)
    layout = layout_line(weekday, config.timezone, group_by)
    on_time = apply_closes(figures, refunds, closes, layout, group_by, weekday)
    return TrackingFigures(figures, refunds, on_time, layout)
