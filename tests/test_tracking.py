"""Tracking workbook: weeks, money, tab names, in-place updates, re-runs writing nothing."""

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from conftest import Workspace
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.styles import Font

from sheets_sync.core.project.tracking import METRICS, tab_titles, valid_tab_title
from sheets_sync.core.weeks import local_date, week_ending

NEW_YORK, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(("moment", "zone", "ends_on", "expected"), [
    # Saturday 23:30 local is Sunday 04:30 UTC: still the week ending that Saturday.
    (datetime(2024, 2, 17, 23, 30, tzinfo=NEW_YORK), NEW_YORK, 5, date(2024, 2, 17)),
    (datetime(2024, 2, 18, 4, 30, tzinfo=timezone.utc), NEW_YORK, 5, date(2024, 2, 17)),
    (datetime(2024, 2, 18, 0, 30, tzinfo=NEW_YORK), NEW_YORK, 5, date(2024, 2, 24)),
    # The same UTC instant is already Sunday in Tokyo: the next week there.
    (datetime(2024, 2, 17, 16, 0, tzinfo=timezone.utc), TOKYO, 5, date(2024, 2, 24)),
    (datetime(2024, 2, 17, 14, 59, tzinfo=timezone.utc), TOKYO, 5, date(2024, 2, 17)),
    # Naive times are already local.
    (datetime(2024, 2, 17, 23, 59), TOKYO, 5, date(2024, 2, 17)),
    (datetime(2024, 2, 18, 0, 0), NEW_YORK, 6, date(2024, 2, 18)),
    (datetime(2024, 2, 19, 0, 0), NEW_YORK, 6, date(2024, 2, 25)),
    (datetime(2024, 3, 10, 3, 0, tzinfo=NEW_YORK), NEW_YORK, 0, date(2024, 3, 11)),  # DST change day
])
def test_week_ending_in_two_timezones(moment, zone, ends_on, expected) -> None:
    assert week_ending(local_date(moment, zone), ends_on) == expected


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 6))
def test_week_ending_is_the_first_matching_weekday_on_or_after(day: date, ends_on: int) -> None:
    end = week_ending(day, ends_on)
    assert end.weekday() == ends_on and 0 <= (end - day).days <= 6


@pytest.mark.parametrize(("name", "title"), [
    ("Home/Garden UK", "Home-Garden UK"),
    ("Auto [Premium]: US?", "Auto -Premium-- US-"),
    ("'Quoted' US", "Quoted' US"),
    ("A" * 40 + " US", "A" * 31),
    ("   ", "Group"),
])
def test_tab_titles_are_valid_for_excel_and_sheets(name: str, title: str) -> None:
    assert valid_tab_title(name) == title


@given(st.lists(st.tuples(st.text(max_size=40), st.text(max_size=5)), min_size=1, max_size=20, unique=True))
def test_tab_titles_are_always_valid_and_unique(groups) -> None:
    titles = tab_titles(groups)
    assert len({title.casefold() for title in titles.values()}) == len(groups)
    for title in titles.values():
        assert 0 < len(title) <= 31 and not set(title) & set("[]:*?/\\")
        assert not title.startswith("'") and not title.endswith("'")
        assert title.casefold() not in {"review", "audit log", "dashboard"}


def test_money_is_exact_to_the_cent(workspace: Workspace) -> None:
    for number in range(10):
        workspace.lead(f"L{number}", "2024-02-12 10:00", "Acme", price=33.35, cost=0.1)
    workspace.client("Acme")
    workspace.run(as_of="2024-02-13T09:00")
    tab = workspace.tracking("Solar US")
    week = date(2024, 2, 18)
    assert tab["Gross revenue"][week] == 333.5
    assert tab["Lead cost"][week] == 1
    book = load_workbook(workspace.root / "tracking.xlsx")
    assert book["Solar US"]["B3"].value == Decimal("333.5") or str(book["Solar US"]["B3"].value) == "333.5"


def _workspace_with_leads(workspace: Workspace) -> Workspace:
    workspace.lead("1", "2024-02-05 10:00", "Acme", "10.00", vertical="Home/Garden", country="UK")
    workspace.lead("2", "2024-02-12 10:00", "Acme", "20.00", vertical="Home/Garden", country="UK")
    workspace.lead("3", "2024-02-13 10:00", "Acme", "30.00", vertical="Solar", country="US")
    workspace.client("Acme")
    return workspace


def test_tabs_rows_and_formulas_of_a_new_tracking_workbook(workspace: Workspace) -> None:
    _workspace_with_leads(workspace).run(as_of="2024-02-14T09:00")
    book = load_workbook(workspace.root / "tracking.xlsx")
    assert book.sheetnames == ["Home-Garden UK", "Solar US", "Review", "Dashboard"]
    sheet = book["Home-Garden UK"]
    assert sheet["A1"].value == "Metric"
    assert [sheet.cell(1, column).value for column in (2, 3)] == [datetime(2024, 2, 11), datetime(2024, 2, 18)]
    assert sheet["B1"].is_date
    assert [sheet.cell(row, 1).value for row in range(2, 2 + len(METRICS))] == [m.label for m in METRICS]
    labels = {sheet.cell(row, 1).value: row for row in range(2, 2 + len(METRICS))}
    assert sheet.cell(labels["Refund rate"], 3).value == '=IF(C2=0,"",C5/C2)'
    assert sheet.cell(labels["CPR"], 2).value == '=IF(B7=0,"",(B10+B4)/B7)'
    assert sheet.cell(labels["Ad spend"], 2).value is None
    assert book.calculation.fullCalcOnLoad


