"""The ledger: an append-only SQLite record of every decision and credit (SPEC §4.2, §3.1).

Each entry is self-contained: what was decided, and the facts it was decided on (the sale's
delivery moment, group values and price, the signed credit and its type, the booking
moment). Weeks are never stored: they are worked out from those moments with the
workspace's calendar whenever entries are read.

The books' rules live in the schema, not only in code, so no caller can break them:

* one live ``decision``, ``review`` and ``override`` per sale (client, lead): an entry
  voided by ``undo`` no longer counts, so the request can be decided afresh;
* the credits of a sale (approvals, reversals and undos together) stay between 0 and its
  price: no sale is credited twice, and no more is taken back than was given;
* one live first-seen stamp per (client, pasted ID), written once and never moved; an
  undone run's stamps are void.

Entries are never updated or deleted. A run's entries go in with one transaction: the
ledger is the commit point, and sheets are projections that later runs can always redo.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sheets_sync import faults
from sheets_sync.core.closing import ClosedPeriod, decode_figures, encode_figures
from sheets_sync.core.model import Lead, LedgerEntry, NewEntry
from sheets_sync.core.project.tracking import GroupKey, WeekFigures
from sheets_sync.core.weeks import Calendar

SCHEMA_VERSION = 3

_ENTRIES = """
CREATE TABLE entries (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL REFERENCES runs(run_id),
    client        TEXT NOT NULL,
    lead_id       TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('decision', 'review', 'override', 'reversal', 'adjustment', 'undo')),
    status        TEXT NOT NULL,
    rule          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    credit_cents  INTEGER NOT NULL,
    credit_type   TEXT NOT NULL,
    first_seen    TEXT NOT NULL,
    decided_at    TEXT NOT NULL,
    delivered_at  TEXT NOT NULL,
    vertical      TEXT NOT NULL,
    country       TEXT NOT NULL,
    source        TEXT NOT NULL,
    campaign      TEXT NOT NULL,
    price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
    refers_to     INTEGER REFERENCES entries(seq),
    CHECK (kind NOT IN ('reversal', 'undo') OR refers_to IS NOT NULL),
    CHECK (credit_cents <= 0 OR status = 'Approved' OR kind IN ('undo', 'adjustment')),
    CHECK (credit_cents >= 0 OR kind IN ('reversal', 'undo', 'adjustment'))
);
CREATE INDEX entries_of_sale ON entries (client, lead_id);
CREATE TRIGGER one_live_decision BEFORE INSERT ON entries
WHEN NEW.kind IN ('decision', 'review', 'override') AND EXISTS (
    SELECT 1 FROM entries AS earlier
    WHERE earlier.client = NEW.client AND earlier.lead_id = NEW.lead_id AND earlier.kind = NEW.kind
      AND NOT EXISTS (SELECT 1 FROM entries AS undo WHERE undo.kind = 'undo' AND undo.refers_to = earlier.seq))
BEGIN
    SELECT RAISE(ABORT, 'a sale can have one live decision, review and override');
END;
CREATE TRIGGER credits_within_price BEFORE INSERT ON entries
WHEN NEW.credit_cents != 0 AND (
    SELECT COALESCE(SUM(credit_cents), 0) FROM entries WHERE client = NEW.client AND lead_id = NEW.lead_id
) + NEW.credit_cents NOT BETWEEN 0 AND NEW.price_cents
BEGIN
    SELECT RAISE(ABORT, 'the credits of a sale must stay between 0 and its price');
