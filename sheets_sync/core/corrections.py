"""What a run books when the lead log changed under a credited sale (SPEC §3.1).

The ledger keeps the facts each credit was decided on; the lead log is what the operator
says now. Where they differ, the ledger is never edited: new ``adjustment`` entries follow
the log, each booked now (so the cash view never moves) and each with its audit row.

* A corrected delivery time or group value moves the refund: out of the old week and group
  (``Adjusted``, −credit), into the new one (``Approved``, +credit).
* A sale re-filed under another client (the same lead, delivered at the same moment, now
  listed under a client that has no history of it) takes its credit along: the first
  client's row then reads ``Unknown lead ID`` and says where the lead went; the second
  client's request of it is never credited again.
* A corrected price never changes a credit by itself: it becomes a ``Review`` item, and the
  operator's ``Approve`` books the difference (negative when the price fell).

The wall-clock times of the lead log are local times of the run that read them (or of the
run whose entry a correction copied them from): a change of ``timezone`` reads them anew but
is not a correction of the ledger's moments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sheets_sync.core.books import Booking, LedgerState, Sale
from sheets_sync.core.model import (
    ADJUSTED,
    APPROVED,
    NEEDS_REVIEW,
    PRICE_CORRECTED,
    PRICE_REVIEWED,
    SALE_CORRECTED,
    UNKNOWN,
    Lead,
    LedgerEntry,
    NewEntry,
)
from sheets_sync.core.money import ZERO

GROUP_FACTS = ("vertical", "country", "source", "campaign")


def moment_of(lead: Lead, zone: ZoneInfo) -> datetime:
    """A lead's delivery (local wall-clock time in the log) as the UTC moment the ledger keeps."""
    return lead.delivered_at.replace(tzinfo=zone).astimezone(timezone.utc)


def sale_facts(lead: Lead, zone: ZoneInfo) -> dict[str, object]:
    """The facts of a sale as an entry keeps them (the price aside)."""
    return {"delivered_at": moment_of(lead, zone), **{name: getattr(lead, name) for name in GROUP_FACTS}}


IdsOf = Callable[[str, str], "str | None"]
"""(client, lead ID) -> the ID under which that client's sales know the lead (the ledger's
name for a sale it holds, else the lead log's), by the pasted-ID matching rules; or None."""


def corrections(state: LedgerState, clients: Sequence[str], lead_of: Callable[[Sale], Lead | None], ids_of: IdsOf,
                zone_of_run: Callable[[str], ZoneInfo], booking: Booking) -> Iterator[NewEntry]:
    """The adjustments and Review items the lead log calls for now. ``lead_of`` finds a sale
    the ledger holds in the lead log. The caller records each entry in ``state`` before
    taking the next."""
    for sale in list(state.latest):
        approval = state.approval(sale)
        if approval is None:
            continue
        read_in = zone_of_run(state.read_from(approval).run_id)
        lead = lead_of(sale)
        if lead is None:
            yield from _refiled(state, sale, approval, read_in, clients, lead_of, ids_of, booking)
            continue
        yield from _moved(state, sale, approval, lead, read_in, booking)
        yield from _price_item(state, sale, lead, booking)


def _wall_clock(entry: NewEntry, zone: ZoneInfo) -> datetime:
    return entry.delivered_at.astimezone(zone).replace(tzinfo=None)


def _moved(state: LedgerState, sale: Sale, approval: LedgerEntry, lead: Lead, read_in: ZoneInfo,
           booking: Booking) -> Iterator[NewEntry]:
    """A corrected delivery time or group: the refund moves with it."""
    was = _wall_clock(approval, read_in)
    facts = sale_facts(lead, booking.calendar.zone)
    # Neither the same wall-clock time read in another timezone, nor the same moment
    # exported in another timezone, is a correction.
    retimed = was != lead.delivered_at and facts["delivered_at"] != approval.delivered_at
    changed = [f"{name} {getattr(approval, name)} to {getattr(lead, name)}"
               for name in GROUP_FACTS if getattr(approval, name) != getattr(lead, name)]
    if not retimed and not changed:
        return
    if not retimed:
        facts["delivered_at"] = approval.delivered_at
    elif was.date() != lead.delivered_at.date():
        changed.insert(0, f"delivered {was.date().isoformat()} to {lead.delivered_at.date().isoformat()}")
    because = "; ".join(changed) or "its delivery time"
    credited = state.credited[sale]
    yield booking.entry_like(approval, kind="adjustment", status=ADJUSTED, rule=SALE_CORRECTED, credit=-credited,
                             detail=f"Moved out of the week of {booking.week(approval.delivered_at).isoformat()}: "
                                    f"the lead log corrected this lead ({because}).", refers_to=approval.seq)
    new_week = booking.week(facts["delivered_at"])
    yield booking.entry_like(
        approval, kind="adjustment", status=APPROVED, rule=SALE_CORRECTED, credit=credited,
        detail=f"{state.granted_by(sale).detail} Moved to the week of {new_week.isoformat()} on {booking.day}: "
               f"the lead log corrected this lead ({because}).",
        lead_week=new_week, refers_to=approval.seq, **facts)


