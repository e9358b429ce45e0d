"""``sheets-sync statement``: each client's credits of one month as CSV, for billing (SPEC §4.3).

The same lines and totals as the client's ``Credits`` tab, from the ledger alone, read only:
``statements/{client} {YYYY-MM}.csv`` beside the config. A file is rewritten only when its
content changed (atomically), so a second run leaves every file as it was. Text that a
spreadsheet program would read as a formula is quoted (CSV injection).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sheets_sync import faults
from sheets_sync.config import Config, ConfigError
from sheets_sync.core.books import LedgerState
from sheets_sync.core.money import ZERO
from sheets_sync.core.project.audit import csv_safe
from sheets_sync.core.project.credits import (
    CREDITS_COLUMNS,
    CreditLine,
    MonthTotal,
    credit_lines,
    month_totals,
    total_words,
)
from sheets_sync.store.files import safe_file_names, write_if_changed
from sheets_sync.store.ledger import read_entries

STATEMENTS_DIR = "statements"


@dataclass(frozen=True)
class Statement:
    client: str
    path: Path
    credits: int
    total: MonthTotal
    changed: bool


def month_of(text: str | None, today: date) -> date:
    """The first day of ``--month YYYY-MM``; without it, the last complete month."""
    if text is None:
        first = today.replace(day=1)
        return first.replace(year=first.year - 1, month=12) if first.month == 1 else first.replace(month=first.month - 1)
    try:
        return datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise ConfigError(f"--month {text!r} is not a month (use e.g. 2024-02).") from None


def write_statements(config: Config, month: date, client: str | None = None) -> list[Statement]:
    """Write the statements of ``month`` (its first day) for every client, or one."""
    names = config.client_names
    if client is not None and client.casefold() not in names:
        raise ConfigError(f"--client {client!r} is not a client in the config (clients: {', '.join(config.clients)}).")
    clients = [names[client.casefold()]] if client is not None else list(config.clients)
    state = LedgerState(read_entries(config),
                        lambda name: names.get(name.casefold(), name))
    directory = config.base_dir / STATEMENTS_DIR
    files = safe_file_names([f"{name} {month:%Y-%m}" for name in clients], f"client {month:%Y-%m}")
    written = []
    for name in clients:
        lines = [line for line in credit_lines(state.entries_of(name), state.by_seq, config.zone)
                 if line.booked.replace(day=1) == month]
        total = next(iter(month_totals(lines)), MonthTotal(month, ZERO, 0))
        path = directory / files[f"{name} {month:%Y-%m}"]
        written.append(Statement(name, path, len(lines), total, write_if_changed(path, statement_csv(lines, total))))
        faults.checkpoint("statement.written", path=path)
    return written


def statement_csv(lines: list[CreditLine], total: MonthTotal) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CREDITS_COLUMNS)
    for line in lines:
        writer.writerow([line.booked.isoformat(), csv_safe(line.lead_id), line.delivered.isoformat(), line.credit_type,
                         _amount(line.amount), line.why])
    writer.writerow(["", "", "", "total", _amount(total.money), total_words(total)])
    return buffer.getvalue().encode("utf-8")


def _amount(amount: Decimal) -> str:
    return f"{amount:.2f}"
