"""Operator review (SPEC §2.4): the Review tab of the tracking workbook, reviews and goodwill."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from conftest import Workspace, read_xlsx
from openpyxl import load_workbook
from test_returns_engine import AS_OF, THIS_WEEK, edit_cells, files_on_disk, ledger_rows, money

REVIEW_HEADER = ["Client", "Lead ID", "Reason", "Requested", "Why", "Decision", "Decided", "Delivered", "Price"]
NEXT_WEEK = date(2024, 3, 10)


def review_tab(ws: Workspace) -> list[dict[str, Any]]:
    rows = read_xlsx(ws.root / "tracking.xlsx", "Review")
    assert rows[0] == REVIEW_HEADER
    return [dict(zip(REVIEW_HEADER, row)) for row in rows[1:]]


def decide_on_review(ws: Workspace, lead_id: str, decision: str) -> None:
    """The operator types a decision on the Review row of ``lead_id``."""
    row = next(number for number, line in enumerate(review_tab(ws), start=2) if line["Lead ID"] == lead_id)
    edit_cells(ws.root / "tracking.xlsx", "Review", {f"F{row}": decision})


def approved_on_review(ws: Workspace, lead_id: str) -> None:
    """Acme asked on Feb 20 for ``lead_id`` (25.00, delivered Feb 14) with a reason nobody
    maps; the operator approved it on the Review tab, and a run booked it."""
    ws.lead(lead_id, "2024-02-14 10:00", "Acme", "25.00")
    ws.client("Acme", [[lead_id, "he hung up"]])
    ws.run(as_of="2024-02-20T10:00")
    decide_on_review(ws, lead_id, "Approve")
    ws.run(as_of="2024-02-20T11:00")


def type_review_row(ws: Workspace, client: str, lead_id: Any, decision: str) -> None:
    """The operator types a row of their own at the bottom of the Review tab."""
    row = len(read_xlsx(ws.root / "tracking.xlsx", "Review")) + 1
    edit_cells(ws.root / "tracking.xlsx", "Review", {f"A{row}": client, f"B{row}": lead_id, f"F{row}": decision})


@pytest.fixture
def waiting(workspace: Workspace) -> Workspace:
    """Acme asked for three leads on March 3: one approved, one waiting for review, one too late."""
    workspace.lead("A1", "2024-03-01 10:00", "Acme", "10.00")
    workspace.lead("A2", "2024-02-27 10:00", "Acme", "22.22")
    workspace.lead("A3", "2024-02-01 10:00", "Acme", "33.33")
    workspace.lead("Z1", "2024-03-01 10:00", "Zenith", "44.44")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "he hung up on us"], ["A3", "wrong number"]])
    workspace.client("Zenith", [])
    workspace.run(as_of=AS_OF)
    return workspace


def test_requests_that_need_a_person_are_listed_on_the_review_tab_of_the_operators_workbook(
        waiting: Workspace) -> None:
    assert review_tab(waiting) == [{
        "Client": "Acme", "Lead ID": "A2", "Reason": "he hung up on us", "Requested": datetime(2024, 3, 3, 10, 0),
        "Why": "We do not recognise the reason 'he hung up on us'; a person will review it.",
        "Decision": None, "Decided": None, "Delivered": datetime(2024, 2, 27, 10, 0), "Price": 22.22}]
    assert "Review" not in load_workbook(waiting.returns_path("Acme")).sheetnames  # never the client's
    assert load_workbook(waiting.returns_path("Zenith")).sheetnames == ["Returns"]
    assert waiting.returns("Acme")[1]["Status"] == "Needs review"


def test_approve_on_review_credits_restates_the_leads_week_and_answers_the_client(waiting: Workspace) -> None:
    before = waiting.tracking("Solar US")
    decide_on_review(waiting, "A2", "Approve")
    report = waiting.run(as_of="2024-03-05T09:15")

    row = waiting.returns("Acme")[1]
    assert (row["Status"], money(row["Credit"]), row["Week restated"]) == \
        ("Approved", Decimal("22.22"), datetime(2024, 3, 3))
    assert row["Detail"] == "Approved on review by the operator on 2024-03-05."
    after = waiting.tracking("Solar US")
    assert after["Refunded leads"][THIS_WEEK] == before["Refunded leads"][THIS_WEEK] + 1 == 2
    assert money(after["Refunds"][THIS_WEEK]) == Decimal("32.22")
    assert money(after["Refunds reported (cash view)"][NEXT_WEEK]) == Decimal("22.22")
    assert money(after["Refunds reported (cash view)"][THIS_WEEK]) == Decimal("10.00")
    line, = review_tab(waiting)
    assert (line["Decision"], line["Decided"], line["Why"]) == \
        ("Approve", datetime(2024, 3, 5, 9, 15), "Approved on review by the operator on 2024-03-05.")
    entries = ledger_rows(waiting)
    assert [(e["lead_id"], e["kind"], e["status"], e["credit_cents"]) for e in entries] == [
        ("A1", "decision", "Approved", 1000), ("A2", "decision", "Needs review", 0),
        ("A3", "decision", "Rejected", 0), ("A2", "review", "Approved", 2222)]
    assert [(e.lead_id, e.status) for e in report.new_entries] == [("A2", "Approved")]

    again = waiting.run(as_of="2024-03-06T09:00")
    assert again.new_entries == [] and again.changes == []


def test_reject_on_review_rejects_the_request(waiting: Workspace) -> None:
    decide_on_review(waiting, "A2", "reject")
    waiting.run(as_of="2024-03-05T09:15")
    row = waiting.returns("Acme")[1]
    assert (row["Status"], row["Detail"], row["Credit"]) == \
        ("Rejected", "Rejected on review by the operator on 2024-03-05.", None)
    assert waiting.tracking("Solar US")["Refunded leads"][THIS_WEEK] == 1
    assert review_tab(waiting)[0]["Decided"] == datetime(2024, 3, 5, 9, 15)


def test_a_rejection_the_operator_turns_into_approve_is_a_goodwill_credit_beside_it(waiting: Workspace) -> None:
    decide_on_review(waiting, "A2", "Reject")
    waiting.run(as_of="2024-03-05T09:15")
    decide_on_review(waiting, "A2", "Approve")
    waiting.run(as_of="2024-03-06T09:15")
    assert [(e["kind"], e["status"]) for e in ledger_rows(waiting) if e["lead_id"] == "A2"] == \
        [("decision", "Needs review"), ("review", "Rejected"), ("override", "Approved")]
    row = waiting.returns("Acme")[1]
    assert row["Status"] == "Approved" and money(row["Credit"]) == Decimal("22.22")


def test_an_approval_the_operator_turns_into_reject_is_reversed_by_a_new_entry(waiting: Workspace) -> None:
    """SPEC §2.4 and §3.1: the refund leaves the sale's week, the cash view books -credit in
    the week of the reversal, the client's row reads Rejected and says when."""
    decide_on_review(waiting, "A2", "Approve")
    waiting.run(as_of="2024-03-05T09:15")
    decide_on_review(waiting, "A2", "Reject")
    report = waiting.run(as_of="2024-03-12T09:15")
    assert [(entry.kind, entry.credit) for entry in report.new_entries] == [("reversal", Decimal("-22.22"))]
    row = waiting.returns("Acme")[1]
    assert row["Status"] == "Rejected" and row["Credit"] is None
    assert "reversed by the operator on 2024-03-12" in row["Detail"]
    tab = waiting.tracking("Solar US")
    assert tab["Refunded leads"][THIS_WEEK] == 1 and money(tab["Refunds"][THIS_WEEK]) == Decimal("10.00")
    assert money(tab["Refunds reported (cash view)"][date(2024, 3, 17)]) == Decimal("-22.22")
    assert [(row["kind"], row["status"]) for row in ledger_rows(waiting) if row["kind"] != "decision"] == \
        [("review", "Approved"), ("reversal", "Rejected")]
    again = waiting.run(as_of="2024-03-12T10:15")
    assert again.new_entries == [] and again.changes == []


