"""The Dashboard tab (Excel): refund rate by week per group as a native line chart, totals
per group, clients closest to their cap, top reasons, returns by source; a projection that
a re-run leaves alone and that places its chart again only when the chart's block grows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from conftest import Workspace
from openpyxl import load_workbook

from sheets_sync.core.project.dashboard import (
    BLOCK_COLUMN,
    BLOCK_HEADER_ROW,
    DASHBOARD_TAB,
    TABLES_ROW,
    Dashboard,
    Table,
    plan_dashboard,
)


def _workspace(workspace: Workspace) -> Workspace:
    workspace.settings["week_ends_on"] = "saturday"
    workspace.policy.update(window_days=30)
    workspace.lead("S1", "2024-02-12 10:00", "Acme", "25.00", source="Vendor A")
    workspace.lead("S2", "2024-02-13 10:00", "Acme", "30.00", source="Vendor A")
    workspace.lead("S3", "2024-02-20 10:00", "Acme", "40.00", source="Vendor B")
    workspace.lead("S4", "2024-02-21 10:00", "Zenith", "50.00", source="Vendor B")
    workspace.lead("R1", "2024-02-14 10:00", "Zenith", "20.00", vertical="Roofing", source="Vendor A")
    workspace.client("Acme", [["S1", "wrong number"], ["S3", "didn't buy"]])
    workspace.client("Zenith", [["R1", "bad phone"], ["S4", "something odd"]], policy={"max_return_rate": 0.5})
    return workspace


def _tables(sheet) -> dict[str, list[tuple]]:
    """The dashboard's tables in columns A.., keyed by title, as rows of values."""
    tables: dict[str, list[tuple]] = {}
    title = None
    for row in sheet.iter_rows(min_row=TABLES_ROW, max_col=BLOCK_COLUMN - 2, values_only=True):
        if row[0] is None:
            title = None
        elif title is None:
            title = row[0]
            tables[title] = []
        else:
            tables[title].append(tuple(value for value in row if value is not None))
    return tables


def test_dashboard_tables_and_chart(workspace: Workspace) -> None:
    _workspace(workspace).run(as_of="2024-02-24T10:00")
    book = load_workbook(workspace.root / "tracking.xlsx")
    assert book.sheetnames[-1] == DASHBOARD_TAB
    sheet = book[DASHBOARD_TAB]
    tables = _tables(sheet)
    totals = tables["Totals per group (all weeks, accrual)"]
    assert totals[0] == ("Group", "Leads", "Gross revenue", "Refunds", "Refund rate", "Net revenue")
    assert totals[1:] == [("Roofing US", 1, 20, 20, 1, 0), ("Solar US", 4, 145, 25, 0.25, 120),
                          ("All groups", 5, 165, 45, 0.4, 120)]
    caps = tables["Clients closest to their return-rate cap (last 30 days, as of 2024-02-24)"]
    assert caps[1:] == [("Zenith", 2, 1, 0.5, 0.5, 1), ("Acme", 3, 1, 0.3333, 1, 0.3333)]
    reasons = tables["Top return reasons (all requests)"]
    assert reasons[1:] == [("Wrong number", 2, 2, 0.5), ("(not recognised)", 1, 0, 0.25),
                           ("Did not convert", 1, 0, 0.25)]
    sources = tables["Returns by source (supplier)"]
    assert sources[1:] == [("Vendor A", 3, 2, 45, 0.6667), ("Vendor B", 2, 0, 0, 0)]
    assert sheet.cell(TABLES_ROW + 2, 3).number_format == "#,##0.00"

    # The chart's data, right of the chart; the week ending Feb 24 is under way: left out.
    block = [row for row in sheet.iter_rows(min_row=BLOCK_HEADER_ROW, max_row=TABLES_ROW - 1, min_col=BLOCK_COLUMN,
                                             max_col=BLOCK_COLUMN + 2, values_only=True) if row[0] is not None]
    assert block[0] == ("Week ending", "Roofing US", "Solar US")
    assert [(row[0].date(), row[1], row[2]) for row in block[1:]] == [(date(2024, 2, 17), 1, 0.5)]
    assert sheet.cell(1, 1).value == ("Refund rate by week per group (accrual), last 1 full week; "
                                      "the week ending Feb 24 is under way and left out")

    (chart,) = sheet._charts
    refs = [(series.tx.strRef.f, series.val.numRef.f, series.cat.numRef.f) for series in chart.series]
    assert [tuple(ref.replace("$", "") for ref in series) for series in refs] == [
        ("'Dashboard'!I2", "'Dashboard'!I3", "'Dashboard'!H3"),
        ("'Dashboard'!J2", "'Dashboard'!J3", "'Dashboard'!H3")]


def test_a_rerun_writes_nothing_and_a_new_group_places_the_chart_again(workspace: Workspace) -> None:
    _workspace(workspace).run(as_of="2024-02-24T10:00")
    path = workspace.root / "tracking.xlsx"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    again = workspace.run(as_of="2024-02-24T11:00")
    assert again.changes == [] and again.written == []
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before

    workspace.lead("P1", "2024-02-22 10:00", "Acme", "10.00", vertical="Pools")
    workspace.write()
    report = workspace.run(as_of="2024-02-24T12:00")
    assert report.exit_code == 0
    (chart,) = load_workbook(path)[DASHBOARD_TAB]._charts  # replaced, not doubled
    assert len(chart.series) == 3


def test_the_chart_is_placed_only_when_its_block_changes_shape() -> None:
    table = Table("T", ("A",), (None,), ())
    small = Dashboard((date(2024, 2, 17),), ("Solar US",), ((0.5,),), (table,))
    first = plan_dashboard(None, small)
    assert len(first.charts) == 1 and first.charts[0].last_series_column == BLOCK_COLUMN + 1
    grid: list[list] = []
    for write in first.writes:
        while len(grid) < write.row:
            grid.append([])
        grid[write.row - 1].extend([None] * (write.col - len(grid[write.row - 1])))
        grid[write.row - 1][write.col - 1] = write.value
    assert plan_dashboard(grid, small).writes == [] and plan_dashboard(grid, small).charts == []
    changed = Dashboard((date(2024, 2, 17),), ("Solar US",), ((0.25,),), (table,))
    assert plan_dashboard(grid, changed).charts == []  # new numbers, same shape: the chart reads them
    longer = Dashboard((date(2024, 2, 17), date(2024, 2, 24)), ("Solar US",), ((0.5,), (Decimal("0.1"),)), (table,))
    assert plan_dashboard(grid, longer).charts[0].last_row == BLOCK_HEADER_ROW + 2
