"""The ``Dashboard`` tab of the tracking workbook: a projection like the other tabs.

Pure: from the weekly figures the tracking tabs show, the lead log and the ledger, it
computes every cell the tab should hold, compares them with what it holds, and returns the
cells that differ. The whole tab is the engine's; anything else typed there is cleared.

Layout (fixed, so cells only change when numbers do)::

    A1         title
    A2:F21     line chart "Refund rate by week" (one line per group, each its own colour)
    A22        the layout: which weeks (timezone) and groups the figures are for
    A23:F…     Totals per group | Clients closest to their cap | Top return reasons |
               Returns by source | Credits (one table under the other, a blank row between)
    H1:…       the chart's data, right of the chart: "Week ending" ("Feb 17") and one column
               per group, one row per week, the last 26 full weeks at most (from the first
               week with leads). The week under way is left out of the chart and its data
               (the title says so): its few leads would make every line jump at the end.

Reasons read as the clients' dropdown names them ("Wrong number"), and titles speak plain
words, never config keys. Printed: landscape, one page wide, no gridlines.

The chart is placed when the tab is created and placed again (the old one removed, in the
same write) whenever its data block changes shape: a group appears, or the block gains a
week row while it is shorter than 26 weeks. A chart over a block sized in advance would
either draw empty lines for groups that do not exist yet or miss new ones; replacing it is
as cheap as writing the cells (Excel rewrites the file anyway, Google takes it in the same
batchUpdate), and a run whose block has the same shape places nothing.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sheets_sync.core.cells import (
    CellValue,
    CellWrite,
    Grid,
    LineChart,
    TabSpec,
    cell_as_date,
    cell_text,
    cells_equal,
    grid_cell,
)
from sheets_sync.core.model import APPROVED, LedgerEntry
from sheets_sync.core.money import ZERO
from sheets_sync.core.project.layout import layout_line
from sheets_sync.core.project.template import reason_label
from sheets_sync.core.project.tracking import GroupKey, Refund, WeekFigures
from sheets_sync.core.reasons import reason_code
from sheets_sync.core.weeks import local_date, week_ending

if TYPE_CHECKING:  # the config is read by the I/O layer and handed in
    from sheets_sync.config import Config

DASHBOARD_TAB = "Dashboard"
CHART_WEEKS = 26
TITLE_ROW, CHART_ROW = 1, 2
TABLES_ROW = 23
BLOCK_COLUMN = 8  # H
BLOCK_HEADER_ROW = 2  # its title in H1
TOP_ROWS = 10
LAYOUT_CELL = (TABLES_ROW - 1, 1)
COUNT, MONEY, PERCENT, DATE = "#,##0", "#,##0.00", "0.0%", "yyyy-mm-dd"
SHORT_DATE = "mmm d"  # "Feb 17": a chart label that fits on one line
TITLE_FILL, HEADER_FILL = "D9E1F2", "EDEDED"
NO_SOURCE = "(no source)"
GROUP_WIDTH = 18  # a group's chart-data column: "Auto Insurance UK" reads whole
LINE_COLORS = ("4E79A7", "F28E2B", "E15759", "76B7B2", "59A14F", "EDC948", "B07AA1", "FF9DA7", "9C755F", "BAB0AC")
"""Tableau's ten qualitative colours: lines that tell apart (also in print and for most
colour-blind readers), repeated past ten groups."""
DASHBOARD_TAB_SPEC = TabSpec(DASHBOARD_TAB, frozen_rows=0, column_widths=(
    (1, 30), (2, 14), (3, 16), (4, 14), (5, 13), (6, 14), (7, 3), (8, 12)), default_width=GROUP_WIDTH,
    print_gridlines=False)


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    header: tuple[str, ...]
    formats: tuple[str | None, ...]
    rows: tuple[tuple[CellValue, ...], ...]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the tab shows: the weekly refund rates behind the chart, and four tables."""

    weeks: tuple[date, ...]
    groups: tuple[str, ...]
    rates: tuple[tuple[float | None, ...], ...]
    """One row per week, one refund rate (or None: no leads) per group."""
    tables: tuple[Table, ...]
    layout: str = ""
    """The layout its figures are for (layout.py): a later run compares it with the config."""
    week_under_way: date | None = None
    """The week of the latest day the data speaks of, left out of ``weeks``: not over yet."""


