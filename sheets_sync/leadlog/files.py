"""A lead log of CSV or Parquet files (``leads: {csv: GLOB}``, ``{parquet: GLOB}``), read
through DuckDB as columns.

Every file the glob matches is one part of one log, in file-name order (one export a day,
oldest first), each with its own header row. DuckDB reads the files and converts what it
can convert exactly as :mod:`~sheets_sync.leadlog.parse` would: a delivery time in ISO
form (without a zone: workspace local time; with one: converted to it) or a typed
timestamp or date becomes microseconds of local time. Texts and amounts come as text (a
decimal column as its exact digits) and go through the parser's own cached conversions, once
per distinct value. A row DuckDB cannot convert (``05.12.2026``, a blank ID, a bad price …)
and a run holding a duplicate sale take the parser's row-by-row path, so every rule and
reason is the parser's: a file's rejected rows are reported with the file's name and row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy

from sheets_sync.backends.base import WorkbookError
from sheets_sync.config import LeadsConfig, lead_log_files
from sheets_sync.core.model import Problem
from sheets_sync.leadlog.columns import LOCAL_EPOCH, LeadLog
from sheets_sync.leadlog.parse import MICROS_PER_DAY, LogBuilder, LogColumns, locate_columns

_UNIX_EPOCH_MICROS = (date(1970, 1, 1).toordinal() - 1) * MICROS_PER_DAY
"""Microseconds from :data:`LOCAL_EPOCH` (0001-01-01) to 1970-01-01, DuckDB's epoch."""
_RUN_ROWS = 4096
"""Clean rows accepted at once; a run holding a duplicate sale is parsed row by row."""
_ISO_DAY = r"\d{4}-\d{2}-\d{2}"
_ISO_TIME = r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)"
_NAIVE = f"{_ISO_DAY}{_ISO_TIME}?"
_ZONED = f"{_ISO_DAY}{_ISO_TIME}(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)"
"""The delivery-time texts DuckDB reads as Python's ``datetime.fromisoformat`` does; any
other text goes through the parser (:mod:`~sheets_sync.leadlog.dates`)."""


def read_lead_files(config: LeadsConfig, zone: ZoneInfo) -> LeadLog:
    """Every file ``leads.csv`` or ``leads.parquet`` names, as one log. Raises
    :class:`WorkbookError` when none matches or one cannot be read."""
    pattern, key = config.files, f"leads.{config.kind}"
    assert pattern is not None
    files = lead_log_files(pattern)
    if not files:
        raise WorkbookError(f"The lead log {pattern} (key '{key}') names no file.")
    builder: LogBuilder | None = None
    problems: list[Problem] = []
    with duckdb.connect() as database:
        database.execute(f"SET TimeZone = '{zone.key}'")
        for path in files:
            names, types = _load(database, path, config.kind, key)
            columns = locate_columns(names, config.headers, path.name)
            if builder is None:
                builder = LogBuilder(columns, zone, config.date_order)
            builder.next_file(path.name, columns)
            found = _converted(database, columns, names, types, zone)
            count = len(found["micros"])
            rows = _csv_rows(path, count) if config.kind == "csv" else numpy.arange(1, count + 1)
            problems += _add_file(builder, found, path.name, rows)
    assert builder is not None
    return builder.build(pattern.name, problems)


def _load(database: duckdb.DuckDBPyConnection, path: Path, kind: str, key: str) -> tuple[list[str], list[str]]:
    """Load one file into the table ``part``; its column names and DuckDB types."""
    reader = ("read_csv(?, all_varchar = true, header = true, null_padding = true, strict_mode = false)"
              if kind == "csv"
              else "read_parquet(?)")
    try:
        database.execute(f"CREATE OR REPLACE TEMP TABLE part AS SELECT * FROM {reader}", [str(path)])
        described = database.execute("DESCRIBE part").fetchall()
    except duckdb.Error as error:
        said = (str(error).strip().splitlines() or [type(error).__name__])[0]
        first_line = said.rstrip(".").replace(str(path), path.name)
        raise WorkbookError(f"Lead log file {path} (key '{key}') cannot be read as "
                            f"{'UTF-8 CSV' if kind == 'csv' else 'Parquet'} ({first_line}).") from None
    return [row[0] for row in described], [row[1] for row in described]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _micros_sql(column: str, kind: str, zone: ZoneInfo) -> str:
    """DuckDB's local-time microseconds since 1970 of a delivery column, NULL where the parser must look."""
    local = f"timezone('{zone.key}', {column})"
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"epoch_us({local})"
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"epoch_us(CAST({column} AS TIMESTAMP))"
    if kind != "VARCHAR":
        return "NULL"
    text = f"trim({column})"
    return (f"CASE WHEN regexp_full_match({text}, '{_NAIVE}') THEN epoch_us(TRY_CAST({text} AS TIMESTAMP)) "
            f"WHEN regexp_full_match({text}, '{_ZONED}') "
            f"THEN epoch_us(timezone('{zone.key}', TRY_CAST({text} AS TIMESTAMPTZ))) END")


