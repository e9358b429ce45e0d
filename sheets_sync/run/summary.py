"""What one run did (or, with ``dry_run``, would do): the report every caller gets back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sheets_sync.core.alerts import Alert
from sheets_sync.core.cells import CellWrite
from sheets_sync.core.model import APPROVED, LedgerEntry, NewEntry, Problem
from sheets_sync.core.money import ZERO


@dataclass
class SyncReport:
    """What one run did (or, with ``dry_run``, would do)."""

    run_id: str
    as_of: datetime
    dry_run: bool
    leads_read: int = 0
    new_entries: list[NewEntry] = field(default_factory=list)
    row_statuses: Counter = field(default_factory=Counter)
    changes: list[tuple[str, CellWrite]] = field(default_factory=list)
    audit_rows_added: int = 0
    waiting: list[LedgerEntry] = field(default_factory=list)
    """Items on the Review tab that wait for the operator after this run (SPEC §2.4)."""
    alerts: list[Alert] = field(default_factory=list)
    """What needs a look as ``sheets-sync report`` would say, found when ``notify.on`` asks for alerts."""
    written: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)

    @property
    def rows_left_out(self) -> int:
        """Lead log rows the run could not use (each is one of ``problems``, with its row number)."""
        return sum(1 for problem in self.problems if problem.row is not None)

    @property
    def waiting_for_review(self) -> int:
        return len(self.waiting)

    @property
    def credits(self) -> Decimal:
        return sum((entry.credit for entry in self.new_entries if entry.status == APPROVED), ZERO)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def fail(self, source: str, message: str) -> None:
        self.failures.append(Problem(source, message))

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "leads_read": self.leads_read,
            "decisions": dict(Counter(entry.status for entry in self.new_entries)),
            "rows_by_status": dict(self.row_statuses),
            "credits": str(self.credits),
            "cells_written": 0 if self.dry_run else len(self.changes),
            "cells_to_write": len(self.changes),
            "workbooks_written": self.written,
            "audit_rows_added": self.audit_rows_added,
            "waiting_for_review": self.waiting_for_review,
            "rows_left_out": self.rows_left_out,
            "problems": [str(problem) for problem in self.problems],
            "errors": [{"source": failure.source, "message": failure.message} for failure in self.failures],
            "exit_code": self.exit_code,
        }
