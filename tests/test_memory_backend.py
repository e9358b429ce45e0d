"""The in-memory workbook: the engine runs on it as on files, and it keeps the Workbook
contract the way the Excel backend does (one contract, two backends)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from sheets_sync import load_config, run_sync
from sheets_sync.backends.excel.workbook import ExcelWorkbook
from sheets_sync.backends.memory import MemoryWorkbook, memory_opener
from sheets_sync.core.cells import CellWrite, Formula, TabRename, TabSpec


def _story_config(tmp_path: Path) -> Path:
    (tmp_path / "leads.csv").write_text(
        "Lead ID,Delivered At,Client,Vertical,Country,Price\n"
        "A1,2024-02-12 10:00,Acme,Solar,US,25.00\n"
        "A2,2024-02-13 11:00,Acme,Solar,US,30.00\n"
        "A3,2024-02-20 09:00,Acme,Solar,US,40.00\n")
    config = {"timezone": "America/New_York", "week_ends_on": "saturday",
              "leads": {"csv": "leads.csv"}, "tracking": {"excel": "tracking.xlsx"},
              "ledger": {"path": "ledger.sqlite"}, "policy": {"window_days": 30, "max_return_rate": 1},
              "clients": {"Acme": {"returns": {"excel": "acme.xlsx", "tab": "Returns"}}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_accrual_story_runs_on_memory_workbooks(tmp_path: Path) -> None:
    config = load_config(_story_config(tmp_path))
    acme = MemoryWorkbook("acme", {"Returns": [["Lead ID", "Reason"], ["A1", "wrong number"], ["a3 ", "Disconnected"]]})
    workbooks = {tmp_path / "acme.xlsx": acme}
    report = run_sync(config, as_of=datetime(2024, 3, 3, 10), opener=memory_opener(workbooks))
    assert report.exit_code == 0, report.failures
    status = acme.tabs["Returns"][0].index("Status") + 1
    credit = acme.tabs["Returns"][0].index("Credit") + 1
    assert [acme.cell("Returns", row, status) for row in (2, 3)] == ["Approved", "Approved"]
    assert [acme.cell("Returns", row, credit) for row in (2, 3)] == [Decimal("25.00"), Decimal("40.00")]
    tracking = workbooks[tmp_path / "tracking.xlsx"]
    rows = {row[0]: row[1:] for row in tracking.tabs["Solar US"] if row}
    weeks = rows["Metric"]
    refunds = dict(zip(weeks, rows["Refunds"]))
    assert refunds[date(2024, 2, 17)] == Decimal("25.00") and refunds[date(2024, 2, 24)] == Decimal("40.00")
    cash = dict(zip(weeks, rows["Refunds reported (cash view)"]))
    assert cash[date(2024, 3, 9)] == Decimal("65.00")
    assert not (tmp_path / "tracking.xlsx").exists() and not (tmp_path / "acme.xlsx").exists()
    writes_before = len(acme.writes) + len(tracking.writes)
    again = run_sync(config, as_of=datetime(2024, 3, 4, 10), opener=memory_opener(workbooks))
    assert again.changes == [] and again.new_entries == []
    assert len(acme.writes) + len(tracking.writes) == writes_before


def test_a_returns_workbook_not_made_yet_is_made_through_the_opener_and_said_so(tmp_path: Path) -> None:
    config = load_config(_story_config(tmp_path))
    workbooks: dict = {}
    report = run_sync(config, as_of=datetime(2024, 3, 3, 10), opener=memory_opener(workbooks))
    assert report.exit_code == 0 and report.failures == []
    assert [problem.message for problem in report.problems] == [
        "acme.xlsx was created with the client's returns tab and policy: share it with the client"]
    assert "Returns" in workbooks[tmp_path / "acme.xlsx"].tabs and not (tmp_path / "acme.xlsx").exists()


@pytest.fixture(params=["memory", "excel"])
def workbook(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "memory":
        yield MemoryWorkbook("book", {"Data": [["Name", "Amount"], ["a", 1]]})
        return
    from conftest import write_xlsx

    path = write_xlsx(tmp_path / "book.xlsx", {"Data": [["Name", "Amount"], ["a", 1]]})
    with ExcelWorkbook(path) as excel:
        yield excel


def test_backends_read_what_was_written_and_create_tabs_in_order(workbook) -> None:
    assert workbook.read(["Data", "Nope"]) == {"Data": [["Name", "Amount"], ["a", 1]]}
    workbook.write([CellWrite("Data", 3, 1, "=not a formula"), CellWrite("Data", 3, 2, Decimal("2.50")),
                    CellWrite("Extra", 1, 1, date(2024, 2, 17)), CellWrite("Extra", 2, 1, Formula("=1+1"))],
                   [TabSpec("Extra")])
    workbook.write([], ["Extra"])  # a tab that exists already is kept as it is
    assert workbook.tab_titles() == ["Data", "Extra"]
    grids = workbook.read(["Data", "Extra"])
    assert grids["Data"][2][0] == "=not a formula" and Decimal(str(grids["Data"][2][1])) == Decimal("2.50")
    assert grids["Extra"][0][0] in (date(2024, 2, 17), datetime(2024, 2, 17))
    assert grids["Extra"][1][0] == "=1+1"


def test_backends_rename_a_tab_before_a_new_one_takes_its_title(workbook) -> None:
    workbook.write([CellWrite("Data", 1, 1, "Metric")], [TabRename("Data", "Data (old)"), TabSpec("Data")])
    assert workbook.tab_titles() == ["Data (old)", "Data"]
    grids = workbook.read(["Data", "Data (old)"])
    assert grids["Data (old)"] == [["Name", "Amount"], ["a", 1]]  # kept with its cells
    assert grids["Data"] == [["Metric"]]
    workbook.write([], [TabRename("Data", "Data (old)")])  # the new title is taken: nothing happens
    assert workbook.tab_titles() == ["Data (old)", "Data"]
