"""The returns tab a client is given (Excel): created by the engine for a missing tab and
shipped by ``sheets-sync init``; dropdown that still accepts free text, read-only engine
columns, coloured statuses, the policy as a note, and re-runs that write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Workspace, write_xlsx
from openpyxl import load_workbook
from openpyxl.styles import Protection

from sheets_sync.commands.init import blank_workbooks
from sheets_sync.config import Policy
from sheets_sync.core.project.template import new_returns_tab, policy_note, reason_choices, reason_label
from sheets_sync.core.reasons import REASON_CODES, reason_code

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "returns.xlsx"


def _workspace_with_a_missing_returns_tab(workspace: Workspace) -> Path:
    workspace.lead("000101", "2024-02-12 10:00", "Acme", "25.00")
    workspace.lead("000102", "2024-02-13 10:00", "Acme", "30.00")
    workspace.lead("000103", "2024-02-13 11:00", "Acme", "35.00")
    path = write_xlsx(workspace.root / "returns" / "acme.xlsx", {"Notes": [["the client's own tab"]]})
    workspace.clients["Acme"] = {"returns": {"excel": "returns/acme.xlsx", "tab": "Returns"},
                                 "policy": {"window_days": 3, "credit": "replacement",
                                            "returnable_reasons": ["wrong_number", "disconnected"]}}
    workspace.write()
    return path


def test_reason_labels_read_back_as_their_codes() -> None:
    for code in REASON_CODES:
        assert reason_code(reason_label(code), {}) == code
    choices = reason_choices(Policy(returnable_reasons=("no_answer", "fake_info")))
    assert choices == ("No answer", "Fake info", "Did not convert", "Slow contact", "Changed mind", "Not interested")


def test_the_engine_creates_a_decorated_returns_tab(workspace: Workspace) -> None:
    path = _workspace_with_a_missing_returns_tab(workspace)
    report = workspace.run(as_of="2024-02-14T09:00")
    assert report.exit_code == 0, report.failures
    book = load_workbook(path)
    assert book.sheetnames == ["Notes", "Returns"]
    sheet = book["Returns"]
    assert [cell.value for cell in sheet[1]] == ["Lead ID", "Reason", "Note", "Status", "Detail", "Credit",
                                                 "Week restated", "First seen"]
    assert sheet.freeze_panes == "A2"

    (validation,) = sheet.data_validations.dataValidation
    assert validation.type == "list" and str(validation.sqref) == "B2:B1048576"
    assert validation.showErrorMessage is False  # free text is still accepted
    assert validation.formula1 == ('"Wrong number,Disconnected,Did not convert,No answer,Slow contact,'
                                   'Changed mind,Not interested"')

    assert sheet.protection.sheet
    for letter in "ABC":
        assert sheet.column_dimensions[letter].protection.locked is False
    for letter in "DEFGH":
        assert sheet.column_dimensions[letter].protection.locked is not False
    assert sheet.column_dimensions["I"].protection.locked is False and sheet.column_dimensions["I"].max == 16384

    (formatting,) = list(sheet.conditional_formatting)
    assert str(formatting.sqref) == "D2:D1048576"
    colours = {rule.formula[0]: rule.dxf.fill.fgColor.rgb[-6:] for rule in formatting.rules}
    assert colours == {'"Approved"': "C6EFCE", '"Rejected"': "FFC7CE", '"Needs review"': "FFEB9C"}

    note = sheet["A1"].comment.text
    assert "Window: 3 days from delivery" in note and "Credit: a replacement lead" in note
    assert "Returnable reasons: Wrong number, Disconnected." in note
    assert sheet["A1"].fill.fgColor.rgb[-6:] == "E2EFDA" and sheet["D1"].fill.fgColor.rgb[-6:] == "D9D9D9"
    assert "overwritten" in sheet["D1"].comment.text


def test_free_text_and_dropdown_reasons_both_work_and_a_rerun_writes_nothing(workspace: Workspace) -> None:
    path = _workspace_with_a_missing_returns_tab(workspace)
    workspace.run(as_of="2024-02-14T09:00")
    book = load_workbook(path)
    sheet = book["Returns"]
    for row in (["000101", "Wrong number"], ["000102", "bad phone"], ["000103", "the API was broken"]):
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2, max_col=3):
        for cell in cells:
            cell.protection = Protection(locked=False)  # what Excel gives cells typed in an unlocked column
    book.save(path)

    report = workspace.run(as_of="2024-02-14T10:00")
    assert [row["Status"] for row in workspace.returns("Acme")] == ["Approved", "Approved", "Needs review"]
    assert report.written == ["returns/acme.xlsx", "tracking.xlsx"]

    before = (path.read_bytes(), path.stat().st_mtime_ns)
    again = workspace.run(as_of="2024-02-14T10:30")
    assert again.changes == [] and again.written == []
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    sheet = load_workbook(path)["Returns"]
    assert sheet.protection.sheet and sheet.data_validations.dataValidation  # decorations survive the runs
    assert len(list(sheet.conditional_formatting)) == 1


def test_init_ships_the_template_the_engine_draws() -> None:
    shipped = load_workbook(TEMPLATE)["Returns"]
    built = blank_workbooks()["returns.xlsx"]["Returns"]
    for sheet in (shipped, built):
        assert [cell.value for cell in sheet[1]] == ["Lead ID", "Reason", "Note", "Status", "Detail", "Credit",
                                                     "Week restated", "First seen"]
        assert sheet.protection.sheet and sheet.freeze_panes == "A2"
        assert sheet["A1"].comment.text == policy_note(Policy(), "USD")
    assert shipped.data_validations.dataValidation[0].formula1 == built.data_validations.dataValidation[0].formula1
    spec, header = new_returns_tab("Returns", Policy(), "USD")
    assert spec.read_only_columns == (4, 5, 6, 7, 8) and [write.value for write in header][:3] == list(
        ("Lead ID", "Reason", "Note"))


@pytest.mark.parametrize("enabled", [False])
def test_the_note_of_a_client_without_returns_says_so(enabled: bool) -> None:
    assert "not accepted" in policy_note(Policy(returns_enabled=enabled), "USD")
