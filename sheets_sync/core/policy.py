"""The return policy (SPEC §2.3) as an ordered list of small pure rules.

Each rule looks at one request and either decides it (a :class:`Verdict` naming the rule
and saying why, with the numbers) or passes it on. The first rule that decides wins; a
request that passes every rule is approved.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sheets_sync.core.model import APPROVED, NEEDS_REVIEW, REJECTED, Lead, Verdict
from sheets_sync.core.money import format_money
from sheets_sync.core.reasons import reason_code, reason_label

if TYPE_CHECKING:  # the config is read by the I/O layer and handed in
    from sheets_sync.config import Policy


@dataclass(frozen=True, slots=True)
class Request:
    client: str
    lead: Lead
    reason_text: str
    first_seen_on: date
    """The date the engine first saw the request, in the workspace timezone."""
    currency: str = "USD"
    first_seen_at: datetime | None = None
    """The moment it was first seen, as local wall-clock time like ``lead.delivered_at``."""


@dataclass(slots=True)
class ClientHistory:
    """What the return-rate cap needs to know about one client, kept current during a run."""

    delivery_dates: list[date]
    """Delivery dates of all the client's leads, sorted."""
    approved_delivery_dates: list[date] = field(default_factory=list)
    """Delivery dates of the client's approved returns, sorted."""

    def approve(self, lead: Lead) -> None:
        self.approved_delivery_dates.insert(bisect_right(self.approved_delivery_dates, lead.delivered_on),
                                            lead.delivered_on)

    def counts_between(self, first: date, last: date) -> tuple[int, int]:
        """(leads delivered, of them approved returns) with delivery dates in [first, last]."""

        def count(dates: list[date]) -> int:
            return bisect_right(dates, last) - bisect_left(dates, first)

        return count(self.delivery_dates), count(self.approved_delivery_dates)


Rule = Callable[[Request, "Policy", ClientHistory, "str | None"], "Verdict | None"]


def returns_enabled(request: Request, policy: Policy, history: ClientHistory, code: str | None) -> Verdict | None:
    if not policy.returns_enabled:
        return Verdict(REJECTED, "returns_disabled", "Returns are not enabled for this account.")
    return None


def reason_given(request: Request, policy: Policy, history: ClientHistory, code: str | None) -> Verdict | None:
    if policy.require_reason and not request.reason_text:
        return Verdict(REJECTED, "reason_required", "A reason is required: write why the lead is bad in Reason.")
    return None


QUOTED_REASON_LIMIT = 60
"""Characters of a client's reason that a Detail quotes (the row shows the reason in full
beside it, and the Review tab too): a Detail stays one readable sentence."""


def reason_understood(request: Request, policy: Policy, history: ClientHistory, code: str | None) -> Verdict | None:
    if request.reason_text and code is None:
        text = request.reason_text
        quoted = text if len(text) <= QUOTED_REASON_LIMIT else text[:QUOTED_REASON_LIMIT - 1] + "\u2026"
        return Verdict(NEEDS_REVIEW, "unknown_reason",
                       f"We do not recognise the reason {quoted!r}; a person will review it.")
    return None


def reason_returnable(request: Request, policy: Policy, history: ClientHistory, code: str | None) -> Verdict | None:
    if code is not None and code not in policy.returnable_reasons:
        return Verdict(REJECTED, "reason_not_returnable",
                       f"{reason_label(code)} is not a returnable reason under your policy (the note on the Lead ID "
                       "header lists those that are).")
    return None


def seen_after_delivery(request: Request, policy: Policy, history: ClientHistory, code: str | None) -> Verdict | None:
    """A request first seen before its lead was delivered can only come from a mistyped
    ``--as-of`` or ``Delivered At``; a negative age must never pass the window."""
    seen = request.first_seen_at or datetime.combine(request.first_seen_on, datetime.max.time())
    if seen < request.lead.delivered_at:
        return Verdict(REJECTED, "before_delivery",
                       f"First seen {seen:%Y-%m-%d %H:%M}, before the lead was delivered "
                       f"({request.lead.delivered_at:%Y-%m-%d %H:%M}): we are checking the delivery time.")
    return None


def within_window(request: Request, policy: Policy, history: ClientHistory, code: str | None) -> Verdict | None:
    age = (request.first_seen_on - request.lead.delivered_on).days
    if age > policy.window_days:
        return Verdict(REJECTED, "window",
                       f"Outside the {policy.window_days}-day return window: delivered "
                       f"{request.lead.delivered_on.isoformat()}, reported {request.first_seen_on.isoformat()}.")
    return None


def under_cap(request: Request, policy: Policy, history: ClientHistory, code: str | None) -> Verdict | None:
    period_start = request.first_seen_on - timedelta(days=policy.cap_window_days - 1)
    delivered, approved = history.counts_between(period_start, request.first_seen_on)
    # The rate counts leads delivered in the period: approving a lead from before it adds no
    # return to the period, so only a rate already over the cap sends it to review.
    in_period = period_start <= request.lead.delivered_on <= request.first_seen_on
    returns = approved + 1 if in_period else approved
    if delivered and returns > policy.max_return_rate * delivered:  # exact: a rate at the cap is not over it
        return Verdict(NEEDS_REVIEW, "return_rate_cap",
                       f"Approving would bring the {policy.cap_window_days}-day return rate to "
                       f"{returns / delivered:.1%} ({returns} of {delivered} leads), over the "
                       f"{policy.max_return_rate:%} cap; "
                       "an operator will review it.")
    return None


# Rules that settle a request whatever its reason means come first: a late request is
# rejected, never sent to an operator only to be told it is late.
RULES: tuple[Rule, ...] = (returns_enabled, seen_after_delivery, within_window, reason_given, reason_understood, reason_returnable,
                           under_cap)

CREDIT_WORDS = {"wallet": "wallet credit", "invoice": "invoice credit", "replacement": "a replacement lead"}


def decide(request: Request, policy: Policy, history: ClientHistory) -> Verdict:
    """The verdict for one request; an approval is recorded in ``history`` for the cap."""
    code = reason_code(request.reason_text, policy.aliases) if request.reason_text else None
    for rule in RULES:
        verdict = rule(request, policy, history, code)
        if verdict is not None:
            return verdict
    history.approve(request.lead)
    because = f" ({reason_label(code)})" if code else ""
    return Verdict(APPROVED, "policy",
                   f"Approved{because}: {format_money(request.lead.price, request.currency)} as {CREDIT_WORDS[policy.credit]}; lead delivered "
                   f"{request.lead.delivered_on.isoformat()}.")
