"""Contract tests for ``sheets_sync.testing.FakeSheetsServer``.

The fake may only be trusted as far as it behaves like Google, so this module checks it
against two independent facts about the real API:

1. every JSON body it sends (and every request it accepts) validates against the schemas of
   Google's own discovery document ``sheets.v4.json`` (shipped in google-api-python-client),
   made strict: a property the document does not list is an error;
2. recorded real traffic between gspread and Google (the gspread project's cassettes, kept
   outside this repository in ``../shared/contract/gspread-cassettes``) replays against the
   fake with the same status codes and the same JSON, once the spreadsheet and sheet ids are
   mapped and the theme, default format and Drive timestamps are set aside.

Then gspread itself runs end to end against the fake, logging in with a real signed
service-account grant.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import googleapiclient
import gspread
import jsonschema
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account
from gspread.http_client import HTTPClient

from sheets_sync.backends.google.workbook import open_google_workbook
from sheets_sync.core.cells import CellWrite, Formula
from sheets_sync.testing import Exchange, FakeSheetsServer

SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
GOOGLE_SHEETS_ROOT = "https://sheets.googleapis.com"
DISCOVERY_DOCUMENT = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "sheets.v4.json"
CASSETTES = Path(__file__).resolve().parents[2] / "shared" / "contract" / "gspread-cassettes"
REQUIRE_CONTRACT = os.environ.get("SHEETS_SYNC_REQUIRE_CONTRACT") == "1"

# --------------------------------------------------------------------------- Google's schemas

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "status"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "details": {"type": "array"},
            },
        }
    },
}
TOKEN_ANSWER = {
    "type": "object",
    "required": ["access_token", "expires_in", "token_type"],
    "additionalProperties": False,
    "properties": {
        "access_token": {"type": "string"},
        "expires_in": {"type": "integer"},
        "token_type": {"const": "Bearer"},
    },
}


def _strict_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A discovery-document schema as JSON Schema, refusing properties the document does not list."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    if kind == "object":
        schema: dict[str, Any] = {"type": "object"}
        if "properties" in node:
            schema["properties"] = {name: _strict_schema(sub) for name, sub in node["properties"].items()}
        if "additionalProperties" in node:
            schema["additionalProperties"] = _strict_schema(node["additionalProperties"])
        elif "properties" in node:
            schema["additionalProperties"] = False
        return schema
    if kind == "array":
        return {"type": "array", "items": _strict_schema(node.get("items", {}))}
    if kind in ("string", "integer", "number", "boolean"):
        schema = {"type": kind}
        if "enum" in node:
            schema["enum"] = node["enum"]
        return schema
    return {}  # "any"


class DiscoveryContract:
    """Validates exchanges against sheets.v4.json; collects violations (the server runs threads)."""

    def __init__(self) -> None:
        document = json.loads(DISCOVERY_DOCUMENT.read_text())
        self._definitions = {name: _strict_schema(schema) for name, schema in document["schemas"].items()}
        self._methods: dict[str, dict[str, Any]] = {}
        self._collect_methods(document)
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        self.violations: list[str] = []
        self.checked: set[str] = set()
        self._lock = threading.Lock()

    def _collect_methods(self, resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            self._methods[method["id"]] = method
        for sub in resource.get("resources", {}).values():
            self._collect_methods(sub)

    def _validator(self, schema_name: str) -> jsonschema.Draft202012Validator:
        if schema_name not in self._validators:
            if schema_name == "ErrorEnvelope":
                schema = ERROR_ENVELOPE
            elif schema_name == "TokenAnswer":
                schema = TOKEN_ANSWER
            else:
                schema = {"$ref": f"#/$defs/{schema_name}", "$defs": self._definitions}
            self._validators[schema_name] = jsonschema.Draft202012Validator(schema)
        return self._validators[schema_name]

    def check(self, schema_name: str, body: Any, where: str) -> None:
        errors = sorted(self._validator(schema_name).iter_errors(body), key=str)
        with self._lock:
            self.checked.add(schema_name)
            self.violations.extend(f"{where} ({schema_name}): {error.message} at {list(error.path)}" for error in errors)

    def observe(self, exchange: Exchange) -> None:
        where = f"{exchange.http_method} {exchange.path} -> {exchange.status}"
        if exchange.response_body is None:
            return  # an injected non-JSON failure page
        if exchange.api_method == "oauth2.token":
            if exchange.status == 200:
                self.check("TokenAnswer", exchange.response_body, where)
            return
        if exchange.status >= 400:
            self.check("ErrorEnvelope", exchange.response_body, where)
            return
        method = self._methods[exchange.api_method]
        self.check(method["response"]["$ref"], exchange.response_body, where)
        if "request" in method and exchange.request_body is not None:
            # JSON null is "unset" in Google's JSON mapping; gspread sends {"majorDimension": null}.
            self.check(method["request"]["$ref"], _without_nulls(exchange.request_body), where + " request")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


@pytest.fixture(scope="module")
def contract() -> DiscoveryContract:
    return DiscoveryContract()


@pytest.fixture
def server(contract: DiscoveryContract) -> Iterator[FakeSheetsServer]:
    """A fake whose every answer is checked against Google's schemas when the test ends."""
    with FakeSheetsServer(observe=contract.observe) as fake:
        yield fake
    violations, contract.violations[:] = list(contract.violations), []
    assert not violations, "answers that drift from sheets.v4.json:\n" + "\n".join(violations)


