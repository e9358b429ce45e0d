"""The audit log: one row per ledger entry, appended, never rewritten (SPEC §4.1)."""

from __future__ import annotations

from collections.abc import Sequence

from sheets_sync.core.cells import CellValue, CellWrite, Grid
from sheets_sync.core.model import LedgerEntry
from sheets_sync.core.project.table import local_moment

AUDIT_TAB = "Audit log"
AUDIT_COLUMNS = ("Run", "Time", "Client", "Lead ID", "Status", "Rule", "Credit", "Week restated", "Credit type",
                 "Entry")
"""``Credit type`` and ``Entry`` (the ledger entry's kind) came later: rows written before
them are blank there."""


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters that make a spreadsheet program read a CSV cell, or a text cell a
person re-enters, as a formula (OWASP "CSV injection"; the full-width forms too)."""


def csv_safe(text: str) -> str:
    """Text for a CSV cell that a spreadsheet program opens as the same text, never as a
    formula: text starting with a formula trigger gets a leading apostrophe (OWASP)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def audit_rows(entries: Sequence[LedgerEntry], already: int) -> list[list[CellValue]]:
    """Audit log rows for the ledger entries not yet in the log (the log holds ``already``)."""
    return [
        [entry.run_id, local_moment(entry.decided_at), entry.client, entry.lead_id, entry.status, entry.rule,
         entry.credit if entry.credit else None, entry.lead_week if entry.credit else None,
         entry.credit_type if entry.credit else None, entry.kind]
        for entry in entries[already:]
    ]


def audit_tab_writes(grid: Grid | None, entries: Sequence[LedgerEntry]) -> tuple[list[CellWrite], int]:
    """On Google the audit log is a tab: the entries it lacks go to explicit rows below the
    last, so a retried write can never add a row twice. The writes, and how many rows."""
    used = len(grid or [])
    rows = ([list(AUDIT_COLUMNS)] if not used else []) + audit_rows(entries, max(used - 1, 0))
    writes = [CellWrite(AUDIT_TAB, used + offset, column, value)
              for offset, cells in enumerate(rows, start=1) for column, value in enumerate(cells, start=1)
              if value is not None]
    header = list((grid or [[]])[0]) if used else []
    writes += [CellWrite(AUDIT_TAB, 1, column, name) for column, name in enumerate(AUDIT_COLUMNS, start=1)
               if used and column > len(header)]  # a log begun before a column existed gains its header
    return writes, len(rows) - (0 if used else 1)
