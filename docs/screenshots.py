"""Render the README's screenshots from the demo: ``python docs/screenshots.py``.

Builds the demo workspace as of its fixed day (DEMO_AS_OF), keeps one tab per picture, asks LibreOffice
for a PDF and pdftoppm for a PNG (needs ``soffice`` and ``pdftoppm``). Not part of the
package; the pictures it writes are committed under docs/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from sheets_sync import load_config, run_sync
from sheets_sync.commands.demo import DEMO_AS_OF, TIMEZONE, make_demo

DOCS = Path(__file__).resolve().parent
RESOLUTION = 60  # dots per inch: readable, and each picture stays well under 200 KB
PICTURES = {  # picture -> (workbook in the demo, tab, rows to show)
    "tracking-tab.png": ("tracking.xlsx", "Solar UK", None),
    "dashboard.png": ("tracking.xlsx", "Dashboard", None),
    "returns-tab.png": ("returns/zenith.xlsx", "Returns", 40),
}


def _single_tab_copy(source: Path, tab: str, rows: int | None, target: Path) -> Path:
    book = load_workbook(source)
    for other in [name for name in book.sheetnames if name != tab]:
        del book[other]
    sheet = book[tab]
    if rows is not None:
        sheet.print_area = f"A1:{sheet.cell(1, sheet.max_column).column_letter}{rows}"
    # The engine's own page setup (landscape, gridlines as the tab needs), on one A3 page
    # with the row and column headings, so the picture shows where things are.
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A3
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 1
    sheet.print_options.headings = True
    book.save(target)
    return target


def main() -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None or shutil.which("pdftoppm") is None:
        sys.exit("needs LibreOffice (soffice) and pdftoppm")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        config = make_demo(work / "demo")
        run_sync(load_config(config), as_of=DEMO_AS_OF.replace(tzinfo=ZoneInfo(TIMEZONE)))
        for picture, (workbook, tab, rows) in PICTURES.items():
            single = _single_tab_copy(work / "demo" / workbook, tab, rows, work / f"{Path(picture).stem}.xlsx")
            subprocess.run([soffice, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless",
                            "--convert-to", "pdf", "--outdir", str(work), str(single)],
                           check=True, capture_output=True, timeout=180)
            subprocess.run(["pdftoppm", "-png", "-r", str(RESOLUTION), "-f", "1", "-l", "1", "-singlefile",
                            str(single.with_suffix(".pdf")), str(DOCS / Path(picture).stem)], check=True)
            print(f"{DOCS / picture}: {(DOCS / picture).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
