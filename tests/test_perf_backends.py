"""Backends made faster: Excel tabs read by value with python-calamine where that reads them
as openpyxl does; Google writes paced under the quota instead of refused."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as clock
from pathlib import Path

import pytest
from conftest import Workspace, write_xlsx
from openpyxl import load_workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from sheets_sync.backends.base import WorkbookChanged
from sheets_sync.backends.excel.saves import prepare_saves
from sheets_sync.backends.excel.workbook import ExcelWorkbook
from sheets_sync.backends.google.endpoint import API_URL_ENV
from sheets_sync.backends.google.transport import Pacer
from sheets_sync.backends.google.workbook import open_google_workbook
from sheets_sync.core.cells import CellWrite, Formula
from sheets_sync.run import speed
from sheets_sync.testing import FakeSheetsServer

ROWS = [
    ["Lead ID", "Reason", "Note", "Status", "First seen"],
    ["000123", "Wrong #", "=see ticket", "Approved", datetime(2024, 2, 12, 9, 30)],
    [123, 12.5, True, None, date(2024, 2, 12)],
    [1234567890123450, "  spaced  ", "-- note", "", datetime(2024, 2, 12)],
    [None, None, None, None, None],
    ["A1\nA2", "@ops", clock(10, 0), "x", 9007199254740992],
]


def _openpyxl_grid(path: Path, tab: str) -> list[list]:
    return [[cell.value for cell in row] for row in load_workbook(path, rich_text=True)[tab].iter_rows()]


def _plain(value):
    """A cell value as the engine tells it apart: numbers by value, dates as date-times."""
    if value == "" or value is None:
        return None
    if isinstance(value, CellRichText):
        return str(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _cells(grid: list[list]) -> dict[tuple[int, int], object]:
    return {(row, col): _plain(value) for row, cells in enumerate(grid) for col, value in enumerate(cells)
            if _plain(value) is not None}


def test_a_tab_of_values_is_read_without_loading_the_workbook(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "returns.xlsx", {"Returns": ROWS, "Other": [["x"]]})
    book = load_workbook(path)
    book["Returns"]["C7"] = CellRichText(["rich ", TextBlock(InlineFont(b=True), "text")])
    book.save(path)
    workbook = ExcelWorkbook(path)
    grid = workbook.read(["Returns", "Missing"])
    assert workbook._book is None  # openpyxl is left for write()
    assert list(grid) == ["Returns"]
    assert _cells(grid["Returns"]) == _cells(_openpyxl_grid(path, "Returns"))
    assert grid["Returns"][6][2] == "rich text"


def test_formulas_are_read_by_calamine_as_openpyxl_reads_them(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "tracking.xlsx", {"Solar US": [["Metric", "2025-12-28"], ["Leads", 12], ["Refunds", 3]]})
    book = load_workbook(path)
    book["Solar US"]["B4"] = '=B2-B3&"<x>"'
    book["Solar US"]["D6"] = "=SUM(B2:B3)"  # no cached result, beyond every value calamine sees
    book.save(path)
    workbook = ExcelWorkbook(path)
    grid = workbook.read(["Solar US"])["Solar US"]
    assert workbook._book is None
    assert grid[3][1] == Formula('=B2-B3&"<x>"') and grid[5][3] == Formula("=SUM(B2:B3)")
    assert _cells(grid) == _cells(_openpyxl_grid(path, "Solar US"))


@pytest.mark.parametrize("case", ["long integer", "shared formula"])
def test_tabs_calamine_would_read_differently_are_read_by_openpyxl(tmp_path: Path, case: str) -> None:
    path = write_xlsx(tmp_path / "returns.xlsx", {"Returns": [["Lead ID"], ["x"], ["y"]]})
    book = load_workbook(path)
    if case == "long integer":
        book["Returns"]["A2"] = 9007199254740993
        book.save(path)  # openpyxl itself writes it rounded: put the exact digits in
        _replace_in_sheet(path, b"<v>9007199254740992</v>", b"<v>9007199254740993</v>")
        expected = 9007199254740993
    else:  # as Excel writes a formula filled down: the text only in the first cell
        book["Returns"]["A2"], book["Returns"]["A3"] = "=B2", "=B3"
        book.save(path)
        _replace_in_sheet(path, b"<f>B2</f>", b'<f t="shared" ref="A2:A3" si="0">B2</f>')
        _replace_in_sheet(path, b"<f>B3</f>", b'<f t="shared" si="0"/>')
        expected = Formula("=B2")
    workbook = ExcelWorkbook(path)
    assert workbook.read(["Returns"])["Returns"][1][0] == expected
    assert workbook._book is not None


def _with_error_value(path: Path) -> Path:
    write_xlsx(path, {"Returns": [["Lead ID", "Reason"], ["x", "wrong number"], ["y", "z"]]})
    book = load_workbook(path)
    book["Returns"]["A3"] = "#N/A"
    book["Returns"]["A3"].data_type = "e"  # what Excel stores when a client types #N/A
    book.save(path)
    return path


def test_error_values_are_read_by_calamine_as_openpyxl_reads_them(tmp_path: Path) -> None:
    path = _with_error_value(tmp_path / "returns.xlsx")
    workbook = ExcelWorkbook(path)
    assert workbook.read(["Returns"])["Returns"] == [["Lead ID", "Reason"], ["x", "wrong number"], ["#N/A", "z"]]
    assert workbook._book is None
    assert _openpyxl_grid(path, "Returns")[2] == ["#N/A", "z"]


def test_an_error_value_without_its_cell_reference_is_read_by_openpyxl(tmp_path: Path) -> None:
    path = _with_error_value(tmp_path / "returns.xlsx")
    _replace_in_sheet(path, b'<c r="A3" t="e">', b'<c t="e">')  # the reference is optional in the format
    workbook = ExcelWorkbook(path)
    assert workbook.read(["Returns"])["Returns"][2] == ["#N/A", "z"]
    assert workbook._book is not None


def _replace_in_sheet(path: Path, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {info: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members.items():
            archive.writestr(info, data.replace(old, new) if info.filename == "xl/worksheets/sheet1.xml" else data)


def test_writing_after_a_read_by_value_keeps_the_rest_of_the_workbook(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "returns.xlsx", {"Returns": ROWS, "Other": [["keep me"]]})
    with ExcelWorkbook(path) as workbook:
        workbook.read(["Returns"])
        workbook.write([CellWrite("Returns", 3, 4, "Rejected")])
    assert _openpyxl_grid(path, "Returns")[2][3] == "Rejected"
    assert _openpyxl_grid(path, "Other") == [["keep me"]]


def test_a_save_by_someone_else_after_the_read_is_never_written_over(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "returns.xlsx", {"Returns": ROWS})
    with ExcelWorkbook(path) as workbook:
        workbook.read(["Returns"])
        time.sleep(0.01)
        write_xlsx(path, {"Returns": [["Lead ID", "Reason"], ["theirs", "now"]]})  # a person saves meanwhile
        with pytest.raises(WorkbookChanged):
            workbook.write([CellWrite("Returns", 2, 4, "Approved")])
        assert _openpyxl_grid(path, "Returns") == [["Lead ID", "Reason"], ["theirs", "now"]]
        assert workbook.read(["Returns"])["Returns"][1][0] == "theirs"  # read again, then written
        workbook.write([CellWrite("Returns", 2, 4, "Approved")])
    assert _openpyxl_grid(path, "Returns")[1] == ["theirs", "now", None, "Approved"]


# -- Google: pacing under the write quota ---------------------------------------------------


def test_the_pacer_never_lets_more_than_its_limit_through_in_a_window() -> None:
    pacer = Pacer(3, window_seconds=0.4)
    answered = []
    started = time.monotonic()
    for _ in range(7):
        with pacer.turn():
            answered.append(time.monotonic())
    assert answered[-1] - started >= 0.8  # 7 requests at 3 per 0.4 s need two full windows
    assert all(later - earlier >= 0.4 for earlier, later in zip(answered, answered[3:]))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as fake:
        monkeypatch.setenv(API_URL_ENV, fake.url)
        yield fake


def test_writes_under_the_quota_are_never_refused(server: FakeSheetsServer, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    server.service_account_file(key_file)
    ids = [server.create_spreadsheet(f"Client {n}", {"Returns": [["Lead ID"]]}) for n in range(6)]
    server.quota(writes_per_minute=6)
    for sid in ids:  # every spreadsheet opened with the key shares one pacer
        open_google_workbook(sid, key_file, writes_per_minute=6).write([CellWrite("Returns", 2, 1, "A-1")])
    posts = [request for request in server.sheets_requests if request[0] == "POST"]
    assert len(posts) == 6  # none was answered 429 and sent again


def test_back_off_ends_with_a_last_try_at_the_end_of_the_budget(server: FakeSheetsServer, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    server.service_account_file(key_file)
    sid = server.create_spreadsheet("Busy")
    server.fail_next(429, count=2)  # the second back-off (1-2 s) would overrun the 1.2 s budget
    started = time.monotonic()
    workbook = open_google_workbook(sid, key_file, retry_budget_seconds=1.2, first_retry_delay=1.0)
    assert workbook.tab_titles() == ["Sheet1"]
    assert 1.0 <= time.monotonic() - started < 2.5


# -- Excel: saves in worker processes --------------------------------------------------------


def _workspace_with_clients(root: Path) -> Workspace:
    workspace = Workspace(root)
    for number, client in enumerate(("Acme", "Zenith", "Summit")):
        for lead in range(3):
            workspace.lead(f"{client[0]}{lead}", datetime(2024, 2, 12, 10 + lead), client, price=f"{10 + number}.50")
        workspace.client(client, [[f"{client[0]}0", "wrong number"], [f" {client[0].lower()}1 ", "Wrong #", "=x"],
                                  [f"{client[0]}9", ""]])
    workspace.write()
    return workspace


def _contents(workspace: Workspace) -> dict[str, dict[str, list[list]]]:
    return {path.name: {tab: _openpyxl_grid(path, tab) for tab in load_workbook(path).sheetnames}
            for path in sorted(workspace.root.rglob("*.xlsx"))}


def _two_runs(workspace: Workspace) -> None:
    assert workspace.run("2024-02-13T09:00").exit_code == 0
    workspace.paste("Acme", [["A2", "disconnected"]])
    workspace.paste("Zenith", [["Z2", "Wrong #"], ["z1", ""]])
    assert workspace.run("2024-02-14T09:00").exit_code == 0


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="worker processes save only on a machine of several cores")
def test_workbooks_saved_by_worker_processes_equal_those_saved_in_the_run(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = []

    def recorded(jobs):
        pool = prepare_saves(jobs)
        prepared.extend(workbook.label for workbook, *_ in jobs if workbook._prepared is not None)
        return pool
    monkeypatch.setattr(speed, "prepare_saves", recorded)
    in_workers = _workspace_with_clients(tmp_path / "workers")
    _two_runs(in_workers)
    # The tracking workbook needs openpyxl (notes, formulas, new tabs); returns tabs only
    # when a tab is created: their statuses are set in the XML (excel_patch.py).
    assert prepared.count("tracking.xlsx") == 2, prepared
    monkeypatch.setattr(speed, "prepare_saves", lambda jobs: None)
    in_the_run = _workspace_with_clients(tmp_path / "run")
    _two_runs(in_the_run)
    assert prepared.count("tracking.xlsx") == 2
    assert _contents(in_workers) == _contents(in_the_run)
    assert not list(in_workers.root.rglob("*.tmp"))