def test_a_request_over_the_cap_is_credited_when_the_operator_approves_it(workspace: Workspace) -> None:
    workspace.policy.update(max_return_rate=0.25)
    for number in range(1, 5):
        workspace.lead(f"A{number}", f"2024-03-0{number} 09:00", "Acme", "5.00")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "wrong number"]])
    workspace.run(as_of="2024-03-04T10:00")
    assert review_tab(workspace)[0]["Why"].startswith("Approving would bring the 30-day return rate to 50.0%")
    decide_on_review(workspace, "A2", "Approved")
    workspace.run(as_of="2024-03-04T11:00")
    assert [row["Status"] for row in workspace.returns("Acme")] == ["Approved", "Approved"]
    assert workspace.tracking("Solar US")["Refunded leads"][THIS_WEEK] == 2


def test_an_operator_row_grants_a_goodwill_credit_the_policy_had_refused(waiting: Workspace) -> None:
    type_review_row(waiting, "acme", "A3", "Approve")
    waiting.run(as_of="2024-03-05T09:15")

    row = waiting.returns("Acme")[2]
    assert (row["Status"], money(row["Credit"]), row["Week restated"]) == \
        ("Approved", Decimal("33.33"), datetime(2024, 2, 4))
    assert row["Detail"] == ("Approved by the operator as a goodwill credit on 2024-03-05 (the policy had said: "
                             "Outside the 7-day return window: delivered 2024-02-01, reported 2024-03-03.)")
    a3 = [(e["kind"], e["status"], e["rule"], e["credit_cents"]) for e in ledger_rows(waiting) if e["lead_id"] == "A3"]
    assert a3 == [("decision", "Rejected", "window", 0), ("override", "Approved", "operator_override", 3333)]
    tab = waiting.tracking("Solar US")
    assert (tab["Refunded leads"][date(2024, 2, 4)], money(tab["Refunds"][date(2024, 2, 4)])) == (1, Decimal("33.33"))
    assert money(tab["Refunds reported (cash view)"][NEXT_WEEK]) == Decimal("33.33")
    line = review_tab(waiting)[1]
    assert (line["Client"], line["Lead ID"], line["Decision"], line["Decided"]) == \
        ("acme", "A3", "Approve", datetime(2024, 3, 5, 9, 15))
    assert line["Why"].startswith("Approved by the operator as a goodwill credit on 2024-03-05")


