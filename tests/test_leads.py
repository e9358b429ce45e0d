"""Lead log readers: Excel (calamine), CSV; bad rows reported and left out."""

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import LEAD_HEADERS, write_xlsx

from sheets_sync.backends.base import WorkbookError
from sheets_sync.config import LeadsConfig
from sheets_sync.leadlog import read_lead_log

ZONE = ZoneInfo("America/New_York")


def test_excel_lead_log_keeps_ids_as_text_and_money_exact(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "leads.xlsx", {"Leads": [
        LEAD_HEADERS,
        ["000123", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", 33.35, 10.1, "A"],
        ["123", "2024-02-12T23:30:00-05:00", "Acme", "Solar", "US", "12.5", None, "A"],
        [4567, "2024-02-13", " Acme ", "Solar", "US", 1, 0, ""],
    ]})
    leads, problems = read_lead_log(LeadsConfig(excel=path, tab="Leads"), ZONE)
    assert problems == []
    assert [lead.lead_id for lead in leads] == ["000123", "123", "4567"]
    assert [lead.price for lead in leads] == [Decimal("33.35"), Decimal("12.50"), Decimal("1.00")]
    assert leads[0].cost == Decimal("10.10") and leads[1].cost == Decimal("0.00")
    assert leads[1].delivered_on.isoformat() == "2024-02-12"
    assert leads[2].client == "Acme"


def test_bad_rows_are_reported_with_row_numbers_and_left_out(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "Lead ID,Delivered At,Client,Vertical,Country,Price\n"
        "A1,2024-02-12 10:00,Acme,Solar,US,10.00\n"
        ",2024-02-12 10:00,Acme,Solar,US,10.00\n"
        "A2,yesterday,Acme,Solar,US,10.00\n"
        "A3,2024-02-12 10:00,Acme,Solar,US,ten\n"
        "A1,2024-02-13 10:00,Acme,Solar,US,11.00\n"
        "A4,2024-02-12 10:00,Acme,Solar,US,-5\n"
        "\n"
        "A5,2024-02-12 10:00,,Solar,US,5\n"
        "A6,2024-02-14 08:00,Acme,Solar,US,\"1,234.50\"\n",
        encoding="utf-8",
    )
    leads, problems = read_lead_log(LeadsConfig(csv=path, tab=None), ZONE)
    assert [lead.lead_id for lead in leads] == ["A1", "A6"]
    assert leads[1].price == Decimal("1234.50")
    assert [(problem.row, problem.message.split(" ")[0]) for problem in problems] == [
        (3, "no"), (4, "Delivered"), (5, "Price"), (6, "Lead"), (7, "Price"), (9, "no")]
    assert "already on row 2" in problems[3].message


def test_header_mapping_and_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("ID,When,Buyer,Vertical,Country,Price\nA1,2024-02-12,Acme,Solar,US,1\n", encoding="utf-8")
    leads, problems = read_lead_log(LeadsConfig(csv=path, tab=None, columns={"lead_id": "ID", "delivered_at": "When",
                                                                             "client": "Buyer"}), ZONE)
    assert [lead.client for lead in leads] == ["Acme"] and problems == []
    with pytest.raises(WorkbookError, match="no column headed 'Lead ID'.*leads.columns"):
        read_lead_log(LeadsConfig(csv=path, tab=None), ZONE)


def test_huge_and_non_finite_amounts_are_reported_per_row_not_raised(tmp_path: Path) -> None:
    """Amounts a spreadsheet cannot show to the cent (1e26 would also overflow Decimal's
    quantize and the ledger's integers) leave their row out with a message, like any bad price."""
    path = write_xlsx(tmp_path / "leads.xlsx", {"Leads": [
        LEAD_HEADERS,
        ["MAX", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", "9999999999999.99", 0, "A"],
        ["E26", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", 1e26, 0, "A"],
        ["E13", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", "10,000,000,000,000", 0, "A"],
        ["TEXT", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", "1e400", 0, "A"],
        ["INF", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", "-Infinity", 0, "A"],
        ["COST", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", 1, 1e308, "A"],
        ["NEG", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", -1, 0, "A"],
    ]})
    leads, problems = read_lead_log(LeadsConfig(excel=path, tab="Leads"), ZONE)
    assert [(lead.lead_id, lead.price) for lead in leads] == [("MAX", Decimal("9999999999999.99"))]
    too_large = "is not an amount (beyond 9,999,999,999,999.99, the most a spreadsheet shows to the cent)"
    assert [(problem.row, problem.message) for problem in problems] == [
        (3, f"Price '1e+26' {too_large}; row left out"),
        (4, f"Price '10,000,000,000,000' {too_large}; row left out"),
        (5, f"Price '1e400' {too_large}; row left out"),
        (6, "Price '-Infinity' is not an amount; row left out"),
        (7, f"Cost '1e+308' {too_large}; row left out"),
        (8, "Price '-1' is below zero; row left out"),
    ]


@pytest.mark.parametrize(("typed", "read"), [
    ("05.12.2026 10:00", datetime(2026, 12, 5, 10, 0)),
    ("Dec 5, 2026", datetime(2026, 12, 5)),
    ("5 December 2026 3:30 PM", datetime(2026, 12, 5, 15, 30)),
    ("2026/12/05 07:15:30", datetime(2026, 12, 5, 7, 15, 30)),
    ("25/12/2026", datetime(2026, 12, 25)),
    ("12/25/2026 08:00", datetime(2026, 12, 25, 8, 0)),
    ("2026-12-05T10:00", datetime(2026, 12, 5, 10, 0)),
])
def test_csv_dates_in_the_forms_people_export_are_read(tmp_path: Path, typed: str, read: datetime) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(",".join(LEAD_HEADERS) + f'\nL1,"{typed}",Acme,Solar,US,10,4,A\n', encoding="utf-8")
    leads, problems = read_lead_log(LeadsConfig(csv=path), ZONE)
    assert problems == [] and leads[0].delivered_at.replace(tzinfo=None) == read


def test_a_date_that_could_be_two_days_is_left_out_saying_both_until_the_order_is_set(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(",".join(LEAD_HEADERS) + "\nL1,12/05/2026 10:00,Acme,Solar,US,10,4,A\n"
                    "L2,31.02.2026,Acme,Solar,US,10,4,A\n", encoding="utf-8")
    leads, problems = read_lead_log(LeadsConfig(csv=path), ZONE)
    assert leads == [] and [problem.row for problem in problems] == [2, 3]
    assert problems[0].message == ("Delivered At '12/05/2026 10:00' could be 12 May or 5 December 2026: set "
                                   "leads.date_order to day_first or month_first in the config, or write "
                                   "year-month-day (2026-05-12 or 2026-12-05); row left out")
    assert problems[1].message.startswith("Delivered At '31.02.2026' is not a date (read: 2026-12-05 10:00 (ISO")
    for order, day in (("day_first", datetime(2026, 5, 12, 10)), ("month_first", datetime(2026, 12, 5, 10))):
        leads, _ = read_lead_log(LeadsConfig(csv=path, date_order=order), ZONE)
        assert [lead.delivered_at.replace(tzinfo=None) for lead in leads] == [day]
