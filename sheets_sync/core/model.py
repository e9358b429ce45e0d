"""Frozen records passed between the stages of a sync."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

APPROVED = "Approved"
REJECTED = "Rejected"
NEEDS_REVIEW = "Needs review"
DUPLICATE = "Duplicate request"
MIXED = "Mixed"
UNKNOWN = "Unknown lead ID"
STATUSES = (APPROVED, REJECTED, NEEDS_REVIEW, DUPLICATE, MIXED, UNKNOWN)


@dataclass(frozen=True, slots=True)
class Lead:
    lead_id: str
    delivered_at: datetime
    delivered_on: date
    """The delivery's calendar date in the workspace timezone."""
    client: str
    vertical: str
    country: str
    price: Decimal
    cost: Decimal
    source: str = ""
    campaign: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one input row or one source, told to the operator."""

    source: str
    message: str
    row: int | None = None

    def __str__(self) -> str:
        where = f"{self.source} row {self.row}" if self.row else self.source
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a policy rule decided for one request."""

    status: str
    rule: str
    detail: str


ENTRY_KINDS = ("decision", "review", "override", "reversal", "adjustment", "undo")
"""``decision``: the policy's; ``review``: an operator settling a request that waited;
``override``: an operator's goodwill credit; ``reversal``: an operator taking a credit back;
``undo``: ``sheets-sync undo`` voiding an entry of a run; ``adjustment``: a correction of a
credited sale's facts from the lead log (core/corrections.py)."""
DECIDING_KINDS = ("decision", "review", "override")

SALE_CORRECTED = "sale_corrected"
"""The rule of the adjustments that move a credit with its sale (a refunded lead moves too)."""
PRICE_CORRECTED = "price_corrected"
"""The rule of a Review item: the lead log corrected a credited sale's price."""
PRICE_REVIEWED = "operator_price_review"
"""The rule of the operator's answer to a price item (money moves, refunded leads do not)."""
ADJUSTED = "Adjusted"
"""The status of an adjustment a client's row does not show: a credit moved out of its old
place, or a price item settled without money."""


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A ledger entry made in this run, before the ledger numbers it.

    Self-contained: besides what was decided it holds the facts it was decided on -- the
    sale's delivery moment, group values and price -- so the books stay true when the lead
    log is trimmed, re-exported or corrected. ``credit`` is signed (a reversal or an undo
    takes money back); ``decided_at`` is when it was booked (the cash view's week).
    ``lead_week`` and ``cash_week`` are the weeks of those two moments under the run's
    calendar: worked out when an entry is made or read, never stored."""

    client: str
    lead_id: str
    kind: str
    status: str
    rule: str
    detail: str
    reason: str
    credit: Decimal
    credit_type: str
    first_seen: datetime
    decided_at: datetime
    delivered_at: datetime
    vertical: str
    country: str
    source: str
    campaign: str
    price: Decimal
    lead_week: date
    cash_week: date
    refers_to: int | None = None
    """The ``seq`` of the entry a reversal or an undo corrects."""


@dataclass(frozen=True, slots=True)
class LedgerEntry(NewEntry):
    """One line of the ledger: a :class:`NewEntry` as recorded, numbered, with its run."""

    seq: int = 0
    run_id: str = ""