@pytest.fixture
def token(server: FakeSheetsServer, tmp_path: Path) -> str:
    """An access token got the way google-auth gets one: a signed JWT grant."""
    key_file = tmp_path / "key.json"
    server.service_account_file(key_file)
    credentials = service_account.Credentials.from_service_account_file(key_file, scopes=[SHEETS_SCOPE])
    credentials.refresh(GoogleAuthRequest())
    return credentials.token


@pytest.fixture
def api(server: FakeSheetsServer, token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def test_discovery_schema_is_strict(contract: DiscoveryContract) -> None:
    """The validator itself must catch drift, or the contract checks nothing."""
    contract.check("ValueRange", {"range": "Sheet1!A1", "majorDimension": "ROWS", "valuez": []}, "probe")
    contract.check("ValueRange", {"range": "Sheet1!A1", "majorDimension": "SIDEWAYS"}, "probe")
    assert len(contract.violations) == 2
    contract.violations.clear()


def test_every_answer_kind_validates(server: FakeSheetsServer, api: requests.Session,
                                     contract: DiscoveryContract) -> None:
    """Drive each endpoint once; the ``server`` fixture fails the test on any drift."""
    sid = server.create_spreadsheet("Kinds", {"Data": [["a", 1, date(2024, 1, 2)], [True, Formula("=B1*2")]]})
    base = f"{server.url}/v4/spreadsheets/{sid}"
    assert api.get(base).status_code == 200
    assert api.get(base, params={"fields": "sheets.properties(sheetId,title)"}).json() == {
        "sheets": [{"properties": {"sheetId": 0, "title": "Data"}}]
    }
    assert api.get(f"{base}/values/Data!A1:C2").status_code == 200
    assert api.get(f"{base}/values:batchGet", params={"ranges": ["Data", "Data!Z999"]}).status_code == 200
    assert api.put(f"{base}/values/Data!D1", params={"valueInputOption": "RAW"}, json={"values": [["x"]]}).ok
    assert api.post(f"{base}/values/Data:append", params={"valueInputOption": "USER_ENTERED",
                                                         "includeValuesInResponse": "true"},
                    json={"values": [["y", "2024-05-06"]]}).ok
    assert api.post(f"{base}/values/Data!D1:clear").ok
    assert api.post(f"{base}/values:batchClear", json={"ranges": ["Data!A3"]}).ok
    assert api.post(f"{base}/values:batchUpdate", json={
        "valueInputOption": "USER_ENTERED", "data": [{"range": "Data!E1", "values": [["=1+1"]]}]}).ok
    reply = api.post(f"{base}:batchUpdate", json={"requests": [
        {"addSheet": {"properties": {"title": "New", "gridProperties": {"rowCount": 5, "columnCount": 3}}}},
        {"updateCells": {"start": {"sheetId": 0, "rowIndex": 5, "columnIndex": 0},
                         "rows": [{"values": [{"userEnteredValue": {"numberValue": 45000},
                                               "userEnteredFormat": {"numberFormat": {"type": "DATE",
                                                                                      "pattern": "yyyy-mm-dd"}}}]}],
                         "fields": "userEnteredValue,userEnteredFormat.numberFormat"}},
    ], "includeSpreadsheetInResponse": True})
    assert reply.ok and reply.json()["replies"][0]["addSheet"]["properties"]["title"] == "New"
    for failing in (api.get(f"{base}/values/Nope!A1"), api.get(f"{server.url}/v4/spreadsheets/missing"),
                    requests.get(base)):
        assert failing.status_code in (400, 401, 404)
    assert contract.checked >= {
        "Spreadsheet", "ValueRange", "BatchGetValuesResponse", "UpdateValuesResponse", "AppendValuesResponse",
        "ClearValuesResponse", "BatchClearValuesResponse", "BatchUpdateValuesRequest", "BatchUpdateValuesResponse",
        "BatchUpdateSpreadsheetRequest", "BatchUpdateSpreadsheetResponse", "ErrorEnvelope", "TokenAnswer",
    }


# --------------------------------------------------------------------------- the fake's semantics


def test_values_render_options_and_trimming(server: FakeSheetsServer, api: requests.Session) -> None:
    sid = server.create_spreadsheet("Render", {"My Tab": [["text", 2.5, date(2020, 1, 1)], [None, None],
                                                          [None, Formula("=B1*2"), "=not a formula"]]})
    url = f"{server.url}/v4/spreadsheets/{sid}/values/'My Tab'"
    formatted = api.get(url).json()
    assert formatted == {"range": "'My Tab'!A1:Z1000", "majorDimension": "ROWS",
                         "values": [["text", "2.5", "2020-01-01"], [], ["", "5", "=not a formula"]]}
    unformatted = api.get(url, params={"valueRenderOption": "UNFORMATTED_VALUE"}).json()["values"]
    assert unformatted == [["text", 2.5, 43831], [], ["", 5, "=not a formula"]]
    formulas = api.get(url, params={"valueRenderOption": "FORMULA", "dateTimeRenderOption": "FORMATTED_STRING"})
    assert formulas.json()["values"] == [["text", 2.5, "2020-01-01"], [], ["", "=B1*2", "=not a formula"]]
    columns = api.get(url, params={"majorDimension": "COLUMNS", "valueRenderOption": "UNFORMATTED_VALUE"}).json()
    assert columns["values"] == [["text"], [2.5, "", 5], [43831, "", "=not a formula"]]
    empty = api.get(f"{server.url}/v4/spreadsheets/{sid}/values/'My Tab'!E5:F")
    assert empty.json() == {"range": "'My Tab'!E5:F1000", "majorDimension": "ROWS"}


def test_user_entered_and_raw_input(server: FakeSheetsServer, api: requests.Session) -> None:
    sid = server.create_spreadsheet("Input")
    url = f"{server.url}/v4/spreadsheets/{sid}/values/Sheet1!A1"
    typed = [["007", "2,000,000.01", "12%", "2024-03-03", "=1/4", "'=text", "TRUE", "3/4/2024", "+15551234"]]
    assert api.put(url, params={"valueInputOption": "USER_ENTERED"}, json={"values": typed}).ok
    assert server.values(sid, "Sheet1") == [[7, 2000000.01, 0.12, 45354, "=1/4", "=text", True, 45355, 15551234]]
    shown = api.get(f"{server.url}/v4/spreadsheets/{sid}/values/Sheet1").json()["values"]
    assert shown == [["7", "2,000,000.01", "12%", "2024-03-03", "0.25", "=text", "TRUE", "3/4/2024", "15551234"]]
    assert api.put(url, params={"valueInputOption": "RAW"}, json={"values": [["007", "=1/4"]]}).ok
    assert server.values(sid, "Sheet1")[0][:2] == ["007", "=1/4"]
    assert api.get(f"{server.url}/v4/spreadsheets/{sid}/values/Sheet1!B1").json()["values"] == [["=1/4"]]


def test_errors_use_googles_envelope(server: FakeSheetsServer, api: requests.Session) -> None:
    sid = server.create_spreadsheet("Errors", {"Tab": [["x"]]})
    private = server.create_spreadsheet("Private", shared=False)
    base = f"{server.url}/v4/spreadsheets"
    cases = {
        f"{base}/nope": (404, "NOT_FOUND"),
        f"{base}/{private}": (403, "PERMISSION_DENIED"),
        f"{base}/{sid}/values/Missing!A1": (400, "INVALID_ARGUMENT"),
        f"{base}/{sid}/values/Tab!A1001": (400, "INVALID_ARGUMENT"),
    }
    for url, (code, status) in cases.items():
        answer = api.get(url)
        assert (answer.status_code, answer.json()["error"]["code"], answer.json()["error"]["status"]) == (
            code, code, status)
    beyond = api.put(f"{base}/{sid}/values/Tab!Z1", params={"valueInputOption": "RAW"}, json={"values": [[1, 2]]})
    assert beyond.status_code == 400 and "exceeds grid limits" in beyond.json()["error"]["message"]
    assert requests.get(f"{base}/{sid}").status_code == 401


def test_batch_update_is_all_or_nothing(server: FakeSheetsServer, api: requests.Session) -> None:
    sid = server.create_spreadsheet("Atomic", {"Tab": [["keep"]]})
    answer = api.post(f"{server.url}/v4/spreadsheets/{sid}:batchUpdate", json={"requests": [
        {"addSheet": {"properties": {"title": "Added"}}},
        {"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 30},
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "beyond the grid"}}]}],
                         "fields": "userEnteredValue"}},
    ]})
    assert answer.status_code == 400
    assert server.tabs(sid) == ["Tab"]
    assert server.values(sid, "Tab") == [["keep"]]


