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


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A decision, a review outcome or an operator override made in this run, before the
    ledger numbers it."""

    client: str
    lead_id: str
    kind: str
    """``decision`` (the policy's), ``review`` (an operator settling a review) or ``override``."""
    status: str
    rule: str
    detail: str
    reason: str
    credit: Decimal
    credit_type: str
    first_seen: datetime
    decided_at: datetime
    lead_week: date
    cash_week: date


@dataclass(frozen=True, slots=True)
class LedgerEntry(NewEntry):
    """One line of the ledger: a :class:`NewEntry` as recorded, numbered, with its run."""

    seq: int
    run_id: str