def test_update_in_place_keeps_operator_rows_inputs_formatting_and_tabs(workspace: Workspace) -> None:
    _workspace_with_leads(workspace).run(as_of="2024-02-14T09:00")
    path = workspace.root / "tracking.xlsx"
    book = load_workbook(path)
    sheet = book["Home-Garden UK"]
    sheet["B10"] = 55.5                      # Ad spend, operator input
    own = len(METRICS) + 2
    sheet.cell(own, 1, "Notes")
    sheet.cell(own, 2, "promo week")         # an operator's own row, below the engine's
    sheet["B2"].font = Font(bold=True, color="FF0000")
    book.create_sheet("My pivot")["A1"] = "keep me"
    book.save(path)

    workspace.lead("4", "2024-02-20 10:00", "Acme", "40.00", vertical="Home/Garden", country="UK")
    workspace.write()
    report = workspace.run(as_of="2024-02-21T09:00")
    assert report.exit_code == 0
    book = load_workbook(path)
    sheet = book["Home-Garden UK"]
    assert sheet["D1"].value == datetime(2024, 2, 25)           # new week appended at the right
    assert sheet["D2"].value == 1 and sheet["D3"].value == 40
    assert sheet["B10"].value == 55.5
    assert (sheet.cell(own, 1).value, sheet.cell(own, 2).value) == ("Notes", "promo week")
    assert sheet["B2"].font.bold and sheet["B2"].font.color.rgb == "00FF0000"
    assert book["My pivot"]["A1"].value == "keep me"
    written = {(label, write.tab, write.row, write.col) for label, write in report.changes}
    assert all(write[1] != "Home-Garden UK" or write[3] == 4 for write in written)


def test_a_late_older_week_relayouts_and_carries_operator_inputs(workspace: Workspace) -> None:
    _workspace_with_leads(workspace).run(as_of="2024-02-14T09:00")
    path = workspace.root / "tracking.xlsx"
    book = load_workbook(path)
    book["Home-Garden UK"]["B10"] = 12   # ad spend of the week ending Feb 11
    book.save(path)
    workspace.lead("0", "2024-01-30 10:00", "Acme", "5.00", vertical="Home/Garden", country="UK")
    workspace.write()
    workspace.run(as_of="2024-02-14T10:00")
    tab = workspace.tracking("Home-Garden UK")
    assert list(tab["Leads delivered"]) == [date(2024, 2, 4), date(2024, 2, 11), date(2024, 2, 18)]
    assert tab["Ad spend"] == {date(2024, 2, 4): None, date(2024, 2, 11): 12, date(2024, 2, 18): None}
    assert tab["Leads delivered"][date(2024, 2, 4)] == 1


def test_a_rerun_writes_nothing_and_does_not_touch_any_file(workspace: Workspace) -> None:
    _workspace_with_leads(workspace).run(as_of="2024-02-14T09:00")
    files = sorted(p for p in workspace.root.rglob("*") if p.is_file() and "lock" not in p.name)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    report = workspace.run(as_of="2024-02-14T09:30")
    assert report.changes == [] and report.written == [] and report.audit_rows_added == 0
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files if p.suffix != ".sqlite"}
    assert after == {p: v for p, v in before.items() if p.suffix != ".sqlite"}


def test_a_country_or_vertical_in_other_letter_case_is_one_group_and_said_so(workspace: Workspace) -> None:
    for number in range(1, 4):
        workspace.lead(f"L{number}", "2024-02-12 10:00", "Acme", vertical="Auto Insurance", country="US")
    workspace.lead("L4", "2024-02-13 10:00", "Acme", vertical="auto insurance", country="us")
    workspace.client("Acme", [["L4", "wrong number"]])
    report = workspace.run(as_of="2024-02-14T10:00")
    assert load_workbook(workspace.root / "tracking.xlsx").sheetnames.count("Auto Insurance US") == 1
    assert not any("(2)" in title or title.endswith(" us") for title in
                   load_workbook(workspace.root / "tracking.xlsx").sheetnames)
    tab = workspace.tracking("Auto Insurance US")
    assert tab["Leads delivered"][date(2024, 2, 18)] == 4 and tab["Refunded leads"][date(2024, 2, 18)] == 1
    said = [problem.message for problem in report.problems]
    assert "Vertical 'auto insurance' (1 lead) is counted as 'Auto Insurance', its most frequent spelling." in said
    assert "Country 'us' (1 lead) is counted as 'US', its most frequent spelling." in said
