"""The ledger in a PostgreSQL database (``ledger.url``), shared by machines that run syncs
of one workspace: the store's connection, its schema version (a one-row table), and the
database locks. What a ledger does is store/ledger_base.py's, the same as a SQLite file's.

* A write transaction takes the ledger's advisory transaction lock (and so do the schema's
  triggers, whoever inserts): writers go one at a time, as in SQLite.
* A run holds the workspace's run lock, a session advisory lock, for its whole length
  (store/lock.py); a run killed anywhere loses its connection, the server rolls back what it
  had not committed and releases the lock.
* ``read_only`` (a dry run, ``report``, ``statement``, ``check``): one repeatable-read,
  read-only transaction, never committed.
* The password (in the URL, ``PGPASSWORD`` or a ``.pgpass`` file; libpq reads the last two
  itself) never appears in a message: the URL is shown masked (``LedgerConfig.label``) and
  every error the driver words is scrubbed of the known secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from sheets_sync.core.weeks import Calendar
from sheets_sync.store.database_urls import driver_reason, url_secrets
from sheets_sync.store.ledger_base import Ledger, LedgerError, SaleFacts, no_sale_facts
from sheets_sync.store.ledger_schema import POSTGRES, SCHEMA_VERSION, TABLES, WRITE_LOCK

if TYPE_CHECKING:
    from sheets_sync.config import LedgerConfig

RUN_LOCK = "sheets-sync run "
"""Joined with the schema's name and hashed: the key of the run lock, one run per workspace."""
CONNECT_TIMEOUT_SECONDS = "10"
_VERSION_TABLE = "sheets_sync_schema"


class PostgresLedger(Ledger):
    dialect = POSTGRES
    errors = (psycopg.Error,)
    key = "ledger.url"

    def __init__(self, config: LedgerConfig, calendar: Calendar, sale_facts: SaleFacts = no_sale_facts, *,
                 read_only: bool = False, create: bool = True) -> None:
        super().__init__(config.label, calendar)
        self._secrets = secrets_of(config)
        self._sql: dict[str, str] = {}
        self._db: psycopg.Connection | None = None
        self._db = connect(config)
        try:
            if read_only:
                self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                version = self._schema_version()
                if 0 < version < SCHEMA_VERSION:
                    raise LedgerError(f"Ledger {self.label} has schema {version}; the next run upgrades it, then it "
                                      "can be read.")
            self._migrate(sale_facts, create=create and not read_only)
        except psycopg.Error as error:
            self.close()
            raise self._unusable(error) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._db is not None:
            self._db.close()  # an open transaction (a read-only one) is rolled back
            self._db = None

    def _unusable(self, error: BaseException) -> LedgerError:
        return unreachable(self.label, error, self._secrets)

    def _reason(self, error: BaseException) -> str:
        return driver_reason(error, self._secrets)

    def _placeholders(self, sql: str) -> str:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = sql.replace("?", "%s")  # the shared SQL has no other '?' (nor '%')
        return found

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._db.execute(self._placeholders(sql), parameters or None)

    def _execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            with self._db.cursor() as cursor:
                cursor.executemany(self._placeholders(sql), rows)

    def _insert_rows(self, table: str, columns: str, rows: list[tuple]) -> None:
        if rows:  # COPY: a run's many entries in one stream (the schema's triggers check each row all the same)
            with self._db.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def _in_transaction(self) -> bool:
        return self._db is not None and self._db.info.transaction_status != TransactionStatus.IDLE

    def _begin_write(self) -> None:
        self._db.execute("BEGIN")
        self._db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s || current_schema(), 0))", (WRITE_LOCK,))

    def _schema_version(self) -> int:
        tables = [_VERSION_TABLE, *TABLES]
        found = self._db.execute("SELECT " + ", ".join("to_regclass(%s) IS NOT NULL" for _ in tables), tables).fetchone()
        if found[0]:
            return self._db.execute(f"SELECT version FROM {_VERSION_TABLE}").fetchone()[0]
        if any(found[1:]):
            names = ", ".join(name for name, there in zip(TABLES, found[1:]) if there)
            raise LedgerError(f"Ledger {self.label} (key 'ledger.url') has tables ({names}) that sheets-sync did "
                              "not make; point 'ledger.url' at a database of the ledger's own.")
        return 0

    def _set_schema_version(self, version: int) -> None:
        if self._db.execute("SELECT to_regclass(%s) IS NULL", (_VERSION_TABLE,)).fetchone()[0]:
            self._db.execute(f"CREATE TABLE {_VERSION_TABLE} (version INTEGER NOT NULL)")
        self._db.execute(f"DELETE FROM {_VERSION_TABLE}")
        self._db.execute(f"INSERT INTO {_VERSION_TABLE} (version) VALUES (%s)", (version,))

    def _run_script(self, script: str) -> None:
        self._db.execute(script)  # no parameters: several statements in one go


def connect(config: LedgerConfig) -> psycopg.Connection:
    """A connection in autocommit mode (transactions are begun in SQL); a database that is
    down, refuses the login or does not exist is a :class:`LedgerError` naming ``ledger.url``."""
    url = config.url.get_secret_value()
    try:
        parameters = conninfo_to_dict(re.sub(r"^postgres(ql)?\+psycopg://", "postgresql://", url))
        parameters.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        parameters.setdefault("application_name", "sheets-sync")
        return psycopg.connect(make_conninfo(**parameters), autocommit=True)
    except psycopg.Error as error:
        raise unreachable(config.label, error, secrets_of(config)) from None


def acquire_run_lock(config: LedgerConfig, seconds: float) -> psycopg.Connection | None:
    """The workspace's run lock, held by the returned connection until it closes; ``None``
    when another run still holds it after ``seconds``."""
    connection = connect(config)
    try:
        connection.execute(f"SET lock_timeout = '{int(seconds * 1000)}ms'")
        connection.execute("SELECT pg_advisory_lock(hashtextextended(%s || current_schema(), 0))", (RUN_LOCK,))
        connection.execute("SET lock_timeout = 0")
        return connection
    except psycopg.errors.LockNotAvailable:
        connection.close()
        return None
    except psycopg.Error as error:
        connection.close()
        raise unreachable(config.label, error, secrets_of(config)) from None


def unreachable(label: str, error: BaseException, secrets: Sequence[str]) -> LedgerError:
    why = "cannot be reached" if isinstance(error, psycopg.OperationalError) else "cannot be used"
    return LedgerError(f"Ledger {label} (key 'ledger.url') {why} ({driver_reason(error, secrets)}).")


def secrets_of(config: LedgerConfig) -> list[str]:
    return url_secrets(config.url.get_secret_value() if config.url is not None else "")