def _converted(database: duckdb.DuckDBPyConnection, columns: LogColumns, names: list[str], types: list[str],
               zone: ZoneInfo) -> dict[str, numpy.ndarray]:
    """The file's columns: ``micros`` (-1 where not converted) and each mapped column as text
    (``c<index>``; the delivery column only where ``micros`` is -1)."""
    at = columns.delivered_at
    micros = _micros_sql(_quoted(names[at]), types[at], zone)
    texts = [f"CAST({_quoted(names[index])} AS VARCHAR) AS c{index}" for index in columns.mapped if index != at]
    query = (f"SELECT coalesce({micros} + {_UNIX_EPOCH_MICROS}, -1) AS micros, "
             f"CASE WHEN {micros} IS NULL THEN CAST({_quoted(names[at])} AS VARCHAR) END AS c{at}, "
             f"{', '.join(texts)} FROM part ORDER BY rowid")
    return database.execute(query).fetchnumpy()


def _each_distinct(cells: Sequence, convert: Callable) -> list:
    """``convert`` of every cell, called once per distinct cell (first seen first)."""
    table = {cell: convert(cell) for cell in dict.fromkeys(cells)}
    return list(map(table.__getitem__, cells))


def _csv_rows(path: Path, count: int) -> numpy.ndarray:
    """The row of each of a CSV file's records as a spreadsheet shows it: row 1 holds the
    headers, and a blank line (which DuckDB skips) is a row too."""
    rows = numpy.arange(2, count + 2)
    try:
        data = path.read_bytes()
    except OSError:
        return rows
    if b"\n\n" not in data and b"\n\r\n" not in data:
        return rows
    filled = [number for number, line in enumerate(data.splitlines(), 1) if line.strip()]
    return numpy.array(filled[1:]) if len(filled) == count + 1 else rows  # else a quoted field spans lines


def _add_file(builder: LogBuilder, found: dict[str, numpy.ndarray], source: str, rows: numpy.ndarray) -> list[Problem]:
    """Accept one file's rows into ``builder``; the rows left out, with the reason."""
    columns = builder.columns
    count = len(found["micros"])
    micros = found["micros"].astype(numpy.int64)
    cells = {index: found[f"c{index}"].tolist() for index in columns.mapped}
    lead_ids = [cell.strip() if cell else "" for cell in cells[columns.lead_id]]
    prices = _each_distinct(cells[columns.price], builder.cents)
    costs = _each_distinct(cells[columns.cost] if columns.cost is not None else [None] * count, builder.cost_cents_of)
    codes = [_each_distinct(cells[index] if index is not None else [None] * count,
                            lambda cell, field=field: builder.label_code(field, cell))
             for field, index in columns.labels]
    clean = ((micros >= 0) & numpy.array([bool(lead_id) for lead_id in lead_ids])
             & numpy.array([price is not None for price in prices]) & numpy.array([cost is not None for cost in costs])
             & numpy.array([code is not None for code in codes[0]]))
    problems: list[Problem] = []
    edges = [0, *(numpy.flatnonzero(clean[1:] != clean[:-1]) + 1).tolist(), count]
    for first, last in zip(edges, edges[1:]):  # runs of clean rows, and of others
        for start in range(first, last, _RUN_ROWS):
            end = min(start + _RUN_ROWS, last)
            if clean[first] and builder.add_clean_columns(
                    lead_ids[start:end], rows[start:end].tolist(), micros[start:end], prices[start:end],
                    costs[start:end], [field_codes[start:end] for field_codes in codes]):
                continue
            for position in range(start, end):
                row = [None] * columns.width
                for index in columns.mapped:
                    row[index] = cells[index][position]
                if micros[position] >= 0:
                    row[columns.delivered_at] = LOCAL_EPOCH + timedelta(microseconds=int(micros[position]))
                if reason := builder.add_row(row, int(rows[position])):
                    problems.append(Problem(source, reason, int(rows[position])))
    return problems

