"""Shared test fixtures: a real workspace on disk (xlsx files, SQLite ledger, YAML config), a
throwaway PostgreSQL server for ledgers in a database, and the skip reasons at the end of a run."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
import yaml
from openpyxl import Workbook, load_workbook
from pg_cluster import Cluster

from sheets_sync import load_config, run_sync
from sheets_sync.run.summary import SyncReport

LEAD_HEADERS = ["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price", "Cost", "Source"]


def write_xlsx(path: Path, tabs: dict[str, list[list[Any]]]) -> Path:
    """A real workbook with the given tabs; text starting with '=' stays text."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in tabs.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def read_xlsx(path: Path, tab: str) -> list[list[Any]]:
    sheet = load_workbook(path)[tab]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@dataclass
class Workspace:
    """A workspace folder: lead log, client returns workbooks, config; run syncs on it."""

    root: Path
    leads: list[list[Any]] = field(default_factory=list)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    ledger_url: str | None = None
    """A PostgreSQL ledger (``ledger: {url: ...}``, e.g. the ``ledger_url`` fixture's) instead of ledger.sqlite."""

    def lead(self, lead_id: str, delivered_at: datetime | str, client: str, price: str | float = "10.00",
             vertical: str = "Solar", country: str = "US", cost: str | float | None = "4.00",
             source: str = "Vendor A") -> None:
        self.leads.append([lead_id, delivered_at, client, vertical, country,
                           Decimal(price) if isinstance(price, str) else price,
                           Decimal(cost) if isinstance(cost, str) else cost, source])

    def client(self, name: str, rows: list[list[Any]] | None = None, policy: dict[str, Any] | None = None,
               header: list[str] | None = None) -> Path:
        path = self.root / "returns" / f"{name.split()[0].lower()}.xlsx"
        write_xlsx(path, {"Returns": [header or ["Lead ID", "Reason", "Note"], *(rows or [])]})
        self.clients[name] = {"returns": {"excel": f"returns/{path.name}", "tab": "Returns"}}
        if policy:
            self.clients[name]["policy"] = policy
        return path

    def returns_path(self, name: str) -> Path:
        return self.root / self.clients[name]["returns"]["excel"]

    def paste(self, name: str, rows: list[list[Any]]) -> None:
        """The client adds rows at the bottom of its returns tab."""
        path = self.returns_path(name)
        book = load_workbook(path)
        sheet = book["Returns"]
        for row in rows:
            sheet.append(row)
        book.save(path)

    def returns(self, name: str) -> list[dict[str, Any]]:
        """The returns tab as dicts keyed by header (row 1)."""
        rows = read_xlsx(self.returns_path(name), "Returns")
        return [dict(zip(rows[0], row)) for row in rows[1:]]

    def tracking(self, tab: str) -> dict[str, dict[Any, Any]]:
        """A tracking tab as {label: {week date: value}}."""
        rows = read_xlsx(self.root / "tracking.xlsx", tab)
        weeks = [cell.date() if isinstance(cell, datetime) else cell for cell in rows[0][1:]]
        return {row[0]: dict(zip(weeks, row[1:])) for row in rows[1:] if row and row[0]}

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def write(self) -> Path:
        write_xlsx(self.root / "leads.xlsx", {"Leads": [LEAD_HEADERS, *self.leads]})
        config = {
            "timezone": "America/New_York",
            "week_ends_on": "sunday",
            "leads": {"excel": "leads.xlsx", "tab": "Leads"},
            "tracking": {"excel": "tracking.xlsx"},
            "ledger": {"url": self.ledger_url} if self.ledger_url else {"path": "ledger.sqlite"},
            "policy": {"window_days": 7, "max_return_rate": 1, **self.policy},
            "clients": self.clients,
            **self.settings,
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return self.config_path

    def run(self, as_of: str | None = None, dry_run: bool = False) -> SyncReport:
        if not self.config_path.exists():
            self.write()
        return run_sync(load_config(self.config_path), as_of=datetime.fromisoformat(as_of) if as_of else None,
                        dry_run=dry_run)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


# --------------------------------------------------------------------------- a PostgreSQL server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the session (tests/pg_cluster.py). Without
    Debian's ``postgresql`` binaries the tests that need it skip, saying so; with
    ``SHEETS_SYNC_REQUIRE_POSTGRES=1`` (CI) they fail instead."""
    bin_dir = pg_cluster.binaries()
    if bin_dir is None:
        reason = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; apt-get install postgresql)"
        if os.environ.get(pg_cluster.REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}, and {pg_cluster.REQUIRE_ENV}=1 requires it")
        pytest.skip(reason)
    cluster = Cluster(bin_dir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def ledger_url(postgres: Cluster) -> str:
    """The URL (with its password) of a new, empty PostgreSQL database for one test's ledger."""
    return postgres.url(postgres.database())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Why tests were skipped, each reason once with its count (``-q`` hides them)."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped tests")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count} skipped: {reason}")
