"""Opening the workspace's ledger: the one place that chooses its store.

``ledger.path`` is a SQLite file (store/ledger_sqlite.py), ``ledger.url`` a PostgreSQL
database (store/ledger_postgres.py, whose driver is imported only then). Both are the same
:class:`~sheets_sync.store.ledger_base.Ledger`: one schema, one set of rules, one API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from sheets_sync.store.ledger_base import Ledger, LedgerError, SaleFacts, no_sale_facts
from sheets_sync.store.ledger_sqlite import SqliteLedger

if TYPE_CHECKING:
    from sheets_sync.config import Config
    from sheets_sync.core.model import LedgerEntry

__all__ = ["Ledger", "LedgerError", "open_ledger", "read_entries"]


def open_ledger(config: Config, sale_facts: SaleFacts = no_sale_facts, *,
                mode: Literal["write", "dry_run", "read"] = "write", create: bool = True) -> Ledger:
    """The workspace's ledger, ready to read (and, in ``write`` mode, to append to).

    ``write`` creates the schema, or upgrades an older one (``sale_facts`` completes the
    entries of a schema 1 ledger from the lead log); with ``create=False`` a ledger that does
    not exist yet stays so and reads as empty. ``dry_run`` and ``read`` never change the
    ledger: a dry run may work on an upgraded copy, a reader sees a ledger that is not there
    as empty. Raises :class:`LedgerError` (one sentence) when the ledger cannot be used.
    """
    if config.ledger.url is not None:
        from sheets_sync.store.ledger_postgres import PostgresLedger

        return PostgresLedger(config.ledger, config.calendar, sale_facts, read_only=mode != "write", create=create)
    return SqliteLedger(config.ledger.path, config.calendar, sale_facts, mode=mode, create=create)


def read_entries(config: Config) -> list[LedgerEntry]:
    """Every entry of the workspace's ledger, read only; none when it does not exist yet."""
    with open_ledger(config, mode="read") as ledger:
        return ledger.entries()
