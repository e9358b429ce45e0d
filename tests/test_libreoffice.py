"""A real spreadsheet program opens the tracking workbook: LibreOffice recalculates every
formula row and must agree with what the engine computes from the lead log and ledger."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import Workspace
from openpyxl import Workbook, load_workbook

from sheets_sync.backends.excel.workbook import ExcelWorkbook
from sheets_sync.core.cells import CellWrite

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

if SOFFICE is None and os.environ.get("SHEETS_SYNC_REQUIRE_LIBREOFFICE") == "1":
    pytest.fail("LibreOffice is required here (SHEETS_SYNC_REQUIRE_LIBREOFFICE=1) but soffice is not installed",
                pytrace=False)
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")


def _convert(source: Path, target_format: str, out_dir: Path) -> Path:
    profile = out_dir / "profile"
    subprocess.run([SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--calc",
                    "--convert-to", target_format, "--outdir", str(out_dir), str(source)],
                   check=True, capture_output=True, timeout=180)
    converted = out_dir / f"{source.stem}.{target_format.split(':')[0]}"
    assert converted.exists(), f"LibreOffice did not write {converted.name}"
    return converted


def _expected(row: dict[str, object]) -> dict[str, object]:
    """The formula rows, computed in Python from the engine rows and operator inputs."""
    def number(label: str) -> Decimal:
        value = row.get(label)
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)

    net_leads = number("Leads delivered") - number("Refunded leads")
    net_revenue = number("Gross revenue") - number("Refunds")
    gross_profit = net_revenue - number("Lead cost") - number("Ad spend")
    return {
        "Net leads": net_leads,
        "Net revenue": net_revenue,
        "Refund rate": number("Refunded leads") / number("Leads delivered") if number("Leads delivered") else None,
        "CTR": number("Clicks") / number("Impressions") if number("Impressions") else None,
        "CPR": (number("Ad spend") + number("Lead cost")) / net_leads if net_leads else None,
        "Gross profit": gross_profit,
        "Margin": gross_profit / net_revenue if net_revenue else None,
    }


def test_libreoffice_recalculates_every_formula_row_as_the_engine_computes(workspace: Workspace,
                                                                             tmp_path: Path) -> None:
    workspace.policy.update(window_days=30)
    prices = ["33.35", "12.10", "45.00", "19.99", "27.45", "60.00"]
    for number in range(24):
        day = 5 + number % 20
        workspace.lead(f"{number:05d}", f"2024-02-{day:02d} 10:00", "Acme", prices[number % len(prices)],
                       cost=f"{3 + number % 4}.25", vertical="Solar" if number % 3 else "Roofing")
    workspace.client("Acme", [[f"{number:05d}", "wrong number"] for number in (1, 2, 4, 7, 9, 12)])
    workspace.run(as_of="2024-02-26T10:00")

    path = workspace.root / "tracking.xlsx"
    book = load_workbook(path)
    sheet = book["Solar US"]
    labels = {sheet.cell(row, 1).value: row for row in range(2, sheet.max_row + 1)}
    sheet.cell(labels["Ad spend"], 2).value = 120.5
    sheet.cell(labels["Impressions"], 2).value = 10000
    sheet.cell(labels["Clicks"], 2).value = 250
    sheet.cell(labels["Ad spend"], 3).value = 80
    book.save(path)

    recalculated = load_workbook(_convert(path, "xlsx", tmp_path / "lo"), data_only=True)
    checked = 0
    for tab in ("Solar US", "Roofing US"):
        rows = {row[0]: row[1:] for row in recalculated[tab].iter_rows(min_row=2, values_only=True) if row[0]}
        weeks = [cell for cell in next(recalculated[tab].iter_rows(max_row=1, values_only=True))[1:]]
        assert all(isinstance(week, datetime) for week in weeks)
        for index in range(len(weeks)):
            week = {label: values[index] for label, values in rows.items()}
            for label, wanted in _expected(week).items():
                shown = week[label]
                if wanted is None:
                    assert shown in (None, ""), (tab, label, index, shown)
                else:
                    assert abs(Decimal(str(shown)) - wanted) < Decimal("1e-9"), (tab, label, index, shown, wanted)
                checked += 1
    assert checked >= 7 * 6


def test_the_demo_workbooks_convert_to_pdf(tmp_path: Path) -> None:
    from sheets_sync import load_config, run_sync
    from sheets_sync.commands.demo import DEMO_AS_OF, make_demo

    config = make_demo(tmp_path / "demo")
    run_sync(load_config(config), as_of=DEMO_AS_OF)
    for workbook in (tmp_path / "demo" / "tracking.xlsx", tmp_path / "demo" / "returns" / "zenith.xlsx"):
        pdf = _convert(workbook, "pdf", tmp_path / "pdf")
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000


def test_libreoffice_reads_a_workbook_written_without_openpyxl(tmp_path: Path) -> None:
    """Statuses set straight in the XML of a returns workbook read by value (excel_patch.py)."""
    path = tmp_path / "returns.xlsx"
    book = Workbook()
    book.active.title = "Returns"
    for row in (["Lead ID", "Reason"], ["000123", "wrong number"], ["BB-7K2M9QX", None]):
        book.active.append(row)
    book.save(path)
    with ExcelWorkbook(path) as workbook:
        workbook.read(["Returns"])
        workbook.write([CellWrite("Returns", 1, 3, "Status"), CellWrite("Returns", 2, 3, "Approved"),
                        CellWrite("Returns", 2, 4, Decimal("12.50"), "#,##0.00"),
                        CellWrite("Returns", 3, 3, "=not a formula"),
                        CellWrite("Returns", 3, 5, date(2025, 12, 29), "yyyy-mm-dd")])
        assert workbook._book is None
    lines = _convert(path, "csv", tmp_path / "lo").read_text().splitlines()
    assert lines == ["Lead ID,Reason,Status,,", "000123,wrong number,Approved,12.5,",
                     "BB-7K2M9QX,,=not a formula,,2025-12-29"]
