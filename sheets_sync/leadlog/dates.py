"""Delivery times written as text: which forms are read, and why another is not.

ISO 8601 is read as Python reads it. Besides it, forms that name one day only: day.month.year
with dots (as every country that writes dots orders it), English month names, year/month/day
with slashes, and day/month/year or month/day/year with slashes when a part above 12 says
which is which. ``12/05/2026`` could be either: it is read in the order ``leads.date_order``
names (``day_first`` or ``month_first``), and without that setting refused, with the reason:
a guess would move a lead to another week, and another refund window, silently.
"""

from __future__ import annotations

import re
from datetime import datetime

_TIME = r"(?:[ T]+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)(?:\s*(?P<half>[AaPp][Mm]))?)?"
_DOTTED = re.compile(r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})" + _TIME)
_SLASHED = re.compile(r"(?P<first>\d{1,4})/(?P<second>\d{1,2})/(?P<third>\d{2,4})" + _TIME)
_NAMED = re.compile(r"(?:(?P<day1>\d{1,2})(?:st|nd|rd|th)?\s+(?P<month1>[A-Za-z]{3,9})\.?,?"
                    r"|(?P<month2>[A-Za-z]{3,9})\.?\s+(?P<day2>\d{1,2})(?:st|nd|rd|th)?,?)\s+(?P<year>\d{4})" + _TIME)
_MONTHS = {name: number for number, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], 1) for name in names}
ACCEPTED = ("2026-12-05 10:00 (ISO, with or without time or offset), 05.12.2026 (day.month.year), "
            "Dec 5, 2026 or 5 December 2026, 2026/12/05, and 25/12/2026 or 12/25/2026 where a part above 12 "
            "tells day from month")


def moment_from_text(text: str, date_order: str | None = None) -> datetime | None:
    """The delivery time ``text`` names, or ``None`` (see :func:`why_not_a_moment`)."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if found := _DOTTED.fullmatch(text):
        return _made(found["year"], found["month"], found["day"], found)
    if found := _NAMED.fullmatch(text):
        month = _MONTHS.get((found["month1"] or found["month2"]).lower())
        return None if month is None else _made(found["year"], month, found["day1"] or found["day2"], found)
    if (found := _SLASHED.fullmatch(text)) and (order := _slash_order(found, date_order)) is not None:
        return _made(*order, found)
    return None


def why_not_a_moment(text: str) -> str:
    """Why ``text`` is no delivery time, in words an operator can act on."""
    found = _SLASHED.fullmatch(text.strip())
    if found and len(found["third"]) == 4 and _slash_order(found) is None and int(found["first"]) <= 12:
        first, second, year = int(found["first"]), int(found["second"]), int(found["third"])
        return (f"could be {_day_name(first, second)} or {_day_name(second, first)} {year}: "
                f"set leads.date_order to day_first or month_first in the config, or write year-month-day "
                f"({year}-{second:02d}-{first:02d} or {year}-{first:02d}-{second:02d})")
    return f"is not a date (read: {ACCEPTED})"


def _slash_order(found: re.Match, date_order: str | None = None) -> tuple[str, int | str, str] | None:
    """(year, month, day) of a slashed date when only one reading is a day or ``date_order``
    says which, else ``None``."""
    first, second, third = found["first"], found["second"], found["third"]
    if len(first) == 4:
        return first, second, third
    if len(third) != 4:
        return None
    if int(first) > 12 >= int(second):
        return third, second, first
    if int(second) > 12 >= int(first):
        return third, first, second
    if first == second or date_order == "month_first":
        return third, first, second
    if date_order == "day_first":
        return third, second, first
    return None


def _made(year: str, month: int | str, day: str, found: re.Match) -> datetime | None:
    hour = minute = second = 0
    if found["time"]:
        hour, minute, *rest = (int(part) for part in found["time"].split(":"))
        second = rest[0] if rest else 0
        if found["half"]:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if found["half"].lower() == "pm" else 0)
    try:
        return datetime(int(year), int(month), int(day), hour, minute, second)
    except ValueError:
        return None


def _day_name(day: int, month: int) -> str:
    return f"{day} {datetime(2000, month, 1):%B}"
