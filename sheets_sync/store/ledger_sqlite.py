"""The ledger in a SQLite file (``ledger.path``, the default): the store's connection,
its schema version (``PRAGMA user_version``), and the upgrade from schema 1, which only
SQLite ledgers ever had. What a ledger does is store/ledger_base.py's.

Write transactions begin ``IMMEDIATE``: SQLite's one writer at a time. The file is in WAL
mode with full synchronous commits, so a run killed mid-commit leaves the ledger whole.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Literal

from sheets_sync.core.weeks import Calendar
from sheets_sync.store.ledger_base import Ledger, LedgerError, SaleFacts, cents, no_sale_facts
from sheets_sync.store.ledger_schema import ENTRY_COLUMNS, SQLITE

__all__ = ["SqliteLedger"]

Mode = Literal["write", "dry_run", "read"]


class SqliteLedger(Ledger):
    """A ledger file. ``mode``: ``write`` creates the schema (unless ``create=False``), or
    upgrades an older one after a backup copy beside it (``sale_facts`` completes old
    entries from the lead log); ``dry_run`` works on a copy of the file in memory, which a
    dry run must not change (not even to upgrade it); ``read`` opens the file read only (a
    missing file is an empty ledger and is not created; an older schema is upgraded in a
    copy in memory), so a reader can never alter the record."""

    dialect = SQLITE
    errors = (sqlite3.DatabaseError,)

    def __init__(self, path: Path, calendar: Calendar, sale_facts: SaleFacts = no_sale_facts, *,
                 mode: Mode = "write", create: bool = True) -> None:
        super().__init__(str(path), calendar)
        self.path = path
        self._db: sqlite3.Connection | None = None
        missing = not path.is_file() or not path.stat().st_size
        try:
            if mode == "dry_run":
                self._db = _copy_in_memory(path if not missing else None)
            elif missing and (mode == "read" or not create):
                self.absent = True
                return
            elif mode == "read":
                # A copy: a reader that kept the file open read-only would leave -wal and -shm
                # files behind it (only a connection that may write tidies them when it closes),
                # and an older schema is upgraded in the copy, never on disk.
                self._db = _copy_in_memory(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._keep_backup = mode == "write"
            self._migrate(sale_facts, create=mode != "read")
        except sqlite3.DatabaseError as error:
            self.close()
            raise self._unusable(error) from None
        except BaseException:
            self.close()
            raise

    def _unusable(self, error: BaseException) -> LedgerError:
        return LedgerError(f"Ledger {self.path} (key 'ledger.path') is not a usable SQLite file ({error}).")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, parameters)

    def _execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def _in_transaction(self) -> bool:
        return self._db is not None and self._db.in_transaction

    def _begin_write(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _set_schema_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version={int(version)}")

    def _run_script(self, script: str) -> None:
        for statement in _statements(script):  # not executescript(): it would commit the transaction
            self._db.execute(statement)

    def _upgrade_from_1(self, sale_facts: SaleFacts) -> None:
        """Schema 1 kept weeks as labels and no sale facts: each entry is completed from the
        lead log (or, for a sale no longer there, from its week and credit), in one transaction,
        after a copy of the ledger as it was is kept beside it."""
        if self._keep_backup:
            self.backup = _backed_up(self._db, self.path)
        db, calendar = self._db, self.calendar
        with self._write():
            old = db.execute("SELECT seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit_cents,"
                             " credit_type, first_seen, decided_at, lead_week FROM entries ORDER BY seq").fetchall()
            db.execute("ALTER TABLE entries RENAME TO entries_schema_1")
            db.execute("DROP INDEX IF EXISTS one_credit_per_lead")
            self._run_script(SQLITE.entries())
            for (seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit, credit_type, first_seen,
                 decided_at, lead_week) in old:
                sale = sale_facts(client, lead_id)
                if sale is not None:
                    delivered = sale.delivered_at.replace(tzinfo=calendar.zone) if sale.delivered_at.tzinfo is None \
                        else sale.delivered_at
                    facts = (delivered.astimezone(timezone.utc).isoformat(), sale.vertical, sale.country, sale.source,
                             sale.campaign, max(cents(sale.price), credit))
                else:  # the sale left the log before the upgrade: its week and credit are what is known
                    noon = datetime.combine(date.fromisoformat(lead_week), time(12), calendar.zone)
                    facts = (noon.astimezone(timezone.utc).isoformat(), "(none)", "(none)", "", "", credit)
                db.execute(f"INSERT INTO entries (seq, {ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           (seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit, credit_type,
                            first_seen, decided_at, *facts, None))
            db.execute("DROP TABLE entries_schema_1")
            db.execute("ALTER TABLE sightings RENAME TO sightings_schema_1")
            db.execute("CREATE TABLE sightings (client TEXT NOT NULL, pasted_key TEXT NOT NULL,"
                       " first_seen TEXT NOT NULL, run_id TEXT NOT NULL DEFAULT '')")
            db.execute("CREATE INDEX sightings_of_key ON sightings (client, pasted_key)")
            db.execute("INSERT INTO sightings (client, pasted_key, first_seen) SELECT client, pasted_key, first_seen"
                       " FROM sightings_schema_1")
            db.execute("DROP TABLE sightings_schema_1")
            db.execute("CREATE TABLE undone_runs (run_id TEXT PRIMARY KEY)")
            self._set_schema_version(2)


def _copy_in_memory(path: Path | None) -> sqlite3.Connection:
    """A ledger in memory: empty, or a copy of the file at ``path``."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    if path is not None:
        on_disk = sqlite3.connect(path)  # closed at once: SQLite then tidies its -wal and -shm
        try:
            on_disk.backup(memory)
        finally:
            on_disk.close()
    return memory


def _backed_up(db: sqlite3.Connection, path: Path) -> Path:
    """A copy of the ledger as it was, beside it, before an upgrade changes its schema."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    backup = path.with_name(f"{path.name}.schema-{version}.backup")
    if not backup.exists():
        temporary = backup.with_name(backup.name + ".tmp")
        temporary.unlink(missing_ok=True)
        target = sqlite3.connect(temporary)
        try:
            db.backup(target)
        finally:
            target.close()
        temporary.replace(backup)
    return backup


def _statements(script: str) -> list[str]:
    """The statements of a schema script (a trigger's body holds semicolons of its own)."""
    statements, current = [], ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements
