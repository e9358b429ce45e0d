"""A lead log in a SQL database (``leads: {sql: URL, table: NAME}`` or ``{sql: URL, query: ...}``),
read through SQLAlchemy: PostgreSQL (``postgresql://`` is read with psycopg), SQLite, or any
dialect SQLAlchemy has a driver for.

The result's column names are the log's headers and its rows go through the parser
(:mod:`~sheets_sync.leadlog.parse`), so every rule and reason is the same as a tab's: a
``timestamp`` is workspace local time, a ``timestamptz`` is converted to it, a
``numeric`` price is exact. Rows are streamed (a server-side cursor where the driver has
one), not loaded whole first.

The URL's password (and ``PGPASSWORD`` or a ``.pgpass`` line) never appears in a message:
the URL is shown masked and every error the driver words is scrubbed of the known secrets,
as the PostgreSQL ledger's are (store/database_urls.py).
"""

from __future__ import annotations

from itertools import chain
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from sheets_sync.backends.base import WorkbookError
from sheets_sync.config import LeadsConfig
from sheets_sync.leadlog.columns import LeadLog
from sheets_sync.leadlog.parse import parse_lead_log
from sheets_sync.store.database_urls import driver_reason, url_secrets

STREAMED_ROWS = 20_000
CONNECT_TIMEOUT_SECONDS = 10


def read_lead_table(config: LeadsConfig, zone: ZoneInfo) -> LeadLog:
    """The table or query ``leads.sql`` names, as a log. Raises :class:`WorkbookError` (one
    sentence naming the key, without the password) when it cannot be read."""
    assert config.sql is not None
    secrets = url_secrets(config.sql.get_secret_value())
    where = f"The lead log database {config.sql_label}"
    try:
        url = make_url(config.sql.get_secret_value())
        if url.drivername in ("postgres", "postgresql"):
            url = url.set(drivername="postgresql+psycopg")
        arguments = {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if url.drivername.startswith("postgresql") else {}
        engine = create_engine(url, connect_args=arguments)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as error:
        raise WorkbookError(f"{where} (key 'leads.sql') is not a URL SQLAlchemy can use "
                            f"({driver_reason(error, secrets)}).") from None
    try:
        try:
            connection = engine.connect()
        except SQLAlchemyError as error:
            why = "cannot be reached" if isinstance(error, OperationalError) else "cannot be used"
            raise WorkbookError(f"{where} (key 'leads.sql') {why} ({driver_reason(error, secrets)}).") from None
        with connection:
            return _read(connection, config, zone, where, secrets)
    finally:
        engine.dispose()


def _read(connection: Connection, config: LeadsConfig, zone: ZoneInfo, where: str, secrets: list[str]) -> LeadLog:
    key = "leads.table" if config.table is not None else "leads.query"
    try:
        if config.table is not None:
            schema, _, name = config.table.rpartition(".")
            if not inspect(connection).has_table(name, schema=schema or None):
                raise WorkbookError(f"{where} has no table or view {config.table!r} (key 'leads.table').")
            statement = select(Table(name, MetaData(), schema=schema or None, autoload_with=connection))
        else:
            statement = text(config.query)
        result = connection.execution_options(stream_results=True, yield_per=STREAMED_ROWS).execute(statement)
        if not result.returns_rows:
            raise WorkbookError(f"{where}: leads.query returns no rows (give a select).")
        source = config.table or "query"
        return parse_lead_log(chain([list(result.keys())], result), config.headers, zone, source, config.date_order)
    except SQLAlchemyError as error:
        raise WorkbookError(f"{where} cannot answer {key} ({driver_reason(error, secrets)}).") from None
