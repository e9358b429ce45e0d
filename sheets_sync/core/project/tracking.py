"""Tracking tabs (SPEC §4.1): weekly figures per group, projected onto a tab's cells.

Pure: figures come from the lead log and the ledger's approvals; a tab's wanted cells come
from those figures and what the tab holds now; only cells that differ are returned.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sheets_sync.core.cells import (
    CellValue,
    CellWrite,
    Formula,
    Grid,
    TabSpec,
    cell_as_date,
    cell_text,
    cells_equal,
    column_letter,
    grid_cell,
)
from sheets_sync.core.model import Lead
from sheets_sync.core.money import ZERO
from sheets_sync.core.weeks import week_ending, weeks_between

ENGINE, FORMULA, INPUT = "engine", "formula", "operator input"
REPLACEMENT = "replacement"


COUNT, MONEY, PERCENT, DATE = "#,##0", "#,##0.00", "0.0%", "yyyy-mm-dd"


@dataclass(frozen=True, slots=True)
class Metric:
    label: str
    kind: str
    source: str
    """For engine rows the :class:`WeekFigures` field; for formula rows a template whose
    ``{Label}`` placeholders become the cell of that row in the same week column."""
    number_format: str


METRICS: tuple[Metric, ...] = (
    Metric("Leads delivered", ENGINE, "delivered", COUNT),
    Metric("Gross revenue", ENGINE, "gross_revenue", MONEY),
    Metric("Lead cost", ENGINE, "lead_cost", MONEY),
    Metric("Refunded leads", ENGINE, "refunded_leads", COUNT),
    Metric("Refunds", ENGINE, "refunds", MONEY),
    Metric("Net leads", FORMULA, "{Leads delivered}-{Refunded leads}", COUNT),
    Metric("Net revenue", FORMULA, "{Gross revenue}-{Refunds}-{Refunds after close}", MONEY),
    Metric("Refund rate", FORMULA, 'IF({Leads delivered}=0,"",{Refunded leads}/{Leads delivered})', PERCENT),
    Metric("Ad spend", INPUT, "", MONEY),
    Metric("Impressions", INPUT, "", COUNT),
    Metric("Clicks", INPUT, "", COUNT),
    Metric("CTR", FORMULA, 'IF({Impressions}=0,"",{Clicks}/{Impressions})', PERCENT),
    Metric("CPR", FORMULA, 'IF({Net leads}=0,"",({Ad spend}+{Lead cost})/{Net leads})', MONEY),
    Metric("Gross profit", FORMULA, "{Net revenue}-{Lead cost}-{Ad spend}", MONEY),
    Metric("Margin", FORMULA, 'IF({Net revenue}=0,"",{Gross profit}/{Net revenue})', PERCENT),
    Metric("Refunds reported (cash view)", ENGINE, "refunds_cash_view", MONEY),
    Metric("Replaced leads", ENGINE, "replaced_leads", COUNT),
    Metric("Refunds after close", ENGINE, "refunds_after_close", MONEY),
)
HEADER_LABEL = "Metric"
LABEL_WIDTH, WEEK_WIDTH = 30, 12
PRINT_SCALE = 70


def tracking_tab_spec(title: str) -> TabSpec:
    """New tracking tabs: header row (bold, weeks added later too) and label column frozen,
    dates and labels readable. Printed landscape at 70%: a quarter's weeks (13) and every
    metric on a page, further weeks on further pages, each with the labels and the week
    dates (a year of weeks scaled to one page wide would be too small to read)."""
    return TabSpec(title, frozen_rows=1, frozen_columns=1, column_widths=((1, LABEL_WIDTH),),
                   default_width=WEEK_WIDTH, header_fill="", fit_width=0, fit_height=0, print_scale=PRINT_SCALE)
RESERVED_TABS = ("Review", "Dashboard", "Audit log")
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_INVALID_TITLE_CHARS = re.compile(r"[\[\]:*?/\\]")
MAX_TITLE = 31


@dataclass(slots=True)
class WeekFigures:
    delivered: int = 0
    gross_revenue: Decimal = ZERO
    lead_cost: Decimal = ZERO
    refunded_leads: int = 0
    refunds: Decimal = ZERO
    refunds_cash_view: Decimal = ZERO
    replaced_leads: int = 0
    refunds_after_close: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Refund:
    """A credit as the tracking tabs see it (signed: a reversal takes money back)."""

    lead: Lead
    credit: Decimal
    booked_on: date
    """The local date it was booked: its week in the cash view, and when its lead's week was
    restated (weeks are worked out here, under the layout of the day: SPEC §3.1)."""
    refunded: int = 1
    """Refunded leads it adds: 1 for an approval, -1 for one taken back, 0 for an amount alone."""
    credit_type: str = "wallet"
    """``wallet`` and ``invoice`` credits are money; a ``replacement`` is a lead, counted in
    ``Refunded leads`` and ``Replaced leads`` but in neither money row."""
    seq: int = 0
    """Its ledger entry's number: an entry after its week's close is a refund after close."""


GroupKey = tuple[str, ...]


def group_key(lead: Lead, group_by: Sequence[str]) -> GroupKey:
    return tuple(getattr(lead, field) for field in group_by)


@dataclass(frozen=True, slots=True)
class Delivered:
    """The leads delivered in one group and week: how many, and their prices and costs."""

    leads: int
    gross_revenue: Decimal
    lead_cost: Decimal


def weekly_figures(delivered: Mapping[GroupKey, Mapping[date, Delivered]], refunds: Iterable[Refund],
                   group_by: Sequence[str], week_end_weekday: int) -> dict[GroupKey, dict[date, WeekFigures]]:
    """Per group, per week ending: delivered and accrual figures by the lead's week, cash
    figures by the week the refund was approved. ``delivered`` is the lead log's share
    (:meth:`~sheets_sync.leadlog.columns.LeadLog.delivered`)."""
    figures: dict[GroupKey, dict[date, WeekFigures]] = defaultdict(lambda: defaultdict(WeekFigures))
    for key, weeks in delivered.items():
        for week_ending_on, leads in weeks.items():
            week = figures[key][week_ending_on]
            week.delivered += leads.leads
            week.gross_revenue += leads.gross_revenue
            week.lead_cost += leads.lead_cost
    for refund in refunds:
        group = figures[group_key(refund.lead, group_by)]
        accrual = group[week_ending(refund.lead.delivered_on, week_end_weekday)]
        accrual.refunded_leads += refund.refunded
        if refund.credit_type == REPLACEMENT:
            accrual.replaced_leads += refund.refunded
            continue
        accrual.refunds += refund.credit
        group[week_ending(refund.booked_on, week_end_weekday)].refunds_cash_view += refund.credit
    return {key: dict(weeks) for key, weeks in figures.items()}


def valid_tab_title(name: str) -> str:
    """A title Excel and Google Sheets both accept: no ``[]:*?/\\``, ≤ 31 characters, no
    leading or trailing apostrophe, not blank."""
    cleaned = re.sub(r"\s+", " ", _INVALID_TITLE_CHARS.sub("-", name)).strip().strip("'").strip()
    return cleaned[:MAX_TITLE].rstrip().rstrip("'") or "Group"


def tab_titles(groups: Iterable[GroupKey], reserved: Iterable[str] = RESERVED_TABS) -> dict[GroupKey, str]:
    """A unique, valid title per group, stable for a given set of groups (sorted order)."""
    taken = {title.casefold() for title in reserved}
    titles: dict[GroupKey, str] = {}
    for key in sorted(groups):
        base = valid_tab_title(" ".join(part for part in key if part))
        title, number = base, 2
        while title.casefold() in taken:
            suffix = f" ({number})"
            title = base[: MAX_TITLE - len(suffix)].rstrip() + suffix
            number += 1
        taken.add(title.casefold())
        titles[key] = title
    return titles


def is_tracking_tab(grid: Grid) -> bool:
    """Whether a tab is one the engine laid out: ``Metric`` in A1 and its engine rows in column A."""
    labels = {cell_text(row[0]).casefold() for row in grid[1:] if row}
    return cell_text(grid_cell(grid, 1, 1)) == HEADER_LABEL and METRICS[0].label.casefold() in labels


class TabLayoutError(ValueError):
    """A tab's week columns cannot be matched to the configured weeks."""


