"""What each kind of news says (pure): one message per kind per run, each item keyed so that
it is sent once however many runs it stays true."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sheets_sync.core.alerts import Alert
from sheets_sync.core.model import LedgerEntry, Problem

MOST_ITEMS_LISTED = 20
"""A message lists at most this many items and counts the rest: a chat line stays readable."""


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    """What makes the item the same item in a later run."""
    line: str


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str
    """``review``, ``alerts`` or ``failures`` (SPEC §7)."""
    title: str
    body: str
    keys: tuple[str, ...]


def review_items(entries: Sequence[LedgerEntry]) -> list[Item]:
    return [Item(f"{entry.client}\x1f{entry.lead_id}\x1f{entry.rule}\x1f{entry.decided_at.isoformat()}",
                 f"{entry.client}, lead {entry.lead_id}" + (f" ({entry.reason})" if entry.reason else "")
                 + f": {entry.detail}") for entry in entries]


def alert_items(alerts: Sequence[Alert]) -> list[Item]:
    return [Item(f"{alert.kind}\x1f{alert.subject}", alert.message) for alert in alerts]


def failure_items(failures: Sequence[Problem]) -> list[Item]:
    return [Item(failure.source, str(failure)) for failure in failures]


def notice(kind: str, new: Sequence[Item], *, waiting: int, where: str) -> Notice | None:
    """The one message of ``kind`` about the items that are new since the last message, or
    ``None`` when nothing is new."""
    if not new:
        return None
    count = len(new)
    if kind == "review":
        title = f"sheets-sync: {_count(count, 'return')} newly waiting for review"
        closing = (f"{waiting} in all wait on the Review tab of {where}: choose Approve or Reject in Decision; "
                   "the next run applies it.")
    elif kind == "alerts":
        title = f"sheets-sync: {_count(count, 'new alert')}"
        closing = f"Run `sheets-sync report` for the figures; the Dashboard of {where} shows the weeks."
    else:
        title = f"sheets-sync: {_count(count, 'failure')}"
        closing = ("Whatever did not fail was synced. The next run tries again; `sheets-sync check` says what is "
                   "wrong and how to fix it.")
    listed = [f"• {item.line}" for item in new[:MOST_ITEMS_LISTED]]
    if count > MOST_ITEMS_LISTED:
        listed.append(f"• … and {count - MOST_ITEMS_LISTED} more")
    return Notice(kind, title, "\n".join([*listed, "", closing]), tuple(item.key for item in new))


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
