"""The books as a run sees them: every ledger entry, and the latest per (client, lead)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from operator import attrgetter

from sheets_sync.core.model import LedgerEntry, NewEntry


class LedgerState:
    """The latest ledger entry per (client, lead), kept current as a run decides."""

    def __init__(self, entries: list[LedgerEntry]) -> None:
        self.entries = list(entries)
        self.latest: dict[tuple[str, str], LedgerEntry] = {}
        self.by_kind: dict[tuple[str, str, str], LedgerEntry] = {}
        self._latest_by_client: dict[str, dict[str, LedgerEntry]] = defaultdict(dict)
        for entry in entries:
            self._index(entry)

    def _index(self, entry: LedgerEntry) -> None:
        self.latest[(entry.client, entry.lead_id)] = entry
        self.by_kind[(entry.client, entry.lead_id, entry.kind)] = entry
        self._latest_by_client[entry.client][entry.lead_id] = entry

    def add(self, new: NewEntry, run_id: str) -> LedgerEntry:
        entry = LedgerEntry(*_new_entry_values(new), len(self.entries) + 1, run_id)
        self.entries.append(entry)
        self._index(entry)
        return entry

    def of_client(self, client: str) -> Mapping[str, LedgerEntry]:
        """The latest entry per lead ID of one client."""
        return self._latest_by_client.get(client, {})


_new_entry_values = attrgetter(*NewEntry.__dataclass_fields__)
"""A :class:`NewEntry`'s fields in order: a :class:`LedgerEntry` takes them first."""
