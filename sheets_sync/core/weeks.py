"""Week-ending arithmetic in the workspace timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar date of ``moment`` in ``zone``; a naive moment is already local."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(zone).date()


def week_ending(day: date, week_end_weekday: int) -> date:
    """The last day of the week holding ``day`` (weekday numbers as ``date.weekday()``)."""
    return day + timedelta(days=(week_end_weekday - day.weekday()) % 7)


def weeks_between(first: date, last: date) -> list[date]:
    """Every week-ending date from ``first`` to ``last`` inclusive, both week endings."""
    count = (last - first).days // 7
    return [first + timedelta(weeks=i) for i in range(count + 1)]


@dataclass(frozen=True, slots=True)
class Calendar:
    """The workspace's weeks: where a moment falls, worked out from moments every time (so
    a change of ``timezone`` or ``week_ends_on`` re-places everything)."""

    zone: ZoneInfo
    week_end_weekday: int

    def day(self, moment: datetime) -> date:
        return local_date(moment, self.zone)

    def week(self, moment: datetime) -> date:
        return week_ending(self.day(moment), self.week_end_weekday)
