"""The operator's Review tab: what waits for a person, and what the operator decided.

Reading turns the tab into rows naming a (client, lead); settling turns the operator's
``Approve``/``Reject`` into new ledger entries (review or goodwill override, SPEC §2.4; a
reversal; the answer to a corrected price, SPEC §3.1); planning shows every waiting item and
every outcome on the tab. Each corrected price has a row of its own, told apart by its
``Reason``: ``Price corrected to 30.00``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sheets_sync.core.books import LedgerState
from sheets_sync.core.cells import CellValue, CellWrite, Grid, TabSpec, cell_text, grid_cell
from sheets_sync.core.ids import ClientLeadIndex, split_pasted
from sheets_sync.core.model import (
    ADJUSTED,
    APPROVED,
    NEEDS_REVIEW,
    PRICE_CORRECTED,
    PRICE_REVIEWED,
    REJECTED,
    LedgerEntry,
)
from sheets_sync.core.project.table import DATE_TIME, MONEY, TableLayout, column_formats, diff_cells, local_moment

REVIEW_TAB = "Review"
REVIEW_COLUMNS = ("Client", "Lead ID", "Reason", "Requested", "Why", "Decision", "Decided", "Delivered", "Price")
"""SPEC §2.4's columns, then what helps decide: the lead's delivery and price. A Review tab
of an older release gets the last two appended at its right, as any missing engine column."""
REVIEW_FORMATS = {"Requested": DATE_TIME, "Decided": DATE_TIME, "Delivered": DATE_TIME, "Price": MONEY}
REVIEW_TAB_SPEC = TabSpec(
    REVIEW_TAB, column_widths=((1, 20), (2, 12), (3, 24), (4, 16), (5, 60), (6, 11), (7, 16), (8, 16), (9, 10)),
    dropdowns=((6, ("Approve", "Reject")),), header_fill="D9E1F2", header_columns=len(REVIEW_COLUMNS),
    wrap_columns=(3, 5), text_columns=(2,))
PRICE_REASON = "Price corrected to "


@dataclass(frozen=True, slots=True)
class ReviewRow:
    row: int
    client: str
    lead_text: str
    decision: str
    """``Approve``, ``Reject`` or ``""`` as the operator typed it (normalised)."""
    reason: str = ""
    typed: str = ""
    """The ``Decision`` cell as typed: a word other than Approve or Reject is reported."""

    @property
    def about_price(self) -> bool:
        """Whether the row is a corrected price's (its Reason says so), not a request's."""
        return self.reason.casefold().startswith(PRICE_REASON.casefold())


def price_reason(item: LedgerEntry) -> str:
    """The Reason of a corrected price's Review row: which correction the row answers."""
    return f"{PRICE_REASON}{item.price:,.2f}"


def read_review_rows(grid: Grid, layout: TableLayout) -> list[ReviewRow]:
    rows = []
    for number in range(2, len(grid) + 1):
        client = cell_text(grid_cell(grid, number, layout.column_of["Client"]))
        lead_text = cell_text(grid_cell(grid, number, layout.column_of["Lead ID"]))
        if not client and not lead_text:
            continue
        typed = cell_text(grid_cell(grid, number, layout.column_of["Decision"])).strip()
        word = {"approve": "Approve", "approved": "Approve", "reject": "Reject", "rejected": "Reject"}.get(
            typed.casefold(), "")
        reason = cell_text(grid_cell(grid, number, layout.column_of["Reason"])).strip()
        rows.append(ReviewRow(number, client, lead_text, word, reason, typed))
    return rows


@dataclass(frozen=True, slots=True)
class ReviewLine:
    """What the engine shows on one Review row."""

    client: str
    lead_id: str
    reason: str | None
    requested: datetime | None
    why: str
    decided: datetime | None
    delivered: datetime | None = None
    """The sale's delivery, local wall-clock time (blank when the row names no sale)."""
    price: Decimal | None = None
    """What the client paid for it (a corrected price's row: the new price)."""


def _sale_facts(entry: LedgerEntry | None, zone: ZoneInfo | None) -> dict[str, datetime | Decimal | None]:
    """The ``delivered`` and ``price`` of a ReviewLine about ``entry``'s sale."""
    if entry is None:
        return {}
    delivered = entry.delivered_at.astimezone(zone) if zone is not None and entry.delivered_at.tzinfo else \
        entry.delivered_at
    return {"delivered": delivered, "price": entry.price}


