"""Credit types that mean something (SPEC §2.3, §4.1, §4.3): a replacement is a lead, not
money; the type is the client's policy at approval, kept by the ledger; the audit log says
each entry's credit type and kind."""

from __future__ import annotations

import csv
import signal
import subprocess
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from conftest import Workspace, read_xlsx, write_xlsx
from openpyxl import load_workbook
from sync_state import cli_env, sheets_sync_command
from test_books import rewrite_log
from test_returns_engine import edit_cells, money
from test_review import approved_on_review, decide_on_review, review_tab
from typer.testing import CliRunner

from sheets_sync import load_config
from sheets_sync.cli import app
from sheets_sync.commands.close import close_through

runner = CliRunner()

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


def credits_tab(ws: Workspace, client: str) -> list[list]:
    return read_xlsx(ws.returns_path(client), "Credits")


def test_each_client_gets_a_read_only_credits_tab_of_its_own_credits_with_monthly_totals(mixed: Workspace) -> None:
    mixed.lead("A2", "2024-02-28 10:00", "Acme", "40.00")
    mixed.write()
    mixed.paste("Acme", [["A2", "disconnected"]])
    mixed.run(as_of="2024-03-01T10:00")
    rows = credits_tab(mixed, "Acme")
    assert rows[0] == ["Date", "Lead ID", "Delivered", "Type", "Amount", "Why"]
    assert [(row[0].date(), row[1], row[2].date(), row[3], row[4], row[5]) for row in rows[1:] if row[1]] == [
        (date(2024, 2, 20), "A1", date(2024, 2, 14), "wallet", 25, "approved"),
        (date(2024, 3, 1), "A2", date(2024, 2, 28), "wallet", 40, "approved")]
    totals = [(row[4], row[5]) for row in rows[1:] if row[3] == "total"]
    assert totals == [(25, "Total February 2024: money credited"), (40, "Total March 2024: money credited")]
    assert all(row[1] != "Z1" for row in rows)  # never another client's
    zenith = credits_tab(mixed, "Zenith")
    assert zenith[1][3:6] == ["replacement", 25, "approved"]
    assert zenith[2][3:6] == ["total", 0, "Total February 2024: money credited and 1 replacement lead"]
    book = load_workbook(mixed.returns_path("Acme"))
    sheet = book["Credits"]
    assert sheet.protection.sheet and sheet.freeze_panes == "A2"
    assert sheet["E2"].number_format == "#,##0.00" and sheet["A2"].number_format == "yyyy-mm-dd"
    assert sheet["F3"].fill.fgColor.rgb[-6:] == "EDEDED"
    assert mixed.run(as_of="2024-03-01T11:00").changes == []


def test_a_credit_stays_on_the_credits_tab_when_the_client_deletes_its_row(mixed: Workspace) -> None:
    write_xlsx(mixed.returns_path("Acme"), {"Returns": [["Lead ID", "Reason", "Note"]]})  # the client cleared it
    mixed.run(as_of="2024-02-21T10:00")
    assert [row[1] for row in credits_tab(mixed, "Acme")[1:]] == ["A1", None]
    assert money(mixed.tracking("Solar US")["Refunds"][FEB18]) == Decimal("25.00")


def test_reversals_undos_and_price_adjustments_are_listed_signed(workspace: Workspace) -> None:
    approved_on_review(workspace, "A1")
    rewrite_log(workspace, [["A1", "2024-02-14 10:00", "Acme", "Solar", "US", Decimal("30.00"), Decimal("4"),
                             "Vendor A"]])
    workspace.run(as_of="2024-02-21T10:00")
    number = next(number for number, line in enumerate(review_tab(workspace), start=2)
                  if line["Reason"] == "Price corrected to 30.00")
    edit_cells(workspace.root / "tracking.xlsx", "Review", {f"F{number}": "Approve"})
    workspace.run(as_of="2024-03-02T10:00")
    decide_on_review(workspace, "A1", "Reject")
    workspace.run(as_of="2024-03-03T10:00")
    rows = [row for row in credits_tab(workspace, "Acme")[1:]]
    assert [(row[3], row[4], row[5]) for row in rows] == [
        ("wallet", 25, "approved on review"), ("total", 25, "Total February 2024: money credited"),
        ("wallet", 5, "price adjustment"), ("wallet", -30, "reversed"),
        ("total", -25, "Total March 2024: money credited")]


def statement_lines(ws: Workspace, name: str) -> list[list[str]]:
    with (ws.root / "statements" / name).open(newline="") as handle:
        return list(csv.reader(handle))


