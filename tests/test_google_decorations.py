"""The spreadsheet experience on Google Sheets, measured on the local Sheets API: the returns
template (dropdown, protected engine columns, status colours, policy note), the tracking
marks (notes on restated weeks, row colours) and the Dashboard chart, all inside the one
batchUpdate per spreadsheet, every request and answer valid against Google's schemas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
import yaml
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account
from test_fake_sheets_server import DiscoveryContract
from test_google_sync import GoogleWorkspace, _requests_per_spreadsheet

from sheets_sync.backends.google.endpoint import API_URL_ENV
from sheets_sync.backends.google.workbook import SHEETS_SCOPE, open_google_workbook
from sheets_sync.core.cells import CellWrite, ColorRule, LineChart, TabSpec
from sheets_sync.testing import FakeSheetsServer


@pytest.fixture(scope="module")
def contract() -> DiscoveryContract:
    return DiscoveryContract()


@pytest.fixture
def server(contract: DiscoveryContract, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer(observe=contract.observe) as fake:
        monkeypatch.setenv(API_URL_ENV, fake.url)
        yield fake
    violations, contract.violations[:] = list(contract.violations), []
    assert not violations, "traffic that drifts from sheets.v4.json:\n" + "\n".join(violations)


@pytest.fixture
def google(server: FakeSheetsServer, tmp_path: Path) -> GoogleWorkspace:
    workspace = GoogleWorkspace(server, tmp_path)
    workspace.nova = server.create_spreadsheet("Nova returns", {"Sheet1": []})  # no Returns tab yet
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["clients"]["Nova"] = {"returns": {"google": workspace.nova, "tab": "Returns"},
                                 "policy": {"window_days": 5, "returnable_reasons": ["wrong_number", "fake_info"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return workspace


def test_every_new_request_kind_and_its_answer_validate(server: FakeSheetsServer, tmp_path: Path,
                                                        contract: DiscoveryContract) -> None:
    sid = server.create_spreadsheet("Kinds", {"Data": [["Week", "A"], [date(2024, 3, 2), 0.5]]})
    server.service_account_file(tmp_path / "key.json")
    credentials = service_account.Credentials.from_service_account_file(tmp_path / "key.json", scopes=[SHEETS_SCOPE])
    credentials.refresh(GoogleAuthRequest())
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {credentials.token}"
    url = f"{server.url}/v4/spreadsheets/{sid}:batchUpdate"
    column = {"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 1, "endColumnIndex": 2}
    reply = api.post(url, json={"requests": [
        {"setDataValidation": {"range": column, "rule": {
            "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "Wrong number"}]}, "strict": False}}},
        {"addProtectedRange": {"protectedRange": {"range": column, "editors": {"users": ["x@example.com"]}}}},
        {"addConditionalFormatRule": {"index": 0, "rule": {"ranges": [column], "booleanRule": {
            "condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": "Approved"}]},
            "format": {"backgroundColor": {"red": 0.8, "green": 0.9, "blue": 0.8}}}}}},
        {"addChart": {"chart": {"spec": {"title": "t", "basicChart": {
            "chartType": "LINE", "headerCount": 1,
            "domains": [{"domain": {"sourceRange": {"sources": [{"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2,
                                                                 "startColumnIndex": 0, "endColumnIndex": 1}]}}}],
            "series": [{"series": {"sourceRange": {"sources": [{"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2,
                                                                "startColumnIndex": 1, "endColumnIndex": 2}]}}}]}},
            "position": {"overlayPosition": {"anchorCell": {"sheetId": 0, "rowIndex": 3, "columnIndex": 0}}}}}},
        {"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
                         "rows": [{"values": [{"note": "a note", "userEnteredFormat": {
                             "backgroundColor": {"red": 1, "green": 0.8, "blue": 0.4}}}]}],
                         "fields": "note,userEnteredFormat.backgroundColor"}},
    ]})
    assert reply.ok, reply.text
    replies = reply.json()["replies"]
    assert replies[1]["addProtectedRange"]["protectedRange"]["requestingUserCanEdit"] is True
    chart_id = replies[3]["addChart"]["chart"]["chartId"]
    sheet = api.get(f"{server.url}/v4/spreadsheets/{sid}").json()["sheets"][0]
    assert [chart["chartId"] for chart in sheet["charts"]] == [chart_id]
    assert sheet["protectedRanges"][0]["editors"]["users"] == ["x@example.com", server.service_account_file(
        tmp_path / "other.json")]
    assert len(sheet["conditionalFormats"]) == 1
    assert server.notes(sid, "Data") == {"A1": "a note"} and server.backgrounds(sid, "Data") == {"A1": "FFCC66"}
    assert server.data_validations(sid, "Data")[0]["rule"]["condition"]["type"] == "ONE_OF_LIST"
    gone = api.post(url, json={"requests": [{"deleteEmbeddedObject": {"objectId": chart_id}}]})
    assert gone.ok and "charts" not in server.sheet_resource(sid, "Data")
    missing = api.post(url, json={"requests": [{"deleteEmbeddedObject": {"objectId": chart_id}}]})
    assert missing.status_code == 400
    assert {"BatchUpdateSpreadsheetRequest", "BatchUpdateSpreadsheetResponse", "Spreadsheet"} <= contract.checked


def test_the_backend_draws_a_tab_spec_and_a_chart_in_one_request(server: FakeSheetsServer, tmp_path: Path) -> None:
    sid = server.create_spreadsheet("Spec")
    email = server.service_account_file(tmp_path / "key.json")
    workbook = open_google_workbook(sid, tmp_path / "key.json")
    spec = TabSpec("Returns", dropdowns=((2, ("Wrong number", "No answer")),), read_only_columns=(4, 5, 7),
                   color_rules=(ColorRule(4, "Approved", "C6EFCE", "006100"),))
    chart = LineChart("Returns", "Rate", 2, 10, 1, 2, 3, 1, 2, 2)
    before = len(server.sheets_requests)
    workbook.write([CellWrite("Returns", 1, 1, "Lead ID", note="policy", fill="E2EFDA")], [spec], [chart])
    assert len(server.sheets_requests) - before == 2  # the tab list, then one batchUpdate
    sheet = server.sheet_resource(sid, "Returns")
    sheet_id = sheet["properties"]["sheetId"]
    assert [(p["range"], p["editors"]["users"]) for p in sheet["protectedRanges"]] == [
        ({"sheetId": sheet_id, "startColumnIndex": 3, "endColumnIndex": 5}, [email]),
        ({"sheetId": sheet_id, "startColumnIndex": 6, "endColumnIndex": 7}, [email])]
    (validation,) = server.data_validations(sid, "Returns")
    assert validation["range"] == {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": 1,
                                   "endColumnIndex": 2}
    assert validation["rule"]["condition"]["values"] == [{"userEnteredValue": "Wrong number"},
                                                         {"userEnteredValue": "No answer"}]
    assert "strict" not in validation["rule"]  # false: other text is accepted
    (rule,) = sheet["conditionalFormats"]
    assert rule["booleanRule"]["condition"] == {"type": "TEXT_EQ", "values": [{"userEnteredValue": "Approved"}]}
    assert server.notes(sid, "Returns") == {"A1": "policy"} and server.backgrounds(sid, "Returns") == {"A1": "E2EFDA"}
    (first,) = sheet["charts"]
    workbook.write([], (), [chart])  # placed again: the old chart goes in the same batch
    (second,) = server.sheet_resource(sid, "Returns")["charts"]
    assert second["chartId"] != first["chartId"]


def test_the_sync_decorates_google_tabs_within_three_requests(google: GoogleWorkspace) -> None:
    report = google.run("2024-03-03T10:00")
    assert report.exit_code == 0, report.failures
    assert max(_requests_per_spreadsheet(google.server, 0).values()) <= 3
    server = google.server

    # the returns template on the client's new tab
    assert server.tabs(google.nova) == ["Sheet1", "Returns"]
    assert server.values(google.nova, "Returns") == [["Lead ID", "Reason", "Note", "Status", "Detail", "Credit",
                                                      "Week restated", "First seen"]]
    (validation,) = server.data_validations(google.nova, "Returns")
    assert [value["userEnteredValue"] for value in validation["rule"]["condition"]["values"]][:3] == [
        "Wrong number", "Fake info", "Did not convert"]
    assert "strict" not in validation["rule"]
    sheet = server.sheet_resource(google.nova, "Returns")
    (protected,) = sheet["protectedRanges"]
    assert (protected["range"]["startColumnIndex"], protected["range"]["endColumnIndex"]) == (3, 8)
    assert protected["editors"] == {"users": [google.email]}
    assert [rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
            for rule in sheet["conditionalFormats"]] == ["Approved", "Rejected", "Needs review"]
    assert "Window: 5 days" in server.notes(google.nova, "Returns")["A1"]
    assert server.backgrounds(google.nova, "Returns")["D1"] == "D9D9D9"
    assert "protectedRanges" not in server.sheet_resource(google.acme, "Returns")  # existing tabs are left alone

    # restated weeks on the tracking tab
    notes = server.notes(google.tracking, "Solar US")
    assert notes["B6"] == "Restated 2024-03-03: +55.50 (2 leads)"  # Refunds of the week ending Feb 17
    assert notes["B5"] == notes["B6"] and "Cash view" in notes["A17"]
    assert server.backgrounds(google.tracking, "Solar US")["B6"] == "FFD966"
    assert server.backgrounds(google.tracking, "Solar US")["E17"] == "FCE4D6"

    # the Review tab's bold header on its fill (bold, wrapping and alignment are not modelled)
    assert server.backgrounds(google.tracking, "Review")["A1"] == "D9E1F2"
    assert server.backgrounds(google.tracking, "Review")["I1"] == "D9E1F2"

    # the Dashboard chart
    (chart,) = server.sheet_resource(google.tracking, "Dashboard")["charts"]
    series = chart["spec"]["basicChart"]["series"]
    assert len(series) == 3  # Home-Garden UK, Solar UK, Solar US

    first = len(server.sheets_requests)
    google.run("2024-03-03T11:00")
    assert [path for method, path in server.sheets_requests[first:] if method == "POST"] == []


def test_new_tabs_carry_header_look_wrapped_text_and_id_columns_as_text() -> None:
    """Google has no print settings in its API: only the look of a TabSpec travels."""
    from sheets_sync.backends.google.style import format_requests
    from sheets_sync.core.project.returns import returns_tab_spec
    from sheets_sync.core.project.tracking import tracking_tab_spec

    requests = [request["repeatCell"] for request in format_requests(returns_tab_spec("Returns"), 7)]
    header, top, lead_id, *wrapped = requests
    assert header["range"] == {"sheetId": 7, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0,
                               "endColumnIndex": 8}
    assert header["cell"]["userEnteredFormat"]["textFormat"] == {"bold": True}
    assert "userEnteredFormat.textFormat.bold" in header["fields"].split(",")
    assert top["cell"]["userEnteredFormat"] == {"verticalAlignment": "TOP"}
    assert (lead_id["range"]["startColumnIndex"], lead_id["cell"]["userEnteredFormat"]["numberFormat"],
            lead_id["cell"]["userEnteredFormat"]["horizontalAlignment"]) == (0, {"type": "TEXT"}, "LEFT")
    assert [(cell["range"]["startColumnIndex"], cell["range"]["startRowIndex"], cell["fields"])
            for cell in wrapped] == [(column, 1, "userEnteredFormat.wrapStrategy,userEnteredFormat.verticalAlignment")
                                     for column in (1, 2, 4)]  # Reason, Note and Detail
    assert all(cell["cell"]["userEnteredFormat"]["wrapStrategy"] == "WRAP" for cell in wrapped)
    (whole_row,) = format_requests(tracking_tab_spec("Solar US"), 3)  # bold week dates, however many
    assert whole_row["repeatCell"]["range"] == {"sheetId": 3, "startRowIndex": 0, "endRowIndex": 1}


def test_the_dashboard_chart_has_a_colour_per_group_and_its_legend_below() -> None:
    from sheets_sync.backends.google.style import chart_requests, color
    from sheets_sync.core.project.dashboard import LINE_COLORS, Dashboard, refund_rate_chart

    dashboard = Dashboard((date(2024, 2, 17),), ("A", "B", "C"), ((0.1, 0.2, 0.3),), ())
    requests, _ = chart_requests([refund_rate_chart(dashboard)], {"Dashboard": (5, ())})
    (add,) = [request["addChart"]["chart"]["spec"]["basicChart"] for request in requests]
    assert [series["colorStyle"]["rgbColor"] for series in add["series"]] == [color(rgb) for rgb in LINE_COLORS[:3]]
    assert add["legendPosition"] == "BOTTOM_LEGEND"