def test_a_goodwill_credit_for_a_lead_the_client_never_asked_about(waiting: Workspace) -> None:
    waiting.lead("A4", "2024-01-15 10:00", "Acme", "4.44")
    waiting.write()
    type_review_row(waiting, "Acme", "A4", "Approve")
    waiting.run(as_of="2024-03-05T09:15")
    a4 = [(e["kind"], e["status"], e["credit_cents"]) for e in ledger_rows(waiting) if e["lead_id"] == "A4"]
    assert a4 == [("override", "Approved", 444)]
    assert money(waiting.tracking("Solar US")["Refunds"][date(2024, 1, 21)]) == Decimal("4.44")
    waiting.paste("Acme", [["A4", "wrong number"]])
    waiting.run(as_of="2024-03-06T09:15")
    row = waiting.returns("Acme")[3]
    assert row["Status"] == "Approved" and money(row["Credit"]) == Decimal("4.44")
    assert len([e for e in ledger_rows(waiting) if e["lead_id"] == "A4"]) == 1


def test_no_lead_is_ever_credited_twice(waiting: Workspace) -> None:
    type_review_row(waiting, "Acme", "A1", "Approve")            # already approved by the policy
    type_review_row(waiting, "Acme", "A3", "Approve")
    type_review_row(waiting, "Acme", "a3", "Approve")            # the same goodwill typed twice
    waiting.run(as_of="2024-03-05T09:15")
    type_review_row(waiting, "Acme", "A3", "Approve")            # and again a run later
    report = waiting.run(as_of="2024-03-06T09:15")
    assert report.new_entries == []
    approved = [(e["lead_id"], e["kind"]) for e in ledger_rows(waiting) if e["status"] == "Approved"]
    assert approved == [("A1", "decision"), ("A3", "override")]
    lines = review_tab(waiting)
    assert lines[1]["Why"].startswith("Already approved (policy) on 2024-03-03; no further credit.")
    tab = waiting.tracking("Solar US")
    assert sum(tab["Refunded leads"].values()) == 2
    assert sum(money(value) for value in tab["Refunds reported (cash view)"].values()) == Decimal("43.33")


