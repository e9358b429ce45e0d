"""A change of ``week_ends_on``, ``timezone`` or ``group_by`` (SPEC §3.1): every figure is
recomputed from the ledger's moments, the old layout's tabs are kept as ``… (old)`` with
their operator inputs, nothing is counted twice, and a run killed half way is finished."""

from __future__ import annotations

import signal
from datetime import date, datetime
from decimal import Decimal

import pytest
from conftest import Workspace
from openpyxl import load_workbook
from sync_state import run_cli
from test_returns_engine import money

from sheets_sync.core.project.layout import is_old_tab, layout_line, old_title

FEB18, FEB25 = date(2024, 2, 18), date(2024, 2, 25)
FEB17, FEB24 = date(2024, 2, 17), date(2024, 2, 24)


@pytest.fixture
def tracked(workspace: Workspace) -> Workspace:
    """Acme was credited lead 000001 (25.00, delivered Wed Feb 14) on Tue Feb 20; the
    operator typed 100.00 of ad spend into the week ending Sun Feb 18."""
    workspace.lead("000001", "2024-02-14 10:00", "Acme", "25.00")
    workspace.lead("000002", "2024-02-17 23:30", "Acme", "30.00")  # a Saturday night
    workspace.client("Acme", [["000001", "wrong number"]])
    assert workspace.run(as_of="2024-02-20T10:00").new_entries[0].status == "Approved"
    type_ad_spend(workspace, "Solar US", FEB18, 100)
    return workspace


def type_ad_spend(workspace: Workspace, tab: str, week: date, amount: float) -> None:
    path = workspace.root / "tracking.xlsx"
    book = load_workbook(path)
    sheet = book[tab]
    column = next(cell.column for cell in sheet[1][1:] if cell.value and cell.value.date() == week)
    row = next(cell.row for cell in sheet["A"] if cell.value == "Ad spend")
    sheet.cell(row, column, amount)
    book.save(path)


def tab_titles(workspace: Workspace) -> list[str]:
    return load_workbook(workspace.root / "tracking.xlsx", read_only=True).sheetnames


def change(workspace: Workspace, **settings: object) -> None:
    workspace.settings.update(settings)
    workspace.write()


def dashboard_total_refunds(workspace: Workspace) -> Decimal:
    rows = load_workbook(workspace.root / "tracking.xlsx")["Dashboard"].iter_rows(values_only=True)
    return next(money(row[3]) for row in rows if row[0] == "All groups")


def test_a_new_week_end_day_recomputes_every_figure_and_keeps_the_old_tab_with_its_inputs(tracked: Workspace) -> None:
    change(tracked, week_ends_on="saturday")
    report = tracked.run(as_of="2024-02-21T10:00")
    assert report.new_entries == [] and report.exit_code == 0
    said = [str(problem) for problem in report.problems if "layout changed" in str(problem)]
    assert len(said) == 1 and "Weeks end on Saturdays" in said[0] and "'Solar US (old)'" in said[0]
    assert tab_titles(tracked) == ["Solar US (old)", "Review", "Dashboard", "Solar US"] or \
        set(tab_titles(tracked)) == {"Solar US (old)", "Review", "Dashboard", "Solar US"}
    new = tracked.tracking("Solar US")
    assert list(new["Leads delivered"]) == [FEB17, FEB24]  # Saturdays now
    assert new["Leads delivered"][FEB17] == 2 and money(new["Refunds"][FEB17]) == Decimal("25.00")
    assert money(new["Refunds reported (cash view)"][FEB24]) == Decimal("25.00")
    assert new["Ad spend"][FEB17] is None  # Sunday weeks' spend is not Saturday weeks' spend
    old = tracked.tracking("Solar US (old)")
    assert list(old["Leads delivered"]) == [FEB18, FEB25] and old["Ad spend"][FEB18] == 100
    assert money(dashboard_total_refunds(tracked)) == Decimal("25.00")  # the old tab is not counted
    assert tracked.returns("Acme")[0]["Week restated"].date() == FEB17
    again = tracked.run(as_of="2024-02-21T11:00")
    assert again.changes == [] and not any("layout changed" in str(problem) for problem in again.problems)
    assert tracked.tracking("Solar US (old)") == old


