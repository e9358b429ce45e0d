"""Concurrency: two runs at once, and people working in the workbooks while a run writes.

* Overlapping runs (two real ``sheets-sync run`` processes on one config): the second
  waits up to 5 s for the workspace lock, then either runs after the first (deciding and
  writing nothing twice) or exits 1 with "Another sheets-sync run is using ledger ...".
* Excel: a workbook open in Excel or LibreOffice (owner file ``~$name.xlsx`` or
  ``.~lock.name.xlsx#``) is left alone with a message naming the person; a workbook saved by
  someone between the run's read and its save is read again and planned again.
* Google: rows inserted, deleted or sorted, and cells typed, between the run's read and its
  single write (``FakeSheetsServer.before_next_write``) are noticed in that write's own
  answer and corrected at once; a normal run still makes at most three requests per
  spreadsheet.

Everywhere: no status ends on the wrong row and no client-owned cell is written.
People's timing is injected through documented settings of the real components:
``sheets_sync.faults`` (``SHEETS_SYNC_PAUSE_AT`` for processes, ``faults.at`` in-process)
and FakeSheetsServer's fault injection -- never by monkeypatching the code under test.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import Workspace, read_xlsx
from openpyxl import load_workbook
from sync_state import copy_workspace, run_cli, start_cli, workspace_state
from test_fake_sheets_server import DiscoveryContract
from test_google_sync import GoogleWorkspace

from sheets_sync import faults
from sheets_sync.backends.google.endpoint import API_URL_ENV
from sheets_sync.run.settle import MAX_ATTEMPTS
from sheets_sync.testing import FakeSheetsServer

AS_OF = "2024-03-04T10:00"
LATER = "2024-03-05T10:00"


# --------------------------------------------------------------------------- an Excel workspace


def _excel_workspace(root: Path) -> Workspace:
    """Two clients with a request of each kind; the truth per lead is known (see EXPECTED)."""
    ws = Workspace(root)
    for number, day in enumerate((26, 27, 28, 29), start=1):
        ws.lead(f"A-{number}", f"2024-02-{day} 10:00", "Acme", f"1{number}.00")
    ws.lead("A-5", "2024-01-02 10:00", "Acme", "15.00")
    ws.lead("Z-1", "2024-02-27 10:00", "Zenith", "20.00", vertical="Roofing", country="UK")
    ws.lead("Z-2", "2024-02-28 10:00", "Zenith", "21.00", vertical="Roofing", country="UK")
    ws.client("Acme", [["A-1", "wrong number", "first"], ["A-2", "no answer", "second"],
                       ["A-3", "disconnected", "third"], ["A-5", "fake info", "fourth"]])
    ws.client("Zenith", [["Z-1", "disconnected", "z"]])
    ws.write()
    return ws


EXPECTED = {"A-1": "Approved", "A-2": "Rejected", "A-3": "Approved", "A-4": "Approved", "A-5": "Rejected",
            "Z-1": "Approved", "Z-2": "Approved"}


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = read_xlsx(path, "Returns")
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def _assert_every_status_on_its_row(rows: list[dict[str, Any]], pending: set[str] = frozenset()) -> None:
    for row in rows:
        lead = row["Lead ID"]
        if lead in pending:
            assert all(row.get(name) in (None, "") for name in ("Status", "Detail", "Credit")), row
        else:
            assert row["Status"] == EXPECTED[lead] and row["Detail"], row
            assert (row["Credit"] is not None) == (row["Status"] == "Approved"), row


def _owner_file(path: Path, user: str) -> Path:
    """An Excel owner file as Excel writes it (165 bytes: ANSI name, then the UTF-16 name)."""
    name = user.encode("cp1252")
    data = bytes([len(name)]) + name.ljust(53, b" ") + struct.pack("<H", len(user)) + user.encode("utf-16-le")
    owner = path.with_name(f"~${path.name}")
    owner.write_bytes(data.ljust(165, b" "))
    return owner


# --------------------------------------------------------------------------- overlapping runs


@pytest.fixture
def excel(tmp_path: Path) -> Workspace:
    return _excel_workspace(tmp_path / "ws")


def _wait_for_pause(process) -> str:
    line = process.stderr.readline()
    assert "paused at" in line, line + process.stderr.read()
    return line


@pytest.mark.slow
def test_a_second_run_exits_1_with_a_clear_message_while_the_first_holds_the_ledger(
        excel: Workspace, tmp_path: Path) -> None:
    reference = copy_workspace(excel.root, tmp_path / "reference")
    assert run_cli(reference / "config.yaml", AS_OF).returncode == 0
    first = start_cli(excel.config_path, AS_OF, pause_at="ledger.committed=9")
    try:
        _wait_for_pause(first)  # it holds the workspace lock, its decisions committed, no sheet written
        before = {path: path.read_bytes() for path in excel.root.rglob("*") if path.is_file()}
        second = run_cli(excel.config_path, AS_OF)
        after = {path: path.read_bytes() for path in excel.root.rglob("*") if path.is_file()}
    finally:
        _, err = first.communicate(timeout=60)
    assert second.returncode == 1
    assert f"Another sheets-sync run is using ledger {excel.root / 'ledger.sqlite'}" in " ".join(second.stderr.split())
    assert "this run did nothing" in " ".join(second.stderr.split())
    assert "Traceback" not in second.stderr and second.stdout == ""
    assert after == before  # the second run wrote nothing at all
    assert first.returncode == 0, err
    assert workspace_state(excel.root) == workspace_state(reference)


@pytest.mark.slow
def test_a_second_run_waits_briefly_then_writes_nothing_twice(excel: Workspace, tmp_path: Path) -> None:
    reference = copy_workspace(excel.root, tmp_path / "reference")
    assert run_cli(reference / "config.yaml", AS_OF).returncode == 0
    first = start_cli(excel.config_path, AS_OF, pause_at="ledger.committed=1.5")
    try:
        _wait_for_pause(first)
        second = run_cli(excel.config_path, AS_OF)  # waits for the lock, then runs after the first
    finally:
        first.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    summary = json.loads(second.stdout)
    assert summary["decisions"] == {} and summary["cells_written"] == 0 and summary["audit_rows_added"] == 0
    state = workspace_state(excel.root)
    assert state == workspace_state(reference)
    keys = [(entry[1], entry[2], entry[3]) for entry in state["ledger"]["entries"]]  # client, lead, kind
    assert len(keys) == len(set(keys)) == 5
    assert len(state["audit"]) == 1 + len(keys)


# --------------------------------------------------------------------------- Excel: a workbook open


def test_a_returns_workbook_open_in_excel_is_left_alone_with_a_message(excel: Workspace) -> None:
    acme = excel.returns_path("Acme")
    owner = _owner_file(acme, "Jane Doe")
    untouched = acme.read_bytes()
    report = excel.run(AS_OF)
    assert report.exit_code == 1
    assert [failure.source.endswith("acme.xlsx (tab Returns))") for failure in report.failures] == [True]
    message = report.failures[0].message
    assert "returns/acme.xlsx is open (Jane Doe in Excel; owner file ~$acme.xlsx)" in message
    assert "first run after the file is closed" in message and "delete ~$acme.xlsx" in message
    assert acme.read_bytes() == untouched
    assert [row["Status"] for row in _rows(excel.returns_path("Zenith"))] == ["Approved"]  # the others synced
    assert {entry.lead_id for entry in report.new_entries} >= {"A-1", "A-2", "A-3", "A-5"}  # and all decided

    owner.unlink()  # Jane closes the workbook
    again = excel.run(LATER)
    assert again.exit_code == 0 and again.new_entries == []
    _assert_every_status_on_its_row(_rows(acme))


def test_a_workbook_open_in_libreoffice_is_left_alone_too(excel: Workspace) -> None:
    tracking = excel.root / "tracking.xlsx"
    excel.run(AS_OF)
    excel.paste("Acme", [["A-4", "wrong number", "late"]])
    lock = tracking.with_name(f".~lock.{tracking.name}#")
    lock.write_text("Sam Operator,sam,office-pc,04.03.2024 09:58,file:///home/sam/.config/libreoffice/4;")
    untouched = tracking.read_bytes()
    report = excel.run(LATER)
    assert [failure.source for failure in report.failures] == ["tracking (tracking.xlsx)"]
    assert "tracking.xlsx is open (Sam Operator in LibreOffice; owner file .~lock.tracking.xlsx#)" in \
        report.failures[0].message
    assert tracking.read_bytes() == untouched
    assert _rows(excel.returns_path("Acme"))[-1]["Status"] == "Approved"
    lock.unlink()
    assert excel.run(LATER).exit_code == 0
    assert excel.tracking("Solar US")["Refunded leads"][datetime(2024, 3, 3).date()] == 3


def test_audit_csv_open_in_excel_gets_its_rows_on_the_next_run(excel: Workspace) -> None:
    audit = excel.root / "audit.csv"
    excel.run(AS_OF)
    excel.paste("Acme", [["A-4", "wrong number", "late"]])
    owner = _owner_file(audit, "Jane Doe")
    before = audit.read_bytes()
    report = excel.run(LATER)
    assert [failure.source for failure in report.failures] == ["audit.csv"]
    assert "audit.csv is open (Jane Doe in Excel" in report.failures[0].message
    assert audit.read_bytes() == before
    owner.unlink()
    assert excel.run(LATER).audit_rows_added == 1
    assert len(audit.read_text().splitlines()) == 1 + 6


# --------------------------------------------------------------------------- Excel: saved meanwhile


def _person_saves(path: Path, change) -> None:
    book = load_workbook(path)
    change(book)
    book.save(path)


@pytest.fixture
def save_once(excel: Workspace) -> Iterator[Any]:
    """Arm: the first time the run is about to rename its copy over ``name``, a person saves it."""
    hooks = []

    def arm(name: str, change, times: int = 1) -> list[int]:
        done = []

        def hook(path: Path) -> None:
            if path.name == name and len(done) < times:
                done.append(1)
                _person_saves(path, change)
        hooks.append(faults.at("excel.before_replace", hook))
        hooks[-1].__enter__()
        return done

    yield arm
    for hook in hooks:
        hook.__exit__(None, None, None)


def test_a_client_saving_between_read_and_save_loses_nothing(excel: Workspace, save_once) -> None:
    """The client inserts a new request at the top, sorts by Lead ID descending and edits a
    note while the run works; the run notices, reads again, plans again: every status on its
    row, the new row left for the next run, every client cell as the client saved it."""
    def client_edits(book) -> None:
        sheet = book["Returns"]
        rows = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
        rows.append(["A-4", "wrong number", "pasted meanwhile"])
        rows.sort(key=lambda row: row[0], reverse=True)
        rows[0][2] = "edited meanwhile"
        sheet.delete_rows(2, sheet.max_row)
        for row in rows:
            sheet.append(row[:3])

    saved = save_once("acme.xlsx", client_edits)
    report = excel.run(AS_OF)
    assert saved and report.exit_code == 0, report.failures
    rows = _rows(excel.returns_path("Acme"))
    assert [(row["Lead ID"], row["Reason"], row["Note"]) for row in rows] == [
        ("A-5", "fake info", "edited meanwhile"), ("A-4", "wrong number", "pasted meanwhile"),
        ("A-3", "disconnected", "third"), ("A-2", "no answer", "second"), ("A-1", "wrong number", "first")]
    _assert_every_status_on_its_row(rows, pending={"A-4"})
    assert "A-4" not in {entry.lead_id for entry in report.new_entries}

    again = excel.run(LATER)  # the next run decides the row pasted meanwhile
    assert [entry.lead_id for entry in again.new_entries] == ["A-4"]
    _assert_every_status_on_its_row(_rows(excel.returns_path("Acme")))


def test_a_deleted_row_and_a_retyped_id_meanwhile(excel: Workspace, save_once) -> None:
    def client_edits(book) -> None:
        sheet = book["Returns"]
        sheet.delete_rows(2)  # A-1 goes
        sheet["A2"] = "A-4"  # A-2 retyped as A-4: a new request, for the next run
    save_once("acme.xlsx", client_edits)
    assert excel.run(AS_OF).exit_code == 0
    rows = _rows(excel.returns_path("Acme"))
    assert [row["Lead ID"] for row in rows] == ["A-4", "A-3", "A-5"]
    _assert_every_status_on_its_row(rows, pending={"A-4"})


def test_an_operator_saving_the_tracking_workbook_meanwhile_keeps_their_inputs(excel: Workspace, save_once) -> None:
    excel.run(AS_OF)
    excel.paste("Acme", [["A-4", "wrong number", "late"]])

    def operator_edits(book) -> None:
        sheet = book["Solar US"]
        labels = [cell.value for cell in sheet["A"]]
        sheet.insert_rows(labels.index("Ad spend") + 1)  # their own row, above Ad spend
        sheet.cell(labels.index("Ad spend") + 1, 1).value = "Agency notes"
        sheet.cell(labels.index("Ad spend") + 2, 2).value = 321  # Ad spend, first week (column B)

    save_once("tracking.xlsx", operator_edits)
    report = excel.run(LATER)
    assert report.exit_code == 0, report.failures
    tab = excel.tracking("Solar US")
    week = datetime(2024, 3, 3).date()
    first_week = datetime(2024, 1, 7).date()  # A-5 was delivered on Jan 2
    assert tab["Ad spend"][first_week] == 321 and "Agency notes" in tab
    assert tab["CPR"][week] == "=IF(J7=0,\"\",(J11+J4)/J7)"  # the formulas follow Ad spend to its new row
    assert tab["Refunded leads"][week] == 3 and tab["Leads delivered"][week] == 4
    assert float(tab["Refunds"][week]) == 11 + 13 + 14


def test_a_client_who_keeps_saving_is_never_overwritten(excel: Workspace, save_once) -> None:
    notes = iter(f"edit {number}" for number in range(100))

    def client_edits(book) -> None:
        book["Returns"]["C2"] = next(notes)

    saved = save_once("acme.xlsx", client_edits, times=MAX_ATTEMPTS)
    report = excel.run(AS_OF)
    assert len(saved) == MAX_ATTEMPTS
    assert [failure.source.endswith("acme.xlsx (tab Returns))") for failure in report.failures] == [True]
    assert "kept changing while sheets-sync wrote it" in report.failures[0].message
    rows = _rows(excel.returns_path("Acme"))
    assert rows[0]["Note"] == f"edit {MAX_ATTEMPTS - 1}" and all(row.get("Status") is None for row in rows)
    assert excel.run(LATER).exit_code == 0
    _assert_every_status_on_its_row(_rows(excel.returns_path("Acme")))


def test_a_workbook_deleted_meanwhile_is_a_clear_failure(excel: Workspace) -> None:
    acme = excel.returns_path("Acme")

    def delete(path: Path) -> None:
        if path == acme and path.exists():
            path.unlink()

    with faults.at("excel.before_replace", delete):
        report = excel.run(AS_OF)
    assert [failure.source.endswith("acme.xlsx (tab Returns))") for failure in report.failures] == [True]
    assert "does not exist" in report.failures[0].message
    assert not acme.exists()


# --------------------------------------------------------------------------- Google


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    contract = DiscoveryContract()
    with FakeSheetsServer(observe=contract.observe) as fake:
        monkeypatch.setenv(API_URL_ENV, fake.url)
        yield fake
    assert not contract.violations, "\n".join(contract.violations)


@pytest.fixture
def google(server: FakeSheetsServer, tmp_path: Path) -> GoogleWorkspace:
    return GoogleWorkspace(server, tmp_path)


def _requests_by_spreadsheet(server: FakeSheetsServer, since: int = 0) -> Counter:
    counts: Counter = Counter()
    for _, path in server.sheets_requests[since:]:
        counts[path.split("/spreadsheets/")[1].split("/")[0].split(":")[0]] += 1
    return counts


GOOGLE_TRUTH = {"101": "Approved", "000102; 000201": "Mixed", "000103": "Approved"}


def _google_rows(google: GoogleWorkspace) -> list[dict[str, Any]]:
    return google.table(google.acme, "Returns")


def _lead_text(row: dict[str, Any]) -> str:
    return str(row["Lead ID"])


def _assert_google_statuses(rows: list[dict[str, Any]], pending: set[str] = frozenset()) -> None:
    for row in rows:
        if _lead_text(row) in pending:
            assert row.get("Status") in (None, "") and row.get("Detail") in (None, ""), row
        else:
            assert row["Status"] == GOOGLE_TRUTH[_lead_text(row)], row


@pytest.mark.parametrize("person", ["insert a new request above", "sort descending", "delete a row",
                                    "retype a lead ID", "type a note", "delete every row below the first"])
def test_google_rows_moved_between_read_and_write(google: GoogleWorkspace, person: str) -> None:
    server, acme = google.server, google.acme
    clients_cells: list[tuple[Any, ...]] = []

    def meanwhile() -> None:
        if person == "insert a new request above":
            server.insert_rows(acme, "Returns", 2)
            server.edit(acme, "Returns!A2:C2", [["'000103", "fake info", "typed meanwhile"]])
        elif person == "sort descending":
            server.sort_rows(acme, "Returns", 1, descending=True)
        elif person == "delete a row":
            server.delete_rows(acme, "Returns", 2)
        elif person == "delete every row below the first":  # the grid ends before the rows planned
            server.delete_rows(acme, "Returns", 3, 998)
        elif person == "retype a lead ID":
            server.edit(acme, "Returns!A2", [["'000103"]])
        else:
            server.edit(acme, "Returns!C3", [["typed meanwhile"]])
        clients_cells.extend((row[0], row[1], row[2] if len(row) > 2 else "")
                             for row in server.values(acme, "Returns"))

    server.before_next_write(meanwhile)  # the first write of the run is Acme's
    report = google.run(AS_OF)
    assert report.exit_code == 0, report.failures
    values = server.values(acme, "Returns")
    assert [(row[0], row[1], row[2] if len(row) > 2 else "") for row in values] == clients_cells
    pending = {"000103"} if person in ("insert a new request above", "retype a lead ID") else set()
    _assert_google_statuses(_google_rows(google), pending)
    counts = _requests_by_spreadsheet(server)
    # One read (tabs and values together) and the write; the write's answer showed the change:
    # one request undoes it and reads the tab again, one more writes the new plan (none when the
    # undo left nothing to correct; a batch refused as a whole reads the tabs again instead).
    assert counts[acme] == 4, counts[acme]
    assert max(count for sid, count in counts.items() if sid != acme) <= 3

    again = google.run(LATER)
    assert again.exit_code == 0
    _assert_google_statuses(_google_rows(google))


def test_google_tracking_row_inserted_by_the_operator_meanwhile(google: GoogleWorkspace) -> None:
    """Lead 000103 (Solar UK) is returned; while the run works the operator inserts a row of
    their own above Ad spend in Solar UK, the tab the run is about to restate."""
    server, tab = google.server, "Solar UK"
    google.run(AS_OF)
    before = {row[0]: row[1:] for row in server.values(google.tracking, tab) if row}
    server.edit(google.acme, "Returns!A4:B4", [["'000103", "fake info"]])

    def operator() -> None:
        labels = [row[0] if row else "" for row in server.values(google.tracking, tab)]
        row = labels.index("Ad spend") + 1
        server.insert_rows(google.tracking, tab, row)
        server.edit(google.tracking, f"'{tab}'!A{row}:B{row}", [["Agency notes", "keep me"]])

    server.before_next_write(lambda: None)  # Acme's returns tab
    server.before_next_write(operator)  # the tracking spreadsheet (Zenith has nothing to write)
    start = len(server.sheets_requests)
    report = google.run(LATER)
    assert report.exit_code == 0, report.failures
    assert _requests_by_spreadsheet(server, start)[google.tracking] == 4
    after = {row[0]: row[1:] for row in server.values(google.tracking, tab) if row}
    assert after["Agency notes"] == ["keep me"]
    assert after["Leads delivered"][0] == before["Leads delivered"][0] == 1
    # The operator's input rows hold nothing of the engine's, though its first batch landed
    # one row off there before the answer showed the inserted row (it was undone).
    assert [after.get(label, []) for label in ("Ad spend", "Impressions", "Clicks")] == [[], [], []]
    assert after["Refunded leads"][0] == 1 and after["Refunds"][0] == 40
    assert _google_rows(google)[-1]["Status"] == "Approved"
    again = google.run(LATER)  # the truth: a run with nobody in the way finds nothing to correct there
    assert [write for label, write in again.changes if label == google.tracking and write.tab == tab] == []


def test_google_normal_runs_stay_within_three_requests(google: GoogleWorkspace) -> None:
    google.run(AS_OF)
    assert max(_requests_by_spreadsheet(google.server).values()) <= 3
    start = len(google.server.sheets_requests)
    google.server.edit(google.acme, "Returns!A4:B4", [["'000103", "fake info"]])
    google.run(LATER)
    assert max(_requests_by_spreadsheet(google.server, start).values()) <= 3


def test_the_checked_write_validates_against_googles_discovery_document(server: FakeSheetsServer,
                                                                          tmp_path: Path) -> None:
    """batchUpdate with includeSpreadsheetInResponse + responseRanges + grid data, with and
    without a field mask, in the shapes sheets.v4.json describes (the fixture checks)."""
    sid = server.create_spreadsheet("Check", {"Returns": [["Lead ID", "Status"], ["A-1"], [None], ["A-3", "x"]],
                                              "Other": [["y"]]})
    server.service_account_file(tmp_path / "key.json")
    from google.auth.transport.requests import Request as GoogleAuthRequest
    from google.oauth2 import service_account
    credentials = service_account.Credentials.from_service_account_file(
        tmp_path / "key.json", scopes=["https://www.googleapis.com/auth/spreadsheets"])
    credentials.refresh(GoogleAuthRequest())
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {credentials.token}"
    url = f"{server.url}/v4/spreadsheets/{sid}:batchUpdate"
    body = {"requests": [{"updateCells": {"start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 1},
                                          "rows": [{"values": [{"userEnteredValue": {"stringValue": "Approved"}}]}],
                                          "fields": "userEnteredValue"}}],
            "includeSpreadsheetInResponse": True, "responseIncludeGridData": True,
            "responseRanges": ["'Returns'!1:1", "'Returns'!2:4"]}
    full = session.post(url, json=body).json()["updatedSpreadsheet"]
    assert [sheet["properties"]["title"] for sheet in full["sheets"]] == ["Returns"]
    first, rest = full["sheets"][0]["data"]
    assert "startRow" not in first and rest["startRow"] == 1
    assert rest["rowData"][0]["values"][1]["userEnteredValue"] == {"stringValue": "Approved"}
    assert rest["rowData"][1] == {} and len(rest["rowMetadata"]) == 3
    masked = session.post(url, json=body, params={"fields": "updatedSpreadsheet.sheets(properties(title),"
                                                            "data(startRow,rowData.values.userEnteredValue))"})
    assert masked.json() == {"updatedSpreadsheet": {"sheets": [{"properties": {"title": "Returns"}, "data": [
        {"rowData": [{"values": [{"userEnteredValue": {"stringValue": "Lead ID"}},
                                 {"userEnteredValue": {"stringValue": "Status"}}]}]},
        {"startRow": 1, "rowData": [{"values": [{"userEnteredValue": {"stringValue": "A-1"}},
                                                {"userEnteredValue": {"stringValue": "Approved"}}]}, {},
                                    {"values": [{"userEnteredValue": {"stringValue": "A-3"}},
                                                {"userEnteredValue": {"stringValue": "x"}}]}]}]}]}}


def test_google_review_row_typed_by_the_operator_while_the_run_appends_one(google: GoogleWorkspace) -> None:
    """The run appends a 'Needs review' line at the bottom of Review; meanwhile the operator
    inserts a row of their own at the top, so the run's row number now holds their last row."""
    server = google.server
    server.edit(google.acme, "Returns!A4:B4", [["'000103", "the lead was rude"]])
    google.run(AS_OF)
    server.edit(google.zenith, "Returns!A3:C3", [["", "bad vibes", "'000201"]])
    typed = ["Acme", "'000101", "", "", "", "Approve"]

    def operator() -> None:
        server.insert_rows(google.tracking, "Review", 2)
        server.edit(google.tracking, "Review!A2:F2", [typed])

    server.before_next_write(lambda: None)  # Zenith's returns tab
    server.before_next_write(operator)  # the tracking spreadsheet
    assert google.run(LATER).exit_code == 0
    review = google.table(google.tracking, "Review")
    assert review[0]["Client"] == "Acme" and review[0]["Lead ID"] == "000101" and review[0]["Decision"] == "Approve"
    assert review[0]["Why"].startswith("Already approved")  # planned again on their row: answered at once
    lines = {(row["Client"], row["Lead ID"]): row for row in review[1:]}
    assert sorted(lines) == [("Acme", "000103"), ("Zenith", "000201")]  # each once, none lost
    assert lines[("Acme", "000103")]["Reason"] == "the lead was rude"
    assert lines[("Zenith", "000201")]["Reason"] == "bad vibes"
    assert all(row.get("Decision") in (None, "") for row in lines.values())
    again = google.run(LATER)
    assert [write for label, write in again.changes if label == google.tracking and write.tab == "Review"] == []
