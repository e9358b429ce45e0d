"""Tracking tabs mark their refund rows: accrual and cash rows each have a colour, and a
refund cell of an earlier week restated later carries a note saying when and how much."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from conftest import Workspace
from openpyxl import load_workbook

from sheets_sync.core.cells import CellWrite
from sheets_sync.core.model import Lead
from sheets_sync.core.project.marks import (
    ACCRUAL_FILL,
    CASH_FILL,
    RESTATED_FILL,
    mark_tracking_writes,
    restatement_notes,
)
from sheets_sync.core.project.tracking import Refund

FEB17, FEB24, MAR2, MAR9 = date(2024, 2, 17), date(2024, 2, 24), date(2024, 3, 2), date(2024, 3, 9)


def _story(workspace: Workspace) -> Workspace:
    """The seed's story: on March 3 returns restate the weeks ending Feb 17 and Feb 24."""
    workspace.settings["week_ends_on"] = "saturday"
    workspace.policy.update(window_days=30)
    workspace.lead("A1", "2024-02-12 10:00", "Acme", "25.00")
    workspace.lead("A2", "2024-02-13 11:00", "Acme", "40.00")
    workspace.lead("A3", "2024-02-20 09:00", "Acme", "40.00")
    workspace.lead("A4", "2024-03-04 09:00", "Acme", "45.50")
    workspace.client("Acme", [["A1", "wrong number"], ["A2", "wrong number"], ["A3", "disconnected"]])
    return workspace


def _cells(workspace: Workspace, tab: str = "Solar US") -> dict[tuple[str, date | None], object]:
    sheet = load_workbook(workspace.root / "tracking.xlsx")[tab]
    weeks = {cell.column: cell.value.date() for cell in sheet[1][1:] if cell.value}
    return {(sheet.cell(row, 1).value, weeks.get(column)): sheet.cell(row, column)
            for row in range(2, sheet.max_row + 1) for column in range(1, sheet.max_column + 1)}


def test_restated_weeks_carry_a_note_and_a_colour(workspace: Workspace) -> None:
    _story(workspace).run(as_of="2024-03-03T10:00")
    cells = _cells(workspace)
    for label in ("Refunds", "Refunded leads"):
        assert cells[(label, FEB17)].comment.text == "Restated 2024-03-03: +65.00 (2 leads)"
        assert cells[(label, FEB24)].comment.text == "Restated 2024-03-03: +40.00 (1 lead)"
        assert cells[(label, FEB17)].fill.fgColor.rgb[-6:] == RESTATED_FILL
        assert cells[(label, MAR2)].comment is None  # nothing of that week was returned
        assert cells[(label, MAR2)].fill.fgColor.rgb[-6:] == ACCRUAL_FILL
        assert cells[(label, None)].fill.fgColor.rgb[-6:] == ACCRUAL_FILL  # the label cell
        assert "Accrual" in cells[(label, None)].comment.text
    assert cells[("Refunds reported (cash view)", None)].fill.fgColor.rgb[-6:] == CASH_FILL
    assert cells[("Refunds reported (cash view)", MAR9)].value == 105
    assert cells[("Refunds reported (cash view)", MAR9)].fill.fgColor.rgb[-6:] == CASH_FILL
    assert cells[("Refunds reported (cash view)", MAR9)].comment is None
    assert cells[("Leads delivered", FEB17)].comment is None and cells[("Leads delivered", FEB17)].fill.fill_type is None


def test_a_later_restatement_adds_a_line_and_a_rerun_writes_nothing(workspace: Workspace) -> None:
    _story(workspace).run(as_of="2024-03-03T10:00")
    workspace.lead("A5", "2024-02-14 10:00", "Acme", "12.35")
    workspace.write()
    workspace.paste("Acme", [["A5", "disconnected"]])
    report = workspace.run(as_of="2024-03-05T10:00")
    restated = [write for _, write in report.changes if write.note and write.note.startswith("Restated")]
    assert {(write.row, write.col) for write in restated} == {(5, 2), (6, 2)}  # only the week that changed
    assert _cells(workspace)[("Refunds", FEB17)].comment.text == (
        "Restated 2024-03-03: +65.00 (2 leads)\nRestated 2024-03-05: +12.35 (1 lead)")

    path = workspace.root / "tracking.xlsx"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    again = workspace.run(as_of="2024-03-05T11:00")
    assert again.changes == [] and again.written == []
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_refunds_of_the_current_week_are_not_restatements(workspace: Workspace) -> None:
    workspace.settings["week_ends_on"] = "saturday"
    workspace.lead("B1", "2024-03-04 09:00", "Acme", "45.50")
    workspace.client("Acme", [["B1", "wrong number"]])
    workspace.run(as_of="2024-03-05T10:00")
    cell = _cells(workspace)[("Refunds", MAR9)]
    assert cell.value == 45.5 and cell.comment is None and cell.fill.fgColor.rgb[-6:] == ACCRUAL_FILL


def _lead(lead_id: str, day: date, price: str) -> Lead:
    return Lead(lead_id, datetime(day.year, day.month, day.day, 10), day, "Acme", "Solar", "US", Decimal(price),
                Decimal("0"))


def test_notes_group_by_approval_day_and_a_moved_week_loses_its_note() -> None:
    refunds = [Refund(_lead("1", date(2024, 2, 12), "25.00"), Decimal("25.00"), date(2024, 3, 3)),
               Refund(_lead("2", date(2024, 2, 13), "40.00"), Decimal("40.00"), date(2024, 3, 3)),
               Refund(_lead("3", date(2024, 2, 14), "10.00"), Decimal("10.00"), date(2024, 2, 15))]
    notes = restatement_notes(refunds, ("vertical", "country"), 5)
    assert notes == {("Solar", "US"): {FEB17: "Restated 2024-03-03: +65.00 (2 leads)"}}

    grid = [["Metric", FEB17, FEB24], ["Refunds", 75, 0]]
    writes = [CellWrite("T", 1, 2, date(2024, 2, 10)), CellWrite("T", 1, 3, FEB17),  # a relayout: weeks move
              CellWrite("T", 2, 2, 0), CellWrite("T", 2, 3, 75)]
    marked = {(write.row, write.col): write for write in mark_tracking_writes(writes, grid, notes[("Solar", "US")],
                                                                            MAR9)}
    assert (marked[(2, 2)].note, marked[(2, 2)].fill) == ("", ACCRUAL_FILL)
    assert (marked[(2, 3)].note, marked[(2, 3)].fill) == ("Restated 2024-03-03: +65.00 (2 leads)", RESTATED_FILL)
    assert marked[(1, 2)].note is None and marked[(1, 2)].fill is None
