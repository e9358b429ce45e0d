"""The returns engine end to end (SPEC §2.2–§4): real .xlsx files, a real SQLite ledger.

Every test reads what a person would see -- the client's returns tab, the operator's
tracking workbook, audit.csv, the ledger file -- never the engine's internals.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import Workspace, read_xlsx
from openpyxl import load_workbook

from sheets_sync import load_config, run_sync
from sheets_sync.core.cells import CellWrite
from sheets_sync.core.reasons import reason_label

AS_OF = "2024-03-03T10:00"  # a Sunday; weeks end on Sundays in the workspace fixture
THIS_WEEK = date(2024, 3, 3)
ENGINE_COLUMNS = ("Status", "Detail", "Credit", "Week restated", "First seen")


# -- helpers shared by the engine test files ---------------------------------------------------


def money(value: Any) -> Decimal | None:
    """A money cell as read back from a workbook, exactly."""
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def ledger_rows(ws: Workspace) -> list[dict[str, Any]]:
    """Every ledger entry, straight from the SQLite file."""
    with closing(sqlite3.connect(ws.root / "ledger.sqlite")) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM entries ORDER BY seq")]


def files_on_disk(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` (hidden ones included) with its bytes and mtime."""
    return {str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()}


def edit_cells(path: Path, tab: str, cells: dict[str, Any]) -> None:
    """A person typing into cells of a workbook (text stays text, as a spreadsheet keeps it)."""
    book = load_workbook(path)
    sheet = book[tab] if tab in book.sheetnames else book.create_sheet(tab)
    for ref, value in cells.items():
        sheet[ref] = value
        if isinstance(value, str):
            sheet[ref].data_type = "s"
    book.save(path)


def by_lead(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {row["Lead ID"]: row for row in rows if row["Lead ID"] is not None}


def client_cells(path: Path) -> list[list[Any]]:
    """Every cell of a client's returns tab, row by row."""
    return read_xlsx(path, "Returns")


# -- SPEC §3: every status -----------------------------------------------------------------------


def test_approved_request_shows_credit_week_first_seen_and_is_one_ledger_entry(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "12.34")
    workspace.client("Acme", [["A1", "wrong number"]])
    report = workspace.run(as_of=AS_OF)

    row, = workspace.returns("Acme")
    assert row["Status"] == "Approved"
    assert row["Detail"] == "Approved (Wrong number): $12.34 as wallet credit; lead delivered 2024-03-01."
    assert money(row["Credit"]) == Decimal("12.34")
    assert row["Week restated"] == datetime(2024, 3, 3)
    assert row["First seen"] == datetime(2024, 3, 3, 10, 0)
    entry, = ledger_rows(workspace)
    assert (entry["client"], entry["lead_id"], entry["kind"], entry["status"], entry["rule"], entry["credit_cents"],
            entry["delivered_at"], entry["vertical"], entry["country"], entry["price_cents"], entry["decided_at"]) == \
        ("Acme", "A1", "decision", "Approved", "policy", 1234, "2024-03-01T15:00:00+00:00", "Solar", "US", 1234,
         "2024-03-03T10:00:00-05:00")
    assert report.credits == Decimal("12.34") and report.exit_code == 0


def test_rejected_when_returns_are_disabled_for_the_client(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"]], policy={"returns_enabled": False})
    workspace.run(as_of=AS_OF)
    row, = workspace.returns("Acme")
    assert (row["Status"], row["Detail"], row["Credit"], row["Week restated"]) == \
        ("Rejected", "Returns are not enabled for this account.", None, None)
    assert [(e["status"], e["rule"], e["credit_cents"]) for e in ledger_rows(workspace)] == \
        [("Rejected", "returns_disabled", 0)]


def test_out_of_window_is_rejected_and_the_detail_names_window_delivery_and_report_dates(
        workspace: Workspace) -> None:
    workspace.lead("LATE", "2024-02-10 10:00", "Acme")
    workspace.lead("EDGE", "2024-02-25 23:30", "Acme")            # 7 local days before the report
    workspace.lead("UTC", "2024-02-25T04:30:00+00:00", "Acme")    # 2024-02-24 23:30 in New York: 8 days
    workspace.client("Acme", [["LATE", "wrong number"], ["EDGE", "wrong number"], ["UTC", "wrong number"]])
    workspace.run(as_of="2024-03-03T00:10")
    rows = by_lead(workspace.returns("Acme"))
    assert rows["LATE"]["Status"] == "Rejected"
    assert rows["LATE"]["Detail"] == "Outside the 7-day return window: delivered 2024-02-10, reported 2024-03-03."
    assert rows["EDGE"]["Status"] == "Approved"
    assert rows["UTC"]["Status"] == "Rejected"
    assert rows["UTC"]["Detail"] == "Outside the 7-day return window: delivered 2024-02-24, reported 2024-03-03."
    assert rows["LATE"]["Credit"] is None and rows["LATE"]["Week restated"] is None


def test_reason_that_is_an_outcome_not_a_defect_is_rejected(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "No answer"]])
    workspace.run(as_of=AS_OF)
    row, = workspace.returns("Acme")
    assert row["Status"] == "Rejected"
    assert row["Detail"] == ("No answer is not a returnable reason under your policy (the note on the Lead ID "
                             "header lists those that are).")
    assert ledger_rows(workspace)[0]["rule"] == "reason_not_returnable"


