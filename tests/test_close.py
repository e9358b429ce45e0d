"""Closing a period (SPEC §4.4): closed weeks' engine rows never change again; money booked
later for their leads shows in ``Refunds after close``, counts in the formula rows and in the
cash view of the week it happened; ``close`` refuses going back; it is one ledger
transaction; undo and re-layout after a close."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from contextlib import closing
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from conftest import Workspace
from sync_state import cli_env, sheets_sync_command
from test_books import FEB18, rewrite_log
from test_returns_engine import ledger_rows, money
from typer.testing import CliRunner

from sheets_sync import load_config
from sheets_sync.cli import app
from sheets_sync.commands.close import close_through

runner = CliRunner()
FEB25, MAR3 = date(2024, 2, 25), date(2024, 3, 3)
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def closed(workspace: Workspace) -> Workspace:
    """Acme was credited A1 (25.00, week of Feb 18) on Feb 20; the weeks through Feb 25
    were closed on Feb 26."""
    workspace.lead("A1", "2024-02-14 10:00", "Acme", "25.00")
    workspace.lead("A2", "2024-02-15 10:00", "Acme", "30.00")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of="2024-02-20T10:00")
    report = close_through(load_config(workspace.config_path), FEB25, now=datetime(2024, 2, 26, 9, tzinfo=NEW_YORK))
    assert report.weeks == [FEB18, FEB25] and report.refunds == Decimal("25.00") and report.delivered == 2
    workspace.run(as_of="2024-02-26T10:00")
    return workspace


def late_return(ws: Workspace) -> None:
    """Acme asks for A2 (week of Feb 18) on Feb 27, within a 30-day window."""
    ws.clients["Acme"]["policy"] = {"window_days": 30}
    ws.write()
    ws.paste("Acme", [["A2", "wrong number"]])


def test_a_late_refund_of_a_closed_week_shows_after_close_and_in_the_cash_view(closed: Workspace) -> None:
    before = closed.tracking("Solar US")
    late_return(closed)
    report = closed.run(as_of="2024-02-27T10:00")
    assert [entry.status for entry in report.new_entries] == ["Approved"]
    tab = closed.tracking("Solar US")
    for label in ("Leads delivered", "Gross revenue", "Refunded leads", "Refunds", "Refunds reported (cash view)"):
        assert tab[label][FEB18] == before[label][FEB18], label  # closed: never changes
    assert money(tab["Refunds after close"][FEB18]) == Decimal("30.00")
    assert money(tab["Refunds reported (cash view)"][MAR3]) == Decimal("30.00")
    assert tab["Net revenue"][FEB18].startswith("=") and "-B19" in tab["Net revenue"][FEB18]
    assert closed.run(as_of="2024-02-27T11:00").changes == []


def test_a_closed_week_ignores_a_lead_log_that_changed_under_it(closed: Workspace) -> None:
    rewrite_log(closed, [["A1", "2024-02-14 10:00", "Acme", "Solar", "US", Decimal("25.00"), Decimal("4"),
                          "Vendor A"]])  # A2 deleted from the log
    closed.run(as_of="2024-02-27T10:00")
    tab = closed.tracking("Solar US")
    assert tab["Leads delivered"][FEB18] == 2 and money(tab["Gross revenue"][FEB18]) == Decimal("55.00")


def test_an_undo_after_a_close_takes_the_money_back_after_close(closed: Workspace) -> None:
    first_run = ledger_rows(closed)[0]["run_id"]
    result = subprocess.run([*sheets_sync_command(), "undo", first_run, "--config", str(closed.config_path)],
                            env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    closed.run(as_of="2024-02-27T10:00")  # A1's request is decided afresh: now too late (window 7 days)
    tab = closed.tracking("Solar US")
    assert money(tab["Refunds"][FEB18]) == Decimal("25.00") and tab["Refunded leads"][FEB18] == 1
    assert money(tab["Refunds after close"][FEB18]) == Decimal("-25.00")


def test_a_re_layout_after_a_close_keeps_late_money_after_close(closed: Workspace) -> None:
    late_return(closed)
    closed.run(as_of="2024-02-27T10:00")
    closed.settings["week_ends_on"] = "saturday"
    closed.write()
    closed.run(as_of="2024-02-27T11:00")
    tab = closed.tracking("Solar US")
    feb17 = date(2024, 2, 17)
    assert money(tab["Refunds"][feb17]) == Decimal("25.00")  # as of the close
    assert money(tab["Refunds after close"][feb17]) == Decimal("30.00")
    assert closed.run(as_of="2024-02-27T12:00").changes == []


def close_cli(ws: Workspace, through: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sheets_sync_command(), "close", "--config", str(ws.config_path), "--through", through],
                          env=cli_env(), capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("through", "words"), [("2024-02-18", "closed already; a close cannot go back"),
                                                ("2999-01-07", "only weeks that have ended can be closed"),
                                                ("Feb 25", "is not a date")])
def test_close_refuses_bad_dates_in_one_sentence(closed: Workspace, through: str, words: str) -> None:
    before = ledger_rows(closed)
    result = close_cli(closed, through)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert ledger_rows(closed) == before


def test_a_run_as_of_a_closed_week_is_refused(closed: Workspace) -> None:
    result = runner.invoke(app, ["run", "--config", str(closed.config_path), "--as-of", "2024-02-24T10:00"])
    assert result.exit_code == 2 and "falls in the weeks closed through 2024-02-25" in result.output


def test_close_prints_what_it_froze_and_a_kill_before_its_commit_records_nothing(workspace: Workspace) -> None:
    workspace.lead("A1", "2024-02-14 10:00", "Acme", "25.00")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.run(as_of="2024-02-20T10:00")
    killed = subprocess.run([*sheets_sync_command(), "close", "--config", str(workspace.config_path), "--through",
                             "2024-02-25"], env=cli_env(kill_at="ledger.before_commit"), capture_output=True,
                            text=True, timeout=120, check=False)
    assert killed.returncode == -signal.SIGKILL
    with closing(sqlite3.connect(workspace.root / "ledger.sqlite")) as db:
        assert db.execute("SELECT COUNT(*) FROM closes").fetchone() == (0,)
    result = close_cli(workspace, "2024-02-25")
    assert result.returncode == 0, result.stderr
    assert "froze 2 weeks (2024-02-18 to 2024-02-25) of 1 groups: 1 leads, 25.00 gross revenue, 25.00 refunds" in \
        " ".join(result.stdout.split())
