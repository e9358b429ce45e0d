"""The books as a run sees them: every ledger entry, what each sale's row shows now, and
where each credit lands (SPEC §3.1).

An entry voided by ``undo`` no longer decides anything (its request is decided afresh),
but its money and the undo's stay in the books: the cash view shows both, each in the week
it was booked; the accrual rows net them out in the sale's week.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from zoneinfo import ZoneInfo

from sheets_sync.core.ids import ClientLeadIndex, IdMatch, PastedId
from sheets_sync.core.model import (
    APPROVED,
    DECIDING_KINDS,
    PRICE_CORRECTED,
    PRICE_REVIEWED,
    SALE_CORRECTED,
    UNKNOWN,
    Lead,
    LedgerEntry,
    NewEntry,
)
from sheets_sync.core.money import ZERO
from sheets_sync.core.project.tracking import Refund
from sheets_sync.core.weeks import Calendar, local_date

SHOWN_KINDS = (*DECIDING_KINDS, "reversal")
"""The kinds whose latest live entry is what a client's row shows."""
Sale = tuple[str, str]
"""(client, lead ID): one sale of one lead to one client."""


class LedgerState:
    """Every entry, and the latest live one per sale (client, lead), kept current as a run
    decides."""

    def __init__(self, entries: list[LedgerEntry], canonical: Callable[[str], str] = str) -> None:
        """``canonical`` names a client as the config does now (``formerly:`` names are
        kept in the entries as they were written)."""
        self.canonical = canonical
        self.entries = list(entries)
        self.latest: dict[tuple[str, str], LedgerEntry] = {}
        self.by_kind: dict[tuple[str, str, str], LedgerEntry] = {}
        self.credited: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        self._latest_by_client: dict[str, dict[str, LedgerEntry]] = defaultdict(dict)
        self._undone: set[int] = set()
        self._of_sale: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
        self._by_seq: dict[int, LedgerEntry] = {}
        self._of_client: dict[str, list[LedgerEntry]] = defaultdict(list)
        for entry in entries:
            self._index(entry)

    def sale(self, entry: NewEntry) -> tuple[str, str]:
        return self.canonical(entry.client), entry.lead_id

    def _index(self, entry: LedgerEntry) -> None:
        sale = self.sale(entry)
        self._of_sale[sale].append(entry)
        self._by_seq[entry.seq] = entry
        self._of_client[sale[0]].append(entry)
        self.credited[sale] += entry.credit
        if entry.kind == "undo":
            self._undone.add(entry.refers_to)
            self._reindex(sale)
        elif _shown(entry):
            self._show(entry)

    def _show(self, entry: LedgerEntry) -> None:
        client, lead_id = self.sale(entry)
        self.latest[(client, lead_id)] = entry
        self.by_kind[(client, lead_id, entry.kind)] = entry
        self._latest_by_client[client][lead_id] = entry

    def _reindex(self, sale: tuple[str, str]) -> None:
        """After an undo: what the sale shows is its latest entry still live, if any."""
        client, lead_id = sale
        self.latest.pop(sale, None)
        self._latest_by_client[client].pop(lead_id, None)
        for kind in (*SHOWN_KINDS, "adjustment"):
            self.by_kind.pop((client, lead_id, kind), None)
        for entry in self._of_sale[sale]:
            if _shown(entry) and entry.seq not in self._undone:
                self._show(entry)

    def add(self, new: NewEntry, run_id: str) -> LedgerEntry:
        entry = LedgerEntry(*_new_entry_values(new), seq=len(self.entries) + 1, run_id=run_id)
        self.entries.append(entry)
        self._index(entry)
        return entry

    def of_client(self, client: str) -> Mapping[str, LedgerEntry]:
        """The latest live entry per lead ID of one client."""
        return self._latest_by_client.get(client, {})

    @property
    def by_seq(self) -> Mapping[int, LedgerEntry]:
        return self._by_seq

    def entries_of(self, client: str) -> list[LedgerEntry]:
        """Every entry of one client (under its former names too), oldest first."""
        return self._of_client.get(client, [])

    def credits_of(self, client: str) -> dict[str, Decimal]:
        """What each sale of one client was credited in all, by lead ID."""
        return {lead_id: self.credited[(client, lead_id)] for lead_id in self.of_client(client)}

    def last_entry(self, sale: tuple[str, str]) -> LedgerEntry:
        """The sale's newest entry, live or not: its facts are where its money was last placed."""
        return self._of_sale[sale][-1]

    def is_live(self, entry: LedgerEntry) -> bool:
        return entry.kind != "undo" and entry.seq not in self._undone

    def entries_of_run(self, run_id: str) -> list[LedgerEntry]:
        """The live entries a run made, and the live entries made since that correct them (a
        reversal, an adjustment: moot once what they correct is void), newest first -- the
        order an undo takes them back, so a sale's credits never leave [0, price] on the way."""
        voided: set[int] = set()
        for entry in self.entries:
            if self.is_live(entry) and (entry.run_id == run_id or entry.refers_to in voided):
                voided.add(entry.seq)
        return [entry for entry in reversed(self.entries) if entry.seq in voided]

    def approval(self, sale: Sale) -> LedgerEntry | None:
        """The live entry that approved the sale's return, while it stands."""
        latest = self.latest.get(sale)
        return latest if latest is not None and latest.status == APPROVED else None

    def read_from(self, entry: LedgerEntry) -> LedgerEntry:
        """The entry whose delivery moment ``entry`` carries: itself, or the one it copied it
        from (a correction keeps the moment of what it corrects)."""
        while entry.refers_to in self._by_seq and self._by_seq[entry.refers_to].delivered_at == entry.delivered_at:
            entry = self._by_seq[entry.refers_to]
        return entry

    def knows(self, sale: Sale) -> bool:
        """Whether the ledger holds any entry of the sale."""
        return sale in self._of_sale

    def _live_of_sale(self, sale: Sale) -> Iterator[LedgerEntry]:
        """The sale's live entries, newest first."""
        return (entry for entry in reversed(self._of_sale.get(sale, [])) if self.is_live(entry))

    def granted_by(self, sale: Sale) -> LedgerEntry | None:
        """The live decision, review or override that granted the sale's standing credit (an
        adjustment that moved it keeps its words), else the approval itself."""
        return next((entry for entry in self._live_of_sale(sale)
                     if entry.kind in DECIDING_KINDS and entry.status == APPROVED), self.approval(sale))

    def price_item(self, sale: Sale) -> LedgerEntry | None:
        """The sale's latest live Review item of a corrected price, waiting or settled."""
        return next((entry for entry in self._live_of_sale(sale) if entry.rule == PRICE_CORRECTED), None)

    def settlement(self, item: LedgerEntry) -> LedgerEntry | None:
        """The operator's live answer to a price item, if any."""
        return next((entry for entry in self._live_of_sale(self.sale(item))
                     if entry.rule == PRICE_REVIEWED and entry.refers_to == item.seq), None)