def test_missing_reason_is_rejected_when_required_and_approved_where_a_client_waives_it(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("Z1", "2024-03-01 10:00", "Zenith")
    workspace.client("Acme", [["A1", None]])
    workspace.client("Zenith", [["Z1", "  "]], policy={"require_reason": False})
    workspace.run(as_of=AS_OF)
    acme, = workspace.returns("Acme")
    zenith, = workspace.returns("Zenith")
    assert (acme["Status"], acme["Detail"]) == \
        ("Rejected", "A reason is required: write why the lead is bad in Reason.")
    assert zenith["Status"] == "Approved" and money(zenith["Credit"]) == Decimal("10.00")


def test_request_over_the_return_rate_cap_waits_for_review_with_the_numbers(workspace: Workspace) -> None:
    workspace.policy.update(max_return_rate=0.25)
    for number in range(1, 5):
        workspace.lead(f"A{number}", f"2024-03-0{number} 09:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "wrong number"]])
    workspace.run(as_of="2024-03-04T10:00")
    first, second = workspace.returns("Acme")
    assert first["Status"] == "Approved"
    assert second["Status"] == "Needs review"
    assert second["Detail"] == ("Approving would bring the 30-day return rate to 50.0% (2 of 4 leads), over the 25% "
                                "cap; an operator will review it.")
    assert second["Credit"] is None
    assert [e["status"] for e in ledger_rows(workspace)] == ["Approved", "Needs review"]


def test_reason_text_nobody_can_map_waits_for_review(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "the guy was rude"]])
    workspace.run(as_of=AS_OF)
    row, = workspace.returns("Acme")
    assert (row["Status"], row["Detail"]) == \
        ("Needs review", "We do not recognise the reason 'the guy was rude'; a person will review it.")
    assert ledger_rows(workspace)[0]["rule"] == "unknown_reason"


def test_a_late_request_is_rejected_whatever_its_reason_and_never_waits_for_review(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-02-01 10:00", "Acme")
    workspace.lead("A2", "2024-02-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "the guy was rude"], ["A2", None]])
    workspace.run(as_of=AS_OF)
    assert [(row["Status"], row["Detail"]) for row in workspace.returns("Acme")] == [
        ("Rejected", "Outside the 7-day return window: delivered 2024-02-01, reported 2024-03-03.")] * 2
    assert read_xlsx(workspace.root / "tracking.xlsx", "Review")[1:] == []


def test_the_same_lead_asked_again_on_another_row_is_a_duplicate_request(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "15.00")
    workspace.client("Acme", [["A1", "wrong number"], ["X9", "fake"], ["  a1 ", "fake"]])
    workspace.run(as_of=AS_OF)
    first, _, again = workspace.returns("Acme")
    assert first["Status"] == "Approved"
    assert (again["Status"], again["Detail"], again["Credit"]) == \
        ("Duplicate request", "Already requested on row 2.", None)
    assert len(ledger_rows(workspace)) == 1


def test_the_same_lead_twice_in_one_cell_is_credited_once(workspace: Workspace) -> None:
    workspace.lead("000123", "2024-03-01 10:00", "Acme", "7.00")
    workspace.client("Acme", [["000123; 123", "fake"]])
    workspace.run(as_of=AS_OF)
    row, = workspace.returns("Acme")
    assert row["Status"] == "Mixed"
    assert row["Detail"].startswith("000123: Approved (Fake info): $7.00")
    assert row["Detail"].endswith("| 123: Duplicate request - Already requested on row 2")
    assert money(row["Credit"]) == Decimal("7.00")
    assert [(e["lead_id"], e["status"]) for e in ledger_rows(workspace)] == [("000123", "Approved")]


def test_asking_again_in_a_later_run_is_a_duplicate_request_and_credits_nothing_more(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "15.00")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of=AS_OF)
    workspace.paste("Acme", [["A1", "still wrong"]])
    report = workspace.run(as_of="2024-03-05T10:00")
    first, again = workspace.returns("Acme")
    assert first["Status"] == "Approved" and money(first["Credit"]) == Decimal("15.00")
    assert (again["Status"], again["Detail"], again["Credit"]) == \
        ("Duplicate request", "Already requested on row 2.", None)
    assert report.new_entries == []
    assert len(ledger_rows(workspace)) == 1
    assert money(workspace.tracking("Solar US")["Refunds"][THIS_WEEK]) == Decimal("15.00")


def test_a_row_whose_ids_differ_in_outcome_is_mixed_with_each_outcome_and_the_sum_of_credits(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "12.34")
    workspace.lead("A2", "2024-02-10 10:00", "Acme", "20.00")
    workspace.lead("A3", "2024-02-25 10:00", "Acme", "5.55")
    workspace.client("Acme", [["A1, A2; A3\nZZZ", "wrong number"]])
    workspace.run(as_of=AS_OF)
    row, = workspace.returns("Acme")
    assert row["Status"] == "Mixed"
    assert money(row["Credit"]) == Decimal("17.89")
    assert row["Detail"].split(" | ") == [
        "A1: Approved (Wrong number): $12.34 as wallet credit; lead delivered 2024-03-01",
        "A2: Rejected - Outside the 7-day return window: delivered 2024-02-10, reported 2024-03-03",
        "A3: Approved (Wrong number): $5.55 as wallet credit; lead delivered 2024-02-25",
        "ZZZ: Unknown lead ID - No lead ZZZ was delivered to you",
    ]
    assert row["Week restated"] == "2024-02-25, 2024-03-03"
    assert [(e["lead_id"], e["status"]) for e in ledger_rows(workspace)] == \
        [("A1", "Approved"), ("A2", "Rejected"), ("A3", "Approved")]


def test_a_row_whose_ids_all_agree_shows_their_common_status(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "1.10")
    workspace.lead("A2", "2024-03-02 10:00", "Acme", "2.20")
    workspace.client("Acme", [["A1 A2", "fake"]])
    workspace.run(as_of=AS_OF)
    row, = workspace.returns("Acme")
    assert row["Status"] == "Approved" and money(row["Credit"]) == Decimal("3.30")
    assert row["Week restated"] == datetime(2024, 3, 3)


def test_another_clients_lead_gets_exactly_the_answer_of_a_lead_that_does_not_exist(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    for lead in ("Z-1001", "000777", "ZX-55", "Z-2001"):
        workspace.lead(lead, "2024-03-01 10:00", "Zenith", "99.00", vertical="Roofing")
    workspace.client("Acme", [
        ["A1", "fake"],
        ["Z-1001", "fake"], ["Z-1002", "fake"],      # Zenith's lead / nobody's
        [777, "fake"], [778, "fake"],                # Zenith's 000777 with its zeros lost / nobody's
        ["zx-55", "fake"], ["zx-56", "fake"],        # Zenith's in another letter case / nobody's
        ["Z-2001, A1", "fake"], ["Z-2002, A1", "fake"],
    ])
    workspace.client("Zenith", [])
    workspace.run(as_of=AS_OF)
    rows = workspace.returns("Acme")

    def shape(row: dict[str, Any], pasted: str) -> tuple:
        return (row["Status"], row["Detail"].replace(pasted, "<ID>"), row["Credit"], row["Week restated"],
                row["First seen"])

    for theirs, nobodys, their_text, nobody_text in [(rows[1], rows[2], "Z-1001", "Z-1002"),
                                                     (rows[3], rows[4], "777", "778"),
                                                     (rows[5], rows[6], "zx-55", "zx-56"),
                                                     (rows[7], rows[8], "Z-2001", "Z-2002")]:
        assert theirs["Status"] in ("Unknown lead ID", "Mixed")
        assert shape(theirs, their_text) == shape(nobodys, nobody_text)
    assert rows[1]["Detail"] == "No lead Z-1001 was delivered to you."
    assert rows[7]["Detail"] == ("Z-2001: Unknown lead ID - No lead Z-2001 was delivered to you | "
                                 "A1: Duplicate request - Already requested on row 2")
    assert [(e["client"], e["lead_id"]) for e in ledger_rows(workspace)] == [("Acme", "A1")]
    assert set(workspace.tracking("Roofing US")["Refunded leads"].values()) == {0}
    assert set(workspace.tracking("Roofing US")["Refunds reported (cash view)"].values()) == {0}


# -- SPEC §2.3: policy rules and overrides ----------------------------------------------------------


def test_client_overrides_merge_over_the_workspace_defaults(workspace: Workspace) -> None:
    workspace.policy.update(window_days=10, credit="invoice", returnable_reasons=["wrong_number", "fake_info"])
    workspace.lead("A1", "2024-02-27 10:00", "Acme")       # 5 days before the report
    workspace.lead("A2", "2024-02-27 10:00", "Acme")
    workspace.lead("Z1", "2024-02-27 10:00", "Zenith")
    workspace.lead("Z2", "2024-02-22 10:00", "Zenith")     # 10 days before the report
    workspace.lead("Z3", "2024-02-27 10:00", "Zenith")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "fake"]], policy={"window_days": 3})
    workspace.client("Zenith", [["Z1", "wrong number"], ["Z2", "wrong number"], ["Z3", "disconnected"]],
                     policy={"credit": "replacement", "returnable_reasons": ["wrong_number", "disconnected"]})
    workspace.run(as_of=AS_OF)
    acme = by_lead(workspace.returns("Acme"))
    zenith = by_lead(workspace.returns("Zenith"))
    assert acme["A1"]["Detail"] == "Outside the 3-day return window: delivered 2024-02-27, reported 2024-03-03."
    assert acme["A2"]["Status"] == "Rejected"
    assert zenith["Z1"]["Detail"] == \
        "Approved (Wrong number): $10.00 as a replacement lead; lead delivered 2024-02-27."
    assert zenith["Z2"]["Status"] == "Approved"       # the workspace's 10 days, not the built-in 7
    assert zenith["Z3"]["Status"] == "Approved"       # Zenith's own returnable reasons
    assert {(e["client"], e["credit_type"]) for e in ledger_rows(workspace)} == {("Acme", "invoice"),
                                                                                ("Zenith", "replacement")}


