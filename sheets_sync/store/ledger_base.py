"""The ledger: the append-only record of every decision and credit (SPEC §4.2, §3.1), one
implementation over either store -- a SQLite file (store/ledger_sqlite.py) or a PostgreSQL
database shared by several machines (store/ledger_postgres.py).

Each entry is self-contained: what was decided, and the facts it was decided on (the sale's
delivery moment, group values and price, the signed credit and its type, the booking
moment). Weeks are never stored: they are worked out from those moments with the
workspace's calendar whenever entries are read. The schema and the rules it enforces are in
store/ledger_schema.py.

Entries are never updated or deleted. A run's entries go in with one transaction: the
ledger is the commit point, and sheets are projections that later runs can always redo.
A store here is a DB-API connection (``?`` placeholders in this module's SQL) and a few
hooks: how a write transaction begins, where the schema version is kept, and how a
database error reads in one sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sheets_sync import faults
from sheets_sync.core.closing import ClosedPeriod, decode_figures, encode_figures
from sheets_sync.core.model import Lead, LedgerEntry, NewEntry
from sheets_sync.core.project.tracking import GroupKey, WeekFigures
from sheets_sync.core.weeks import Calendar
from sheets_sync.store.ledger_schema import ENTRY_COLUMNS, SCHEMA_VERSION, Dialect

SaleFacts = Callable[[str, str], "Lead | None"]
"""The lead log's sale (client, lead ID), to complete entries of a version 1 ledger."""


class LedgerError(Exception):
    """The ledger cannot be used; the message is one sentence for the operator."""


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


def no_sale_facts(client: str, lead_id: str) -> None:
    return None