def test_person_edits_and_row_moves(server: FakeSheetsServer) -> None:
    sid = server.create_spreadsheet("People", {"Returns": [["Lead ID", "Status"], ["B", ""], ["A", ""]]})
    server.edit(sid, "Returns!B2", [["Approved"]])
    server.insert_rows(sid, "Returns", 2)
    server.sort_rows(sid, "Returns", 1)
    assert server.values(sid, "Returns") == [["Lead ID", "Status"], ["A"], ["B", "Approved"]]
    server.delete_rows(sid, "Returns", 2)
    assert server.values(sid, "Returns") == [["Lead ID", "Status"], ["B", "Approved"]]


def test_fault_injection(server: FakeSheetsServer, api: requests.Session) -> None:
    sid = server.create_spreadsheet("Faults")
    url = f"{server.url}/v4/spreadsheets/{sid}"
    server.fail_next(429, count=2, json_body=True, retry_after=1)
    first, second, third = api.get(url), api.get(url), api.get(url)
    assert (first.status_code, first.headers["Retry-After"], first.json()["error"]["status"]) == (
        429, "1", "RESOURCE_EXHAUSTED")
    assert (second.status_code, third.status_code) == (429, 200)
    server.fail_next(502, json_body=False)
    page = api.get(url)
    assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
    server.disconnect_next()
    with pytest.raises(requests.ConnectionError):
        api.get(url)
    server.quota(writes_per_minute=1, window_seconds=60)
    write = {"params": {"valueInputOption": "RAW"}, "json": {"values": [["x"]]}}
    assert api.put(f"{url}/values/A1", **write).ok
    assert api.put(f"{url}/values/A1", **write).status_code == 429
    assert api.get(url).ok  # reads have their own quota
    server.quota()
    server.before_next_write(lambda: server.edit(sid, "A2", [["typed meanwhile"]]))
    assert api.get(f"{url}/values/A1").ok  # a read does not trigger it
    assert api.put(f"{url}/values/B1", **write).ok
    assert server.values(sid, "Sheet1") == [["x", "x"], ["typed meanwhile"]]
    assert ("POST", "/token") in server.requests
    assert all(path.startswith("/v4/") for _, path in server.sheets_requests)


