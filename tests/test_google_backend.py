"""The Google Sheets backend over real HTTP against ``sheets_sync.testing.FakeSheetsServer``.

Every test logs in with a real signed service-account grant and reaches the fake through
``SHEETS_SYNC_GOOGLE_API_URL``, so what is measured here (request counts, retries, errors) is
what happens on the wire.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account

from sheets_sync.backends.base import WorkbookChanged, WorkbookError
from sheets_sync.backends.google.endpoint import API_URL_ENV
from sheets_sync.backends.google.workbook import CREDENTIALS_ENV, SHEETS_SCOPE, GoogleWorkbook, open_google_workbook
from sheets_sync.core.cells import CellWrite, Formula, TabRename, TabSpec, cell_as_date, cells_equal, grid_cell
from sheets_sync.testing import FakeSheetsServer

FAST_RETRY = {"first_retry_delay": 0.01, "retry_budget_seconds": 10.0}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as fake:
        monkeypatch.setenv(API_URL_ENV, fake.url)
        yield fake


@pytest.fixture
def key_file(server: FakeSheetsServer, tmp_path: Path) -> Path:
    path = tmp_path / "service-account.json"
    server.service_account_file(path)
    return path


def open_workbook(spreadsheet: str, key_file: Path, **options: Any) -> GoogleWorkbook:
    return open_google_workbook(spreadsheet, key_file, **(FAST_RETRY | options))


def formatted_values(server: FakeSheetsServer, key_file: Path, spreadsheet_id: str, tab: str) -> list[list[str]]:
    """What a person sees in the tab (FORMATTED_VALUE), read outside the backend under test."""
    credentials = service_account.Credentials.from_service_account_file(key_file, scopes=[SHEETS_SCOPE])
    credentials.refresh(GoogleAuthRequest())
    answer = requests.get(f"{server.url}/v4/spreadsheets/{spreadsheet_id}/values/'{tab}'",
                          headers={"Authorization": f"Bearer {credentials.token}"})
    return answer.json().get("values", [])


# --------------------------------------------------------------------------- values


def test_round_trip_of_every_value_kind(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Kinds", {"Returns": [["Lead ID", "Old"], ["A-1", "to be cleared"]]})
    row = {
        1: "Approved",
        2: "=1+2",  # client text that looks like a formula: must stay text
        3: "000123",
        4: Formula("=F2*2"),
        5: 42,
        6: 2.5,
        7: Decimal("1234.56"),
        8: Decimal("0.10") + Decimal("0.20"),
        9: True,
        10: date(2024, 3, 3),
        11: datetime(2024, 3, 3, 14, 30),
    }
    writes = [CellWrite("Returns", 2, col, value) for col, value in row.items()]
    open_workbook(sid, key_file).write(writes + [CellWrite("Returns", 1, 2, None)])

    grid = open_workbook(sid, key_file).read(["Returns"])["Returns"]
    for col, wanted in row.items():
        current = grid_cell(grid, 2, col)
        if isinstance(wanted, str) and not isinstance(wanted, Formula) and wanted.startswith("="):
            continue  # FORMULA rendering cannot tell it from a formula; checked as the sheet shows it below
        assert cells_equal(wanted, current), (col, wanted, current)
    assert grid_cell(grid, 1, 2) is None
    assert type(grid_cell(grid, 2, 1)) is str and type(grid_cell(grid, 2, 3)) is str
    assert grid_cell(grid, 2, 4) == Formula("=F2*2") and isinstance(grid_cell(grid, 2, 4), Formula)
    assert grid_cell(grid, 2, 9) is True
    assert grid_cell(grid, 2, 7) == 1234.56 and grid_cell(grid, 2, 8) == 0.3
    assert cell_as_date(grid_cell(grid, 2, 10)) == date(2024, 3, 3)

    shown = formatted_values(server, key_file, sid, "Returns")[1]
    assert shown[1:4] == ["=1+2", "000123", "5"]  # text shows as typed; the formula computes 2.5 * 2
    assert shown[9:11] == ["2024-03-03", "2024-03-03 14:30:00"]


def test_reads_only_existing_tabs_in_one_request(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Tabs", {"Leads": [["Lead ID"], ["1"]], "Returns": [], "Empty": []})
    workbook = open_workbook(sid, key_file)
    assert workbook.tab_titles() == ["Leads", "Returns", "Empty"]
    grids = workbook.read(["Leads", "Missing", "Empty", "Leads"])
    assert grids == {"Leads": [["Lead ID"], ["1"]], "Empty": []}
    assert workbook.read(["Missing"]) == {}
    assert [path.rsplit("/", 1)[-1] for _, path in server.sheets_requests] == [sid]  # values came with the tabs


# --------------------------------------------------------------------------- writing


def test_new_tabs_are_added_in_order_and_written_in_the_same_request(server: FakeSheetsServer,
                                                                     key_file: Path) -> None:
    sid = server.create_spreadsheet("Tracking", {"Review": [["Client"]]})
    workbook = open_workbook(sid, key_file)
    workbook.write(
        [CellWrite("Food US", 1, 1, "Metric"), CellWrite("Food US", 1, 2, date(2024, 3, 3)),
         CellWrite("Solar CA", 2, 1, "Leads delivered"), CellWrite("Review", 2, 1, "Acme")],
        new_tabs=["Food US", "Solar CA", "Review"],
    )
    assert server.tabs(sid) == ["Review", "Food US", "Solar CA"]
    assert server.values(sid, "Food US") == [["Metric", 45354]]
    assert server.values(sid, "Solar CA") == [[], ["Leads delivered"]]
    assert server.values(sid, "Review") == [["Client"], ["Acme"]]
    assert [method for method, _ in server.sheets_requests] == ["GET", "POST"]
    workbook.write([CellWrite("Solar CA", 1, 1, "Metric")])  # the new tab is known without a new look-up
    assert len(server.sheets_requests) == 3
    with pytest.raises(WorkbookError, match="no tab named 'Nowhere'"):
        workbook.write([CellWrite("Nowhere", 1, 1, "x")])


def test_a_renamed_tab_keeps_its_cells_and_a_new_tab_takes_its_title_in_one_request(
        server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Tracking", {"Solar US": [["Metric", 45354], ["Ad spend", 120]]})
    workbook = open_workbook(sid, key_file)
    assert workbook.read(["Solar US"])["Solar US"][1] == ["Ad spend", 120]
    before = len(server.sheets_requests)
    workbook.write([CellWrite("Solar US", 1, 1, "Metric"), CellWrite("Solar US", 2, 1, "Leads delivered")],
                   [TabRename("Solar US", "Solar US (old)"), TabSpec("Solar US")])
    assert len(server.sheets_requests) == before + 1
    assert server.tabs(sid) == ["Solar US (old)", "Solar US"]
    assert server.values(sid, "Solar US (old)") == [["Metric", 45354], ["Ad spend", 120]]
    assert server.values(sid, "Solar US") == [["Metric"], ["Leads delivered"]]
    workbook.write([CellWrite("Solar US", 3, 1, "Refunds")])  # checked against the new tab, not the renamed one
    assert server.values(sid, "Solar US")[2] == ["Refunds"]


def test_a_run_costs_two_requests_whatever_the_number_of_cells(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Big", {"Returns": [["Lead ID", "Reason", "Status", "Detail", "Credit"]]})
    workbook = open_workbook(sid, key_file)
    assert workbook.tab_titles() == ["Returns"]
    workbook.read(["Returns"])
    # 5,000 cells: 1,000 rows of five columns, past the 1,000-row grid, plus a scattered column.
    writes = [CellWrite("Returns", row, col, f"r{row}c{col}") for row in range(2, 1002) for col in (3, 4, 5, 7)]
    writes += [CellWrite("Returns", row, 9, Decimal("1.25")) for row in range(2, 2002, 2)]
    assert len(writes) == 5000
    workbook.write(writes)

    assert [method for method, _ in server.sheets_requests] == ["GET", "POST"]  # one read, one write
    values = server.values(sid, "Returns")
    assert values[999][2:9] == ["r1000c3", "r1000c4", "r1000c5", "", "r1000c7", "", 1.25]
    assert values[1000][2:] == ["r1001c3", "r1001c4", "r1001c5", "", "r1001c7"]
    assert values[1999] == [""] * 8 + [1.25] and len(values) == 2000


def test_an_empty_write_makes_no_request(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Quiet")
    workbook = open_workbook(sid, key_file)
    workbook.write([])
    assert server.requests == []  # not even a login
    workbook.tab_titles()
    workbook.write([], new_tabs=["Sheet1"])  # an existing tab: nothing to do
    assert len(server.sheets_requests) == 1


def test_a_person_typing_between_read_and_write_keeps_their_cells(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Shared", {"Returns": [["Lead ID", "Reason", "Status"], ["A-1", "", ""],
                                                           ["A-2", "", ""]]})
    workbook = open_workbook(sid, key_file)
    workbook.read(["Returns"])
    server.before_next_write(lambda: server.edit(sid, "Returns!B2:B3", [["Wrong #"], ["Duplicate"]]))
    # The rows written changed under the write, which its answer shows: the write is undone on
    # those rows (their cells kept) and reported, so the engine plans again on them (settle.py).
    with pytest.raises(WorkbookChanged) as changed:
        workbook.write([CellWrite("Returns", 2, 3, "Approved"), CellWrite("Returns", 3, 3, "Rejected")])
    assert changed.value.written and "Returns!B2" in str(changed.value)
    assert server.values(sid, "Returns")[1:] == [["A-1", "Wrong #"], ["A-2", "Duplicate"]]
    assert workbook.read(["Returns"])["Returns"][1:] == [["A-1", "Wrong #"], ["A-2", "Duplicate"]]
    workbook.write([CellWrite("Returns", 2, 3, "Approved"), CellWrite("Returns", 3, 3, "Rejected")])
    assert server.values(sid, "Returns")[1:] == [["A-1", "Wrong #", "Approved"], ["A-2", "Duplicate", "Rejected"]]


def test_grids_grow_in_both_directions(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Weeks", {"Food US": [["Metric"]]})
    workbook = open_workbook(sid, key_file)
    workbook.write([CellWrite("Food US", 1, 30, date(2024, 3, 3)), CellWrite("Food US", 1200, 1, "Margin")])
    values = server.values(sid, "Food US")
    assert values[0][29] == 45354 and values[1199] == ["Margin"]


# --------------------------------------------------------------------------- opening


def test_a_url_and_an_id_open_the_same_spreadsheet(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("By URL", {"Returns": [["Lead ID"]]})
    by_url = open_workbook(f"https://docs.google.com/spreadsheets/d/{sid}/edit#gid=0", key_file)
    assert by_url.label == sid
    assert by_url.tab_titles() == open_workbook(f"  {sid} ", key_file).tab_titles() == ["Returns"]
    with pytest.raises(WorkbookError, match="neither a Google spreadsheet id nor a Google Sheets URL"):
        open_workbook("not a spreadsheet!", key_file)


def test_credentials_come_from_config_or_environment(server: FakeSheetsServer, key_file: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sid = server.create_spreadsheet("Keys")
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    with pytest.raises(WorkbookError, match="set `google.credentials`"):
        open_google_workbook(sid, None)
    monkeypatch.setenv(CREDENTIALS_ENV, str(key_file))
    assert open_google_workbook(sid, None).tab_titles() == ["Sheet1"]
    with pytest.raises(WorkbookError, match="does not exist"):
        open_google_workbook(sid, tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"type": "service_account", "private_key": "SECRET-KEY-MATERIAL"}))
    with pytest.raises(WorkbookError, match="is not a Google service-account key") as refused:
        open_google_workbook(sid, broken)
    assert "SECRET" not in str(refused.value)


def test_the_environment_variable_routes_sheets_traffic(server: FakeSheetsServer, key_file: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sid = server.create_spreadsheet("Routed")
    assert open_workbook(sid, key_file).tab_titles() == ["Sheet1"]
    assert len(server.sheets_requests) == 1
    with FakeSheetsServer() as elsewhere:
        elsewhere_url = elsewhere.url
    monkeypatch.setenv(API_URL_ENV, elsewhere_url)  # a closed port: Sheets calls now go nowhere
    with pytest.raises(WorkbookError, match=sid):
        open_workbook(sid, key_file, retry_budget_seconds=0.3).tab_titles()
    assert len(server.sheets_requests) == 1  # only the token endpoint of the key file was used
    assert server.requests.count(("POST", "/token")) == 2


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    "status, count, json_body",
    [(429, 3, True), (429, 3, False), (500, 2, True), (503, 2, False), (502, 1, False), (408, 1, True)],
)
def test_transient_failures_are_retried(server: FakeSheetsServer, key_file: Path, status: int, count: int,
                                        json_body: bool) -> None:
    sid = server.create_spreadsheet("Flaky", {"Returns": [["Lead ID"]]})
    workbook = open_workbook(sid, key_file)
    server.fail_next(status, count=count, json_body=json_body)
    assert workbook.read(["Returns"]) == {"Returns": [["Lead ID"]]}
    server.fail_next(status, count=count, json_body=json_body)
    workbook.write([CellWrite("Returns", 2, 1, "A-1")])
    assert server.values(sid, "Returns") == [["Lead ID"], ["A-1"]]
    assert len(server.sheets_requests) == 2 + 2 * count


def test_retry_after_is_honoured(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Busy")
    workbook = open_workbook(sid, key_file)
    server.fail_next(429, count=1, retry_after=1)
    started = time.monotonic()
    assert workbook.tab_titles() == ["Sheet1"]
    assert time.monotonic() - started >= 1.0


def test_dropped_connections_are_retried(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Dropped")
    server.disconnect_next(2)
    assert open_workbook(sid, key_file).tab_titles() == ["Sheet1"]


def test_slow_answers_are_waited_for_within_the_budget(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Slow")
    server.slow(0.2)
    assert open_workbook(sid, key_file, retry_budget_seconds=5).tab_titles() == ["Sheet1"]
    server.slow(3, count=1)
    started = time.monotonic()
    with pytest.raises(WorkbookError, match=sid):
        open_workbook(sid, key_file, retry_budget_seconds=0.5).tab_titles()
    assert time.monotonic() - started < 2.5  # a hung answer counts against the budget too


def test_writes_are_paced_under_a_quota(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Quota", {"Returns": [["Lead ID"]]})
    server.quota(writes_per_minute=1, window_seconds=0.5)
    for row in (2, 3, 4):
        open_workbook(sid, key_file).write([CellWrite("Returns", row, 1, f"A-{row}")])
    assert server.values(sid, "Returns") == [["Lead ID"], ["A-2"], ["A-3"], ["A-4"]]
    writes = [request for request in server.sheets_requests if request[0] == "POST"]
    assert len(writes) > 3  # some were answered 429 and sent again


def test_retry_budget_exhaustion_names_the_spreadsheet(server: FakeSheetsServer, key_file: Path) -> None:
    sid = server.create_spreadsheet("Down")
    server.fail_next(503, count=10_000)
    started = time.monotonic()
    with pytest.raises(WorkbookError) as failure:
        open_workbook(sid, key_file, retry_budget_seconds=0.5).tab_titles()
    assert sid in str(failure.value) and "HTTP 503" in str(failure.value)
    assert time.monotonic() - started < 2.0


def test_not_shared_is_one_sentence_naming_the_service_account(server: FakeSheetsServer, tmp_path: Path) -> None:
    sid = server.create_spreadsheet("Private", shared=False)
    email = server.service_account_file(tmp_path / "key.json")
    with pytest.raises(WorkbookError) as failure:
        open_workbook(sid, tmp_path / "key.json").read(["Returns"])
    assert str(failure.value) == (
        f"Spreadsheet {sid} is not shared with {email}: open it in Google Sheets, Share, and add that email as Editor."
    )
    assert len(server.sheets_requests) == 1  # a refusal is not retried


def test_unknown_spreadsheet_is_one_sentence(server: FakeSheetsServer, key_file: Path) -> None:
    with pytest.raises(WorkbookError, match=r"^Spreadsheet NoSuchSheet was not found: .* as Editor\.$"):
        open_workbook("NoSuchSheet", key_file).tab_titles()


def test_new_tabs_get_frozen_panes_widths_and_number_formats(server: FakeSheetsServer, key_file: Path) -> None:
    from sheets_sync.core.cells import TabSpec

    sid = server.create_spreadsheet("Tracking", {"Sheet1": [["x"]]}, shared=True)
    workbook = open_workbook(sid, key_file)
    spec = TabSpec("Solar US", frozen_rows=1, frozen_columns=1, column_widths=((1, 30),))
    workbook.write([CellWrite("Solar US", 1, 2, date(2024, 2, 18), "yyyy-mm-dd"),
                    CellWrite("Solar US", 2, 2, Decimal("0.25"), "0.0%"),
                    CellWrite("Solar US", 3, 2, Decimal("1234.5"), "#,##0.00")], [spec])
    assert len(server.sheets_requests) == 2
    seen = formatted_values(server, key_file, sid, "Solar US")
    assert [row[1] for row in seen] == ["2024-02-18", "25.0%", "1,234.50"]
    credentials = service_account.Credentials.from_service_account_file(key_file, scopes=[SHEETS_SCOPE])
    credentials.refresh(GoogleAuthRequest())
    metadata = requests.get(f"{server.url}/v4/spreadsheets/{sid}",
                            headers={"Authorization": f"Bearer {credentials.token}"}).json()
    grid = next(sheet for sheet in metadata["sheets"] if sheet["properties"]["title"] == "Solar US")
    assert grid["properties"]["gridProperties"]["frozenRowCount"] == 1
    assert grid["properties"]["gridProperties"]["frozenColumnCount"] == 1