def test_the_ledger_itself_refuses_a_second_approved_entry_for_a_lead(waiting: Workspace) -> None:
    path = waiting.root / "ledger.sqlite"
    with closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(entries)") if row[1] != "seq"]
        first = db.execute(f"SELECT {', '.join(columns)} FROM entries WHERE lead_id = 'A1'").fetchone()
        second = dict(zip(columns, first)) | {"kind": "override"}
        with pytest.raises(sqlite3.IntegrityError, match="between 0 and its price"):
            db.execute(f"INSERT INTO entries ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       list(second.values()))
        with pytest.raises(sqlite3.IntegrityError, match="one live decision"):
            db.execute(f"INSERT INTO entries ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       list((dict(zip(columns, first)) | {"status": "Rejected", "credit_cents": 0}).values()))
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            db.execute(f"INSERT INTO entries ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       list((dict(zip(columns, first)) | {"lead_id": "A9", "status": "Rejected"}).values()))
    assert len(ledger_rows(waiting)) == 3


def test_an_operator_row_naming_another_clients_lead_credits_nothing(waiting: Workspace) -> None:
    type_review_row(waiting, "Acme", "Z1", "Approve")
    type_review_row(waiting, "Nobody Inc", "A1", "Approve")
    report = waiting.run(as_of="2024-03-05T09:15")
    assert report.new_entries == []
    lines = review_tab(waiting)
    assert lines[1]["Why"] == "No lead 'Z1' was delivered to Acme."
    assert lines[2]["Why"] == "No client named 'Nobody Inc' in the config."


def test_an_operator_row_without_approve_explains_what_to_type(waiting: Workspace) -> None:
    type_review_row(waiting, "Acme", "A3", "Reject")
    type_review_row(waiting, "Acme", "A1", "")
    type_review_row(waiting, "Zenith", "Z1", "maybe")
    waiting.run(as_of="2024-03-05T09:15")
    lines = review_tab(waiting)
    assert lines[1]["Why"] == "Nothing to reject: only requests waiting for review can be rejected here."
    assert lines[2]["Why"] == "Already approved (policy) on 2024-03-03; no further credit."
    assert lines[3]["Why"] == "Type Approve in Decision to grant this return as a goodwill credit."
    assert lines[3]["Decided"] is None
    assert [(e["lead_id"], e["status"]) for e in ledger_rows(waiting)] == \
        [("A1", "Approved"), ("A2", "Needs review"), ("A3", "Rejected")]


def test_a_client_can_never_approve_its_own_request(waiting: Workspace) -> None:
    path = waiting.returns_path("Acme")
    edit_cells(path, "Returns", {"D3": "Approved", "I1": "Decision", "I3": "Approve"})
    edit_cells(path, "Review", {"A1": "Client", "B1": "Lead ID", "F1": "Decision",
                                "A2": "Acme", "B2": "A2", "F2": "Approve",
                                "A3": "Acme", "B3": "A3", "F3": "Approve"})
    report = waiting.run(as_of="2024-03-05T09:15")
    assert report.new_entries == []
    assert [row["Status"] for row in waiting.returns("Acme")] == ["Approved", "Needs review", "Rejected"]
    assert review_tab(waiting)[0]["Decision"] is None


def test_the_review_tab_keeps_the_operators_rows_and_columns_across_runs(waiting: Workspace) -> None:
    edit_cells(waiting.root / "tracking.xlsx", "Review", {"J1": "Operator note", "J2": "ask Bob"})
    waiting.lead("A5", "2024-03-02 10:00", "Acme")
    waiting.write()
    waiting.paste("Acme", [["A5", "no idea"]])
    waiting.run(as_of="2024-03-04T09:00")
    rows = read_xlsx(waiting.root / "tracking.xlsx", "Review")
    assert rows[0] == [*REVIEW_HEADER, "Operator note"]
    assert [row[:2] for row in rows[1:]] == [["Acme", "A2"], ["Acme", "A5"]]
    assert rows[1][9] == "ask Bob"
    before = files_on_disk(waiting.root)
    assert waiting.run(as_of="2024-03-04T10:00").changes == []
    assert files_on_disk(waiting.root) == before


def test_a_review_tab_without_a_decision_column_fails_that_source_and_the_rest_still_syncs(
        waiting: Workspace) -> None:
    edit_cells(waiting.root / "tracking.xlsx", "Review", {"F1": "Verdict"})
    waiting.paste("Acme", [["A1", "again"]])
    report = waiting.run(as_of="2024-03-04T09:00")
    assert report.exit_code == 1
    failure, = report.failures
    assert "Review" in failure.source and "'Decision'" in failure.message
    assert waiting.returns("Acme")[3]["Status"] == "Duplicate request"
    assert read_xlsx(waiting.root / "tracking.xlsx", "Review")[0][5] == "Verdict"


def test_review_lines_come_in_config_order_of_clients_then_row_order(workspace: Workspace) -> None:
    for lead, client in [("Z1", "Zenith"), ("Z2", "Zenith"), ("A1", "Acme")]:
        workspace.lead(lead, "2024-03-01 10:00", client)
    workspace.client("Zenith", [["Z2", "??"], ["Z1", "??"]])
    workspace.client("Acme", [["A1", "??"]])
    workspace.run(as_of=AS_OF)
    assert [(line["Client"], line["Lead ID"]) for line in review_tab(workspace)] == \
        [("Zenith", "Z2"), ("Zenith", "Z1"), ("Acme", "A1")]


def test_deleted_review_rows_come_back_while_the_request_waits(waiting: Workspace) -> None:
    book = load_workbook(waiting.root / "tracking.xlsx")
    book["Review"].delete_rows(2)
    book.save(waiting.root / "tracking.xlsx")
    waiting.run(as_of="2024-03-04T09:00")
    assert [line["Lead ID"] for line in review_tab(waiting)] == ["A2"]


def test_every_run_says_how_many_wait_and_a_word_other_than_approve_or_reject_is_reported(
        waiting: Workspace) -> None:
    assert waiting.run(as_of="2024-03-03T11:00").waiting_for_review == 1
    decide_on_review(waiting, "A2", "yes")
    report = waiting.run(as_of="2024-03-03T12:00")
    assert report.new_entries == [] and report.waiting_for_review == 1
    assert [str(problem) for problem in report.problems] == \
        ["tracking tab Review row 2: Decision 'yes' is neither Approve nor Reject; the row still waits"]
    assert report.as_json()["waiting_for_review"] == 1
    decide_on_review(waiting, "A2", "Approve")
    assert waiting.run(as_of="2024-03-03T13:00").waiting_for_review == 0


def test_the_review_tab_offers_approve_and_reject_in_decision(waiting: Workspace) -> None:
    validations = load_workbook(waiting.root / "tracking.xlsx")["Review"].data_validations.dataValidation
    assert any(rule.formula1 == '"Approve,Reject"' and "F2" in str(rule.sqref) for rule in validations)