END;
"""

_CLOSES = """
CREATE TABLE closes (
    through     TEXT NOT NULL,
    closed_at   TEXT NOT NULL,
    last_seq    INTEGER NOT NULL,
    layout      TEXT NOT NULL,
    figures     TEXT NOT NULL
);
"""
"""Each ``close``: the weeks ending on or before ``through`` are closed; ``figures`` holds
what the weeks it froze showed (core/closing.py), under the tracking ``layout`` of the day."""

_SCHEMA = """
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    as_of       TEXT NOT NULL,
    timezone    TEXT NOT NULL DEFAULT ''
);
""" + _ENTRIES + """
CREATE TABLE sightings (
    client      TEXT NOT NULL,
    pasted_key  TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    run_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sightings_of_key ON sightings (client, pasted_key);
CREATE TABLE undone_runs (run_id TEXT PRIMARY KEY);
""" + _CLOSES

_COLUMNS = ("run_id, client, lead_id, kind, status, rule, detail, reason, credit_cents, credit_type, first_seen,"
            " decided_at, delivered_at, vertical, country, source, campaign, price_cents, refers_to")

SaleFacts = Callable[[str, str], "Lead | None"]
"""The lead log's sale (client, lead ID), to complete entries of a version 1 ledger."""


class LedgerError(Exception):
    """The ledger file cannot be used; the message is one sentence for the operator."""


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


class Ledger:
    """An open ledger file. ``Ledger(path, calendar)`` creates the schema, or upgrades an
    older one after a backup copy beside it (``sale_facts`` completes old entries from the
    lead log). ``in_memory``: a copy of the file in memory, for a dry run, which must not
    change the file (not even to upgrade it) and records nothing."""

    def __init__(self, path: Path, calendar: Calendar, sale_facts: SaleFacts = lambda client, lead_id: None,
                 *, in_memory: bool = False) -> None:
        self.path = path
        self.calendar = calendar
        self.backup: Path | None = None
        try:
            if in_memory:
                self._db = sqlite3.connect(":memory:", isolation_level=None)
                if path.exists() and path.stat().st_size:
                    on_disk = sqlite3.connect(path)  # closed at once: SQLite then tidies its -wal and -shm
                    try:
                        on_disk.backup(self._db)
                    finally:
                        on_disk.close()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._migrate(sale_facts, backup=not in_memory)
        except sqlite3.DatabaseError as error:
            raise LedgerError(f"Ledger {path} (key 'ledger.path') is not a usable SQLite file ({error}).") from None

    def _migrate(self, sale_facts: SaleFacts, *, backup: bool) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(f"Ledger {self.path} was written by a newer sheets-sync (schema {version}); upgrade.")
        if version == 0:
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            return
        if version == 1:
            self.backup = _backed_up(self._db, self.path) if backup else None
            _upgrade_from_1(self._db, self.calendar, sale_facts)
        if version < SCHEMA_VERSION:
            _upgrade_from_2(self._db, self.calendar)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def entries(self) -> list[LedgerEntry]:
        return _read_entries(self._db, self.calendar)

    def sightings(self) -> dict[tuple[str, str], datetime]:
        """The first live sighting of each (client, pasted key)."""
        rows = self._db.execute("SELECT client, pasted_key, first_seen FROM sightings"
                                " WHERE run_id NOT IN (SELECT run_id FROM undone_runs) ORDER BY rowid").fetchall()
        found: dict[tuple[str, str], datetime] = {}
        for client, key, seen in rows:
            found.setdefault((client, key), datetime.fromisoformat(seen))
        return found

    def record_run(self, run_id: str, started_at: datetime, as_of: datetime, entries: Sequence[NewEntry],
                   sightings: Iterable[tuple[str, str, datetime]], *, undoes: str | None = None) -> None:
        """Append one run's entries and first-seen stamps in a single transaction.
        ``undoes``: the run this one undoes, whose first-seen stamps become void."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO runs (run_id, started_at, as_of, timezone) VALUES (?, ?, ?, ?)",
                             (run_id, started_at.isoformat(), as_of.isoformat(), self.calendar.zone.key))
            iso = _IsoTexts()
            self._db.executemany(
                f"INSERT INTO entries ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (run_id, e.client, e.lead_id, e.kind, e.status, e.rule, e.detail, e.reason, _cents(e.credit),
                     e.credit_type, iso(e.first_seen), iso(e.decided_at), iso(e.delivered_at), e.vertical,
                     e.country, e.source, e.campaign, _cents(e.price), e.refers_to)
                    for e in entries
                ],
            )
            self._db.executemany(  # a stamp only where no live one is (an undone run's are void)
                "INSERT INTO sightings SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM sightings"
                " WHERE client = ?1 AND pasted_key = ?2 AND run_id NOT IN (SELECT run_id FROM undone_runs))",
                [(client, key, iso(seen), run_id) for client, key, seen in sightings],
            )
            if undoes is not None:
                self._db.execute("INSERT OR IGNORE INTO undone_runs VALUES (?)", (undoes,))
            faults.checkpoint("ledger.before_commit")
            self._db.execute("COMMIT")
        except BaseException as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(error, sqlite3.DatabaseError):  # a constraint, a lock held elsewhere, a full disk
                raise LedgerError(f"Ledger {self.path} refused this run's entries ({error}); "
                                  "nothing was recorded.") from None
            raise

    def zones_of_runs(self) -> dict[str, ZoneInfo]:
        """The workspace timezone of each run: the lead log's wall-clock times it read were
        local times there (a later change of ``timezone`` does not make them corrections)."""
        return {run_id: ZoneInfo(zone) for run_id, zone in self._db.execute("SELECT run_id, timezone FROM runs")}

    def closes(self) -> list[ClosedPeriod]:
        return [ClosedPeriod(date.fromisoformat(through), datetime.fromisoformat(closed_at), last_seq, layout,
                             decode_figures(figures))
                for through, closed_at, last_seq, layout, figures in self._db.execute(
                    "SELECT through, closed_at, last_seq, layout, figures FROM closes ORDER BY rowid")]

    def record_close(self, through: date, closed_at: datetime, layout: str,
                     figures: Mapping[GroupKey, Mapping[date, WeekFigures]]) -> None:
        """Record a close in one transaction, after the ledger's newest entry (its ``last_seq``
        is the ledger's); one through an earlier date than a close before it is refused
        (:class:`LedgerError`)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            latest = self._db.execute("SELECT MAX(through) FROM closes").fetchone()[0]
            if latest is not None and through.isoformat() < latest:
                raise LedgerError(f"The weeks through {latest} are closed already; a close cannot go back to "
                                  f"{through.isoformat()}.")
            newest = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM entries").fetchone()[0]
            self._db.execute("INSERT INTO closes VALUES (?, ?, ?, ?, ?)", (
                through.isoformat(), closed_at.isoformat(), newest, layout, encode_figures(figures)))
            faults.checkpoint("ledger.before_commit")
            self._db.execute("COMMIT")
        except BaseException as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(error, sqlite3.DatabaseError):
                raise LedgerError(f"Ledger {self.path} refused the close ({error}); nothing was recorded.") from None
            raise

    def runs(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT run_id FROM runs ORDER BY rowid")]

    def undone_runs(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT run_id FROM undone_runs")}


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


def _read_entries(db: sqlite3.Connection, calendar: Calendar) -> list[LedgerEntry]:
    rows = db.execute(f"SELECT seq, {_COLUMNS} FROM entries ORDER BY seq").fetchall()
    moments: dict[str, datetime] = {}
    weeks: dict[datetime, date] = {}

    def moment(text: str) -> datetime:
        found = moments.get(text)
        if found is None:
            found = moments[text] = datetime.fromisoformat(text)
        return found

    def week(at: datetime) -> date:
        found = weeks.get(at)
        if found is None:
            found = weeks[at] = calendar.week(at)
        return found

    entries = []
    for (seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit, credit_type, first_seen,
         decided_at, delivered_at, vertical, country, source, campaign, price, refers_to) in rows:
        booked, delivered = moment(decided_at), moment(delivered_at)
        entries.append(LedgerEntry(
            client=client, lead_id=lead_id, kind=kind, status=status, rule=rule, detail=detail, reason=reason,
            credit=Decimal(credit).scaleb(-2), credit_type=credit_type, first_seen=moment(first_seen),
            decided_at=booked, delivered_at=delivered, vertical=vertical, country=country, source=source,
            campaign=campaign, price=Decimal(price).scaleb(-2), lead_week=week(delivered), cash_week=week(booked),
            refers_to=refers_to, seq=seq, run_id=run_id))
    return entries


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


def _upgrade_from_1(db: sqlite3.Connection, calendar: Calendar, sale_facts: SaleFacts) -> None:
    """Schema 1 kept weeks as labels and no sale facts: each entry is completed from the
    lead log (or, for a sale no longer there, from its week and credit), in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        old = db.execute("SELECT seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit_cents,"
                         " credit_type, first_seen, decided_at, lead_week FROM entries ORDER BY seq").fetchall()
        db.execute("ALTER TABLE entries RENAME TO entries_schema_1")
        db.execute("DROP INDEX IF EXISTS one_credit_per_lead")
        for statement in _statements(_ENTRIES):
            db.execute(statement)
        for (seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit, credit_type, first_seen,
             decided_at, lead_week) in old:
            sale = sale_facts(client, lead_id)
            if sale is not None:
                delivered = sale.delivered_at.replace(tzinfo=calendar.zone) if sale.delivered_at.tzinfo is None \
                    else sale.delivered_at
                facts = (delivered.astimezone(timezone.utc).isoformat(), sale.vertical, sale.country, sale.source,
                         sale.campaign, max(_cents(sale.price), credit))
            else:  # the sale left the log before the upgrade: its week and credit are what is known
                noon = datetime.combine(date.fromisoformat(lead_week), time(12), calendar.zone)
                facts = (noon.astimezone(timezone.utc).isoformat(), "(none)", "(none)", "", "", credit)
            db.execute(f"INSERT INTO entries (seq, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
        db.execute("PRAGMA user_version=2")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _upgrade_from_2(db: sqlite3.Connection, calendar: Calendar) -> None:
    """Schema 2 did not keep the timezone a run read the lead log in (the one configured at
    the upgrade is the one it had: a change of it was not supported before), nor closes."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("ALTER TABLE runs ADD COLUMN timezone TEXT NOT NULL DEFAULT ''")
        db.execute("UPDATE runs SET timezone = ?", (calendar.zone.key,))
        for statement in _statements(_CLOSES):
            db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """The statements of a schema script (a trigger's body holds semicolons of its own)."""
    statements, current = [], ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def read_entries(path: Path, calendar: Calendar) -> list[LedgerEntry]:
    """Every entry of the ledger at ``path``, for readers that must never change it.

    A missing file is an empty ledger and is not created. The file is opened read only, so
    a bug here can never alter the record (SQLite may leave its ``-wal``/``-shm`` companion
    files behind; the next sync tidies them). A ledger of schema 1, which the next sync
    upgrades, is read as that upgrade would read it without the lead log.
    """
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise LedgerError(f"Ledger {path} was written by a newer sheets-sync (schema {version}); upgrade.")
            if version == 1:
                memory = sqlite3.connect(":memory:", isolation_level=None)
                db.backup(memory)
                _upgrade_from_1(memory, calendar, lambda client, lead_id: None)
                return _read_entries(memory, calendar)
            return _read_entries(db, calendar) if version else []
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise LedgerError(f"Ledger {path} (key 'ledger.path') is not a usable SQLite file ({error}).") from None