def test_a_new_timezone_places_credits_by_the_ledgers_moments_and_corrects_nothing(tracked: Workspace) -> None:
    tracked.lead("000003", "2024-02-18 20:00", "Acme", "40.00")  # Sunday night in New York
    tracked.write()
    tracked.paste("Acme", [["000003", "wrong number"]])
    tracked.run(as_of="2024-02-20T11:00")
    assert money(tracked.tracking("Solar US")["Refunds"][FEB18]) == Decimal("65.00")
    change(tracked, timezone="Asia/Tokyo")  # ... which was Monday morning in Tokyo
    report = tracked.run(as_of="2024-02-21T10:00")
    assert report.new_entries == []  # the log's wall-clock times read in another zone are no correction
    assert "Solar US (old)" in tab_titles(tracked)
    new = tracked.tracking("Solar US")
    assert money(new["Refunds"][FEB18]) == Decimal("25.00") and money(new["Refunds"][FEB25]) == Decimal("40.00")
    assert new["Leads delivered"][FEB18] == 3  # the log's own times are local times of the workspace
    assert money(tracked.tracking("Solar US (old)")["Refunds"][FEB18]) == Decimal("65.00")
    assert tracked.run(as_of="2024-02-21T11:00").changes == []


def test_a_new_grouping_lays_out_tabs_per_new_group_and_keeps_the_old_groups_tabs(tracked: Workspace) -> None:
    tracked.lead("000003", "2024-02-15 10:00", "Acme", "40.00", country="CA")
    tracked.write()
    tracked.run(as_of="2024-02-20T11:00")
    change(tracked, tracking={"excel": "tracking.xlsx", "group_by": ["vertical"]})
    tracked.run(as_of="2024-02-21T10:00")
    assert {"Solar US (old)", "Solar CA (old)", "Solar"} <= set(tab_titles(tracked))
    assert "Solar US" not in tab_titles(tracked)
    solar = tracked.tracking("Solar")
    assert solar["Leads delivered"][FEB18] == 3 and money(solar["Refunds"][FEB18]) == Decimal("25.00")
    assert money(dashboard_total_refunds(tracked)) == Decimal("25.00")


def test_changing_back_keeps_each_old_layout_under_its_own_title(tracked: Workspace) -> None:
    change(tracked, week_ends_on="saturday")
    tracked.run(as_of="2024-02-21T10:00")
    change(tracked, week_ends_on="sunday")
    tracked.run(as_of="2024-02-21T11:00")
    assert {"Solar US (old)", "Solar US (old 2)", "Solar US"} <= set(tab_titles(tracked))
    assert list(tracked.tracking("Solar US (old 2)")["Leads delivered"]) == [FEB17, FEB24]
    assert money(tracked.tracking("Solar US")["Refunds"][FEB18]) == Decimal("25.00")


@pytest.mark.parametrize("kill_at", ["write.workbook", "excel.before_replace#1", "excel.before_replace#2",
                                     "excel.replaced#2"])
def test_a_run_killed_during_a_relayout_is_finished_once_by_the_next(tracked: Workspace, kill_at: str) -> None:
    change(tracked, week_ends_on="saturday")
    killed = run_cli(tracked.config_path, "2024-02-21T10:00", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL
    titles = tab_titles(tracked)  # the tracking workbook is whole: one layout or the other
    assert "Solar US (old)" not in titles or money(tracked.tracking("Solar US")["Refunds"][FEB17]) == 25
    finished = run_cli(tracked.config_path, "2024-02-21T10:05")
    assert finished.returncode == 0, finished.stderr
    assert sorted(title for title in tab_titles(tracked) if "Solar" in title) == ["Solar US", "Solar US (old)"]
    assert run_cli(tracked.config_path, "2024-02-21T10:10").returncode == 0
    assert sorted(title for title in tab_titles(tracked) if "Solar" in title) == ["Solar US", "Solar US (old)"]
    assert money(tracked.tracking("Solar US")["Refunds"][FEB17]) == Decimal("25.00")


def test_old_titles_stay_within_31_characters_and_are_told_apart() -> None:
    long = "Home Improvement United Kingdom"[:31]
    assert old_title(long, []) == "Home Improvement United K (old)" and len(old_title(long, [])) <= 31
    assert old_title("Solar US", ["Solar US (old)"]) == "Solar US (old 2)"
    assert is_old_tab("Solar US (old 2)") and is_old_tab("Solar US (old)") and not is_old_tab("Old Solar US")
    assert layout_line(6, "Europe/Berlin", ["vertical", "country", "source"]) == \
        "Weeks end on Sundays (Europe/Berlin); one tab per vertical, country and source"
    assert datetime(2024, 1, 7).weekday() == 6


def test_a_stray_edit_of_the_dashboards_layout_line_lays_nothing_out_again(tracked: Workspace) -> None:
    book = load_workbook(tracked.root / "tracking.xlsx")
    assert book["Dashboard"]["A22"].value == layout_line(6, "America/New_York", ["vertical", "country"])
    book["Dashboard"]["A22"] = "remember to check Solar"
    book.save(tracked.root / "tracking.xlsx")
    report = tracked.run(as_of="2024-02-21T10:00")
    assert not any("layout changed" in str(problem) for problem in report.problems)
    assert "Solar US (old)" not in tab_titles(tracked)
    assert load_workbook(tracked.root / "tracking.xlsx")["Dashboard"]["A22"].value.startswith("Weeks end on Sundays")
