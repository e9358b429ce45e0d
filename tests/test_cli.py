"""The command line as an operator and a scheduler use it."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import Workspace
from openpyxl import load_workbook
from typer.testing import CliRunner

from sheets_sync.cli import app

runner = CliRunner()


def test_every_command_has_help() -> None:
    for command in ("run", "check", "init", "demo"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_demo_builds_a_workspace_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(target)])
    assert result.exit_code == 0, result.output
    assert "tracking.xlsx" in result.output
    book = load_workbook(target / "tracking.xlsx")
    assert {"Solar UK", "Home-Garden US", "Review"} <= set(book.sheetnames)
    statuses = {row[3] for row in load_workbook(target / "returns" / "zenith.xlsx")["Returns"].iter_rows(
        min_row=2, values_only=True)}
    assert {"Approved", "Rejected", "Needs review", "Mixed", "Duplicate request", "Unknown lead ID"} <= statuses
    again = runner.invoke(app, ["run", "--config", str(target / "config.yaml"), "--json",
                                "--as-of", "2019-03-03T18:00"])  # as the demo says to
    summary = json.loads(again.output)
    assert again.exit_code == 0 and summary["cells_written"] == 0 and summary["decisions"] == {}
    assert f"run --config {target / 'config.yaml'} --as-of 2019-03-03T18:00" in result.output


def test_demo_makes_its_own_folder_again_but_never_overwrites_a_workspace(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "real")]).exit_code == 0
    before = {path: path.read_bytes() for path in (tmp_path / "real").rglob("*") if path.is_file()}
    refused = runner.invoke(app, ["demo", str(tmp_path / "real")])
    assert refused.exit_code == 2 and "demo never overwrites a workspace" in refused.output
    assert {path: path.read_bytes() for path in (tmp_path / "real").rglob("*") if path.is_file()} == before
    for _ in range(2):
        made = runner.invoke(app, ["demo", str(tmp_path / "demo")])
        assert made.exit_code == 0, made.output


def test_the_commands_the_demo_prints_run_as_printed(tmp_path: Path) -> None:
    """`make demo` starts .venv/bin/sheets-sync, which need not be on PATH: the demo names it so."""
    program = Path(sys.executable).with_name("sheets-sync")
    made = subprocess.run([str(program), "demo", "d"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PATH": "/usr/bin:/bin"}, timeout=300)
    assert made.returncode == 0, made.stderr
    line = next(line for line in made.stdout.splitlines() if line.startswith("Run it again: "))
    command = line.removeprefix("Run it again: ").split("  (")[0]
    assert command.startswith(f"{program} run --config ")
    again = subprocess.run(shlex.split(command) + ["--json"], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PATH": "/usr/bin:/bin"}, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["cells_written"] == 0, again.stderr


def test_init_writes_templates_that_check_accepts(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "returns" / "example.xlsx").exists()
    header = [cell.value for cell in load_workbook(tmp_path / "new" / "returns" / "example.xlsx")["Returns"][1]]
    assert header == ["Lead ID", "Reason", "Note", "Status", "Detail", "Credit", "Week restated", "First seen"]
    checked = runner.invoke(app, ["check", "--config", str(tmp_path / "new" / "config.yaml")])
    assert checked.exit_code == 0, checked.output
    again = runner.invoke(app, ["init", str(tmp_path / "new")])
    assert again.exit_code == 2 and "never overwrites" in again.output


def test_init_keeps_the_key_and_the_engines_files_out_of_git(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    kept = ["credentials.json", ".ledger.sqlite.sheets-sync.lock", ".ledger.sqlite.lead-log-cache",
            ".sheets-sync.notified.json", ".sheets-sync.policy-notes.json", "ledger.sqlite-wal"]
    for name in kept:
        (tmp_path / name).write_text("x")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    ignored = subprocess.run(["git", "-C", str(tmp_path), "check-ignore", *kept], capture_output=True, text=True)
    assert ignored.stdout.split() == kept
    assert subprocess.run(["git", "-C", str(tmp_path), "check-ignore", "-q", "config.yaml"]).returncode == 1


def test_scheduled_run_prints_json_and_exit_code_1_when_a_source_fails(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.lead("2", "2024-02-12 10:00", "Zenith")
    workspace.client("Acme", [["1", "wrong number"]])
    broken = workspace.client("Zenith", [["2", "wrong number"]])
    workspace.write()
    broken.write_bytes(b"this is not a workbook")
    result = subprocess.run([sys.executable, "-m", "sheets_sync", "run", "--config", str(workspace.config_path),
                             "--json", "--as-of", "2024-02-13T10:00"], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["decisions"] == {"Approved": 1}
    assert summary["errors"][0]["source"].startswith("Zenith returns")
    assert "cannot be opened as an Excel workbook" in summary["errors"][0]["message"]
    assert "Traceback" not in result.stderr
    assert workspace.returns("Acme")[0]["Status"] == "Approved"


def test_plain_run_prints_one_line_and_dry_run_lists_changes(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.client("Acme", [["1", "wrong number"]])
    workspace.write()
    command = [sys.executable, "-m", "sheets_sync", "run", "--config", str(workspace.config_path),
               "--as-of", "2024-02-13T10:00"]
    dry = subprocess.run(command + ["--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0 and "Approved" in dry.stdout and "Dry run" in dry.stdout
    assert not (workspace.root / "ledger.sqlite").exists() and not (workspace.root / "tracking.xlsx").exists()
    real = subprocess.run(command, capture_output=True, text=True)
    assert real.returncode == 0 and real.stdout.count("\n") == 1 and "1 Approved" in real.stdout


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"sheets-sync {version('sheets-sync')}\n"


def test_a_cron_run_prints_one_line_of_counts_then_each_problem_on_stderr(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.lead("2", "12/02/2024 10:00", "Acme")  # a date no format reads
    workspace.lead("3", "2024-02-12 10:00", "Bolt auto")  # the config spells it Bolt Auto
    workspace.client("Acme", [["1", "wrong number"]])
    workspace.client("Bolt Auto")
    workspace.write()
    result = subprocess.run([sys.executable, "-m", "sheets_sync", "run", "--config", str(workspace.config_path),
                             "--as-of", "2024-02-13T10:00"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    line, = result.stdout.splitlines()
    assert ": 2 leads, 1 Approved, credits 10.00, " in line
    assert "0 waiting for review, 2 problems (1 lead log rows left out), 0 failed sources" in line
    problems = result.stderr.splitlines()
    assert len(problems) == 2 and all(problem.startswith("problem: ") for problem in problems)
    assert any("row 3" in problem and "Delivered At" in problem for problem in problems)
    assert any("1 lead filed under client 'Bolt auto' are counted as Bolt Auto" in problem for problem in problems)


def test_a_dry_run_shows_cells_as_a_person_reads_them(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme", price="65.09")
    workspace.client("Acme", [["1", "wrong number"]])
    workspace.write()
    dry = subprocess.run([sys.executable, "-m", "sheets_sync", "run", "--config", str(workspace.config_path),
                          "--as-of", "2024-02-13T10:00", "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "F2 ← 65.09" in dry.stdout and "D2 ← “Approved”" in dry.stdout and "G2 ← 2024-02-18" in dry.stdout
    assert "Decimal(" not in dry.stdout and "datetime." not in dry.stdout and "R2C" not in dry.stdout
    assert "… and " in dry.stdout  # the Dashboard's cells are counted, not listed one by one
    assert len(dry.stdout.splitlines()) < 80


def test_check_names_the_lead_rows_it_would_leave_out(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.lead("2", "Dec 5 2026 at noon", "Acme")
    workspace.client("Acme")
    workspace.write()
    checked = runner.invoke(app, ["check", "--config", str(workspace.config_path)])
    assert checked.exit_code == 0, checked.output
    assert "1 leads, 1 rows left out" in checked.output
    assert "left out: row 3: Delivered At" in checked.output


def test_reading_commands_leave_no_sqlite_side_files(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.client("Acme", [["1", "wrong number"]])
    workspace.run(as_of="2024-02-13T10:00")
    before = sorted(path.name for path in workspace.root.iterdir())
    for command in (["check"], ["report", "--no-files"], ["statement", "--month", "2024-02"]):
        result = runner.invoke(app, [*command, "--config", str(workspace.config_path)])
        assert result.exit_code == 0, result.output
    assert not [path.name for path in workspace.root.iterdir() if path.name.endswith(("-wal", "-shm"))]
    assert sorted(path.name for path in workspace.root.iterdir()) == sorted([*before, "statements"])
