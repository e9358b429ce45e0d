"""``sheets-sync report``: read the lead log and the ledger (never changing either), find
what needs a look, and write each lead source's defect returns to a CSV for its supplier."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sheets_sync.config import Config
from sheets_sync.core.alerts import SOURCE_RETURN_COLUMNS, Alert, defect_returns_by_source, find_alerts
from sheets_sync.core.model import Problem
from sheets_sync.core.project.audit import csv_safe
from sheets_sync.leadlog import workspace_lead_log
from sheets_sync.store.files import safe_file_names, write_if_changed
from sheets_sync.store.ledger import read_entries

SOURCE_FILES_DIR = "returns-by-source"


@dataclass
class AlertReport:
    as_of: datetime
    alerts: list[Alert]
    problems: list[Problem]
    """Lead log rows left out (as ``run`` reports them)."""
    source_files: list[Path] = field(default_factory=list)
    """Every per-source returns file."""
    source_files_changed: list[Path] = field(default_factory=list)
    """Those of them this report wrote; the others were already up to date."""

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "alerts": [alert.as_json() for alert in self.alerts],
            "returns_by_source": {
                "files": [str(path) for path in self.source_files],
                "written": [str(path) for path in self.source_files_changed],
            },
            "problems": [str(problem) for problem in self.problems],
        }


def make_report(config: Config, *, as_of: datetime | None = None, write_files: bool = True) -> AlertReport:
    """Alerts as of ``as_of`` (default now; naive means workspace time) and, unless told
    not to, the per-source returns files beside the config.

    Raises :class:`~sheets_sync.backends.base.WorkbookError` when the lead log cannot be
    read and :class:`~sheets_sync.store.ledger.LedgerError` when the ledger cannot.
    """
    moment = as_of or datetime.now(config.zone)
    moment = moment.replace(tzinfo=config.zone) if moment.tzinfo is None else moment.astimezone(config.zone)
    log = workspace_lead_log(config)
    leads, problems = list(log), log.problems
    entries = read_entries(config)
    report = AlertReport(moment, find_alerts(leads, entries, config, moment), problems)
    if write_files:
        directory = config.base_dir / SOURCE_FILES_DIR
        rows_by_source = defect_returns_by_source(leads, entries, config, moment)
        for source, name in safe_file_names(rows_by_source, "source").items():
            path = directory / name
            report.source_files.append(path)
            if write_if_changed(path, source_csv(rows_by_source[source])):
                report.source_files_changed.append(path)
    return report


def source_csv(rows: list[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SOURCE_RETURN_COLUMNS)
    writer.writerows([[csv_safe(cell) for cell in row] for row in rows])  # suppliers open these in Excel
    return buffer.getvalue().encode("utf-8")