def _shown(entry: NewEntry) -> bool:
    """Whether a client's row shows this entry while it is the sale's latest: a decision, a
    review, an override, a reversal, or an adjustment that stands for the credit (in its
    new place, at its new price) or says where it went (a sale re-filed under another client)."""
    return entry.kind in SHOWN_KINDS or entry.kind == "adjustment" and entry.status in (APPROVED, UNKNOWN)


_new_entry_values = attrgetter(*NewEntry.__dataclass_fields__)
"""A :class:`NewEntry`'s fields in order: a :class:`LedgerEntry` takes them first."""


def new_entry_like(entry: NewEntry, **changes: object) -> NewEntry:
    """A new entry with ``entry``'s facts (its sale, group, price) and ``changes``."""
    return replace(NewEntry(*_new_entry_values(entry)), **changes)


@dataclass(frozen=True, slots=True)
class Booking:
    """When a run books its entries (its moment, in the workspace timezone), and the
    calendar that places them."""

    moment: datetime
    calendar: Calendar

    @property
    def day(self) -> str:
        return f"{self.moment:%Y-%m-%d}"

    @property
    def cash_week(self) -> date:
        return self.calendar.week(self.moment)

    def week(self, moment: datetime) -> date:
        return self.calendar.week(moment)

    def entry_like(self, entry: NewEntry, **changes: object) -> NewEntry:
        """A new entry with ``entry``'s facts and ``changes``, booked now."""
        return new_entry_like(entry, decided_at=self.moment, cash_week=self.cash_week, **changes)


