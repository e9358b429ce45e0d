"""What a run tells the operator about the lead log and the ledger besides its decisions
(SPEC §3.1): clients the config does not know or spells otherwise, credited sales gone from
the log."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

from sheets_sync.core.books import LedgerState, sale_of
from sheets_sync.core.ids import ClientLeadIndex
from sheets_sync.core.model import Problem
from sheets_sync.leadlog.columns import LeadLog


def client_findings(leads: LeadLog, names: Mapping[str, str]) -> list[Problem]:
    """A ``Client`` value no configured client goes by is never taken for a new client
    silently: a renamed client lists its old name under ``formerly:``. One spelled in other
    letter case is counted as the client it names, and said so."""
    problems = []
    for client, count in sorted(leads.client_counts().items()):
        leads_text = f"{count} lead{'s' * (count != 1)} filed under client {client!r}"
        known = names.get(client.casefold())
        if known is None:
            problems.append(Problem(leads.source, (
                f"{leads_text}, which the config does not list: add it under clients, or, if a client was renamed, "
                "list the old name under its formerly:")))
        elif client != known and client.casefold() == known.casefold():
            problems.append(Problem(leads.source, f"{leads_text} are counted as {known}, as the config spells it."))
    return problems


def missing_sales(state: LedgerState, indexes: Mapping[str, ClientLeadIndex], zone: ZoneInfo) -> list[Problem]:
    """The credited sales the lead log no longer lists: their credit stays where it was
    booked until the sale is back or the operator reverses it."""
    problems = []
    for (client, lead_id), credited in state.credited.items():
        index = indexes.get(client)
        if credited and (index is None or index.position(lead_id) is None):
            sale = sale_of(state.last_entry((client, lead_id)), zone)
            problems.append(Problem("ledger", (
                f"lead {lead_id} of {client}, credited {credited:,.2f}, is no longer in the lead log; the credit "
                f"stays in the week of {sale.delivered_on.isoformat()} until the lead is back or the credit is "
                "reversed on the Review tab")))
    return problems
