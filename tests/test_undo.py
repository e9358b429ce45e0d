"""``sheets-sync undo RUN`` under bad input and after later corrections: a one-sentence
error with SPEC §5's exit code and nothing written, or every entry the run made -- and the
corrections made of them since -- taken back by new entries."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import Workspace
from sync_state import cli_env, sheets_sync_command
from test_books import FEB25, credited, rewrite_log  # noqa: F401 (the fixture)
from test_returns_engine import ledger_rows, money

__all__ = ["credited"]


def undo(ws: Workspace, run_id: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sheets_sync_command(), "undo", run_id, "--config", str(config or ws.config_path)],
                          env=cli_env(), capture_output=True, text=True, timeout=120, check=False)


def first_run(ws: Workspace) -> str:
    return ledger_rows(ws)[0]["run_id"]


def _undone_twice(ws: Workspace) -> str:
    assert undo(ws, first_run(ws)).returncode == 0
    return first_run(ws)


def _an_undo_run(ws: Workspace) -> str:
    assert undo(ws, first_run(ws)).returncode == 0
    return ledger_rows(ws)[-1]["run_id"]


def _ledger_not_sqlite(ws: Workspace) -> str:
    run_id = first_run(ws)
    (ws.root / "ledger.sqlite").write_text("not a database\n")
    return run_id


def _ledger_from_the_future(ws: Workspace) -> str:
    run_id = first_run(ws)
    with closing(sqlite3.connect(ws.root / "ledger.sqlite")) as db:
        db.execute("PRAGMA user_version=99")
    return run_id


CASES: dict[str, tuple[Callable[[Workspace], str], int, str]] = {
    "unknown_run": (lambda ws: "20240220-100000-deadbeef", 2, "No run '20240220-100000-deadbeef' in ledger"),
    "empty_run_id": (lambda ws: "", 2, "No run '' in ledger"),
    "undone_twice": (_undone_twice, 2, "was undone already"),
    "an_undo_run": (_an_undo_run, 2, "is itself an undo"),
    "ledger_not_sqlite": (_ledger_not_sqlite, 2, "is not a usable SQLite file"),
    "ledger_from_a_newer_version": (_ledger_from_the_future, 2, "written by a newer sheets-sync"),
}


@pytest.mark.parametrize("name", CASES)
def test_undo_refuses_bad_input_in_one_sentence_and_writes_nothing(name: str, credited: Workspace) -> None:
    prepare, code, words = CASES[name]
    run_id = prepare(credited)
    before = {path: path.read_bytes() for path in credited.root.rglob("*") if path.is_file()}
    result = undo(credited, run_id)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == "" and result.stderr.startswith("error: ") and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert {path: path.read_bytes() for path in credited.root.rglob("*")
            if path.is_file() and path.name != "ledger.sqlite.lock"} == \
        {path: data for path, data in before.items() if path.name != "ledger.sqlite.lock"}


def test_undo_on_a_workspace_that_never_ran_creates_no_ledger(workspace: Workspace) -> None:
    workspace.lead("000001", "2024-02-14 10:00", "Acme", "25.00")
    workspace.client("Acme", [])
    workspace.write()
    result = undo(workspace, "20240220-100000-deadbeef")
    assert result.returncode == 2 and "latest runs: none yet" in result.stderr
    assert not (workspace.root / "ledger.sqlite").exists()


def test_undo_of_a_run_whose_credit_was_moved_since_takes_the_move_back_too(credited: Workspace) -> None:
    rewrite_log(credited, [[row[0], "2024-02-22 10:00" if row[0] == "000001" else row[1], *row[2:]]
                           for row in credited.leads])
    credited.run(as_of="2024-02-23T10:00")  # the credit moved to the week of Feb 25
    result = undo(credited, first_run(credited))
    assert result.returncode == 0, result.stderr
    assert "3 ledger entries voided, 25.00 of credits taken back" in result.stdout
    assert sum(row["credit_cents"] for row in ledger_rows(credited)) == 0
    report = credited.run(as_of="2024-02-23T11:00")  # decided afresh: delivered Feb 22, still within the window
    assert [(entry.kind, entry.credit) for entry in report.new_entries] == [("decision", Decimal("25.00"))]
    tab = credited.tracking("Solar US")
    assert money(tab["Refunds"][FEB25]) == Decimal("25.00") and tab["Refunded leads"][FEB25] == 1
