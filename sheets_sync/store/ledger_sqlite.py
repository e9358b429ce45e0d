"""The ledger: an append-only SQLite record of every decision and credit (SPEC §4.2).

Idempotency lives in the schema, not only in code:

* one ``decision`` per (client, lead), one ``review`` outcome and one ``override``;
* at most one ``Approved`` entry per (client, lead), so no lead is ever credited twice;
* one first-seen stamp per (client, pasted ID), written once and never moved.

Entries are never updated or deleted. A run's entries go in with one transaction: the
ledger is the commit point, and sheets are projections that later runs can always redo.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sheets_sync import faults
from sheets_sync.core.model import APPROVED, LedgerEntry, NewEntry

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    as_of       TEXT NOT NULL
);
CREATE TABLE entries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT NOT NULL REFERENCES runs(run_id),
    client       TEXT NOT NULL,
    lead_id      TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('decision', 'review', 'override')),
    status       TEXT NOT NULL,
    rule         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    credit_cents INTEGER NOT NULL CHECK (credit_cents >= 0),
    credit_type  TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    decided_at   TEXT NOT NULL,
    lead_week    TEXT NOT NULL,
    cash_week    TEXT NOT NULL,
    UNIQUE (client, lead_id, kind),
    CHECK (status = 'Approved' OR credit_cents = 0)
);
CREATE UNIQUE INDEX one_credit_per_lead ON entries (client, lead_id) WHERE status = 'Approved';
CREATE TABLE sightings (
    client      TEXT NOT NULL,
    pasted_key  TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    PRIMARY KEY (client, pasted_key)
);
"""


class LedgerError(Exception):
    """The ledger file cannot be used; the message is one sentence for the operator."""


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


class Ledger:
    """An open ledger file. ``Ledger(path)`` creates or migrates the schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise LedgerError(f"Ledger {path} (key 'ledger.path') is not a usable SQLite file ({error}).") from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(f"Ledger {self.path} was written by a newer sheets-sync (schema {version}); upgrade.")
        if version == 0:
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def entries(self) -> list[LedgerEntry]:
        return _read_entries(self._db)

    def sightings(self) -> dict[tuple[str, str], datetime]:
        rows = self._db.execute("SELECT client, pasted_key, first_seen FROM sightings").fetchall()
        return {(client, key): datetime.fromisoformat(seen) for client, key, seen in rows}

    def record_run(self, run_id: str, started_at: datetime, as_of: datetime, entries: Sequence[NewEntry],
                   sightings: Iterable[tuple[str, str, datetime]]) -> None:
        """Append one run's entries and first-seen stamps in a single transaction."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO runs VALUES (?, ?, ?)", (run_id, started_at.isoformat(), as_of.isoformat()))
            iso = _IsoTexts()
            self._db.executemany(
                "INSERT INTO entries (run_id, client, lead_id, kind, status, rule, detail, reason, credit_cents,"
                " credit_type, first_seen, decided_at, lead_week, cash_week) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (run_id, e.client, e.lead_id, e.kind, e.status, e.rule, e.detail, e.reason, _cents(e.credit),
                     e.credit_type, iso(e.first_seen), iso(e.decided_at), e.lead_week.isoformat(),
                     e.cash_week.isoformat())
                    for e in entries
                ],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO sightings VALUES (?, ?, ?)",
                [(client, key, iso(seen)) for client, key, seen in sightings],
            )
            faults.checkpoint("ledger.before_commit")
            self._db.execute("COMMIT")
        except BaseException as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(error, sqlite3.DatabaseError):  # a constraint, a lock held elsewhere, a full disk
                raise LedgerError(f"Ledger {self.path} refused this run's entries ({error}); "
                                  "nothing was recorded.") from None
            raise


class _IsoTexts:
    """``isoformat()`` of moments, once per object: most of a run's entries share the very
    same moment objects (the run's time, a first sighting), and a zoned moment is slow to
    format. By identity, not equality: equal moments in two zones are written differently."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[datetime, str]] = {}

    def __call__(self, moment: datetime) -> str:
        found = self._texts.get(id(moment))
        if found is None or found[0] is not moment:
            found = self._texts[id(moment)] = (moment, moment.isoformat())
        return found[1]


def _read_entries(db: sqlite3.Connection) -> list[LedgerEntry]:
    rows = db.execute(
        "SELECT seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit_cents, credit_type,"
        " first_seen, decided_at, lead_week, cash_week FROM entries ORDER BY seq"
    ).fetchall()
    return [
        LedgerEntry(
            seq=row[0], run_id=row[1], client=row[2], lead_id=row[3], kind=row[4], status=row[5], rule=row[6],
            detail=row[7], reason=row[8], credit=Decimal(row[9]).scaleb(-2), credit_type=row[10],
            first_seen=datetime.fromisoformat(row[11]), decided_at=datetime.fromisoformat(row[12]),
            lead_week=date.fromisoformat(row[13]), cash_week=date.fromisoformat(row[14]),
        )
        for row in rows
    ]


def read_entries(path: Path) -> list[LedgerEntry]:
    """Every entry of the ledger at ``path``, for readers that must never change it.

    A missing file is an empty ledger and is not created. The file is opened read only, so
    a bug here can never alter the record (SQLite may leave its ``-wal``/``-shm`` companion
    files behind; the next sync tidies them).
    """
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise LedgerError(f"Ledger {path} was written by a newer sheets-sync (schema {version}); upgrade.")
            return _read_entries(db) if version else []
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise LedgerError(f"Ledger {path} (key 'ledger.path') is not a usable SQLite file ({error}).") from None


def approved_entries(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    return [entry for entry in entries if entry.status == APPROVED]