class SaleIndex:
    """A client's lead index that names each sale the ledger knows as the ledger first
    recorded it. A re-exported log may spell an ID otherwise (``000123`` saved as ``123``,
    another letter case): matched by the same rules as pasted IDs, it is the same sale,
    so it is never decided or credited again (SPEC §3.1)."""

    def __init__(self, index: ClientLeadIndex, recorded: Iterable[str]) -> None:
        self._index = index
        recorded = set(recorded)
        self._ledger_id: dict[str, str] = {}
        self._log_id: dict[str, str] = {}
        gone = []
        for lead_id in sorted(recorded):
            if index.position(lead_id) is None:
                found = index.match(lead_id).lead_id
                if found is not None and found not in recorded and found not in self._ledger_id:
                    self._ledger_id[found], self._log_id[lead_id] = lead_id, found
                else:
                    gone.append(lead_id)
        self._gone = ClientLeadIndex(gone)
        """Sales the ledger holds that the log no longer lists: a client's row still names them."""

    def match(self, pasted: PastedId | str) -> IdMatch:
        found = self._index.match(pasted)
        if found.lead_id is None:
            return found if found.note else self._gone.match(pasted)
        recorded = self._ledger_id.get(found.lead_id)
        if recorded is None:
            return found
        text = pasted.text if isinstance(pasted, PastedId) else pasted.strip()
        return IdMatch(recorded, None if text == recorded else f"read {text} as lead {recorded}")

    def position(self, lead_id: str) -> int | None:
        """Where the sale the ledger calls ``lead_id`` is in the lead log now, if it is."""
        return self._index.position(self._log_id.get(lead_id, lead_id))


def sale_of(entry: NewEntry, zone: ZoneInfo) -> Lead:
    """The sale an entry was decided on, from the entry's own facts (the lead log may have
    lost or changed it since)."""
    local = entry.delivered_at.astimezone(zone).replace(tzinfo=None)
    return Lead(entry.lead_id, local, local.date(), entry.client, entry.vertical, entry.country, entry.price, ZERO,
                entry.source, entry.campaign)


def placements(entries: Sequence[LedgerEntry], zone: ZoneInfo) -> list[Refund]:
    """Every entry that moves money or a refunded lead, placed by its own facts and moments:
    the accrual rows of its sale's group and week, the cash view of the week it was booked."""
    by_seq = {entry.seq: entry for entry in entries}
    found = []
    for entry in entries:
        refunded = _refunded(entry, by_seq)
        if entry.credit or refunded:
            found.append(Refund(sale_of(entry, zone), entry.credit, local_date(entry.decided_at, zone), refunded,
                                entry.credit_type, entry.seq))
    return found


def _refunded(entry: LedgerEntry, by_seq: Mapping[int, LedgerEntry]) -> int:
    """The refunded leads an entry adds: +1 when it grants a return or places it anew after
    a correction, -1 when it takes one back or out of its old place (a lead of price 0
    included), 0 otherwise."""
    if entry.kind == "adjustment":  # a price's adjustment moves money, not leads
        return 0 if entry.rule != SALE_CORRECTED else 1 if entry.status == APPROVED else -1
    if entry.credit:
        return 1 if entry.credit > 0 else -1
    if entry.kind == "undo":
        corrected = by_seq.get(entry.refers_to)
        return -_refunded(corrected, by_seq) if corrected is not None else 0
    if entry.kind == "reversal":
        return -1
    return 1 if entry.status == APPROVED else 0
