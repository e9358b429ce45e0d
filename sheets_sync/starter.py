"""``sheets-sync init``: copy the starter config and blank workbooks from ``templates/``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from openpyxl import Workbook

from .returns import CLIENT_COLUMNS, ENGINE_COLUMNS, REVIEW_COLUMNS, REVIEW_TAB

TEMPLATE_FILES = {
    "config.yaml": "config.yaml",
    "leads.xlsx": "leads.xlsx",
    "returns.xlsx": "returns/example.xlsx",
    "tracking.xlsx": "tracking.xlsx",
}
LEAD_HEADERS = ("Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price", "Cost", "Source", "Campaign")


def blank_workbooks() -> dict[str, Workbook]:
    """The blank workbooks ``templates/`` ships, built from the same names the engine uses."""
    books = {}
    for name, tab, header in (("leads.xlsx", "Leads", LEAD_HEADERS),
                              ("returns.xlsx", "Returns", (*CLIENT_COLUMNS, *ENGINE_COLUMNS)),
                              ("tracking.xlsx", REVIEW_TAB, REVIEW_COLUMNS)):
        book = Workbook()
        sheet = book.active
        sheet.title = tab
        sheet.append(list(header))
        sheet.freeze_panes = "A2"
        books[name] = book
    return books


def write_starter(directory: Path) -> list[Path]:
    """Copy every template into ``directory``; never overwrites (raises FileExistsError)."""
    targets = {name: directory / relative for name, relative in TEMPLATE_FILES.items()}
    for target in targets.values():
        if target.exists():
            raise FileExistsError(0, "exists", str(target))
    templates = files("sheets_sync.templates")
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(templates.joinpath(name).read_bytes())
    return list(targets.values())


if __name__ == "__main__":  # python -m sheets_sync.starter: rebuild the blank workbooks in templates/
    for file_name, workbook in blank_workbooks().items():
        workbook.save(Path(__file__).resolve().parents[1] / "templates" / file_name)
