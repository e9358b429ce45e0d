"""The bad-input corpus (tests/bad_inputs.py) through the real CLI, one subprocess per run.

For every kind of bad input:

* a ``--dry-run`` changes no file at all (bytes and modification times), and ``check``
  names the same problem (same exit code) without changing any file either;
* the run ends with SPEC §5's exit code and no traceback: exit 2 is one ``error:`` sentence
  on stderr; otherwise stdout is the one-line summary and stderr one ``problem:`` or
  ``failed:`` line each, every failed source named, and the other sources are still synced;
* each client's returns tab shows the expected ``Status`` per row;
* nothing the engine must not touch changes: every client-owned cell (every tab, every cell
  outside the engine columns), the lead log, the config, and the broken input itself when
  the engine cannot use it (bytes, modification time and permissions);
* no cell the engine wrote holds more than a cell can hold, and no client cell became a
  formula;
* a second run (``--json``) after a successful one decides nothing and writes no cell.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bad_inputs import AS_OF, CASES, EXCEL_CELL_LIMIT, BadInput, acme_path, build
from conftest import Workspace, read_xlsx
from openpyxl import load_workbook

from sheets_sync.core.project.credits import CREDITS_TAB

ENGINE_COLUMNS = ("status", "detail", "credit", "week restated", "first seen")
ENGINE_HIDDEN_FILE = re.compile(r"(^|/)\.[^/]+$")
"""The engine's own hidden files (locks, caches) beside the ledger and the workbooks."""


def cli(ws: Workspace, *arguments: str, command: str = "run") -> subprocess.CompletedProcess[str]:
    extra = ["--as-of", AS_OF] if command == "run" else []
    return subprocess.run([sys.executable, "-m", "sheets_sync", command, "--config", str(ws.config_path), *extra,
                           *arguments], capture_output=True, text=True, timeout=600)


