"""The seed's story end to end: refunds reported on March 3 restate Feb 17 and Feb 24."""

from datetime import date
from decimal import Decimal

from conftest import Workspace


def test_refunds_reported_march_3_restate_the_weeks_the_leads_came_from(workspace: Workspace) -> None:
    workspace.settings["week_ends_on"] = "saturday"
    workspace.policy.update(window_days=30)
    workspace.lead("A1", "2024-02-12 10:00", "Acme", "25.00")
    workspace.lead("A2", "2024-02-13 11:00", "Acme", "30.00")
    workspace.lead("A3", "2024-02-20 09:00", "Acme", "40.00")
    workspace.lead("A4", "2024-02-21 09:00", "Acme", "45.50")
    workspace.client("Acme", [["A1", "wrong number"], ["A3", "disconnected"]])
    report = workspace.run(as_of="2024-03-03T10:00")
    assert report.exit_code == 0
    tab = workspace.tracking("Solar US")
    feb17, feb24, mar2, mar9 = date(2024, 2, 17), date(2024, 2, 24), date(2024, 3, 2), date(2024, 3, 9)
    assert tab["Refunded leads"][feb17] == 1 and tab["Refunded leads"][feb24] == 1
    assert Decimal(str(tab["Refunds"][feb17])) == Decimal("25.00")
    assert Decimal(str(tab["Refunds"][feb24])) == Decimal("40.00")
    assert tab["Refunded leads"][mar9] == 0
    assert Decimal(str(tab["Refunds reported (cash view)"][mar9])) == Decimal("65.00")
    assert tab["Refunds reported (cash view)"][feb17] == 0
    assert list(tab["Leads delivered"]) == [feb17, feb24, mar2, mar9]
    rows = workspace.returns("Acme")
    assert [row["Status"] for row in rows] == ["Approved", "Approved"]
    assert rows[0]["Week restated"].date() == feb17
    again = workspace.run(as_of="2024-03-04T10:00")
    assert again.changes == [] and again.new_entries == []