def plan_review_tab(grid: Grid, layout: TableLayout,
                    lines: Sequence[tuple[int | None, ReviewLine]]) -> list[CellWrite]:
    """Each line goes to its row; lines without one are appended at the bottom, in order."""
    wanted: dict[tuple[int, int], CellValue] = {(1, column): name for column, name in layout.added_headers}
    next_row = max(len(grid), 1) + 1
    for row, line in lines:
        if row is None:
            row, next_row = next_row, next_row + 1
            wanted[(row, layout.column_of["Client"])] = line.client
            wanted[(row, layout.column_of["Lead ID"])] = line.lead_id
        if line.reason is not None:
            wanted[(row, layout.column_of["Reason"])] = line.reason
        if line.requested is not None:
            wanted[(row, layout.column_of["Requested"])] = local_moment(line.requested)
        wanted[(row, layout.column_of["Why"])] = line.why
        wanted[(row, layout.column_of["Decided"])] = local_moment(line.decided)
        wanted[(row, layout.column_of["Delivered"])] = local_moment(line.delivered)
        wanted[(row, layout.column_of["Price"])] = line.price
    return diff_cells(REVIEW_TAB, grid, wanted, column_formats(layout, REVIEW_FORMATS))



def needs_review(entry: LedgerEntry) -> bool:
    return entry.kind == "decision" and entry.status == NEEDS_REVIEW


REVIEW_REQUIRED = ("Client", "Lead ID", "Decision")
REVIEW_ENGINE = ("Reason", "Requested", "Why", "Decided", "Delivered", "Price")


@dataclass
class ReviewTab:
    """The operator's Review tab as read, each row's (client, lead ID) resolved."""

    grid: Grid
    layout: TableLayout
    header_writes: list[CellWrite]
    rows: list[ReviewRow]
    keys: list[tuple[tuple[str, str] | None, str]]
    """Per row, the (client, lead ID) it names, or ``None`` and why not."""


def review_key(row: ReviewRow, names: Mapping[str, str], indexes: Mapping[str, ClientLeadIndex]
               ) -> tuple[tuple[str, str] | None, str]:
    """The (client, lead ID) a Review row names, or ``None`` and why not. ``names`` maps a
    casefolded client name to the configured one."""
    client = names.get(row.client.casefold())
    if client is None:
        return None, f"No client named {row.client!r} in the config."
    tokens = split_pasted(row.lead_text)
    match = indexes[client].match(tokens[0]) if len(tokens) == 1 else None
    if match is None or match.lead_id is None:
        return None, f"No lead {row.lead_text!r} was delivered to {client}."
    return (client, match.lead_id), ""


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """A decision the operator typed, to record as a new ledger entry."""

    client: str
    lead_id: str
    kind: str
    """``review`` (a request that waited), ``override`` (a goodwill credit), ``reversal``
    (a credit taken back) or ``adjustment`` (the answer to a corrected price)."""
    status: str
    rule: str
    detail: str
    reason: str
    first_seen: datetime
    refers_to: LedgerEntry | None = None
    """For a reversal: the approval whose credit it takes back; for an adjustment: the price
    item it answers."""


def settle_reviews(review: ReviewTab, state: LedgerState, as_of: datetime) -> Iterator[ReviewOutcome]:
    """The operator's decisions that the ledger does not hold yet, in row order. The caller
    records each outcome in ``state`` before asking for the next, so a lead named on two
    rows is settled once."""
    when = f"{as_of:%Y-%m-%d}"
    for row, (key, _) in zip(review.rows, review.keys):
        if key is None:
            continue
        if row.about_price:  # only the latest correction of a price can be answered
            item = state.price_item(key)
            if row.decision and item is not None and row.reason == price_reason(item) \
                    and state.settlement(item) is None:
                yield ReviewOutcome(*key, "adjustment", APPROVED if row.decision == "Approve" else ADJUSTED,
                                    PRICE_REVIEWED, "", item.reason, item.first_seen, item)
            continue
        latest = state.latest.get(key)
        approval = state.approval(key)
        granted = state.granted_by(key) if approval is not None else None
        if granted is not None and (granted.kind == "review" and row.decision == "Reject"
                                    or granted.kind == "override" and not row.decision):
            credited = state.credited[key]
            yield ReviewOutcome(*key, "reversal", REJECTED, "operator_reversal",
                                f"Approved on {granted.decided_at:%Y-%m-%d}, then reversed by the operator on {when}: "
                                f"the credit of {credited:,.2f} was taken back.", granted.reason, granted.first_seen,
                                approval)
        elif not row.decision:
            continue
        elif latest is not None and needs_review(latest):
            approve = row.decision == "Approve"
            yield ReviewOutcome(*key, "review", APPROVED if approve else REJECTED, "operator_review",
                                f"{'Approved' if approve else 'Rejected'} on review by the operator on {when}.",
                                latest.reason, latest.first_seen)
        elif row.decision == "Approve" and (latest is None or latest.status == REJECTED) \
                and (*key, "override") not in state.by_kind:
            before = f" (the policy had said: {latest.detail})" if latest else ""
            yield ReviewOutcome(*key, "override", APPROVED, "operator_override",
                                f"Approved by the operator as a goodwill credit on {when}{before}",
                                latest.reason if latest else "", latest.first_seen if latest else as_of)