def test_statement_writes_each_clients_month_as_csv_with_the_credits_tabs_totals(mixed: Workspace) -> None:
    mixed.lead("=HYPERLINK(1)", "2024-02-16 10:00", "Acme", "10.00")
    mixed.write()
    mixed.paste("Acme", [["=HYPERLINK(1)", "wrong number"]])
    mixed.run(as_of="2024-02-21T10:00")
    result = runner.invoke(app, ["statement", "--config", str(mixed.config_path), "--month", "2024-02"])
    assert result.exit_code == 0, result.output
    acme = statement_lines(mixed, "Acme 2024-02.csv")
    assert acme[0] == ["Date", "Lead ID", "Delivered", "Type", "Amount", "Why"]
    assert acme[1:] == [["2024-02-20", "A1", "2024-02-14", "wallet", "25.00", "approved"],
                        ["2024-02-21", "'=HYPERLINK(1)", "2024-02-16", "wallet", "10.00", "approved"],
                        ["", "", "", "total", "35.00", "Total February 2024: money credited"]]
    tab_total = next(row[4] for row in credits_tab(mixed, "Acme") if row[3] == "total")
    assert Decimal(acme[-1][4]) == Decimal(str(tab_total))
    assert statement_lines(mixed, "Zenith 2024-02.csv")[-1][3:] == \
        ["total", "0.00", "Total February 2024: money credited and 1 replacement lead"]
    before = {path: path.stat().st_mtime_ns for path in (mixed.root / "statements").iterdir()}
    again = runner.invoke(app, ["statement", "--config", str(mixed.config_path), "--month", "2024-02"])
    assert again.exit_code == 0 and "(unchanged)" in again.output
    assert {path: path.stat().st_mtime_ns for path in (mixed.root / "statements").iterdir()} == before


@pytest.mark.parametrize(("arguments", "words"), [(["--month", "Feb 2024"], "--month 'Feb 2024' is not a month"),
                                                  (["--client", "Nobody"], "--client 'Nobody' is not a client")])
def test_statement_refuses_bad_usage_in_one_sentence(mixed: Workspace, arguments: list[str], words: str) -> None:
    result = runner.invoke(app, ["statement", "--config", str(mixed.config_path), *arguments])
    assert result.exit_code == 2 and words in result.output
    assert not (mixed.root / "statements").exists()


def test_statement_for_one_client_under_a_former_name(mixed: Workspace) -> None:
    mixed.clients = {"Acme Holdings": {**mixed.clients["Acme"], "formerly": ["Acme"]}, "Zenith": mixed.clients["Zenith"]}
    mixed.write()
    result = runner.invoke(app, ["statement", "--config", str(mixed.config_path), "--month", "2024-02",
                                 "--client", "acme holdings"])
    assert result.exit_code == 0, result.output
    assert [path.name for path in (mixed.root / "statements").iterdir()] == ["Acme Holdings 2024-02.csv"]
    assert statement_lines(mixed, "Acme Holdings 2024-02.csv")[1][1] == "A1"


def test_a_statement_killed_half_way_leaves_whole_files_and_the_next_finishes(mixed: Workspace) -> None:
    command = [*sheets_sync_command(), "statement", "--config", str(mixed.config_path), "--month", "2024-02"]
    killed = subprocess.run(command, env=cli_env(kill_at="statement.written#1"), capture_output=True, text=True,
                            timeout=120, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert [path.name for path in (mixed.root / "statements").iterdir()] == ["Acme 2024-02.csv"]
    assert statement_lines(mixed, "Acme 2024-02.csv")[-1][4] == "25.00"  # whole
    finished = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    assert sorted(path.name for path in (mixed.root / "statements").iterdir()) == \
        ["Acme 2024-02.csv", "Zenith 2024-02.csv"]


def dashboard_table(ws: Workspace, title_start: str) -> list[list]:
    rows = read_xlsx(ws.root / "tracking.xlsx", "Dashboard")
    start = next(number for number, row in enumerate(rows) if str(row[0] or "").startswith(title_start))
    table = []
    for row in rows[start + 2:]:
        if row[0] is None:
            break
        table.append(list(row[:5]))
    return table


def test_the_dashboard_shows_this_months_credits_by_type_and_invoice_credits_waiting(mixed: Workspace) -> None:
    mixed.lead("N1", "2024-02-14 12:00", "Nova", "50.00")
    mixed.client("Nova", [["N1", "wrong number"]], policy={"credit": "invoice"})
    mixed.write()
    mixed.run(as_of="2024-02-20T11:00")
    assert dashboard_table(mixed, "Credits in February 2024") == [
        ["Acme", 25, 0, 0, 0], ["Nova", 0, 50, 0, 50], ["Zenith", 0, 0, 1, 0]]
    close_through(load_config(mixed.config_path), date(2024, 2, 18),
                  now=datetime(2024, 2, 20, 12, tzinfo=ZoneInfo("America/New_York")))
    mixed.run(as_of="2024-02-20T13:00")
    assert dashboard_table(mixed, "Credits in February 2024")[1] == ["Nova", 0, 50, 0, 0]  # on the closed invoice
