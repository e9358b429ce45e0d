"""A client's returns workbook as operators set it up: copied from init's example, made
empty by hand, not made yet, or with a policy changed since. The client always reads its
own policy on the Lead ID header."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import Workspace, write_xlsx
from openpyxl import load_workbook
from typer.testing import CliRunner

from sheets_sync.cli import app


def _policy_on(path: Path) -> str:
    comment = load_workbook(path)["Returns"]["A1"].comment
    return comment.text if comment else ""


def test_a_copy_of_inits_example_shows_the_clients_own_policy(workspace: Workspace, tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["init", str(tmp_path / "starter")]).exit_code == 0
    example = tmp_path / "starter" / "returns" / "example.xlsx"
    assert "Window: 7 days" in _policy_on(example)
    workspace.lead("L1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", policy={"window_days": 3})
    shutil.copy(example, workspace.returns_path("Acme"))
    workspace.run(as_of="2024-03-02T10:00")
    assert "Window: 3 days" in _policy_on(workspace.returns_path("Acme"))
    assert workspace.run(as_of="2024-03-02T11:00").changes == []  # told once, then left alone

    workspace.clients["Acme"]["policy"] = {"window_days": 5}  # the operator changes the policy
    workspace.write()
    again = workspace.run(as_of="2024-03-02T12:00")
    assert [(write.row, write.col, write.value) for _, write in again.changes] == [(1, 1, "Lead ID")]
    assert "Window: 5 days" in _policy_on(workspace.returns_path("Acme"))


def test_an_empty_returns_tab_gets_the_template_header_and_policy(workspace: Workspace) -> None:
    workspace.lead("L1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", policy={"window_days": 4})
    write_xlsx(workspace.returns_path("Acme"), {"Returns": []})
    workspace.run(as_of="2024-03-02T10:00")
    sheet = load_workbook(workspace.returns_path("Acme"))["Returns"]
    assert [cell.value for cell in sheet[1]][:4] == ["Lead ID", "Reason", "Note", "Status"]
    assert "Window: 4 days" in sheet["A1"].comment.text and sheet["D1"].comment is not None


def test_a_returns_workbook_not_made_yet_is_made_and_a_missing_folder_fails_that_client_only(
        workspace: Workspace) -> None:
    workspace.lead("L1", "2024-03-01 10:00", "Acme")
    workspace.lead("L2", "2024-03-01 10:00", "Zenith")
    workspace.lead("L3", "2024-03-01 10:00", "Bolt")
    workspace.client("Acme", [["L1", "Wrong number"]])
    workspace.client("Zenith", policy={"window_days": 2})
    workspace.client("Bolt")
    workspace.returns_path("Zenith").unlink()
    workspace.clients["Bolt"]["returns"]["excel"] = "gone/bolt.xlsx"
    workspace.write()
    result = subprocess.run([sys.executable, "-m", "sheets_sync", "run", "--config", str(workspace.config_path),
                             "--as-of", "2024-03-02T10:00"], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "Zenith returns" in result.stderr and "zenith.xlsx was created with the client's returns tab" in result.stderr
    assert "failed: Bolt returns" in result.stderr and "create the folder" in result.stderr
    assert workspace.returns("Acme")[0]["Status"] == "Approved"
    assert "Window: 2 days" in _policy_on(workspace.returns_path("Zenith"))
    checked = CliRunner().invoke(app, ["check", "--config", str(workspace.config_path)])
    assert "Bolt returns" in checked.output and checked.exit_code == 1