def _goodwill_why(row: ReviewRow, latest: LedgerEntry | None) -> str:
    if latest is not None and latest.status == APPROVED:
        return f"Already approved ({latest.rule}) on {latest.decided_at:%Y-%m-%d}; no further credit."
    if row.decision == "Reject":
        return "Nothing to reject: only requests waiting for review can be rejected here."
    return "Type Approve in Decision to grant this return as a goodwill credit."


def waiting_items(state: LedgerState) -> list[LedgerEntry]:
    """The items that wait for the operator: requests sent to review and not settled, and
    corrected prices not answered."""
    return [entry for entry in state.entries if state.is_live(entry) and (
        needs_review(entry) and (*state.sale(entry), "review") not in state.by_kind
        or entry.rule == PRICE_CORRECTED and state.price_item(state.sale(entry)) is entry
        and state.settlement(entry) is None)]


def review_lines(state: LedgerState, review: ReviewTab, zone: ZoneInfo | None = None
                 ) -> list[tuple[int | None, ReviewLine]]:
    """What each Review row shows: rows that name nothing say why; every request that went
    to review, and every corrected price, has its line (on the operator's row for it, else
    appended); goodwill rows say what came of them. Each line about a sale the ledger holds
    shows its delivery (in ``zone``, the workspace's) and price."""
    row_of: dict[tuple[str, str], int] = {}
    price_row_of: dict[tuple[str, str, str], int] = {}
    lines: list[tuple[int | None, ReviewLine]] = []
    for row, (key, problem) in zip(review.rows, review.keys):
        if key is None:
            lines.append((row.row, ReviewLine(row.client, row.lead_text, None, None, problem, None)))
        elif row.about_price:
            price_row_of.setdefault((*key, row.reason), row.row)
        else:
            row_of.setdefault(key, row.row)
    for entry in state.entries:
        if not state.is_live(entry):
            continue
        key = state.sale(entry)
        if needs_review(entry):
            outcome = state.by_kind.get((*key, "review"))
            lines.append((row_of.pop(key, None), ReviewLine(
                entry.client, entry.lead_id, entry.reason, entry.first_seen,
                outcome.detail if outcome else entry.detail, outcome.decided_at if outcome else None,
                **_sale_facts(entry, zone))))
        elif entry.rule == PRICE_CORRECTED:
            answer = state.settlement(entry)
            why = answer.detail if answer else entry.detail if state.price_item(key) is entry \
                else "Corrected again since: see the newer row of this lead."
            lines.append((price_row_of.pop((*key, price_reason(entry)), None), ReviewLine(
                entry.client, entry.lead_id, price_reason(entry), entry.decided_at, why,
                answer.decided_at if answer else None, **_sale_facts(entry, zone))))
    rows_by_number = {row.row: row for row in review.rows}
    for key, number in row_of.items():
        override = state.by_kind.get((*key, "override"))
        why = override.detail if override else _goodwill_why(rows_by_number[number], state.latest.get(key))
        lines.append((number, ReviewLine(key[0], key[1], None, None, why, override.decided_at if override else None,
                                         **_sale_facts(override or state.latest.get(key), zone))))
    for (client, lead_id, _), number in price_row_of.items():
        lines.append((number, ReviewLine(client, lead_id, None, None,
                                         "No such correction of this lead's price is known.", None)))
    return lines