def test_a_client_overriding_one_key_keeps_every_other_default(workspace: Workspace) -> None:
    workspace.policy.update(credit="invoice", require_reason=False)
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-02-20 10:00", "Acme")
    workspace.client("Acme", [["A1", None], ["A2", "fake"]], policy={"window_days": 3})
    workspace.run(as_of=AS_OF)
    a1, a2 = workspace.returns("Acme")
    assert a1["Detail"] == "Approved: $10.00 as invoice credit; lead delivered 2024-03-01."
    assert a2["Detail"].startswith("Outside the 3-day return window")


def test_a_client_with_its_own_cap_is_held_to_it(workspace: Workspace) -> None:
    for lead, client in [("A1", "Acme"), ("A2", "Acme"), ("Z1", "Zenith"), ("Z2", "Zenith")]:
        workspace.lead(lead, "2024-03-01 10:00", client)
    workspace.client("Acme", [["A1", "fake"], ["A2", "fake"]])
    workspace.client("Zenith", [["Z1", "fake"], ["Z2", "fake"]],
                     policy={"max_return_rate": 0.5, "cap_window_days": 10})
    workspace.run(as_of=AS_OF)
    assert [row["Status"] for row in workspace.returns("Acme")] == ["Approved", "Approved"]
    assert [row["Status"] for row in workspace.returns("Zenith")] == ["Approved", "Needs review"]
    assert workspace.returns("Zenith")[1]["Detail"] == (
        "Approving would bring the 10-day return rate to 100.0% (2 of 2 leads), over the 50% cap; "
        "an operator will review it.")


