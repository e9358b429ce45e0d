"""The README quotes the demo: its figures, its report and its quick-start commands are
checked against a demo built as `make demo` builds it, so the text and the product agree."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
PROGRAM = Path(sys.executable).with_name("sheets-sync")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder `make demo` would leave, built the same way (the installed command)."""
    root = tmp_path_factory.mktemp("clone")
    made = subprocess.run([str(PROGRAM), "demo"], cwd=root, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    return root


def _solar_uk(demo: Path) -> dict[str, dict[str, object]]:
    sheet = load_workbook(demo / "sheets-sync-demo" / "tracking.xlsx")["Solar UK"]
    weeks = [cell.value for cell in sheet[1]]
    return {row[0].value: {f"{weeks[column]:%b} {weeks[column].day}": cell for column, cell in enumerate(row)
                           if isinstance(weeks[column], datetime)} for row in sheet.iter_rows(min_row=2) if row[0].value}


def test_the_story_table_is_the_demos_solar_uk_tab(demo: Path) -> None:
    table = re.search(r"\| week ending \|(.+)\|\n\|[-| ]+\|\n((?:\|.+\|\n)+)", README)
    assert table is not None
    weeks = [week.strip() for week in table[1].split("|")]
    tab = _solar_uk(demo)
    for line in table[2].splitlines():
        label, *figures = [part.strip() for part in line.strip("|").split("|")]
        shown = [Decimal(str(tab[label.strip("`")][week].value)) for week in weeks]
        assert [Decimal(figure) for figure in figures] == shown, label


def test_the_notes_and_figures_the_readme_quotes_are_the_demos(demo: Path) -> None:
    tab = _solar_uk(demo)
    notes = {cell.comment.text for row in tab.values() for cell in row.values() if cell.comment}
    for quoted in re.findall(r"`(Restated [^`]+)`", README):
        assert quoted in notes
    sentence = re.search(r"ending 2019-02-24 shows ([\d.]+) of accrual refunds .* and ([\d.]+)\nin the cash view",
                         README, re.S)
    assert sentence is not None
    assert Decimal(sentence[1]) == Decimal(str(tab["Refunds"]["Feb 24"].value))
    assert Decimal(sentence[2]) == Decimal(str(tab["Refunds reported (cash view)"]["Feb 24"].value))


def test_the_quick_start_commands_run_as_written_and_the_report_is_the_one_quoted(demo: Path) -> None:
    block = re.search(r"```sh\n(\.venv/bin/sheets-sync .+?)```", README, re.S)
    assert block is not None
    outputs = []
    for line in block[1].splitlines():
        command = shlex.split(line.split("#")[0])
        assert command[0] == ".venv/bin/sheets-sync"
        ran = subprocess.run([str(PROGRAM), *command[1:]], cwd=demo, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, (line, ran.stderr)
        outputs.append(ran.stdout)
    assert "0 cells written" in outputs[0] and "no new decisions" in outputs[0]
    quote = re.search(r"for example on the demo.*?\n\n((?:> [^\n]+\n)+)", README, re.S)
    assert quote is not None
    quoted = " ".join(line.removeprefix("> ") for line in quote[1].splitlines())
    printed = " ".join(outputs[1].split()).split("• ")[1].split(" Defect returns by lead source")[0]
    assert quoted == printed