def files(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under ``root`` with its bytes, modification time and permissions."""
    return {str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns,
                                          stat.S_IMODE(path.stat().st_mode))
            for path in sorted(root.rglob("*")) if path.is_file()}


def returns_workbooks(ws: Workspace) -> dict[str, Path]:
    """Each client's returns workbook, by client."""
    return {name: ws.root / client["returns"]["excel"] for name, client in ws.clients.items()
            if "excel" in client["returns"]}


def engine_columns(header: list[Any]) -> set[int]:
    """0-based columns the engine owns: the first column under each engine header."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        found.setdefault(str(cell).strip().casefold() if cell is not None else "", index)
    return {found[name] for name in ENGINE_COLUMNS if name in found}


def client_cells(path: Path, tab: str = "Returns") -> dict[str, Any] | None:
    """Every client-owned cell of a workbook: all of every other tab but the engine's own
    ``Credits``, and the returns tab outside the engine columns. ``None`` when the file is no
    workbook."""
    try:
        book = load_workbook(path)
    except Exception:
        return None
    cells: dict[str, Any] = {}
    for sheet in book.worksheets:
        if sheet.title == CREDITS_TAB and tab != CREDITS_TAB:
            continue
        rows = [list(row) for row in sheet.iter_rows()]
        owned = engine_columns([cell.value for cell in rows[0]]) if sheet.title == tab and rows else set()
        for cells_of_row in rows:
            for index, cell in enumerate(cells_of_row):
                if index not in owned and cell.value is not None:
                    cells[f"{sheet.title}!{cell.coordinate}"] = (cell.value, cell.data_type)
    return cells


def statuses(path: Path, tab: str = "Returns") -> list[Any]:
    rows = read_xlsx(path, tab)
    header = [str(cell).strip().casefold() if cell is not None else "" for cell in rows[0]]
    if "status" not in header:
        return [None] * (len(rows) - 1)
    column = header.index("status")
    return [row[column] if column < len(row) else None for row in rows[1:]]


def longest_text(path: Path) -> int:
    """The longest text of any cell, in UTF-16 code units (how spreadsheets count)."""
    book = load_workbook(path)
    return max((len(cell.value.encode("utf-16-le")) // 2 for sheet in book.worksheets for row in sheet.iter_rows()
                for cell in row if isinstance(cell.value, str)), default=0)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr[-3000:]


# -- checks only some cases need ------------------------------------------------------------------------------


def _merged(ws: Workspace) -> None:
    grid = read_xlsx(acme_path(ws), "Returns")
    assert [row[2] for row in grid[1:4]] == ["n1", "n2", "n3"]      # the Note merged over Status kept its text
    assert "A4:A5" in {str(merged) for merged in load_workbook(acme_path(ws))["Returns"].merged_cells.ranges}


def _ten_thousand(ws: Workspace) -> None:
    row = read_xlsx(acme_path(ws), "Returns")[1]
    assert len(row[0]) > EXCEL_CELL_LIMIT                            # the client's cell is as pasted
    assert re.search(r"\.\.\. and \d+ more IDs than one cell can list", row[4])
    assert Decimal(str(row[5])) == Decimal("10")                     # A1, the one real lead among them


def _enormous(ws: Workspace) -> None:
    row = read_xlsx(acme_path(ws), "Returns")[1]
    assert row[3] == "Needs review" and len(row[4]) < 400            # the Detail quotes the start of the reason
    review = read_xlsx(ws.root / "tracking.xlsx", "Review")[1]
    assert review[2].startswith("the lead was bad because very") and len(review[2]) <= EXCEL_CELL_LIMIT


def _formulas(ws: Workspace) -> None:
    sheet = load_workbook(acme_path(ws))["Returns"]
    for row in sheet.iter_rows(min_row=2):
        assert row[0].data_type == ("f" if row[0].value.startswith("=") else "s")  # the client's formulas stay
        for cell in row[3:]:
            assert cell.data_type != "f"
            if isinstance(cell.value, str) and cell.value.startswith("="):
                assert cell.quotePrefix                              # stays text if someone edits the cell


def _header_mangled(ws: Workspace) -> None:
    rows = read_xlsx(ws.root / "tracking.xlsx", "Solar US")
    assert rows[0][:2] == ["Metric", datetime(2024, 3, 3)]            # the engine's heading is back
    assert next(row for row in rows if row[0] == "Ad spend")[1] == 123.45  # the operator's figure is kept


def _duplicates(ws: Workspace) -> None:
    summary = json.loads(cli(ws, "--json").stdout)
    assert any("Lead ID A1 of Acme already on row 2" in problem for problem in summary["problems"])


def _huge_amounts(ws: Workspace) -> None:
    """Each row is reported by its number, with the amount as the sheet shows it."""
    problems = json.loads(cli(ws, "--json").stdout)["problems"]
    for row, shown in ((8, "Price '1e+26'"), (9, "Price '1e+308'"), (10, "Price '1E+400'"), (11, "Price 'NaN'"),
                       (12, "Cost '1e+20'")):
        assert any(problem.startswith(f"leads.xlsx row {row}: {shown} is not an amount") for problem in problems), \
            (row, problems)
    assert Decimal(str(ws.tracking("Solar US")["Gross revenue"][date(2024, 3, 3)])) == Decimal("42.00")


def _tracking_read_only(ws: Workspace) -> None:
    assert stat.S_IMODE((ws.root / "tracking.xlsx").stat().st_mode) == 0o444


EXTRA_CHECKS: dict[str, Callable[[Workspace], None]] = {
    "merged_cells": _merged,
    "ten_thousand_ids_in_one_cell": _ten_thousand,
    "enormous_reason": _enormous,
    "formulas_and_hyperlinks": _formulas,
    "tracking_week_header_mangled": _header_mangled,
    "lead_log_duplicate_ids": _duplicates,
    "tracking_workbook_read_only": _tracking_read_only,
    "huge_amounts": _huge_amounts,
}
SLOW = {"pasted_50000_rows"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else [])
                                  for name in CASES])
def test_bad_input(name: str, tmp_path: Path) -> None:
    case: BadInput = CASES[name]
    ws = build(name, tmp_path)
    before = files(ws.root)
    owned_before = {client: client_cells(path) for client, path in returns_workbooks(ws).items() if path.is_file()}

    dry = cli(ws, "--dry-run")
    no_traceback(dry)
    assert dry.returncode in (case.exit_code, 0), dry.stdout + dry.stderr
    assert files(ws.root) == before, "a dry run changed a file"

    checked = cli(ws, command="check")    # check names the same problem before any run (an unusable
    no_traceback(checked)                 # ledger file is one failed source there: exit 1)
    assert checked.returncode == (1 if name == "ledger_not_sqlite" else case.exit_code), checked.stdout
    if case.exit_code == 1:
        assert "✗" in checked.stdout
    assert {path: value for path, value in files(ws.root).items() if path in before} == before

    result = cli(ws)
    no_traceback(result)
    assert result.returncode == case.exit_code, result.stdout + result.stderr
    if case.exit_code == 2:
        assert result.stdout == ""
        assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0, result.stderr
        assert case.message in result.stderr
        after = files(ws.root)
        assert {path: value for path, value in after.items() if path in before} == before
        assert all(ENGINE_HIDDEN_FILE.search(path) for path in set(after) - set(before)), set(after) - set(before)
        return
    assert result.stdout.count("\n") == 1, result.stdout + result.stderr
    told = result.stderr.splitlines()
    assert all(line.startswith(("problem: ", "failed: ")) for line in told), result.stderr
    failed = [line.removeprefix("failed: ") for line in told if line.startswith("failed: ")]
    assert len(failed) == len(case.failing) and f"{len(case.failing)} failed sources" in result.stdout
    for source, message in zip(case.failing, failed):
        assert source in message.split(": ")[0] and case.message in message, message

    after = files(ws.root)
    for path in ("config.yaml", *[path for path in before if path.startswith("leads.")], *case.untouched):
        assert after.get(path) == before.get(path), f"{path} changed"
    for client, path in returns_workbooks(ws).items():
        if owned_before.get(client) is not None:
            owned_after = client_cells(path)
            assert owned_after is not None and \
                {cell: value for cell, value in owned_after.items() if cell in owned_before[client]} == \
                owned_before[client], f"{client}'s own cells changed"
            added = set(owned_after) - set(owned_before[client])
            assert all(re.fullmatch(r"Returns![A-Z]+1", cell) for cell in added), \
                f"the engine wrote outside its columns: {sorted(added)[:5]}"  # only headers of a tab it made
        if client in case.statuses:
            assert statuses(path) == case.statuses[client], client
        if path.is_file() and path.suffix == ".xlsx" and client_cells(path) is not None:
            assert longest_text(path) <= EXCEL_CELL_LIMIT or name == "ten_thousand_ids_in_one_cell"
    if (ws.root / "tracking.xlsx").is_file() and "tracking.xlsx" not in case.untouched:
        assert longest_text(ws.root / "tracking.xlsx") <= EXCEL_CELL_LIMIT
    if name in EXTRA_CHECKS:
        EXTRA_CHECKS[name](ws)

    again = cli(ws, "--json")
    no_traceback(again)
    summary = json.loads(again.stdout)
    assert again.returncode == case.exit_code and summary["exit_code"] == case.exit_code
    if case.exit_code == 0:
        assert summary["decisions"] == {} and summary["cells_written"] == 0, "a second run changed something"


def test_the_corpus_has_at_least_thirty_kinds() -> None:
    assert len(CASES) >= 30
    assert len({case.what for case in CASES.values()}) == len(CASES)


def test_the_password_protected_workbook_is_an_encrypted_office_container(tmp_path: Path) -> None:
    """What the generator writes is what Excel writes for a password to open: an OLE
    compound file with the EncryptionInfo and EncryptedPackage streams (file(1) agrees)."""
    from bad_inputs import encrypted_workbook

    path = tmp_path / "locked.xlsx"
    path.write_bytes(encrypted_workbook())
    data = path.read_bytes()
    assert data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    assert "EncryptionInfo".encode("utf-16-le") in data and "EncryptedPackage".encode("utf-16-le") in data
    found = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True) if Path("/usr/bin/file").exists() \
        else None
    if found is not None and found.returncode == 0:
        assert "Encrypted" in found.stdout or "CDFV2" in found.stdout, found.stdout