def _refiled(state: LedgerState, sale: Sale, approval: LedgerEntry, read_in: ZoneInfo, clients: Sequence[str],
             lead_of: Callable[[Sale], Lead | None], ids_of: IdsOf, booking: Booking) -> Iterator[NewEntry]:
    """A credited sale the log now files under another client: its credit goes along."""
    client, lead_id = sale
    was = _wall_clock(approval, read_in)
    for other in clients:
        known_as = ids_of(other, lead_id) if other != client else None
        if known_as is None or state.knows((other, known_as)):
            continue
        lead = lead_of((other, known_as))
        if lead is None or lead.delivered_at != was:
            continue  # another client's own purchase of a shared lead is another sale
        credited = state.credited[sale]
        yield booking.entry_like(
            approval, kind="adjustment", status=UNKNOWN, rule=SALE_CORRECTED, credit=-credited,
            detail=f"Lead {lead_id} is filed under {other} in the lead log since {booking.day}: the credit of "
                   f"{credited:,.2f} went with it.", refers_to=approval.seq)
        facts = sale_facts(lead, booking.calendar.zone)
        # The price the credit was given on: a different price in the log is a Review item.
        yield booking.entry_like(
            approval, client=other, kind="adjustment", status=APPROVED, rule=SALE_CORRECTED, credit=credited,
            detail=f"{state.granted_by(sale).detail} Moved from client {client} on {booking.day}: the lead log "
                   f"re-filed this lead under {other}.",
            lead_week=booking.week(facts["delivered_at"]), refers_to=approval.seq, **facts)
        yield from _price_item(state, (other, lead_id), lead, booking)  # its log price may differ
        return


def _price_item(state: LedgerState, sale: Sale, lead: Lead, booking: Booking) -> Iterator[NewEntry]:
    """A corrected price: a Review item, once per price the log names."""
    approval = state.approval(sale)
    last_item = state.price_item(sale)
    if approval is None or lead.price == approval.price or last_item is not None and last_item.price == lead.price:
        return
    credited = state.credited[sale]
    yield booking.entry_like(
        approval, kind="adjustment", status=NEEDS_REVIEW, rule=PRICE_CORRECTED, credit=ZERO, price=lead.price,
        detail=f"Price changed from {approval.price:,.2f} to {lead.price:,.2f} after a credit of {credited:,.2f}: "
               f"Approve to credit the difference ({lead.price - credited:+,.2f}), Reject to keep the credit.",
        refers_to=approval.seq)


def price_settlement(state: LedgerState, item: LedgerEntry, approve: bool, booking: Booking) -> NewEntry:
    """The operator's answer to a price item: ``Approve`` credits the difference between the
    new price and what was credited; ``Reject`` keeps the credit as it was."""
    sale = state.sale(item)
    credited = state.credited[sale]
    approval = state.approval(sale) or item
    if not approve:
        return booking.entry_like(item, kind="adjustment", status=ADJUSTED, rule=PRICE_REVIEWED, credit=ZERO,
                                  detail=f"Price correction to {item.price:,.2f} rejected by the operator on "
                                         f"{booking.day}: the credit stays {credited:,.2f}.", refers_to=item.seq)
    difference = item.price - credited
    return booking.entry_like(
        approval, kind="adjustment", status=APPROVED, rule=PRICE_REVIEWED, credit=difference, price=item.price,
        detail=f"{state.granted_by(sale).detail} Credit changed by {difference:+,.2f} to {item.price:,.2f} on "
               f"{booking.day}: the price was corrected to {item.price:,.2f} (approved by the operator).",
        refers_to=item.seq)