def test_token_endpoint_rejects_a_foreign_key(server: FakeSheetsServer, tmp_path: Path) -> None:
    server.service_account_file(tmp_path / "key.json")
    key = json.loads((tmp_path / "key.json").read_text())
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key["private_key"] = foreign.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    credentials = service_account.Credentials.from_service_account_info(key, scopes=[SHEETS_SCOPE])
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        credentials.refresh(GoogleAuthRequest())


def test_read_only_scope_cannot_write(server: FakeSheetsServer, tmp_path: Path) -> None:
    sid = server.create_spreadsheet("Scopes")
    server.service_account_file(tmp_path / "key.json")
    credentials = service_account.Credentials.from_service_account_file(
        tmp_path / "key.json", scopes=["https://www.googleapis.com/auth/spreadsheets.readonly"])
    credentials.refresh(GoogleAuthRequest())
    headers = {"Authorization": f"Bearer {credentials.token}"}
    base = f"{server.url}/v4/spreadsheets/{sid}"
    assert requests.get(base, headers=headers).ok
    denied = requests.put(f"{base}/values/A1", params={"valueInputOption": "RAW"}, json={"values": [["x"]]},
                          headers=headers)
    assert denied.status_code == 403


def test_adapter_requests_validate(server: FakeSheetsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Google backend's own calls (metadata, batchGet, batchUpdate) pass the same contract."""
    monkeypatch.setenv("SHEETS_SYNC_GOOGLE_API_URL", server.url)
    sid = server.create_spreadsheet("Adapter", {"Returns": [["Lead ID"]]})
    key_file = tmp_path / "key.json"
    server.service_account_file(key_file)
    workbook = open_google_workbook(sid, key_file)
    workbook.write([CellWrite("Returns", 2, 1, "A-1"), CellWrite("Returns", 1001, 27, True),
                    CellWrite("Weeks", 1, 2, date(2024, 3, 3)), CellWrite("Weeks", 2, 2, Formula("=B1+7"))],
                   new_tabs=["Weeks"])
    assert workbook.read(["Returns", "Weeks"])["Weeks"] == [[None, 45354], [None, Formula("=B1+7")]]


# --------------------------------------------------------------------------- gspread end to end


class LocalHTTPClient(HTTPClient):
    """gspread's HTTP client, pointed at the fake the documented way: rewrite the host."""

    api_root = ""

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
        return super().request(method, endpoint.replace(GOOGLE_SHEETS_ROOT, self.api_root), *args, **kwargs)


def test_gspread_end_to_end(server: FakeSheetsServer, tmp_path: Path) -> None:
    sid = server.create_spreadsheet("Acme returns", {"Returns": [["Lead ID", "Reason"], ["000123", "Wrong #"]]})
    server.service_account_file(tmp_path / "key.json")
    client_class = type("Client", (LocalHTTPClient,), {"api_root": server.url})
    client = gspread.service_account(filename=tmp_path / "key.json", scopes=[SHEETS_SCOPE], http_client=client_class)

    spreadsheet = client.open_by_key(sid)
    assert spreadsheet.title == "Acme returns"
    returns = spreadsheet.worksheet("Returns")
    assert returns.get_all_values() == [["Lead ID", "Reason"], ["000123", "Wrong #"]]
    returns.update([["Status"], ["Approved"]], "C1:C2")
    returns.batch_update([{"range": "D1:D2", "values": [["Credit"], [12.5]]}])
    returns.append_row(["000124", "Disconnected"])
    assert returns.get_all_values() == [
        ["Lead ID", "Reason", "Status", "Credit"],
        ["000123", "Wrong #", "Approved", "12.5"],
        ["000124", "Disconnected", "", ""],
    ]
    weeks = spreadsheet.add_worksheet("Food US", rows=20, cols=5)
    weeks.update([["Metric", "=DATE(2024,3,3)"]], "A1", value_input_option="USER_ENTERED")
    assert server.tabs(sid) == ["Returns", "Food US"]
    assert server.values(sid, "Food US") == [["Metric", "=DATE(2024,3,3)"]]
    assert server.values(sid, "Returns")[1] == ["000123", "Wrong #", "Approved", 12.5]
    assert [path for method, path in server.requests if method == "POST" and path == "/token"] == ["/token"]


# --------------------------------------------------------------------------- replaying Google's answers

# What the fake models: these batchUpdate request kinds and calls; Drive only as far as
# creating a fresh spreadsheet, reading its Drive metadata and deleting it.
REPLAYABLE_UPDATES = {"addSheet", "deleteSheet", "updateSheetProperties", "updateSpreadsheetProperties",
                      "updateCells", "appendDimension", "insertDimension", "deleteDimension", "sortRange",
                      "addProtectedRange", "deleteProtectedRange", "setDataValidation", "addConditionalFormatRule",
                      "addChart", "deleteEmbeddedObject"}
REPLAYABLE_CALLS = {"spreadsheets.get", "values.get", "values.update", "values.append", "values.clear",
                    "values:batchGet", "values:batchUpdate", "values:batchClear",
                    "drive:create", "drive:metadata", "drive:delete"}
IGNORED_SPREADSHEET_PROPERTIES = ("defaultFormat", "spreadsheetTheme")
MAPPED_ID_KEYS = ("sheetId", "protectedRangeId", "chartId", "objectId")  # ids Google and the fake each choose
SERVICE_ACCOUNT = re.compile(r"[\w.-]+@[\w-]+\.iam\.gserviceaccount\.com")


def _sheets_call(method: str, uri: str, body: str | None) -> str:
    """A short name for a recorded call: ``values.get``, ``batchUpdate:addSheet``, ``drive:create`` ..."""
    parts = urlsplit(uri)
    if parts.netloc != "sheets.googleapis.com":
        file_call = re.fullmatch(r"/drive/v3/files/[^/]+(/\w+)?", parts.path)
        if method == "POST" and parts.path == "/drive/v3/files":
            return "drive:create"
        if file_call and file_call.group(1):
            return f"drive:{file_call.group(1)[1:]}"  # copy, export, comments, permissions
        if file_call:
            return {"GET": "drive:metadata", "DELETE": "drive:delete"}.get(method, f"drive:{method} file")
        return "drive:import" if "/upload/" in parts.path else "drive:list"
    path = parts.path
    if path.endswith(":batchUpdate") and "/values" not in path:
        kinds = set()
        for request in json.loads(body or "{}").get("requests", []):
            (kind, payload), = request.items()
            if "tabColor" in str(payload.get("fields", "")):
                kind += "(tab colours)"  # Google rounds colours to 8 bits per channel; not modelled
            kinds.add(kind)
        return "batchUpdate:" + ",".join(sorted(kinds))
    if "/values:" in path:
        return "values:" + path.rsplit(":", 1)[1]
    if "/values/" in path:
        suffix = re.search(r":(append|clear)$", path)
        return "values." + (suffix.group(1) if suffix else {"GET": "get", "PUT": "update"}[method])
    fields = dict(parse_qsl(parts.query)).get("fields", "")
    if re.search(r"\bdata\b|namedRanges", fields):
        return "spreadsheets.get (grid data or named ranges)"
    return "spreadsheets.get"


def _unsupported(calls: set[str]) -> list[str]:
    unsupported = []
    for call in sorted(calls):
        if call.startswith("batchUpdate:"):
            unsupported.extend(kind for kind in call.split(":", 1)[1].split(",") if kind not in REPLAYABLE_UPDATES)
        elif call not in REPLAYABLE_CALLS:
            unsupported.append(call)
    return sorted(set(unsupported))


def _replay_params() -> list[Any]:
    if not CASSETTES.is_dir():
        return [pytest.param(None, id="cassettes-absent")]
    params = []
    for path in sorted(CASSETTES.glob("*.json")):
        interactions = json.loads(path.read_text())["interactions"]
        calls = {_sheets_call(i["request"]["method"], i["request"]["uri"], i["request"]["body"])
                 for i in interactions}
        missing = _unsupported(calls)
        marks = [pytest.mark.skip(reason="needs what the fake does not model: " + ", ".join(missing))] if missing else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


class Replay:
    """Replays one cassette's Sheets calls against the fake and compares the answers."""

    def __init__(self, server: FakeSheetsServer, session: requests.Session) -> None:
        self.server = server
        self.session = session
        self.spreadsheet_ids: dict[str, str] = {}  # recorded -> fake
        self.sheet_ids: dict[int, int] = {}  # recorded -> fake

    def run(self, interactions: list[dict[str, Any]]) -> int:
        compared = 0
        for interaction in interactions:
            request, response = interaction["request"], interaction["response"]
            call = _sheets_call(request["method"], request["uri"], request["body"])
            if call == "drive:create":
                created = json.loads(response["body"]["string"])
                name = json.loads(request["body"])["name"]
                self.spreadsheet_ids[created["id"]] = self.server.create_spreadsheet(name)
            elif not call.startswith("drive:"):
                self._compare(request, response)
                compared += 1
        return compared

    def _compare(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        recorded_status = response["status"]["code"]
        parts = urlsplit(request["uri"])
        recorded_id = parts.path.split("/")[3].split(":")[0]
        if recorded_id not in self.spreadsheet_ids and recorded_status == 403:
            # The cassette's world holds a spreadsheet not shared with the account: set it up.
            self.spreadsheet_ids[recorded_id] = self.server.create_spreadsheet("Private", shared=False)
        path = parts.path.replace(recorded_id, self.spreadsheet_ids.get(recorded_id, recorded_id), 1)
        body = json.loads(request["body"]) if request["body"] else None
        answer = self.session.request(
            request["method"],
            f"{self.server.url}{path}" + (f"?{parts.query}" if parts.query else ""),
            data=None if body is None else json.dumps(self._map_sheet_ids(body, self.sheet_ids)),
            headers={"Content-Type": "application/json"},
        )
        where = f"{request['method']} {request['uri']}"
        assert answer.status_code == recorded_status, f"{where}: {answer.status_code} {answer.text[:500]}"
        recorded = json.loads(response["body"]["string"]) if response["body"]["string"] else None
        actual = answer.json() if answer.content else None
        self._learn_sheet_ids(recorded, actual)
        expected_body = self._normalised(recorded)
        actual_body = self._normalised(self._map_sheet_ids(actual, {new: old for old, new in self.sheet_ids.items()}))
        for recorded_id, fake_id in self.spreadsheet_ids.items():
            actual_body = json.loads(json.dumps(actual_body).replace(fake_id, recorded_id))
        assert actual_body == expected_body, where

    def _learn_sheet_ids(self, recorded: Any, actual: Any) -> None:
        if not isinstance(recorded, dict) or not isinstance(actual, dict):
            return
        pairs = []
        for old, new in zip(recorded.get("replies", []), actual.get("replies", [])):
            if "addSheet" in old and "addSheet" in new:
                pairs.append((old["addSheet"]["properties"]["sheetId"], new["addSheet"]["properties"]["sheetId"]))
            if "addProtectedRange" in old and "addProtectedRange" in new:
                pairs.append((old["addProtectedRange"]["protectedRange"]["protectedRangeId"],
                              new["addProtectedRange"]["protectedRange"]["protectedRangeId"]))
        for old, new in zip(recorded.get("sheets", []), actual.get("sheets", [])):
            if "sheetId" in old.get("properties", {}) and "sheetId" in new.get("properties", {}):
                pairs.append((old["properties"]["sheetId"], new["properties"]["sheetId"]))
        self.sheet_ids.update(pairs)

    @classmethod
    def _map_sheet_ids(cls, value: Any, mapping: dict[int, int]) -> Any:
        if isinstance(value, dict):
            return {key: (mapping.get(item, item) if key in MAPPED_ID_KEYS else cls._map_sheet_ids(item, mapping))
                    for key, item in value.items()}
        if isinstance(value, list):
            return [cls._map_sheet_ids(item, mapping) for item in value]
        return value

    @staticmethod
    def _normalised(body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        # The recording's service account is not the fake's: protected ranges name it as editor.
        body = json.loads(SERVICE_ACCOUNT.sub("service-account", json.dumps(body)))
        for name in IGNORED_SPREADSHEET_PROPERTIES:
            body.get("properties", {}).pop(name, None)
        body.get("error", {}).pop("details", None)
        return body


@pytest.mark.parametrize("cassette", _replay_params())
def test_replay_recorded_google_traffic(cassette: Path | None, server: FakeSheetsServer, api: requests.Session) -> None:
    if cassette is None:
        message = f"recorded Google traffic not found at {CASSETTES}"
        if REQUIRE_CONTRACT:
            pytest.fail(message + " (SHEETS_SYNC_REQUIRE_CONTRACT=1)")
        pytest.skip(message)
    interactions = json.loads(cassette.read_text())["interactions"]
    assert Replay(server, api).run(interactions) > 0
