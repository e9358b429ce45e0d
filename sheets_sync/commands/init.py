"""``sheets-sync init``: copy the starter config and blank workbooks from ``templates/``."""

from __future__ import annotations

import io
import tempfile
from importlib.resources import files
from pathlib import Path

import yaml
from openpyxl import Workbook, load_workbook

from sheets_sync.backends.excel.workbook import ExcelWorkbook
from sheets_sync.config import STARTER_LEAD_HEADERS, Policy, parse_config
from sheets_sync.core.project.template import new_returns_tab
from sheets_sync.core.review import REVIEW_COLUMNS, REVIEW_TAB

TEMPLATE_FILES = {
    "config.yaml": "config.yaml",
    "leads.xlsx": "leads.xlsx",
    "returns.xlsx": "returns/example.xlsx",
    "tracking.xlsx": "tracking.xlsx",
    "gitignore": ".gitignore",
}


def write_returns_workbook(path: Path, policy: Policy, currency: str, tab: str = "Returns") -> None:
    """A client's blank returns workbook, drawn by the code that draws a returns tab the
    engine creates on a first sync (header, dropdown, protection, colours, policy note)."""
    spec, header = new_returns_tab(tab, policy, currency)
    with ExcelWorkbook(path, create=True) as workbook:
        workbook.write(header, [spec])


def blank_workbooks() -> dict[str, Workbook]:
    """The blank workbooks ``templates/`` ships, built from the same names the engine uses;
    ``returns.xlsx`` shows the starter config's policy."""
    books = {}
    for name, tab, header in (("leads.xlsx", "Leads", STARTER_LEAD_HEADERS),
                              ("tracking.xlsx", REVIEW_TAB, REVIEW_COLUMNS)):
        book = Workbook()
        sheet = book.active
        sheet.title = tab
        sheet.append(list(header))
        sheet.freeze_panes = "A2"
        books[name] = book
    templates = files("sheets_sync.templates")
    starter = parse_config(yaml.safe_load(templates.joinpath("config.yaml").read_text(encoding="utf-8")), Path("."))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "returns.xlsx"
        write_returns_workbook(path, starter.policy_for(next(iter(starter.clients), "")), starter.currency)
        books["returns.xlsx"] = load_workbook(io.BytesIO(path.read_bytes()))
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


if __name__ == "__main__":  # python -m sheets_sync.commands.init: rebuild the blank workbooks in templates/
    for file_name, workbook in blank_workbooks().items():
        workbook.save(Path(__file__).resolve().parents[1] / "templates" / file_name)
