"""The audit log of an Excel workspace: ``audit.csv`` beside the tracking workbook (SPEC §4.1),
appended, never rewritten, one whole row per ledger entry."""

from __future__ import annotations

import csv
import io
import os
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from sheets_sync import faults
from sheets_sync.core.cells import CellValue
from sheets_sync.core.model import LedgerEntry
from sheets_sync.core.project.audit import AUDIT_COLUMNS, audit_rows, csv_safe
from sheets_sync.store.files import replace_atomically


def _csv_text(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, str):  # client names and lead IDs: never a formula when Excel opens the file
        return csv_safe(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


def _audit_csv_text(value: CellValue) -> str:
    """:func:`_csv_text`, with the dates and local times (a run's rows repeat them) formatted
    once each."""
    kind = type(value)
    if kind is date or (kind is datetime and value.tzinfo is None):
        return _date_csv_text(value)
    return _csv_text(value)


@lru_cache(maxsize=4096, typed=True)
def _date_csv_text(value: date) -> str:
    return _csv_text(value)


def _with_every_header(path: Path, existing: bytes) -> bytes:
    """A log begun before the later columns existed gets their headers, once: its first line
    is replaced (atomically, the rows kept as they are, blank in the new columns)."""
    first, newline, rest = existing.partition(b"\n")
    header = next(csv.reader([first.decode("utf-8-sig")]), [])
    if not newline or header == list(AUDIT_COLUMNS) or header != list(AUDIT_COLUMNS[:len(header)]):
        return existing
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(AUDIT_COLUMNS)
    completed = buffer.getvalue().encode("utf-8") + rest
    replace_atomically(path, completed)
    return completed


def append_audit_csv(path: Path, entries: list[LedgerEntry]) -> int:
    """Append the ledger entries the CSV does not hold yet; returns how many were added.

    A line cut off by a killed run is dropped first, so the file only ever holds whole rows
    in ledger order and its row count says which entries it has.
    """
    faults.checkpoint("audit.before_append")
    existing = path.read_bytes() if path.exists() else b""
    if existing and not existing.endswith(b"\n"):
        cut = existing.rfind(b"\n") + 1
        while cut and existing[:cut].count(b'"') % 2:  # that newline was inside a quoted field
            cut = existing.rfind(b"\n", 0, cut - 1) + 1
        existing = existing[:cut]
        with path.open("r+b") as handle:
            handle.truncate(len(existing))
    existing = _with_every_header(path, existing)
    already = max(len(list(csv.reader(io.StringIO(existing.decode("utf-8-sig"))))) - 1, 0)
    rows = audit_rows(entries, already)
    if not rows and existing:
        return 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not existing:
        writer.writerow(AUDIT_COLUMNS)
    writer.writerows([list(map(_audit_csv_text, row)) for row in rows])
    data = buffer.getvalue().encode("utf-8")
    # One write() call (unbuffered): a killed process leaves all of it or none. Only a power
    # cut can tear it, and the next run drops the torn line (above); the fault point
    # audit.partial tears it on purpose to prove that.
    torn = len(data) // 2 if faults.armed("audit.partial") else 0
    with path.open("ab", buffering=0) as handle:
        if torn:
            handle.write(data[:torn])
            faults.checkpoint("audit.partial")
        view = memoryview(data)[torn:]
        while view:
            view = view[handle.write(view):]
        os.fsync(handle.fileno())
    faults.checkpoint("audit.appended")
    return len(rows)
