"""A client's ``Credits`` tab and statement (SPEC §4.3): every credit the ledger booked for
that client, oldest first, signed, with a total per calendar month.

It is what a client reconciles a wallet or an invoice against, so it comes from the ledger
alone: a returns row the client retyped or deleted does not take a credit off it. Moves
that net to nothing for the client (a corrected delivery date or group: out of one week,
into another) are not credits and are left out; a credit that went to another client
because the lead log re-filed the sale is listed, without naming the other client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from sheets_sync.core.cells import CellValue, CellWrite, Grid, TabSpec, grid_cell
from sheets_sync.core.model import PRICE_REVIEWED, SALE_CORRECTED, UNKNOWN, LedgerEntry
from sheets_sync.core.money import ZERO
from sheets_sync.core.project.table import DATE, MONEY, diff_cells
from sheets_sync.core.project.tracking import REPLACEMENT
from sheets_sync.core.weeks import local_date

CREDITS_TAB = "Credits"
CREDITS_COLUMNS = ("Date", "Lead ID", "Delivered", "Type", "Amount", "Why")
CREDITS_FORMATS = {1: DATE, 3: DATE, 5: MONEY}
TOTAL_FILL, HEADER_FILL = "EDEDED", "D9E1F2"
CREDITS_TAB_SPEC = TabSpec(CREDITS_TAB, column_widths=((1, 12), (2, 14), (3, 12), (4, 12), (5, 12), (6, 30)),
                           read_only_columns=tuple(range(1, len(CREDITS_COLUMNS) + 1)),
                           header_fill=HEADER_FILL, header_columns=len(CREDITS_COLUMNS), text_columns=(2,),
                           wrap_columns=(6,))
"""Engine-owned and read-only like the engine columns of a returns tab."""

_WHY = {"decision": "approved", "review": "approved on review", "override": "goodwill", "reversal": "reversed",
        "undo": "undone"}


@dataclass(frozen=True, slots=True)
class CreditLine:
    """One credit as the client sees it."""

    booked: date
    lead_id: str
    delivered: date
    credit_type: str
    amount: Decimal
    why: str


def credit_lines(entries: Iterable[LedgerEntry], by_seq: Mapping[int, LedgerEntry], zone: ZoneInfo) -> list[CreditLine]:
    """The credits among one client's ledger entries, in ledger order (oldest first)."""
    return [CreditLine(local_date(entry.decided_at, zone), entry.lead_id, local_date(entry.delivered_at, zone),
                       entry.credit_type, entry.credit, why)
            for entry in entries if entry.credit and (why := _why(entry, by_seq))]


def _why(entry: LedgerEntry, by_seq: Mapping[int, LedgerEntry]) -> str:
    """The word for a credit; blank for a move that nets to nothing for the client."""
    if entry.kind == "adjustment":
        if entry.rule == PRICE_REVIEWED:
            return "price adjustment"
        moved_from = by_seq.get(entry.refers_to)
        if entry.rule == SALE_CORRECTED and moved_from is not None and moved_from.client != entry.client:
            return "moved from another client (the lead log re-filed the lead)"
        if entry.rule == SALE_CORRECTED and entry.status == UNKNOWN:  # its other half is another client's
            return "moved to another client (the lead log re-filed the lead)"
        return ""
    if entry.kind == "undo":
        undone = by_seq.get(entry.refers_to)
        return "undone" if undone is None or _why(undone, by_seq) else ""
    return _WHY.get(entry.kind, entry.kind)


@dataclass(frozen=True, slots=True)
class MonthTotal:
    month: date
    """The first day of the month."""
    money: Decimal
    """Wallet and invoice credits: what a wallet or an invoice is reconciled against."""
    replaced: int
    """Replacement leads (net): owed as leads, not money."""


def month_totals(lines: Sequence[CreditLine]) -> list[MonthTotal]:
    totals: dict[date, list] = {}
    for line in lines:
        total = totals.setdefault(line.booked.replace(day=1), [ZERO, 0])
        if line.credit_type == REPLACEMENT:
            total[1] += 1 if line.amount > 0 else -1
        else:
            total[0] += line.amount
    return [MonthTotal(month, money, replaced) for month, (money, replaced) in totals.items()]


def total_words(total: MonthTotal) -> str:
    replaced = f" and {total.replaced} replacement lead{'s' * (abs(total.replaced) != 1)}" if total.replaced else ""
    return f"Total {total.month:%B %Y}: money credited{replaced}"


def plan_credits_tab(grid: Grid | None, lines: Sequence[CreditLine]) -> list[CellWrite]:
    """Every cell of the tab: the header, the credits, a total row after each month's last."""
    wanted: dict[tuple[int, int], CellValue] = {(1, column): name for column, name in enumerate(CREDITS_COLUMNS, 1)}
    fills: set[int] = set()
    totals = {total.month: total for total in month_totals(lines)}
    row = 1
    for number, line in enumerate(lines):
        row += 1
        for column, value in enumerate((line.booked, line.lead_id, line.delivered, line.credit_type, line.amount,
                                        line.why), start=1):
            wanted[(row, column)] = value
        month = line.booked.replace(day=1)
        if number + 1 == len(lines) or lines[number + 1].booked.replace(day=1) != month:
            row += 1
            fills.add(row)
            wanted.update({(row, 1): None, (row, 2): None, (row, 3): None, (row, 4): "total",
                           (row, 5): totals[month].money, (row, 6): total_words(totals[month])})
    current = grid or []
    for number in range(row + 1, len(current) + 1):  # rows a shorter list no longer fills
        for column in range(1, len(CREDITS_COLUMNS) + 1):
            if grid_cell(current, number, column) not in (None, ""):
                wanted[(number, column)] = None
    writes = diff_cells(CREDITS_TAB, current, wanted, CREDITS_FORMATS)
    return [CellWrite(write.tab, write.row, write.col, write.value, write.number_format,
                      fill=TOTAL_FILL if write.row in fills else HEADER_FILL if write.row == 1 else "")
            for write in writes]
