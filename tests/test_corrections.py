"""Corrections from the lead log that need more than moving a refund (SPEC §3.1): a price
corrected after a credit goes to Review, a sale re-filed under another client takes its
credit along, and an operator can still reverse a credit that a correction moved."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from decimal import Decimal

import pytest
from conftest import Workspace
from test_books import FEB18, FEB25, credited, rewrite_log  # noqa: F401 (the fixture)
from test_returns_engine import ledger_rows, money
from test_review import approved_on_review, decide_on_review, edit_cells, review_tab

__all__ = ["credited"]


def with_price(ws: Workspace, lead_id: str, price: str) -> None:
    rewrite_log(ws, [[*row[:5], Decimal(price) if row[0] == lead_id else row[5], *row[6:]] for row in ws.leads])


def price_row(ws: Workspace, lead_id: str) -> tuple[int, dict]:
    return next((number, line) for number, line in enumerate(review_tab(ws), start=2)
                if line["Lead ID"] == lead_id and line["Reason"].startswith("Price corrected to "))


def test_a_price_corrected_after_a_credit_waits_on_review_and_approve_books_the_difference(
        credited: Workspace) -> None:
    with_price(credited, "000001", "30.00")
    report = credited.run(as_of="2024-02-21T10:00")
    assert [(entry.kind, entry.status, entry.credit) for entry in report.new_entries] == \
        [("adjustment", "Needs review", Decimal("0"))]
    number, line = price_row(credited, "000001")
    assert "Price changed from 25.00 to 30.00 after a credit of 25.00" in line["Why"]
    assert money(credited.tracking("Solar US")["Refunds"][FEB18]) == Decimal("25.00")  # nothing moves by itself
    assert credited.run(as_of="2024-02-21T11:00").new_entries == []  # asked once
    edit_cells(credited.root / "tracking.xlsx", "Review", {f"F{number}": "Approve"})
    report = credited.run(as_of="2024-02-26T10:00")
    assert [(entry.kind, entry.credit) for entry in report.new_entries] == [("adjustment", Decimal("5.00"))]
    tab = credited.tracking("Solar US")
    assert money(tab["Refunds"][FEB18]) == Decimal("30.00") and tab["Refunded leads"][FEB18] == 1
    assert money(tab["Refunds reported (cash view)"][date(2024, 3, 3)]) == Decimal("5.00")
    row, = credited.returns("Acme")
    assert row["Status"] == "Approved" and money(row["Credit"]) == Decimal("30.00")
    assert "Credit changed by +5.00 to 30.00" in row["Detail"]
    assert "Credit changed by +5.00" in price_row(credited, "000001")[1]["Why"]
    assert credited.run(as_of="2024-02-26T11:00").new_entries == []
    assert sum(entry["credit_cents"] for entry in ledger_rows(credited)) == 3000


def test_a_price_that_fell_and_was_rejected_keeps_the_credit(credited: Workspace) -> None:
    with_price(credited, "000001", "20.00")
    credited.run(as_of="2024-02-21T10:00")
    number, line = price_row(credited, "000001")
    assert "Approve to credit the difference (-5.00)" in line["Why"]
    edit_cells(credited.root / "tracking.xlsx", "Review", {f"F{number}": "Reject"})
    report = credited.run(as_of="2024-02-21T11:00")
    assert [(entry.status, entry.credit) for entry in report.new_entries] == [("Adjusted", Decimal("0"))]
    assert money(credited.returns("Acme")[0]["Credit"]) == Decimal("25.00")
    assert "rejected by the operator" in price_row(credited, "000001")[1]["Why"]
    assert credited.run(as_of="2024-02-21T12:00").new_entries == []  # the same price is not asked about again
    with_price(credited, "000001", "18.00")  # corrected once more: a new question, on a row of its own
    assert [entry.price for entry in credited.run(as_of="2024-02-21T13:00").new_entries] == [Decimal("18.00")]
    assert [line["Reason"] for line in review_tab(credited)] == ["Price corrected to 20.00", "Price corrected to 18.00"]
    assert review_tab(credited)[1]["Decision"] is None


def test_a_credited_sale_re_filed_under_another_client_takes_its_credit_along(credited: Workspace) -> None:
    credited.client("Zenith", [["000001", "wrong number"]])
    credited.write()
    rewrite_log(credited, [[*row[:2], "Zenith" if row[0] == "000001" else row[2], *row[3:]]
                           for row in credited.leads])
    report = credited.run(as_of="2024-02-21T10:00")
    assert [(entry.client, entry.kind, entry.credit) for entry in report.new_entries] == \
        [("Acme", "adjustment", Decimal("-25.00")), ("Zenith", "adjustment", Decimal("25.00"))]
    acme, = credited.returns("Acme")
    assert acme["Status"] == "Unknown lead ID" and "filed under Zenith" in acme["Detail"]
    zenith, = credited.returns("Zenith")
    assert zenith["Status"] == "Approved" and money(zenith["Credit"]) == Decimal("25.00")
    assert "Moved from client Acme" in zenith["Detail"]
    tab = credited.tracking("Solar US")
    assert money(tab["Refunds"][FEB18]) == Decimal("25.00") and tab["Refunded leads"][FEB18] == 1
    assert money(tab["Refunds reported (cash view)"][FEB25]) == Decimal("25.00")  # the cash view did not move
    assert credited.run(as_of="2024-02-21T11:00").new_entries == []
    assert sum(entry["credit_cents"] for entry in ledger_rows(credited)) == 2500


def test_a_shared_lead_bought_at_another_moment_is_not_taken_for_a_re_filing(credited: Workspace) -> None:
    credited.client("Zenith", [["000001", "wrong number"]])
    credited.write()
    rewrite_log(credited, [[row[0], "2024-02-14 10:05", "Zenith", *row[3:]] if row[0] == "000001" else row
                           for row in credited.leads])
    report = credited.run(as_of="2024-02-21T10:00")
    assert [(entry.client, entry.kind) for entry in report.new_entries] == [("Zenith", "decision")]
    assert any("no longer in the lead log" in str(problem) for problem in report.problems)


def test_an_operator_can_reverse_a_reviewed_credit_after_its_date_was_corrected(workspace: Workspace) -> None:
    approved_on_review(workspace, "000001")
    rewrite_log(workspace, [["000001", "2024-02-19 10:00", *workspace.leads[0][2:]]])
    assert [entry.kind for entry in workspace.run(as_of="2024-02-21T10:00").new_entries] == ["adjustment"] * 2
    decide_on_review(workspace, "000001", "Reject")
    report = workspace.run(as_of="2024-02-21T11:00")
    assert [(entry.kind, entry.credit) for entry in report.new_entries] == [("reversal", Decimal("-25.00"))]
    tab = workspace.tracking("Solar US")
    assert money(tab["Refunds"][FEB25]) == Decimal("0.00") and tab["Refunded leads"][FEB25] == 0
    assert workspace.returns("Acme")[0]["Status"] == "Rejected"


def test_a_schema_2_ledger_learns_the_timezone_of_its_runs(credited: Workspace) -> None:
    path = credited.root / "ledger.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.executescript("ALTER TABLE runs DROP COLUMN timezone; DROP TABLE closes; PRAGMA user_version=2;")
    assert credited.run(as_of="2024-02-21T10:00").new_entries == []
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
        assert db.execute("SELECT timezone FROM runs").fetchall() == [("America/New_York",)]


@pytest.mark.parametrize("price", ["0.00", "25.00"])
def test_an_unchanged_or_free_price_asks_nothing(credited: Workspace, price: str) -> None:
    with_price(credited, "000002", price)  # not credited: its price is the log's business alone
    assert credited.run(as_of="2024-02-21T10:00").new_entries == []


def test_a_sale_re_filed_in_a_re_export_is_found_by_the_pasted_id_rules_and_credited_once(
        credited: Workspace) -> None:
    credited.client("Zenith", [["000001", "wrong number"]])
    credited.write()
    rewrite_log(credited, [[row[0].lstrip("0"), row[1], "Zenith" if row[0] == "000001" else row[2], *row[3:]]
                           for row in credited.leads])  # IDs lost their zeros, 000001 now Zenith's
    report = credited.run(as_of="2024-02-21T10:00")
    assert [(entry.client, entry.lead_id, entry.credit) for entry in report.new_entries] == \
        [("Acme", "000001", Decimal("-25.00")), ("Zenith", "000001", Decimal("25.00"))]
    assert credited.returns("Zenith")[0]["Status"] == "Approved"
    assert not any("no longer in the lead log" in str(problem) for problem in report.problems)
    assert credited.run(as_of="2024-02-21T11:00").new_entries == []
    assert sum(entry["credit_cents"] for entry in ledger_rows(credited)) == 2500


def test_a_re_filed_sale_at_another_price_asks_about_the_price_in_the_same_run(credited: Workspace) -> None:
    credited.client("Zenith", [])
    credited.write()
    rewrite_log(credited, [[*row[:2], "Zenith", *row[3:5], Decimal("32.00"), *row[6:]] if row[0] == "000001" else row
                           for row in credited.leads])
    report = credited.run(as_of="2024-02-21T10:00")
    assert [(entry.client, entry.status, entry.credit) for entry in report.new_entries] == [
        ("Acme", "Unknown lead ID", Decimal("-25.00")), ("Zenith", "Approved", Decimal("25.00")),
        ("Zenith", "Needs review", Decimal("0"))]
    assert credited.run(as_of="2024-02-21T11:00").new_entries == []