class Ledger:
    """An open ledger. A store's constructor connects, then :meth:`_migrate` creates the
    schema, or upgrades an older one; ``create=False`` leaves a ledger that does not exist
    yet uncreated (it reads as empty, :attr:`absent`)."""

    dialect: Dialect
    errors: tuple[type[BaseException], ...] = ()
    """The driver's exception classes, each turned into a :class:`LedgerError`."""
    key = "ledger.path"
    """The config key that names this ledger, for messages."""

    def __init__(self, label: str, calendar: Calendar) -> None:
        self.label = label
        """The ledger as messages name it: the file, or the URL with its password masked."""
        self.calendar = calendar
        self.backup: Path | None = None
        self.absent = False
        """True when the ledger does not exist yet and was not created: it reads as empty."""

    # -- a store's hooks -------------------------------------------------------------------

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _insert_rows(self, table: str, columns: str, rows: list[tuple]) -> None:
        """Append rows to a table (a store may have a faster way than one INSERT a row)."""
        self._execute_many(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(columns.split(',')))})",
                           rows)

    def _in_transaction(self) -> bool:
        raise NotImplementedError

    def _begin_write(self) -> None:
        """Begin a transaction that holds the ledger's write lock (one writer at a time)."""
        raise NotImplementedError

    def _schema_version(self) -> int:
        raise NotImplementedError

    def _set_schema_version(self, version: int) -> None:
        raise NotImplementedError

    def _run_script(self, script: str) -> None:
        raise NotImplementedError

    def _reason(self, error: BaseException) -> str:
        """A driver error in words fit for a sentence (no secret in them)."""
        return str(error)

    def _unusable(self, error: BaseException) -> LedgerError:
        return LedgerError(f"Ledger {self.label} (key '{self.key}') cannot be used ({self._reason(error)}).")

    def _upgrade_from_1(self, sale_facts: SaleFacts) -> None:
        raise LedgerError(f"Ledger {self.label} has schema 1, which this store never had; point '{self.key}' at "
                          "the ledger's own database.")

    def close(self) -> None:
        raise NotImplementedError

    # -- opening ---------------------------------------------------------------------------

    def _migrate(self, sale_facts: SaleFacts, *, create: bool) -> None:
        version = self._schema_version()
        if version > SCHEMA_VERSION:
            raise LedgerError(f"Ledger {self.label} (key '{self.key}') was written by a newer sheets-sync "
                              f"(schema {version}); upgrade.")
        if version == 0:
            if not create:
                self.absent = True
                return
            with self._write():
                if self._schema_version() == 0:  # another process may have made it while this one waited
                    self._run_script(self.dialect.schema())
                    self._set_schema_version(SCHEMA_VERSION)
            return
        if version == 1:
            self._upgrade_from_1(sale_facts)
        if version < SCHEMA_VERSION:
            self._upgrade_from_2()

    def _upgrade_from_2(self) -> None:
        """Schema 2 did not keep the timezone a run read the lead log in (the one configured at
        the upgrade is the one it had: a change of it was not supported before), nor closes."""
        with self._write():
            self._execute("ALTER TABLE runs ADD COLUMN timezone TEXT NOT NULL DEFAULT ''")
            self._execute("UPDATE runs SET timezone = ?", (self.calendar.zone.key,))
            self._run_script(self.dialect.closes())
            self._set_schema_version(SCHEMA_VERSION)

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions and errors -----------------------------------------------------------

    @contextmanager
    def _write(self, refused: str | None = None) -> Iterator[None]:
        """One write transaction, all or nothing. A driver error becomes a :class:`LedgerError`:
        ``refused`` words it (``{error}`` stands for the driver's reason), else the ledger is
        not usable."""
        try:
            self._begin_write()
            yield
            if refused is not None:
                faults.checkpoint("ledger.before_commit")
            self._execute("COMMIT")
        except BaseException as error:
            self._roll_back()
            if isinstance(error, self.errors):
                raise (LedgerError(refused.format(error=self._reason(error))) if refused is not None
                       else self._unusable(error)) from None
            raise

    def _roll_back(self) -> None:
        try:
            if self._in_transaction():
                self._execute("ROLLBACK")
        except self.errors:  # the connection is gone: the server rolls the transaction back itself
            pass

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except self.errors as error:
            raise self._unusable(error) from None

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        if self.absent:
            return []
        with self._reading():
            return list(self._execute(sql, parameters).fetchall())

    # -- reading ---------------------------------------------------------------------------

    def entries(self) -> list[LedgerEntry]:
        return _entries(self._rows(f"SELECT seq, {ENTRY_COLUMNS} FROM entries ORDER BY seq"), self.calendar)

    def sightings(self) -> dict[tuple[str, str], datetime]:
        """The first live sighting of each (client, pasted key)."""
        found: dict[tuple[str, str], datetime] = {}
        for client, key, seen in self._rows("SELECT client, pasted_key, first_seen FROM sightings WHERE run_id"
                                            " NOT IN (SELECT run_id FROM undone_runs) ORDER BY rowid"):
            found.setdefault((client, key), datetime.fromisoformat(seen))
        return found

    def zones_of_runs(self) -> dict[str, ZoneInfo]:
        """The workspace timezone of each run: the lead log's wall-clock times it read were
        local times there (a later change of ``timezone`` does not make them corrections)."""
        return {run_id: ZoneInfo(zone) for run_id, zone in self._rows("SELECT run_id, timezone FROM runs")}

    def closes(self) -> list[ClosedPeriod]:
        return [ClosedPeriod(date.fromisoformat(through), datetime.fromisoformat(closed_at), last_seq, layout,
                             decode_figures(figures))
                for through, closed_at, last_seq, layout, figures in self._rows(
                    "SELECT through, closed_at, last_seq, layout, figures FROM closes ORDER BY rowid")]

    def runs(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT run_id FROM runs ORDER BY rowid")]

    def undone_runs(self) -> set[str]:
        return {row[0] for row in self._rows("SELECT run_id FROM undone_runs")}

    # -- writing ---------------------------------------------------------------------------

    def record_run(self, run_id: str, started_at: datetime, as_of: datetime, entries: Sequence[NewEntry],
                   sightings: Iterable[tuple[str, str, datetime]], *, undoes: str | None = None) -> None:
        """Append one run's entries and first-seen stamps in a single transaction.
        ``undoes``: the run this one undoes, whose first-seen stamps become void."""
        self._writable()
        with self._write(f"Ledger {self.label} refused this run's entries ({{error}}); nothing was recorded."):
            self._execute("INSERT INTO runs (run_id, started_at, as_of, timezone) VALUES (?, ?, ?, ?)",
                          (run_id, started_at.isoformat(), as_of.isoformat(), self.calendar.zone.key))
            iso = _IsoTexts()
            # Entries are numbered on from the newest, under the write lock: 1, 2, 3 ... with no gap,
            # as the books number a run's entries before they are recorded (core/books.py), and as
            # no database sequence would be after a rolled-back run.
            newest = self._execute("SELECT COALESCE(MAX(seq), 0) FROM entries").fetchone()[0]
            self._insert_rows(
                "entries", f"seq, {ENTRY_COLUMNS}",
                [
                    (newest + number, run_id, e.client, e.lead_id, e.kind, e.status, e.rule, e.detail, e.reason,
                     cents(e.credit), e.credit_type, iso(e.first_seen), iso(e.decided_at), iso(e.delivered_at),
                     e.vertical, e.country, e.source, e.campaign, cents(e.price), e.refers_to)
                    for number, e in enumerate(entries, 1)
                ],
            )
            self._execute_many(  # a stamp only where no live one is (an undone run's are void)
                "INSERT INTO sightings (client, pasted_key, first_seen, run_id) SELECT ?, ?, ?, ? WHERE NOT EXISTS"
                " (SELECT 1 FROM sightings WHERE client = ? AND pasted_key = ?"
                " AND run_id NOT IN (SELECT run_id FROM undone_runs))",
                [(client, key, iso(seen), run_id, client, key) for client, key, seen in sightings],
            )
            if undoes is not None:
                self._execute("INSERT INTO undone_runs (run_id) VALUES (?) ON CONFLICT DO NOTHING", (undoes,))

    def record_close(self, through: date, closed_at: datetime, layout: str,
                     figures: Mapping[GroupKey, Mapping[date, WeekFigures]]) -> None:
        """Record a close in one transaction, after the ledger's newest entry (its ``last_seq``
        is the ledger's); one through an earlier date than a close before it is refused
        (:class:`LedgerError`)."""
        self._writable()
        with self._write(f"Ledger {self.label} refused the close ({{error}}); nothing was recorded."):
            latest = self._execute("SELECT MAX(through) FROM closes").fetchone()[0]
            if latest is not None and through.isoformat() < latest:
                raise LedgerError(f"The weeks through {latest} are closed already; a close cannot go back to "
                                  f"{through.isoformat()}.")
            newest = self._execute("SELECT COALESCE(MAX(seq), 0) FROM entries").fetchone()[0]
            self._execute("INSERT INTO closes (through, closed_at, last_seq, layout, figures) VALUES (?, ?, ?, ?, ?)",
                          (through.isoformat(), closed_at.isoformat(), newest, layout, encode_figures(figures)))

    def _writable(self) -> None:
        if self.absent:
            raise LedgerError(f"Ledger {self.label} does not exist yet; nothing was recorded.")


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


def _entries(rows: list[tuple], calendar: Calendar) -> list[LedgerEntry]:
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