@dataclass(frozen=True, slots=True)
class DashboardPlan:
    writes: list[CellWrite]
    charts: list[LineChart]
    """Empty unless the chart must be placed (again)."""


def _rate(part: int | Decimal, whole: int | Decimal) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


@dataclass(frozen=True, slots=True)
class LeadSummary:
    """What the dashboard needs of the lead log."""

    last_day: date | None
    by_source: Counter
    """Leads per source, ``(no source)`` for none."""
    client_days: dict[str, list[date]]
    """Sorted delivery dates of each configured client's leads."""


def build_dashboard(figures: Mapping[GroupKey, Mapping[date, WeekFigures]], titles: Mapping[GroupKey, str],
                    summary: LeadSummary, refunds: Sequence[Refund], entries: Sequence[LedgerEntry],
                    config: Config, invoiced_through_seq: int = 0) -> Dashboard:
    """Every number of the Dashboard tab. ``figures`` are the tracking tabs' weekly figures,
    ``titles`` their tab titles; entries after ``invoiced_through_seq`` (the ledger's newest
    entry at the last close) are credits not yet on an invoice.

    It is drawn as of the latest day the data speaks of (a delivery or a decision, in
    workspace time), not as of the run, so that a run with nothing new writes nothing,
    whenever it runs."""
    decided = max((local_date(entry.decided_at, config.zone) for entry in entries), default=None)
    today = max((day for day in (summary.last_day, decided) if day is not None), default=None)
    groups = sorted(titles, key=lambda key: titles[key])
    first_week = min((week for key in groups for week, figure in figures.get(key, {}).items() if figure.delivered),
                     default=None)
    weeks: list[date] = []
    this_week = week_ending(today, config.week_end_weekday) if today is not None else None
    if first_week is not None and this_week is not None:
        last_full = this_week - timedelta(weeks=1)
        start = max(first_week, last_full - timedelta(weeks=CHART_WEEKS - 1))
        weeks = [start + timedelta(weeks=offset) for offset in range((last_full - start).days // 7 + 1)]
    rates = tuple(tuple(_week_rate(figures.get(key, {}).get(week)) for key in groups) for week in weeks)

    totals = []
    every = WeekFigures()
    for key in groups:
        total = WeekFigures()
        for figure in figures.get(key, {}).values():
            for summed in (total, every):
                summed.delivered += figure.delivered
                summed.gross_revenue += figure.gross_revenue
                summed.refunded_leads += figure.refunded_leads
                summed.refunds += figure.refunds + figure.refunds_after_close
        totals.append((titles[key], total))
    totals.append(("All groups", every))
    tables = (
        Table("Totals per group (all weeks, accrual)",
              ("Group", "Leads", "Gross revenue", "Refunds", "Refund rate", "Net revenue"),
              (None, COUNT, MONEY, MONEY, PERCENT, MONEY),
              tuple((name, total.delivered, total.gross_revenue, total.refunds,
                     _rate(total.refunded_leads, total.delivered), total.gross_revenue - total.refunds)
                    for name, total in totals)),
        _cap_table(summary, refunds, config, today),
        _reason_table(entries, config),
        _source_table(summary, refunds),
        _credits_table(entries, config, today, invoiced_through_seq),
    )
    layout = layout_line(config.week_end_weekday, config.timezone, config.tracking.group_by)
    return Dashboard(tuple(weeks), tuple(titles[key] for key in groups), rates, tables, layout, this_week)


def _week_rate(figure: WeekFigures | None) -> float | None:
    return _rate(figure.refunded_leads, figure.delivered) if figure is not None else None


def _cap_table(summary: LeadSummary, refunds: Sequence[Refund], config: Config, today: date | None) -> Table:
    """Each client's return rate as its cap counts it (approved returns among the leads
    delivered in its trailing ``cap_window_days``), closest to the cap first."""
    names = config.client_names
    policies = {name: config.policy_for(name) for name in config.clients}
    delivered: Counter = Counter()
    returned: Counter = Counter()
    if today is not None:
        starts = {name: today - timedelta(days=policy.cap_window_days - 1) for name, policy in policies.items()}
        for client, days in summary.client_days.items():
            delivered[client] = bisect_right(days, today) - bisect_left(days, starts[client])
        for refund in refunds:
            client = names.get(refund.lead.client.casefold())
            if client is not None and starts[client] <= refund.lead.delivered_on <= today:
                returned[client] += refund.refunded
    rows = []
    for client, policy in policies.items():
        rate = _rate(returned[client], delivered[client])
        cap = float(policy.max_return_rate)
        share = round(rate / cap, 4) if rate is not None and cap else None
        rows.append((client, delivered[client], returned[client], rate, cap, share))
    rows.sort(key=lambda row: (-(row[5] if row[5] is not None else -1), row[0]))
    windows = sorted({policy.cap_window_days for policy in policies.values()})
    window = f"last {windows[0]} days" if len(windows) == 1 else "each client's own window: " + \
        " or ".join(f"{days}" for days in windows) + " days"
    as_of = f", as of {today.isoformat()}" if today is not None else ""
    return Table(f"Clients closest to their return-rate cap ({window}{as_of})",
                 ("Client", "Leads", "Approved returns", "Return rate", "Cap", "Share of cap"),
                 (None, COUNT, COUNT, PERCENT, PERCENT, PERCENT), tuple(rows[:TOP_ROWS]))


def _reason_table(entries: Sequence[LedgerEntry], config: Config) -> Table:
    """Return requests by what their reason means (the policy's decision entries), most first."""
    aliases: dict[str, dict[str, str]] = {}
    latest: dict[tuple[str, str], str] = {}
    reason_of: dict[tuple[str, str], str] = {}
    for entry in entries:
        key = (entry.client, entry.lead_id)
        latest[key] = entry.status
        if entry.kind == "decision":
            if entry.client not in aliases:
                aliases[entry.client] = config.policy_for(entry.client).aliases
            code = reason_code(entry.reason, aliases[entry.client]) if entry.reason else None
            reason_of[key] = reason_label(code) if code else "(not recognised)" if entry.reason else "(no reason)"
    requests = Counter(reason_of.values())
    approved = Counter(reason for key, reason in reason_of.items() if latest.get(key) == APPROVED)
    total = sum(requests.values())
    rows = tuple((reason, count, approved[reason], _rate(count, total))
                 for reason, count in sorted(requests.items(), key=lambda item: (-item[1], item[0]))[:TOP_ROWS])
    return Table("Top return reasons (all requests)", ("Reason", "Requests", "Approved", "Share of requests"),
                 (None, COUNT, COUNT, PERCENT), rows)


def _source_table(summary: LeadSummary, refunds: Sequence[Refund]) -> Table:
    """Per lead source (supplier): leads, approved returns, their credits; most returns first."""
    delivered = summary.by_source
    returned: Counter = Counter()
    credits: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for refund in refunds:
        source = refund.lead.source or NO_SOURCE
        returned[source] += refund.refunded
        credits[source] += refund.credit
    rows = tuple((source, count, returned[source], credits[source], _rate(returned[source], count))
                 for source, count in sorted(delivered.items(), key=lambda item: (-returned[item[0]], item[0])))
    return Table("Returns by source (supplier)", ("Source", "Leads", "Approved returns", "Refunds", "Return rate"),
                 (None, COUNT, COUNT, MONEY, PERCENT), rows)


def _credits_table(entries: Sequence[LedgerEntry], config: Config, today: date | None, invoiced_through_seq: int
                   ) -> Table:
    """Per client: this month's credits by type (wallet and invoice money, replacement leads),
    and the invoice credits booked since the last close: those its next invoice must carry."""
    names = config.client_names
    month = today.replace(day=1) if today is not None else None
    money: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    replaced: Counter = Counter()
    waiting: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        client = names.get(entry.client.casefold(), entry.client)
        if entry.credit and entry.credit_type == "invoice" and entry.seq > invoiced_through_seq:
            waiting[client] += entry.credit
        if not entry.credit or month is None or local_date(entry.decided_at, config.zone).replace(day=1) != month:
            continue
        if entry.credit_type == "replacement":
            replaced[client] += 1 if entry.credit > 0 else -1
        else:
            money[(client, entry.credit_type)] += entry.credit
    clients = sorted({client for client, _ in money} | set(replaced) | {c for c, amount in waiting.items() if amount})
    rows = tuple((client, money[(client, "wallet")], money[(client, "invoice")], replaced[client], waiting[client])
                 for client in clients)
    title = f"Credits in {month:%B %Y} by client and type" if month else "Credits by client and type"
    return Table(title, ("Client", "Wallet", "Invoice", "Replaced leads", "Invoice credits waiting"),
                 (None, MONEY, MONEY, COUNT, MONEY), rows)


def dashboard_cells(dashboard: Dashboard) -> dict[tuple[int, int], tuple[CellValue, str | None, str]]:
    """(row, column) -> (value, number format, fill) of every cell the tab should hold."""
    cells: dict[tuple[int, int], tuple[CellValue, str | None, str]] = {(TITLE_ROW, 1): (_title(dashboard), None,
                                                                                       TITLE_FILL)}
    if dashboard.layout:
        cells[LAYOUT_CELL] = (dashboard.layout, None, "")
    row = TABLES_ROW
    for table in dashboard.tables:
        cells[(row, 1)] = (table.title, None, TITLE_FILL)
        for column, name in enumerate(table.header, start=1):
            cells[(row + 1, column)] = (name, None, HEADER_FILL)
        for offset, values in enumerate(table.rows, start=2):
            for column, (value, number_format) in enumerate(zip(values, table.formats), start=1):
                cells[(row + offset, column)] = (value, number_format, "")
        row += len(table.rows) + 3
    cells[(BLOCK_HEADER_ROW - 1, BLOCK_COLUMN)] = ("Chart data: refund rate by week ending", None, TITLE_FILL)
    header_row = BLOCK_HEADER_ROW
    for column, name in enumerate(("Week ending", *dashboard.groups), start=BLOCK_COLUMN):
        cells[(header_row, column)] = (name, None, HEADER_FILL)
    for offset, (week, rates) in enumerate(zip(dashboard.weeks, dashboard.rates), start=1):
        cells[(header_row + offset, BLOCK_COLUMN)] = (week, SHORT_DATE, "")
        for column, rate in enumerate(rates, start=BLOCK_COLUMN + 1):
            cells[(header_row + offset, column)] = (rate, PERCENT, "")
    return cells


def _title(dashboard: Dashboard) -> str:
    weeks = len(dashboard.weeks)
    title = f"Refund rate by week per group (accrual), last {weeks} full week{'s' * (weeks != 1)}"
    under_way = dashboard.week_under_way
    if under_way is not None:
        title += f"; the week ending {under_way:%b} {under_way.day} is under way and left out"
    return title


def refund_rate_chart(dashboard: Dashboard) -> LineChart:
    header_row = BLOCK_HEADER_ROW
    return LineChart(DASHBOARD_TAB, "Refund rate by week (accrual)", CHART_ROW, 1, header_row, header_row + 1,
                     header_row + len(dashboard.weeks), BLOCK_COLUMN, BLOCK_COLUMN + 1,
                     BLOCK_COLUMN + len(dashboard.groups), y_title="Refund rate", x_title="Week ending",
                     y_number_format="0%", width_cm=19.4, height_cm=10.4, colors=LINE_COLORS,
                     x_number_format=SHORT_DATE, legend="bottom")


def _block_shape(grid: Grid) -> tuple[tuple[str, ...], int]:
    """The chart block as the tab holds it: series names and number of week rows."""
    header_row = BLOCK_HEADER_ROW
    names = []
    column = BLOCK_COLUMN + 1
    while (name := grid_cell(grid, header_row, column)) not in (None, ""):
        names.append(str(name))
        column += 1
    weeks = 0
    while cell_as_date(grid_cell(grid, header_row + 1 + weeks, BLOCK_COLUMN)) is not None:
        weeks += 1
    return tuple(names), weeks


def shown_layout(grid: Grid | None) -> str:
    """The layout line the Dashboard shows now (blank for none)."""
    return cell_text(grid_cell(grid or [], *LAYOUT_CELL)).strip()


def plan_dashboard(grid: Grid | None, dashboard: Dashboard) -> DashboardPlan:
    """The cells of the Dashboard tab that differ from ``grid`` (None: the tab is new), and
    the chart when its block changes shape."""
    current = grid or []
    wanted = dashboard_cells(dashboard)
    for number, cells in enumerate(current, start=1):
        for column, value in enumerate(cells, start=1):
            if value not in (None, "") and (number, column) not in wanted:
                wanted[(number, column)] = (None, None, "")
    writes = [CellWrite(DASHBOARD_TAB, row, column, value, number_format, fill=fill)
              for (row, column), (value, number_format, fill) in sorted(wanted.items())
              if not cells_equal(value, grid_cell(current, row, column))]
    charts = []
    if grid is None or _block_shape(current) != (dashboard.groups, len(dashboard.weeks)):
        charts.append(refund_rate_chart(dashboard))
    return DashboardPlan(writes, charts)