@pytest.mark.parametrize(("reason", "code"), [
    ("Wrong #", "wrong_number"), ("bad phone", "wrong_number"), ("  WRONG   number. ", "wrong_number"),
    ("Disconnected line", "disconnected"), ("dupe", "duplicate"), ("API broken", "fake_info"),
    ("api_broken!", "fake_info"), ("robot", "no_consent"),
])
def test_reason_text_maps_to_a_code_through_built_in_and_configured_aliases(
        workspace: Workspace, reason: str, code: str) -> None:
    workspace.policy.update(reason_aliases={"api broken": "fake_info"})
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", reason]], policy={"reason_aliases": {"Robot": "no_consent"}})
    workspace.run(as_of=AS_OF)
    row, = workspace.returns("Acme")
    assert row["Status"] == "Approved"
    assert row["Detail"].startswith(f"Approved ({reason_label(code)}): ")


def test_a_configured_alias_of_another_client_means_nothing_here(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("Z1", "2024-03-01 10:00", "Zenith")
    workspace.client("Acme", [["A1", "robot"]], policy={"reason_aliases": {"robot": "no_consent"}})
    workspace.client("Zenith", [["Z1", "robot"]])
    workspace.run(as_of=AS_OF)
    assert workspace.returns("Acme")[0]["Status"] == "Approved"
    assert workspace.returns("Zenith")[0]["Status"] == "Needs review"


@pytest.mark.parametrize("order", [["A1", "A2", "A3"], ["A3", "A1", "A2"]])
def test_the_cap_counts_approvals_made_earlier_in_the_same_run_in_row_order(
        workspace: Workspace, order: list[str]) -> None:
    workspace.policy.update(max_return_rate=0.5)
    for number in range(1, 5):
        workspace.lead(f"A{number}", f"2024-03-0{number} 09:00", "Acme")
    workspace.client("Acme", [[lead, "wrong number"] for lead in order])
    workspace.run(as_of="2024-03-04T10:00")
    assert [row["Status"] for row in workspace.returns("Acme")] == ["Approved", "Approved", "Needs review"]
    assert [(e["lead_id"], e["status"]) for e in ledger_rows(workspace)] == \
        list(zip(order, ["Approved", "Approved", "Needs review"]))


def test_the_cap_counts_approvals_of_earlier_runs(workspace: Workspace) -> None:
    workspace.policy.update(max_return_rate=0.25)
    for number in range(1, 5):
        workspace.lead(f"A{number}", f"2024-03-0{number} 09:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of="2024-03-04T10:00")
    workspace.paste("Acme", [["A2", "wrong number"]])
    workspace.run(as_of="2024-03-05T10:00")
    assert [row["Status"] for row in workspace.returns("Acme")] == ["Approved", "Needs review"]


def test_the_cap_only_counts_the_trailing_window_and_the_clients_own_leads(workspace: Workspace) -> None:
    workspace.policy.update(max_return_rate=0.5, cap_window_days=7, window_days=30)
    workspace.lead("OLD1", "2024-02-20 09:00", "Acme")    # outside the trailing 7 days on 2024-03-04
    workspace.lead("OLD2", "2024-02-21 09:00", "Acme")
    workspace.lead("A1", "2024-03-01 09:00", "Acme")
    workspace.lead("A2", "2024-03-02 09:00", "Acme")
    for number in range(10):
        workspace.lead(f"Z{number}", "2024-03-02 09:00", "Zenith")
    workspace.client("Acme", [["OLD1", "fake"], ["A1", "fake"], ["A2", "fake"]])
    workspace.client("Zenith", [])
    workspace.run(as_of="2024-03-04T10:00")
    # OLD1 alone: 1 of 3 (A1, A2 and OLD1 itself); A1: 1 of 2 in the window; A2: 2 of 2, over 50 %.
    assert [row["Status"] for row in workspace.returns("Acme")] == ["Approved", "Approved", "Needs review"]


@pytest.mark.parametrize(("cap", "leads", "asked", "approved"), [
    (0.1, 10, 2, 1), (0.07, 100, 8, 7), (0.14, 50, 8, 7), (0.3, 10, 4, 3),
])
def test_a_return_rate_exactly_at_the_cap_is_not_over_it(workspace: Workspace, cap: float, leads: int,
                                                          asked: int, approved: int) -> None:
    workspace.policy.update(max_return_rate=cap)
    for number in range(leads):
        workspace.lead(f"A{number:03d}", "2024-03-01 09:00", "Acme")
    workspace.client("Acme", [[f"A{number:03d}", "fake"] for number in range(asked)])
    workspace.run(as_of=AS_OF)
    statuses = [row["Status"] for row in workspace.returns("Acme")]
    assert statuses == ["Approved"] * approved + ["Needs review"] * (asked - approved)


def test_requests_are_decided_in_config_order_of_clients_then_row_order(workspace: Workspace) -> None:
    for lead, client in [("Z1", "Zenith"), ("Z2", "Zenith"), ("A1", "Acme"), ("A2", "Acme")]:
        workspace.lead(lead, "2024-03-01 10:00", client)
    workspace.client("Zenith", [["Z2", "fake"], ["Z1", "fake"]])
    workspace.client("Acme", [["A2", "fake"], ["A1", "fake"]])
    workspace.run(as_of=AS_OF)
    assert [e["lead_id"] for e in ledger_rows(workspace)] == ["Z2", "Z1", "A2", "A1"]
    audit = (workspace.root / "audit.csv").read_text().splitlines()[1:]
    assert [line.split(",")[3] for line in audit] == ["Z2", "Z1", "A2", "A1"]


# -- SPEC §2.2: messy pastes ---------------------------------------------------------------------------


def test_messy_pastes_each_get_a_decision(workspace: Workspace) -> None:
    workspace.lead("ABC-77", "2024-03-01 10:00", "Acme", "1.00")
    workspace.lead("000123", "2024-03-01 10:00", "Acme", "2.00")
    workspace.lead("1234567890123456", "2024-03-01 10:00", "Acme", "4.00")
    workspace.lead("B1", "2024-03-01 10:00", "Acme", "8.00")
    workspace.lead("B2", "2024-03-01 10:00", "Acme", "16.00")
    workspace.lead("B3", "2024-03-01 10:00", "Acme", "32.00")
    workspace.client("Acme", [
        ["   abc-77  ", "wrong number"],
        [123, "wrong number"],
        ["1.23457E+15", "wrong number"],
        ["b1,b2;\nB3", "wrong number"],
        ["=HYPERLINK(\"x\")", "wrong number"],
        ["+B9", "wrong number"],
        ["-12", "wrong number"],
        ["@everyone", "=cmd|' /C calc'!A0"],
    ])
    report = workspace.run(as_of=AS_OF)
    assert report.exit_code == 0
    rows = workspace.returns("Acme")
    assert [row["Status"] for row in rows] == ["Approved"] * 4 + ["Unknown lead ID"] * 4
    assert [money(row["Credit"]) for row in rows[:4]] == [Decimal("1.00"), Decimal("2.00"), Decimal("4.00"),
                                                          Decimal("56.00")]
    assert rows[0]["Detail"].endswith("Read 'abc-77' as lead ABC-77.")
    assert rows[1]["Detail"].endswith("Read '123' as lead 000123.")
    assert rows[2]["Detail"].endswith("Read '1.23457E+15' as lead 1234567890123456.")
    assert rows[4]["Detail"] == 'No lead =HYPERLINK("x") was delivered to you.'
    assert rows[7]["Detail"] == "No lead @everyone was delivered to you."
    assert sorted(e["lead_id"] for e in ledger_rows(workspace)) == \
        ["000123", "1234567890123456", "ABC-77", "B1", "B2", "B3"]


def test_no_engine_cell_ever_becomes_a_formula_and_client_text_stays_text(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-03-01 10:00", "Acme")
    pastes = [["=A1", "=1+1"], ["+A1, =A2", "wrong number"], ["-A1; @A2", "@SUM(1)"], ["A2", "=2+2"]]
    path = workspace.client("Acme", pastes)
    workspace.run(as_of=AS_OF)
    sheet = load_workbook(path)["Returns"]
    formulas = [cell.coordinate for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]
    assert formulas == []
    assert [[sheet.cell(row, col).value for col in (1, 2)] for row in range(2, 6)] == pastes
    assert sheet["D5"].value == "Needs review"     # reason "=2+2" is text an operator must read
    review = load_workbook(workspace.root / "tracking.xlsx")["Review"]
    assert [cell.coordinate for row in review.iter_rows() for cell in row if cell.data_type == "f"] == []
    assert review["C2"].value == "=2+2"


# -- SPEC §2.2: layout of the returns tab ---------------------------------------------------------------


def test_engine_columns_are_found_by_header_wherever_the_client_moved_them(workspace: Workspace) -> None:
    header = ["Note", "  REASON ", "Client ref", "lead id", "status", "Detail"]
    path = workspace.client("Acme", [
        ["call back", "wrong number", "PO-1", "A1", "old status", None],
        [None, "fake", "PO-2", "A2", None, "old detail"],
    ], header=header)
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "3.00")
    workspace.lead("A2", "2024-02-01 10:00", "Acme", "4.00")
    workspace.run(as_of=AS_OF)
    grid = client_cells(path)
    assert grid[0] == [*header, "Credit", "Week restated", "First seen"]
    assert [row[:4] for row in grid[1:]] == [["call back", "wrong number", "PO-1", "A1"],
                                            [None, "fake", "PO-2", "A2"]]
    assert [row[4] for row in grid[1:]] == ["Approved", "Rejected"]
    assert grid[1][5].startswith("Approved (Wrong number)") and grid[2][5].startswith("Outside the 7-day")
    assert money(grid[1][6]) == Decimal("3.00") and grid[2][6] is None


def test_missing_engine_columns_go_right_of_every_column_the_client_uses(workspace: Workspace) -> None:
    """A column with no header but with the client's notes in it is still the client's."""
    path = workspace.client("Acme", [["A1", "wrong number", "my note", None, "call Bob"]],
                            header=["Lead ID", "Reason"])
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.run(as_of=AS_OF)
    grid = client_cells(path)
    assert grid[1][:5] == ["A1", "wrong number", "my note", None, "call Bob"]
    assert grid[0][5:] == list(ENGINE_COLUMNS)
    assert grid[1][5] == "Approved"


def test_blank_rows_are_skipped_and_rows_are_never_reordered_or_deleted(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-03-01 10:00", "Acme")
    pasted = [["A2", "fake", "second"], [None, None, None], ["  ", "fake", "blank id"], ["A1", "fake", None],
              [None, None, "just a note"]]
    path = workspace.client("Acme", pasted)
    workspace.run(as_of=AS_OF)
    grid = client_cells(path)
    assert len(grid) == 6
    assert [row[:3] for row in grid[1:]] == pasted
    assert [row[3] for row in grid[1:]] == ["Approved", None, None, "Approved", None]
    assert all(cell is None for row in (grid[2], grid[3], grid[5]) for cell in row[3:])


def test_a_returns_tab_with_only_a_header_gets_engine_headers_and_no_rows(workspace: Workspace) -> None:
    path = workspace.client("Acme", [])
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    report = workspace.run(as_of=AS_OF)
    assert report.exit_code == 0
    assert client_cells(path) == [["Lead ID", "Reason", "Note", *ENGINE_COLUMNS]]


# -- SPEC §4.2: sheets are projections; tampering changes nothing ---------------------------------------------


def test_a_client_editing_its_engine_cells_gets_the_truth_written_back(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "12.34")
    workspace.lead("A2", "2024-02-01 10:00", "Acme", "50.00")
    path = workspace.client("Acme", [["A1", "wrong number"], ["A2", "wrong number"]])
    workspace.run(as_of=AS_OF)
    truth = client_cells(path)
    ledger_before = ledger_rows(workspace)
    tracking_before = files_on_disk(workspace.root)["tracking.xlsx"]
    audit_before = (workspace.root / "audit.csv").read_bytes()

    edit_cells(path, "Returns", {"D3": "Approved", "E3": "ok, approved by Bob", "F3": 50, "G3": "2024-02-04",
                                 "F2": 99999, "H2": datetime(2024, 2, 1, 9, 0), "H3": datetime(2024, 2, 2, 9, 0)})
    report = workspace.run(as_of="2024-03-04T10:00")

    assert client_cells(path) == truth
    assert sorted((write.row, write.col) for _, write in report.changes) == \
        [(2, 6), (2, 8), (3, 4), (3, 5), (3, 6), (3, 7), (3, 8)]
    assert report.new_entries == []
    assert ledger_rows(workspace) == ledger_before
    assert files_on_disk(workspace.root)["tracking.xlsx"] == tracking_before
    assert (workspace.root / "audit.csv").read_bytes() == audit_before


def test_a_client_typing_approve_in_its_own_workbook_approves_nothing(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-02-01 10:00", "Acme")
    path = workspace.client("Acme", [["A1", "the lead was rude"], ["A2", "wrong number"]])
    workspace.run(as_of=AS_OF)
    ledger_before = ledger_rows(workspace)
    edit_cells(path, "Returns", {"C2": "Approve", "D2": "Approve", "D3": "Approved", "I1": "Decision",
                                 "I2": "Approve", "I3": "Approve"})
    edit_cells(path, "Review", {"A1": "Client", "B1": "Lead ID", "F1": "Decision",
                                "A2": "Acme", "B2": "A1", "F2": "Approve", "A3": "Acme", "B3": "A2", "F3": "Approve"})
    report = workspace.run(as_of="2024-03-04T10:00")
    rows = workspace.returns("Acme")
    assert [row["Status"] for row in rows] == ["Needs review", "Rejected"]
    assert [row["Decision"] for row in rows] == ["Approve", "Approve"]      # the client's cells, untouched
    assert report.new_entries == [] and ledger_rows(workspace) == ledger_before
    assert read_xlsx(path, "Review")[1] == ["Acme", "A1", None, None, None, "Approve"]
    tracking_review = read_xlsx(workspace.root / "tracking.xlsx", "Review")
    assert tracking_review[1][:2] == ["Acme", "A1"] and tracking_review[1][5] is None


# -- SPEC §5: --dry-run writes nothing at all ------------------------------------------------------------------


def test_a_dry_run_on_a_fresh_workspace_writes_nothing_yet_reports_every_decision_and_cell(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "12.34")
    workspace.lead("A2", "2024-02-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "wrong number"]])
    workspace.write()
    before = files_on_disk(workspace.root)

    report = workspace.run(as_of=AS_OF, dry_run=True)

    assert files_on_disk(workspace.root) == before
    assert not (workspace.root / "ledger.sqlite").exists()
    assert [(e.lead_id, e.status, e.credit) for e in report.new_entries] == \
        [("A1", "Approved", Decimal("12.34")), ("A2", "Rejected", Decimal("0.00"))]
    changes = {(label, write.tab, write.row, write.col): write.value for label, write in report.changes}
    assert changes[("returns/acme.xlsx", "Returns", 2, 4)] == "Approved"
    assert changes[("returns/acme.xlsx", "Returns", 3, 4)] == "Rejected"
    assert changes[("returns/acme.xlsx", "Returns", 1, 8)] == "First seen"
    assert any(label == "tracking.xlsx" and write.tab == "Solar US" for label, write in report.changes)
    assert report.as_json()["cells_written"] == 0 and report.written == []


def test_a_dry_run_after_real_runs_writes_nothing_and_a_real_run_then_does_what_it_showed(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-03-01 10:00", "Acme")
    workspace.lead("A3", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "not sure"]])
    workspace.run(as_of=AS_OF)
    workspace.paste("Acme", [["A3", "fake"]])
    edit_cells(workspace.root / "tracking.xlsx", "Review", {"F2": "Approve"})
    before = files_on_disk(workspace.root)

    dry = workspace.run(as_of="2024-03-04T10:00", dry_run=True)

    assert files_on_disk(workspace.root) == before
    assert [(e.lead_id, e.kind, e.status) for e in dry.new_entries] == \
        [("A2", "review", "Approved"), ("A3", "decision", "Approved")]
    real = workspace.run(as_of="2024-03-04T10:00")
    assert [(e.lead_id, e.kind, e.status) for e in real.new_entries] == \
        [("A2", "review", "Approved"), ("A3", "decision", "Approved")]
    assert real.changes == dry.changes


# -- SPEC §5: --as-of stamps first-seen ---------------------------------------------------------------------------


def test_a_backfill_run_decides_by_its_as_of_date(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-02-01 10:00", "Acme", "9.99")
    workspace.lead("A2", "2024-01-20 10:00", "Acme", "5.00")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "wrong number"]])
    workspace.run(as_of="2024-02-05T08:30")
    a1, a2 = workspace.returns("Acme")
    assert a1["Status"] == "Approved" and a1["First seen"] == datetime(2024, 2, 5, 8, 30)
    assert a2["Detail"] == "Outside the 7-day return window: delivered 2024-01-20, reported 2024-02-05."
    tab = workspace.tracking("Solar US")
    assert money(tab["Refunds reported (cash view)"][date(2024, 2, 11)]) == Decimal("9.99")
    assert money(tab["Refunds"][date(2024, 2, 4)]) == Decimal("9.99")
    # A run "today" does not move the first-seen stamp, so nothing is decided again.
    again = workspace.run()
    assert again.new_entries == [] and again.changes == []


def test_a_request_reported_weeks_later_restates_only_its_own_week(workspace: Workspace) -> None:
    workspace.policy.update(window_days=30)
    weeks = [date(2024, 2, 4), date(2024, 2, 11), date(2024, 2, 18), date(2024, 2, 25)]
    for number, week in enumerate(weeks):
        for extra in range(3):
            workspace.lead(f"W{number}-{extra}", f"{week.replace(day=week.day - extra)} 09:00", "Acme",
                           f"{10 + number}.{extra}5", cost="1.10")
    workspace.client("Acme", [["W0-0", "fake"]])
    workspace.run(as_of="2024-02-25T10:00")  # after the last delivery: the log lists none still to come
    before = workspace.tracking("Solar US")

    workspace.paste("Acme", [["W1-2", "wrong number"]])          # a lead of the week ending Feb 11
    workspace.run(as_of="2024-02-25T12:00")
    after = workspace.tracking("Solar US")

    changed = {(label, week) for label in after for week in after[label]
               if before.get(label, {}).get(week) != after[label][week]}
    assert changed == {("Refunded leads", date(2024, 2, 11)), ("Refunds", date(2024, 2, 11)),
                       ("Refunds reported (cash view)", date(2024, 2, 25))}
    assert after["Refunded leads"][date(2024, 2, 11)] == 1
    assert money(after["Refunds"][date(2024, 2, 11)]) == Decimal("11.25")
    assert money(after["Refunds reported (cash view)"][date(2024, 2, 25)]) == Decimal("10.05") + Decimal("11.25")
    assert money(after["Refunds reported (cash view)"][date(2024, 2, 11)]) == Decimal("0.00")


@pytest.mark.parametrize("lead_id", ["AB-1", "4711"])
def test_a_request_pasted_before_the_lead_log_lists_the_lead_keeps_its_first_seen(
        workspace: Workspace, lead_id: str) -> None:
    workspace.lead("OTHER", "2024-02-28 10:00", "Acme")
    workspace.client("Acme", [[lead_id, "wrong number"]])
    workspace.run(as_of="2024-03-01T10:00")
    row, = workspace.returns("Acme")
    assert (row["Status"], row["First seen"]) == ("Unknown lead ID", datetime(2024, 3, 1, 10, 0))

    workspace.lead(lead_id, "2024-02-29 18:00", "Acme", "8.00")   # the log catches up weeks later
    workspace.write()
    workspace.run(as_of="2024-03-20T10:00")
    row, = workspace.returns("Acme")
    assert (row["Status"], row["First seen"]) == ("Approved", datetime(2024, 3, 1, 10, 0))
    assert ledger_rows(workspace)[0]["first_seen"] == "2024-03-01T10:00:00-05:00"


def test_a_second_run_changes_no_cell_and_no_file(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-02-01 10:00", "Acme")
    workspace.lead("Z1", "2024-03-01 10:00", "Zenith", vertical="Roofing", country="CA")
    workspace.client("Acme", [["A1, A2, nope", "wrong number"], ["a1", "fake"]])
    workspace.client("Zenith", [["Z1", "?"], [None, None], ["Z1", "fake"]])
    workspace.run(as_of=AS_OF)
    before = files_on_disk(workspace.root)
    again = workspace.run(as_of="2024-03-10T10:00")
    assert again.changes == [] and again.new_entries == [] and again.audit_rows_added == 0
    assert files_on_disk(workspace.root) == before


def test_a_run_at_a_time_the_clocks_skip_is_stamped_as_later_runs_show_it(workspace: Workspace) -> None:
    """02:00 on 2024-03-10 does not exist in New York (clocks jump to 03:00): the first-seen
    stamp is the moment it names, 03:00, so the next run finds nothing to rewrite."""
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of="2024-03-10T02:00")
    assert workspace.returns("Acme")[0]["First seen"] == datetime(2024, 3, 10, 3, 0)
    before = files_on_disk(workspace.root)
    again = workspace.run(as_of="2024-03-11T10:00")
    assert again.changes == [] and again.new_entries == []
    assert files_on_disk(workspace.root) == before


def test_an_as_of_in_another_timezone_is_shown_in_the_workspace_timezone(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "what"]])
    workspace.write()
    report = run_sync(load_config(workspace.config_path), as_of=datetime(2024, 3, 4, 3, 30, tzinfo=timezone.utc))
    assert report.run_id.startswith("20240303-223000-")
    a1, _ = workspace.returns("Acme")
    assert a1["First seen"] == datetime(2024, 3, 3, 22, 30)
    review = read_xlsx(workspace.root / "tracking.xlsx", "Review")
    assert review[1][3] == datetime(2024, 3, 3, 22, 30)
    audit = (workspace.root / "audit.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in audit[1:]] == ["2024-03-03 22:30"] * 2
    assert money(workspace.tracking("Solar US")["Refunds reported (cash view)"][THIS_WEEK]) == Decimal("10.00")


# -- SPEC §4.1: audit.csv -------------------------------------------------------------------------------------------


def audit_lines(ws: Workspace) -> list[str]:
    return (ws.root / "audit.csv").read_text(encoding="utf-8").splitlines()


def test_audit_csv_beside_the_tracking_workbook_has_one_row_per_ledger_entry_and_only_grows(
        workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "12.34")
    workspace.lead("A2", "2024-02-01 10:00", "Acme")
    workspace.lead("A3", "2024-03-02 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "wrong number"], ["A3", "hmm"]])
    workspace.run(as_of=AS_OF)
    first = audit_lines(workspace)
    assert first[0] == "Run,Time,Client,Lead ID,Status,Rule,Credit,Week restated,Credit type,Entry"
    run_id = ledger_rows(workspace)[0]["run_id"]
    assert first[1:] == [f"{run_id},2024-03-03 10:00,Acme,A1,Approved,policy,12.34,2024-03-03,wallet,decision",
                         f"{run_id},2024-03-03 10:00,Acme,A2,Rejected,window,,,,decision",
                         f"{run_id},2024-03-03 10:00,Acme,A3,Needs review,unknown_reason,,,,decision"]

    edit_cells(workspace.root / "tracking.xlsx", "Review", {"F2": "Reject"})
    workspace.paste("Acme", [["A1", "again"]])
    report = workspace.run(as_of="2024-03-04T09:00")
    second = audit_lines(workspace)
    assert second[: len(first)] == first
    assert len(second) - 1 == len(ledger_rows(workspace)) == 4
    assert second[-1].split(",")[1:] == ["2024-03-04 09:00", "Acme", "A3", "Rejected", "operator_review", "", "",
                                         "", "review"]
    assert report.audit_rows_added == 1
    assert not list((workspace.root / "returns").glob("*.csv"))


@pytest.mark.parametrize("damage", ["last_line", "last_two_lines", "mid_line", "all_but_header", "everything"])
def test_audit_csv_catches_up_after_a_run_that_died_after_the_ledger_commit(workspace: Workspace,
                                                                           damage: str) -> None:
    for number in range(1, 4):
        workspace.lead(f"A{number}", "2024-03-01 10:00", "Acme", f"{number}.50")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "fake"], ["A3", "dupe"]])
    workspace.run(as_of=AS_OF)
    path = workspace.root / "audit.csv"
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    cut = {"last_line": b"".join(lines[:-1]), "last_two_lines": b"".join(lines[:-2]),
           "mid_line": whole[: len(whole) - len(lines[-1]) // 2], "all_but_header": lines[0],
           "everything": b""}[damage]
    path.write_bytes(cut)

    report = workspace.run(as_of="2024-03-04T10:00")

    assert path.read_bytes() == whole
    assert report.new_entries == []
    assert report.audit_rows_added == {"last_line": 1, "last_two_lines": 2, "mid_line": 1, "all_but_header": 3,
                                       "everything": 3}[damage]


def test_an_audit_csv_that_cannot_be_written_fails_that_source_and_the_next_run_catches_up(
        workspace: Workspace) -> None:
    """Excel keeps a CSV it has open locked against writers; here audit.csv cannot be opened."""
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.write()
    (workspace.root / "audit.csv").mkdir()
    report = workspace.run(as_of=AS_OF)
    assert report.exit_code == 1
    failure, = report.failures
    assert "audit.csv" in failure.source
    assert workspace.returns("Acme")[0]["Status"] == "Approved"
    assert len(ledger_rows(workspace)) == 1

    (workspace.root / "audit.csv").rmdir()
    again = workspace.run(as_of="2024-03-04T10:00")
    assert again.exit_code == 0 and again.audit_rows_added == 1
    assert len(audit_lines(workspace)) == 2


@pytest.mark.slow
def test_a_ledger_locked_by_another_program_fails_the_run_in_one_sentence_and_writes_no_sheet(
        workspace: Workspace) -> None:
    """A database browser holding a write transaction open on the ledger (SQLite gives up after 5 s)."""
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.lead("A2", "2024-03-01 10:00", "Acme")
    path = workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of=AS_OF)
    workspace.paste("Acme", [["A2", "wrong number"]])
    before = files_on_disk(workspace.root)
    with closing(sqlite3.connect(workspace.root / "ledger.sqlite", isolation_level=None)) as browser:
        browser.execute("BEGIN IMMEDIATE")
        report = workspace.run(as_of="2024-03-04T10:00")
        browser.execute("ROLLBACK")
    assert report.exit_code == 1
    failure, = report.failures
    assert "database is locked" in failure.message and "nothing was recorded" in failure.message
    assert files_on_disk(workspace.root)["returns/acme.xlsx"] == before["returns/acme.xlsx"]
    assert len(ledger_rows(workspace)) == 1
    assert workspace.run(as_of="2024-03-04T11:00").exit_code == 0
    assert [row["Status"] for row in workspace.returns("Acme")] == ["Approved", "Approved"]
    assert client_cells(path)[2][0] == "A2"


def test_report_changes_name_the_workbook_and_cell(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", [["A1", "wrong number"]])
    report = workspace.run(as_of=AS_OF)
    assert ("returns/acme.xlsx", CellWrite("Returns", 2, 4, "Approved")) in report.changes


def test_cap_counts_only_leads_of_its_period(workspace: Workspace) -> None:
    """A lead from before the cap window adds no return to the window's rate (SPEC §2.3)."""
    workspace.policy.update(window_days=30, cap_window_days=7, max_return_rate=0.1)
    for number in range(5):
        workspace.lead(f"N{number}", "2024-03-01 10:00", "Acme")
    workspace.lead("OLD", "2024-02-14 10:00", "Acme")
    workspace.client("Acme", [["OLD", "wrong number"], ["N1", "wrong number"]])
    workspace.run(as_of="2024-03-05T10:00")
    rows = workspace.returns("Acme")
    assert rows[0]["Status"] == "Approved"
    assert rows[1]["Status"] == "Needs review"
    assert "(1 of 5 leads)" in rows[1]["Detail"]