def week_columns(grid: Grid) -> list[date]:
    """The weeks of a tab's header row, left to right, up to the first cell that is not a date."""
    weeks = []
    for cell in (grid[0] if grid else [])[1:]:
        week = cell_as_date(cell)
        if week is None:
            break
        weeks.append(week)
    return weeks


def _label_rows(grid: Grid) -> dict[str, int]:
    rows: dict[str, int] = {}
    for number, cells in enumerate(grid[1:], start=2):
        label = cells[0] if cells else None
        if isinstance(label, str) and label.strip():
            rows.setdefault(label.strip().casefold(), number)
    return rows


def _last_used_row(grid: Grid) -> int:
    for number in range(len(grid), 0, -1):
        if any(cell not in (None, "") for cell in grid[number - 1]):
            return number
    return 0


def plan_tracking_tab(title: str, grid: Grid, figures: dict[date, WeekFigures],
                      week_end_weekday: int) -> list[CellWrite]:
    """The cells to write so that tab ``title`` shows ``figures``.

    Week columns already in the tab stay where they are and new weeks are appended at the
    right. Only when a week older than the first column appears (a late lead log row) is
    the tab laid out again; then operator inputs and operator rows move with their week.
    """
    existing = week_columns(grid)
    misaligned = [week for week in existing if week.weekday() != week_end_weekday]
    if misaligned:
        raise TabLayoutError(
            f"tab {title!r} has week columns ending on {misaligned[0]:%A}s, but week_ends_on says weeks end on "
            f"{date(2024, 1, 1 + week_end_weekday):%A}s; fix the header row or the config")
    every_week = existing + list(figures)
    weeks = weeks_between(min(every_week), max(every_week)) if every_week else []
    relayout = existing != weeks[: len(existing)]
    column_of = {week: 2 + index for index, week in enumerate(weeks)}
    old_column_of = {week: 2 + index for index, week in enumerate(existing)}

    wanted: dict[tuple[int, int], CellValue] = {(1, 1): HEADER_LABEL}
    wanted.update({(1, column): week for week, column in column_of.items()})
    format_of_row: dict[int, str] = {1: DATE}

    row_of = _label_rows(grid)
    next_row = max(_last_used_row(grid), 1) + 1
    metric_rows: dict[str, int] = {}
    for metric in METRICS:
        row = row_of.get(metric.label.casefold())
        if row is None:
            row, next_row = next_row, next_row + 1
            wanted[(row, 1)] = metric.label
        metric_rows[metric.label] = row
        format_of_row[row] = metric.number_format

    def moved(row: int, week: date) -> CellValue:
        return grid_cell(grid, row, old_column_of[week]) if week in old_column_of else None

    for metric in METRICS:
        row = metric_rows[metric.label]
        for week, column in column_of.items():
            if metric.kind == ENGINE:
                wanted[(row, column)] = getattr(figures.get(week) or WeekFigures(), metric.source)
            elif metric.kind == FORMULA:
                letter = column_letter(column)
                wanted[(row, column)] = Formula("=" + _PLACEHOLDER.sub(
                    lambda match: f"{letter}{metric_rows[match.group(1)]}", metric.source))
            elif relayout:
                wanted[(row, column)] = moved(row, week)
    if relayout:
        owned = {metric_rows[metric.label] for metric in METRICS if metric.kind != INPUT}
        for row in range(2, _last_used_row(grid) + 1):
            if row not in owned:
                for week, column in column_of.items():
                    wanted[(row, column)] = moved(row, week)

    return [CellWrite(title, row, column, value, format_of_row.get(row) if column > 1 else None)
            for (row, column), value in sorted(wanted.items())
            if not cells_equal(value, grid_cell(grid, row, column))]
