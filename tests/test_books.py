"""The books under change (SPEC §3.1): the ledger is self-contained, so months of history stay
true while the lead log, the config and the tabs change under them."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
from contextlib import closing
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import LEAD_HEADERS, Workspace, read_xlsx, write_xlsx
from sync_state import cli_env, run_cli, sheets_sync_command
from test_returns_engine import files_on_disk, ledger_rows, money
from test_review import approved_on_review, decide_on_review
from typer.testing import CliRunner

from sheets_sync import load_config, run_sync
from sheets_sync.cli import app
from sheets_sync.commands.undo import UndoError, undo_run

FIXTURE = Path(__file__).parent / "fixtures" / "ledger-schema-1"
runner = CliRunner()


def rewrite_log(ws: Workspace, rows: list[list]) -> None:
    """The operator replaces the lead log (a re-export, a trim, a correction)."""
    ws.leads = rows
    write_xlsx(ws.root / "leads.xlsx", {"Leads": [LEAD_HEADERS, *rows]})


@pytest.fixture
def credited(workspace: Workspace) -> Workspace:
    """Acme was credited lead 000001 (25.00, week ending Feb 18) on Feb 20."""
    workspace.lead("000001", "2024-02-14 10:00", "Acme", "25.00")
    workspace.lead("000002", "2024-02-15 10:00", "Acme", "30.00")
    workspace.client("Acme", [["000001", "wrong number"]])
    assert workspace.run(as_of="2024-02-20T10:00").new_entries[0].status == "Approved"
    return workspace


FEB18, FEB25 = date(2024, 2, 18), date(2024, 2, 25)


def test_a_credited_sale_that_leaves_the_lead_log_keeps_its_credit_where_it_was_booked(credited: Workspace) -> None:
    rewrite_log(credited, [row for row in credited.leads if row[0] != "000001"])
    for as_of in ("2024-02-21T10:00", "2024-02-22T10:00"):  # each run says so again
        report = credited.run(as_of=as_of)
        assert report.new_entries == []
        assert any("lead 000001 of Acme, credited 25.00, is no longer in the lead log" in str(problem)
                   for problem in report.problems)
    tab = credited.tracking("Solar US")
    assert tab["Refunded leads"][FEB18] == 1 and money(tab["Refunds"][FEB18]) == Decimal("25.00")
    assert money(tab["Refunds reported (cash view)"][FEB25]) == Decimal("25.00")
    assert tab["Leads delivered"][FEB18] == 1  # the log's own figures follow the log
    row, = credited.returns("Acme")
    assert row["Status"] == "Approved" and money(row["Credit"]) == Decimal("25.00")


def test_a_re_exported_log_whose_ids_lost_their_zeros_decides_nothing_again(credited: Workspace) -> None:
    before = credited.tracking("Solar US")
    rewrite_log(credited, [[row[0].lstrip("0"), *row[1:]] for row in credited.leads])  # Excel made them numbers
    report = credited.run(as_of="2024-02-21T10:00")
    assert report.new_entries == [] and report.changes == []
    assert credited.tracking("Solar US") == before
    assert [(row["lead_id"], row["credit_cents"]) for row in ledger_rows(credited)] == [("000001", 2500)]
    credited.paste("Acme", [["1", "wrong number"], ["2", "wrong number"]])
    report = credited.run(as_of="2024-02-21T11:00")
    assert [(entry.lead_id, entry.status) for entry in report.new_entries] == [("2", "Approved")]
    assert [row["Status"] for row in credited.returns("Acme")] == ["Approved", "Duplicate request", "Approved"]
    assert money(credited.tracking("Solar US")["Refunds"][FEB18]) == Decimal("55.00")


def test_a_lead_sold_to_two_clients_is_two_sales(workspace: Workspace) -> None:
    workspace.lead("L1", "2024-02-14 10:00", "Acme", "25.00")
    workspace.lead("L1", "2024-02-14 10:05", "Zenith", "20.00")
    workspace.lead("L1", "2024-02-14 10:06", "Zenith", "20.00")  # a true duplicate
    workspace.client("Acme", [["L1", "wrong number"]])
    workspace.client("Zenith", [["L1", "disconnected"]])
    report = workspace.run(as_of="2024-02-16T10:00")
    assert [(entry.client, entry.lead_id, entry.credit) for entry in report.new_entries] == \
        [("Acme", "L1", Decimal("25.00")), ("Zenith", "L1", Decimal("20.00"))]
    assert [str(problem) for problem in report.problems] == \
        ["leads.xlsx row 4: Lead ID L1 of Zenith already on row 3; row left out"]
    tab = workspace.tracking("Solar US")
    assert tab["Leads delivered"][FEB18] == 2 and money(tab["Gross revenue"][FEB18]) == Decimal("45.00")
    assert money(tab["Refunds"][FEB18]) == Decimal("45.00")


def test_weeks_are_worked_out_from_moments_when_week_ends_on_changes(credited: Workspace) -> None:
    credited.settings["week_ends_on"] = "saturday"
    credited.write()
    (credited.root / "tracking.xlsx").unlink()  # the operator starts the tracking workbook afresh
    report = credited.run(as_of="2024-02-21T10:00")
    assert report.new_entries == []
    tab = credited.tracking("Solar US")
    feb17, feb24 = date(2024, 2, 17), date(2024, 2, 24)
    assert money(tab["Refunds"][feb17]) == Decimal("25.00")
    assert money(tab["Refunds reported (cash view)"][feb24]) == Decimal("25.00")
    assert credited.returns("Acme")[0]["Week restated"].date() == feb17


def test_as_of_later_than_now_is_refused(credited: Workspace) -> None:
    result = runner.invoke(app, ["run", "--config", str(credited.config_path), "--as-of", "2999-01-01"])
    assert result.exit_code == 2
    assert "--as-of 2999-01-01 00:00 is later than now" in result.output
    assert len(ledger_rows(credited)) == 1


def test_a_request_first_seen_before_its_lead_was_delivered_is_never_approved(workspace: Workspace) -> None:
    workspace.lead("A0", "2024-02-28 10:00", "Acme", "25.00")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of="2024-03-01T09:00")  # the client pastes A1 before the log lists it: first seen 09:00
    rewrite_log(workspace, [*workspace.leads, ["A1", "2024-03-01 10:00", "Acme", "Solar", "US", Decimal("25.00"),
                                               Decimal("1.00"), "Vendor A"]])
    report = workspace.run(as_of="2024-03-02T10:00")
    entry, = report.new_entries
    assert (entry.status, entry.rule) == ("Rejected", "before_delivery")
    assert "before the lead was delivered (2024-03-01 10:00)" in workspace.returns("Acme")[0]["Detail"]


def test_undo_voids_a_runs_entries_and_the_next_run_decides_them_afresh(credited: Workspace) -> None:
    config = load_config(credited.config_path)
    first_run = ledger_rows(credited)[0]["run_id"]
    credited.paste("Acme", [["000002", "wrong number"]])
    second = credited.run(as_of="2024-02-21T10:00")
    undone = undo_run(config, second.run_id, now=datetime(2024, 2, 21, 12, tzinfo=config.zone))
    assert [(entry.kind, entry.lead_id, entry.credit) for entry in undone.entries] == \
        [("undo", "000002", Decimal("-30.00"))]
    with pytest.raises(UndoError, match="undone already"):
        undo_run(config, second.run_id)
    with pytest.raises(UndoError, match="No run 'nope'"):
        undo_run(config, "nope")
    again = credited.run(as_of="2024-02-22T10:00")
    assert [(entry.kind, entry.lead_id, entry.status) for entry in again.new_entries] == \
        [("decision", "000002", "Approved")]
    assert credited.returns("Acme")[1]["First seen"].date() == date(2024, 2, 22)  # the old stamp is void
    tab = credited.tracking("Solar US")
    assert money(tab["Refunds"][FEB18]) == Decimal("55.00") and tab["Refunded leads"][FEB18] == 2
    assert money(tab["Refunds reported (cash view)"][FEB25]) == Decimal("25.00") + 30 - 30 + 30
    assert first_run not in {entry.run_id for entry in undone.entries}
    result = runner.invoke(app, ["undo", again.run_id, "--config", str(credited.config_path)])
    assert result.exit_code == 0 and "1 ledger entries voided, 30.00 of credits taken back" in result.output


def test_a_ledger_written_by_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(FIXTURE, workspace)
    before = {(name, tab): read_xlsx(workspace / name, tab) for name, tab in
              (("tracking.xlsx", "Auto Insurance US"), ("tracking.xlsx", "Solar UK"), ("tracking.xlsx", "Review"),
               ("returns/acme.xlsx", "Returns"), ("returns/zenith.xlsx", "Returns"))}
    audit_before = (workspace / "audit.csv").read_text()
    report = run_sync(load_config(workspace / "config.yaml"), as_of=None)
    assert report.exit_code == 0 and report.new_entries == []
    assert {write.tab for _, write in report.changes} - {"Auto Insurance US", "Solar UK"} == \
        {"Dashboard", "Credits", "Returns", "Review"}  # Review: this release's Delivered and Price columns
    # In a returns tab, only the policy note on Lead ID, which the engine meets for the first time.
    assert {(write.row, write.col, write.value) for _, write in report.changes if write.tab == "Returns"} == \
        {(1, 1, "Lead ID")} and all(write.note for _, write in report.changes if write.tab == "Returns")
    assert "Weeks end on Sundays (America/New_York); one tab per vertical and country" in \
        [write.value for _, write in report.changes if write.tab == "Dashboard"]  # the layout line, and new tables
    after = {(name, tab): read_xlsx(workspace / name, tab) for name, tab in before}
    for (name, tab), grid in before.items():  # what was there stays: this release adds rows below, columns right
        kept = [row[:len(grid[0])] for row in after[(name, tab)][: len(grid)] if row[0] != "Net revenue"]
        assert kept == [row for row in grid if row[0] != "Net revenue"], tab
        assert [row[0] for row in after[(name, tab)][len(grid):]] in ([], ["Replaced leads", "Refunds after close"])
    header, _, rows = audit_before.partition("\n")  # its rows stay; the header gains this release's columns
    assert (workspace / "audit.csv").read_text() == f"{header},Credit type,Entry\n{rows}"
    backup = workspace / "ledger.sqlite.schema-1.backup"
    with closing(sqlite3.connect(backup)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone() == (7,)
    with closing(sqlite3.connect(workspace / "ledger.sqlite")) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
        assert db.execute("SELECT DISTINCT timezone FROM runs").fetchall() == [("America/New_York",)]
        assert db.execute("SELECT lead_id, delivered_at, vertical, country, price_cents FROM entries"
                          " WHERE lead_id = 'Z-201'").fetchone() == \
            ("Z-201", "2024-02-21T14:00:00+00:00", "Solar", "UK", 4550)
    assert run_sync(load_config(workspace / "config.yaml")).changes == []


def test_a_dry_run_over_an_old_ledger_upgrades_nothing_on_disk(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(FIXTURE, workspace)
    before = files_on_disk(workspace)
    report = run_sync(load_config(workspace / "config.yaml"), dry_run=True)
    assert report.new_entries == [] and {(write.row, write.col) for _, write in report.changes
                                         if write.tab == "Returns"} == {(1, 1)}  # the policy note only
    assert files_on_disk(workspace) == before


def test_the_ledger_refuses_to_take_back_more_than_was_credited(credited: Workspace) -> None:
    path = credited.root / "ledger.sqlite"
    with closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(entries)") if row[1] != "seq"]
        first = dict(zip(columns, db.execute(f"SELECT {', '.join(columns)} FROM entries").fetchone()))
        reversal = first | {"kind": "reversal", "status": "Rejected", "refers_to": 1}
        insert = f"INSERT INTO entries ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with pytest.raises(sqlite3.IntegrityError, match="between 0 and its price"):
            db.execute(insert, list((reversal | {"credit_cents": -2501}).values()))
        db.execute(insert, list((reversal | {"credit_cents": -2500}).values()))
        with pytest.raises(sqlite3.IntegrityError, match="between 0 and its price"):
            db.execute(insert, list((reversal | {"credit_cents": -1}).values()))


def test_a_corrected_delivery_date_moves_the_refund_by_adjustments_and_the_cash_view_stays(
        credited: Workspace) -> None:
    rewrite_log(credited, [[row[0], "2024-02-22 10:00" if row[0] == "000001" else row[1], *row[2:]]
                           for row in credited.leads])
    report = credited.run(as_of="2024-02-23T10:00")
    assert [(entry.kind, entry.credit, entry.lead_week) for entry in report.new_entries] == \
        [("adjustment", Decimal("-25.00"), FEB18), ("adjustment", Decimal("25.00"), FEB25)]
    tab = credited.tracking("Solar US")
    assert tab["Refunded leads"][FEB18] == 0 and money(tab["Refunds"][FEB18]) == Decimal("0.00")
    assert tab["Refunded leads"][FEB25] == 1 and money(tab["Refunds"][FEB25]) == Decimal("25.00")
    assert money(tab["Refunds reported (cash view)"][FEB25]) == Decimal("25.00")  # booked Feb 20, never moved
    row, = credited.returns("Acme")
    assert row["Status"] == "Approved" and row["Week restated"].date() == FEB25
    assert "Moved to the week of 2024-02-25 on 2024-02-23" in row["Detail"]
    assert credited.run(as_of="2024-02-23T11:00").new_entries == []


def test_a_corrected_group_moves_the_refund_to_the_new_groups_tab(credited: Workspace) -> None:
    rewrite_log(credited, [[*row[:3], "Roofing" if row[0] == "000001" else row[3], *row[4:]]
                           for row in credited.leads])
    credited.run(as_of="2024-02-23T10:00")
    assert money(credited.tracking("Solar US")["Refunds"][FEB18]) == Decimal("0.00")
    assert money(credited.tracking("Roofing US")["Refunds"][FEB18]) == Decimal("25.00")


def test_a_renamed_client_keeps_its_history_through_formerly(credited: Workspace) -> None:
    credited.clients = {"Acme Holdings": {**credited.clients["Acme"], "formerly": ["Acme"]}}
    credited.write()
    rewrite_log(credited, [[*row[:2], "Acme Holdings" if row[0] == "000002" else row[2], *row[3:]]
                           for row in credited.leads])
    report = credited.run(as_of="2024-02-21T10:00")
    assert report.new_entries == []
    assert {(label, write.tab) for label, write in report.changes} == {("tracking.xlsx", "Dashboard")}  # new name
    credited.paste("Acme Holdings", [["000001", "wrong number"], ["000002", "wrong number"]])
    report = credited.run(as_of="2024-02-21T11:00")
    assert [(entry.client, entry.lead_id, entry.status) for entry in report.new_entries] == \
        [("Acme Holdings", "000002", "Approved")]
    assert [row["Status"] for row in credited.returns("Acme Holdings")] == ["Approved", "Duplicate request", "Approved"]
    assert money(credited.tracking("Solar US")["Refunds"][FEB18]) == Decimal("55.00")


def test_a_client_value_no_client_goes_by_is_reported_not_taken_for_a_new_client(credited: Workspace) -> None:
    rewrite_log(credited, [*credited.leads, ["N1", "2024-02-15 10:00", "Acme Holdings", "Solar", "US",
                                             Decimal("5.00"), Decimal("1.00"), "Vendor A"]])
    report = credited.run(as_of="2024-02-21T10:00")
    assert [str(problem) for problem in report.problems] == [
        "leads.xlsx: 1 lead filed under client 'Acme Holdings', which the config does not list: add it under "
        "clients, or, if a client was renamed, list the old name under its formerly:"]


def test_a_former_name_can_lead_to_one_client_only(credited: Workspace) -> None:
    credited.clients["Zenith"] = {**credited.clients["Acme"], "formerly": ["ACME"]}
    credited.write()
    result = runner.invoke(app, ["run", "--config", str(credited.config_path)])
    assert result.exit_code == 2
    assert "clients.Zenith.formerly names 'ACME', which is already the name of Acme" in result.output


def test_a_mistyped_delivery_year_is_left_out_and_adds_no_weeks(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-02-14 10:00", "Acme", "25.00")
    workspace.lead("A2", "2204-02-15 10:00", "Acme", "30.00")  # 2024 mistyped
    workspace.lead("A3", "2024-02-21 10:00", "Acme", "30.00")  # after the run's time
    workspace.client("Acme", [["A2", "wrong number"]])
    report = workspace.run(as_of="2024-02-20T10:00")
    assert [str(problem) for problem in report.problems] == [
        "leads.xlsx row 3: Delivered At delivered 2204-02-15, more than a year away from every other delivery "
        "(a mistyped year?); row left out",
        "leads.xlsx row 4: Delivered At delivered 2024-02-21, after this run's time; row left out"]
    assert report.leads_read == 1
    assert list(workspace.tracking("Solar US")["Leads delivered"]) == [FEB18]
    assert workspace.returns("Acme")[0]["Status"] == "Unknown lead ID"


def test_an_undo_killed_before_its_commit_changes_nothing_and_can_be_run_again(credited: Workspace) -> None:
    run_id = ledger_rows(credited)[0]["run_id"]
    before = ledger_rows(credited)
    killed = subprocess.run([*sheets_sync_command(), "undo", run_id, "--config", str(credited.config_path)],
                            env=cli_env(kill_at="ledger.before_commit"), capture_output=True, text=True,
                            timeout=120, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert ledger_rows(credited) == before
    finished = subprocess.run([*sheets_sync_command(), "undo", run_id, "--config", str(credited.config_path)],
                              env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    assert [(row["kind"], row["credit_cents"]) for row in ledger_rows(credited)] == \
        [("decision", 2500), ("undo", -2500)]


def test_a_run_killed_while_recording_a_reversal_is_finished_once_by_the_next(workspace: Workspace) -> None:
    credited = workspace
    approved_on_review(credited, "000001")
    decide_on_review(credited, "000001", "Reject")
    killed = run_cli(credited.config_path, "2024-02-21T10:00", kill_at="ledger.before_commit")
    assert killed.returncode == -signal.SIGKILL
    assert [row["kind"] for row in ledger_rows(credited)] == ["decision", "review"]
    finished = run_cli(credited.config_path, "2024-02-21T10:05")
    assert finished.returncode == 0, finished.stderr
    assert [(row["kind"], row["credit_cents"]) for row in ledger_rows(credited)] == \
        [("decision", 0), ("review", 2500), ("reversal", -2500)]
    assert run_cli(credited.config_path, "2024-02-21T10:10").returncode == 0
    assert len(ledger_rows(credited)) == 3
    assert money(credited.tracking("Solar US")["Refunds"][FEB18]) == Decimal("0.00")


def test_a_group_with_no_sales_any_more_shows_zeros_not_stale_figures(workspace: Workspace) -> None:
    workspace.lead("R1", "2024-02-14 10:00", "Acme", "25.00", vertical="Roofing")
    workspace.lead("S1", "2024-02-14 10:00", "Acme", "30.00")
    workspace.client("Acme", [])
    workspace.run(as_of="2024-02-20T10:00")
    assert workspace.tracking("Roofing US")["Leads delivered"][FEB18] == 1
    rewrite_log(workspace, [row for row in workspace.leads if row[0] != "R1"])  # R1 was filed by mistake
    workspace.run(as_of="2024-02-21T10:00")
    roofing = workspace.tracking("Roofing US")
    assert roofing["Leads delivered"][FEB18] == 0 and money(roofing["Gross revenue"][FEB18]) == Decimal("0.00")
    assert workspace.run(as_of="2024-02-21T11:00").changes == []
