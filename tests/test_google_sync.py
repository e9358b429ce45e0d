"""The returns engine on Google Sheets: gspread over real HTTP against the local Sheets API."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from sheets_sync import load_config, run_sync
from sheets_sync.backends.google.endpoint import API_URL_ENV
from sheets_sync.commands.close import close_through
from sheets_sync.core.cells import cell_as_date
from sheets_sync.testing import FakeSheetsServer

LEADS = [
    ["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price", "Cost", "Source"],
    ["000101", datetime(2024, 2, 12, 10), "Acme", "Solar", "US", 25, 4, "Vendor A"],
    ["000102", datetime(2024, 2, 13, 10), "Acme", "Solar", "US", 30.5, 4, "Vendor A"],
    ["000103", datetime(2024, 2, 20, 10), "Acme", "Solar", "UK", 40, 4, "Vendor B"],
    ["000201", datetime(2024, 2, 21, 10), "Zenith", "Home/Garden", "UK", 12.35, 2, "Vendor B"],
    ["000202", datetime(2024, 2, 22, 10), "Zenith", "Home/Garden", "UK", 12.35, 2, "Vendor B"],
]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as fake:
        monkeypatch.setenv(API_URL_ENV, fake.url)
        yield fake


class GoogleWorkspace:
    def __init__(self, server: FakeSheetsServer, root: Path) -> None:
        self.server = server
        self.root = root
        self.email = server.service_account_file(root / "key.json")
        self.leads = server.create_spreadsheet("Leads", {"Leads": LEADS}, shared=True)
        self.tracking = server.create_spreadsheet("Tracking", {"Sheet1": []}, shared=True)
        self.acme = server.create_spreadsheet("Acme returns", {"Returns": [
            ["Lead ID", "Reason", "Note"],
            [101, "wrong number", "zeros lost"],
            ["000102; 000201", "Wrong #", "one is not ours"],
        ]}, shared=True)
        self.zenith = server.create_spreadsheet("Zenith returns", {"Returns": [
            ["Note", "Reason", "Lead ID"],
            ["", "disconnected", "000202"],
        ]}, shared=True)
        config = {
            "timezone": "America/New_York",
            "week_ends_on": "saturday",
            "google": {"credentials": "key.json", "retry_budget_seconds": 20},
            "leads": {"google": self.leads, "tab": "Leads"},
            "tracking": {"google": f"https://docs.google.com/spreadsheets/d/{self.tracking}/edit#gid=0"},
            "policy": {"window_days": 30, "max_return_rate": 1},
            "clients": {
                "Acme": {"returns": {"google": self.acme, "tab": "Returns"}},
                "Zenith": {"returns": {"google": self.zenith, "tab": "Returns"}},
            },
        }
        (root / "config.yaml").write_text(yaml.safe_dump(config))

    def run(self, as_of: str):
        return run_sync(load_config(self.root / "config.yaml"), as_of=datetime.fromisoformat(as_of))

    def table(self, spreadsheet: str, tab: str) -> list[dict]:
        rows = self.server.values(spreadsheet, tab)
        return [dict(zip(rows[0], row + [None] * (len(rows[0]) - len(row)))) for row in rows[1:]]


@pytest.fixture
def google(server: FakeSheetsServer, tmp_path: Path) -> GoogleWorkspace:
    return GoogleWorkspace(server, tmp_path)


def _requests_per_spreadsheet(server: FakeSheetsServer, since: int) -> Counter:
    counts: Counter = Counter()
    for method, path in server.sheets_requests[since:]:
        counts[path.split("/spreadsheets/")[1].split("/")[0].split(":")[0].split("?")[0]] += 1
    return counts


def test_the_returns_scenario_on_google(google: GoogleWorkspace) -> None:
    report = google.run("2024-03-03T10:00")
    assert report.exit_code == 0, report.failures
    acme = google.table(google.acme, "Returns")
    assert [row["Status"] for row in acme] == ["Approved", "Mixed"]
    assert "000201: Unknown lead ID" in acme[1]["Detail"]
    assert acme[1]["Credit"] == 30.5
    assert cell_as_date(acme[0]["Week restated"]) == date(2024, 2, 17)
    zenith = google.table(google.zenith, "Returns")
    assert zenith[0]["Status"] == "Approved" and zenith[0]["Lead ID"] == "000202"
    assert google.server.tabs(google.tracking) == ["Sheet1", "Home-Garden UK", "Solar UK", "Solar US", "Review",
                                                   "Dashboard", "Audit log"]
    solar_us = google.server.values(google.tracking, "Solar US")
    labels = {row[0]: row[1:] for row in solar_us[1:]}
    # The lead week, then every week up to the one the refunds were approved in (cash view).
    assert [cell_as_date(cell) for cell in solar_us[0][1:]] == [date(2024, 2, 17), date(2024, 2, 24),
                                                                 date(2024, 3, 2), date(2024, 3, 9)]
    assert labels["Refunded leads"] == [2, 0, 0, 0] and labels["Refunds"] == [55.5, 0, 0, 0]
    assert labels["Refunds reported (cash view)"] == [0, 0, 0, 55.5]
    assert labels["Net leads"][0] == "=B2-B5"
    audit = google.server.values(google.tracking, "Audit log")
    assert audit[0] == ["Run", "Time", "Client", "Lead ID", "Status", "Rule", "Credit", "Week restated", "Credit type",
                        "Entry"]
    assert len(audit) == 4


def test_at_most_two_requests_per_spreadsheet_and_a_quiet_rerun_writes_nothing(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    first = len(google.server.sheets_requests)
    google.run("2024-03-03T11:00")
    counts = _requests_per_spreadsheet(google.server, first)
    assert set(counts) == {google.leads, google.tracking, google.acme, google.zenith}
    assert max(counts.values()) <= 2  # one read each (metadata and values together), one write
    writes = [path for method, path in google.server.sheets_requests[first:] if method == "POST"]
    assert writes == []


def test_first_run_stays_within_two_requests_per_spreadsheet(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    assert max(_requests_per_spreadsheet(google.server, 0).values()) <= 2


def test_a_client_editing_its_status_is_corrected(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    google.server.edit(google.acme, "Returns!D2", [["Rejected"]])
    report = google.run("2024-03-04T10:00")
    assert [(write.row, write.col, write.value) for _, write in report.changes] == [(2, 4, "Approved")]
    assert google.table(google.acme, "Returns")[0]["Status"] == "Approved"


def test_transient_faults_recover(google: GoogleWorkspace) -> None:
    google.server.fail_next(status=429, count=2, json_body=False, retry_after=0)
    google.server.fail_next(status=500, count=1)
    report = google.run("2024-03-03T10:00")
    assert report.exit_code == 0, report.failures
    assert google.table(google.zenith, "Returns")[0]["Status"] == "Approved"


def test_a_spreadsheet_not_shared_fails_alone_with_exit_code_1(google: GoogleWorkspace, tmp_path: Path) -> None:
    private = google.server.create_spreadsheet("Private", {"Returns": [["Lead ID", "Reason"], ["000202", "fake"]]},
                                               shared=False)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["clients"]["Zenith"]["returns"]["google"] = private
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    report = google.run("2024-03-03T10:00")
    assert report.exit_code == 1
    assert len(report.failures) == 1
    message = report.failures[0].message
    assert private in message and google.email in message and "Share" in message
    assert google.table(google.acme, "Returns")[0]["Status"] == "Approved"
    assert json.dumps(report.as_json())  # the scheduler's summary still serialises


# -- the books under change (SPEC §3.1) on Google --------------------------------------------

FEB17, MAR9, MAR16 = date(2024, 2, 17), date(2024, 3, 9), date(2024, 3, 16)


def tracking_rows(google: GoogleWorkspace, tab: str) -> dict[str, dict[date, object]]:
    rows = google.server.values(google.tracking, tab)
    weeks = [cell_as_date(cell) for cell in rows[0][1:]]
    return {row[0]: dict(zip(weeks, row[1:])) for row in rows[1:] if row}


def test_a_credited_sale_deleted_from_the_google_lead_log_keeps_its_credit(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    google.server.edit(google.leads, "Leads!A2:H2", [[""] * 8])  # the operator deletes 000101's row
    report = google.run("2024-03-04T10:00")
    assert report.new_entries == []
    assert any("lead 000101 of Acme, credited 25.00, is no longer in the lead log" in str(problem)
               for problem in report.problems)
    solar_us = tracking_rows(google, "Solar US")
    assert solar_us["Refunds"][FEB17] == 55.5 and solar_us["Refunded leads"][FEB17] == 2
    assert solar_us["Leads delivered"][FEB17] == 1
    assert google.table(google.acme, "Returns")[0]["Status"] == "Approved"


def test_a_re_exported_google_lead_log_decides_nothing_again(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    google.server.edit(google.leads, "Leads!A2:A4", [[101], [102], [103]])  # the IDs became numbers
    report = google.run("2024-03-04T10:00")
    assert report.new_entries == [] and report.changes == []


def test_an_approval_reversed_on_the_google_review_tab(google: GoogleWorkspace) -> None:
    google.server.edit(google.zenith, "Returns!B2", [["he hung up"]])
    google.run("2024-03-03T10:00")
    assert google.table(google.tracking, "Review")[0]["Lead ID"] == "000202"
    google.server.edit(google.tracking, "Review!F2", [["Approve"]])
    google.run("2024-03-04T10:00")
    assert google.table(google.zenith, "Returns")[0]["Status"] == "Approved"
    google.server.edit(google.tracking, "Review!F2", [["Reject"]])
    report = google.run("2024-03-11T10:00")
    assert [(entry.kind, str(entry.credit)) for entry in report.new_entries] == [("reversal", "-12.35")]
    row = google.table(google.zenith, "Returns")[0]
    assert row["Status"] == "Rejected" and "reversed by the operator on 2024-03-11" in row["Detail"]
    home = tracking_rows(google, "Home-Garden UK")
    assert home["Refunded leads"][date(2024, 2, 24)] == 0 and home["Refunds"][date(2024, 2, 24)] == 0
    assert home["Refunds reported (cash view)"][MAR9] == 12.35
    assert home["Refunds reported (cash view)"][MAR16] == -12.35
    audit = google.server.values(google.tracking, "Audit log")
    assert audit[-1][2:8] == ["Zenith", "000202", "Rejected", "operator_reversal", -12.35, audit[-1][7]]
    assert cell_as_date(audit[-1][7]) == date(2024, 2, 24)
    assert google.run("2024-03-11T11:00").changes == []


def test_a_new_week_end_day_on_google_keeps_the_old_tabs_and_lays_out_new_ones(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    google.server.edit(google.tracking, "'Solar US'!B10", [[300]])  # the operator's ad spend, week of Feb 17
    config = yaml.safe_load((google.root / "config.yaml").read_text())
    config["week_ends_on"] = "sunday"
    (google.root / "config.yaml").write_text(yaml.safe_dump(config))
    report = google.run("2024-03-04T10:00")
    assert report.exit_code == 0 and report.new_entries == []
    assert sum("layout changed" in str(problem) for problem in report.problems) == 1
    tabs = google.server.tabs(google.tracking)
    assert {"Solar US (old)", "Solar UK (old)", "Home-Garden UK (old)", "Solar US", "Solar UK"} <= set(tabs)
    old = tracking_rows(google, "Solar US (old)")
    assert old["Ad spend"][FEB17] == 300 and old["Refunds"][FEB17] == 55.5
    new = tracking_rows(google, "Solar US")
    assert list(new["Leads delivered"])[0] == date(2024, 2, 18) and new["Refunds"][date(2024, 2, 18)] == 55.5
    assert all(week.weekday() == 6 for week in new["Leads delivered"])
    assert new["Ad spend"].get(date(2024, 2, 18)) in (None, "")
    assert google.run("2024-03-04T11:00").changes == []


def test_a_price_corrected_in_the_google_lead_log_is_answered_on_the_review_tab(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    google.server.edit(google.leads, "Leads!F2", [[27.5]])  # 000101 was sold at 27.50, not 25.00
    google.run("2024-03-04T10:00")
    review = google.table(google.tracking, "Review")
    row = next(number for number, line in enumerate(review, start=2) if line["Reason"] == "Price corrected to 27.50")
    assert "after a credit of 25.00" in review[row - 2]["Why"]
    google.server.edit(google.tracking, f"Review!F{row}", [["Approve"]])
    report = google.run("2024-03-11T10:00")
    assert [(entry.kind, str(entry.credit)) for entry in report.new_entries] == [("adjustment", "2.50")]
    assert tracking_rows(google, "Solar US")["Refunds"][FEB17] == 58
    assert tracking_rows(google, "Solar US")["Refunds reported (cash view)"][MAR16] == 2.5
    assert google.table(google.acme, "Returns")[0]["Credit"] == 27.5
    assert google.run("2024-03-11T11:00").changes == []


def test_a_google_audit_log_begun_before_the_new_columns_gains_their_headers(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    rows = len(google.server.values(google.tracking, "Audit log"))
    google.server.edit(google.tracking, f"'Audit log'!I1:J{rows}", [["", ""]] * rows)  # as an older release wrote it
    google.run("2024-03-04T10:00")
    audit = google.server.values(google.tracking, "Audit log")
    assert audit[0][8:] == ["Credit type", "Entry"]
    assert all(len(row) <= 8 for row in audit[1:rows])  # the old rows stay blank there


def test_each_google_client_spreadsheet_gets_its_own_read_only_credits_tab(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    acme = google.table(google.acme, "Credits")
    assert [(line["Lead ID"], line["Type"], line["Amount"], line["Why"]) for line in acme] == [
        ("000101", "wallet", 25, "approved"), ("000102", "wallet", 30.5, "approved"),
        ("", "total", 55.5, "Total March 2024: money credited")]
    assert all(line["Lead ID"] not in ("000201", "000202") for line in acme)  # Zenith's are Zenith's
    assert [line["Lead ID"] for line in google.table(google.zenith, "Credits")] == ["000202", ""]
    assert google.server.sheet_resource(google.acme, "Credits")["protectedRanges"]
    assert google.run("2024-03-03T11:00").changes == []


def test_a_closed_week_on_google_keeps_its_figures_and_shows_late_money_after_close(google: GoogleWorkspace) -> None:
    google.run("2024-03-03T10:00")
    before = tracking_rows(google, "Solar US")
    close_through(load_config(google.root / "config.yaml"), date(2024, 3, 2),
                  now=datetime(2024, 3, 4, 9, tzinfo=ZoneInfo("America/New_York")))
    google.server.edit(google.zenith, "Returns!A3:C3", [["", "disconnected", "000201"]])  # Zenith's late return
    report = google.run("2024-03-04T10:00")
    assert [(entry.lead_id, entry.status) for entry in report.new_entries] == [("000201", "Approved")]
    home = tracking_rows(google, "Home-Garden UK")
    assert home["Refunds after close"][date(2024, 2, 24)] == 12.35
    assert home["Refunds reported (cash view)"][MAR9] == 12.35 + 12.35
    assert tracking_rows(google, "Solar US")["Refunds"] == before["Refunds"]
    assert google.run("2024-03-04T11:00").changes == []
