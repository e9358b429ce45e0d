"""Credit types that mean something (SPEC §2.3, §4.1, §4.3): a replacement is a lead, not
money; the type is the client's policy at approval, kept by the ledger; the audit log says
each entry's credit type and kind."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest
from conftest import Workspace
from test_returns_engine import money

FEB18, FEB25 = date(2024, 2, 18), date(2024, 2, 25)


@pytest.fixture
def mixed(workspace: Workspace) -> Workspace:
    """Acme is credited money, Zenith replacement leads; both buy Solar US leads."""
    workspace.lead("A1", "2024-02-14 10:00", "Acme", "25.00")
    workspace.lead("Z1", "2024-02-14 11:00", "Zenith", "25.00")
    workspace.lead("Z2", "2024-02-15 11:00", "Zenith", "25.00")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.client("Zenith", [["Z1", "wrong number"]], policy={"credit": "replacement"})
    workspace.run(as_of="2024-02-20T10:00")
    return workspace


def test_a_replacement_counts_as_a_refunded_and_replaced_lead_but_not_as_money(mixed: Workspace) -> None:
    tab = mixed.tracking("Solar US")
    assert tab["Refunded leads"][FEB18] == 2 and tab["Replaced leads"][FEB18] == 1
    assert money(tab["Refunds"][FEB18]) == Decimal("25.00")  # Acme's wallet credit only
    assert money(tab["Refunds reported (cash view)"][FEB25]) == Decimal("25.00")
    zenith, = mixed.returns("Zenith")
    assert zenith["Status"] == "Approved" and "replacement" in zenith["Detail"]


def test_a_later_change_of_policy_never_retypes_past_credits(mixed: Workspace) -> None:
    mixed.clients["Zenith"]["policy"] = {"credit": "wallet"}
    mixed.write()
    mixed.paste("Zenith", [["Z2", "wrong number"]])
    mixed.run(as_of="2024-02-20T11:00")
    tab = mixed.tracking("Solar US")
    assert tab["Replaced leads"][FEB18] == 1 and tab["Refunded leads"][FEB18] == 3
    assert money(tab["Refunds"][FEB18]) == Decimal("50.00")  # Acme's and Zenith's new wallet credit


def test_the_audit_log_says_each_entrys_credit_type_and_kind(mixed: Workspace) -> None:
    with (mixed.root / "audit.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["Client"], row["Credit type"], row["Entry"]) for row in rows] == \
        [("Acme", "wallet", "decision"), ("Zenith", "replacement", "decision")]


def test_an_audit_csv_begun_before_the_new_columns_gains_their_headers_and_keeps_its_rows(
        mixed: Workspace) -> None:
    path = mixed.root / "audit.csv"
    old_rows = [line.rsplit(",", 2)[0] for line in path.read_text().splitlines()[1:]]
    path.write_text("Run,Time,Client,Lead ID,Status,Rule,Credit,Week restated\n" + "\n".join(old_rows) + "\n")
    mixed.paste("Acme", [["A1", "again"]])
    mixed.lead("A2", "2024-02-15 10:00", "Acme", "30.00")
    mixed.write()
    mixed.paste("Acme", [["A2", "wrong number"]])
    mixed.run(as_of="2024-02-20T11:00")
    lines = path.read_text().splitlines()
    assert lines[0] == "Run,Time,Client,Lead ID,Status,Rule,Credit,Week restated,Credit type,Entry"
    assert lines[1:3] == old_rows  # blank in the new columns
    assert lines[3].endswith(",wallet,decision")
    assert mixed.run(as_of="2024-02-20T12:00").audit_rows_added == 0
