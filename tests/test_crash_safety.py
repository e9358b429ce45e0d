"""Crash safety: ``sheets-sync run`` killed with SIGKILL anywhere, then run again.

Each case kills a real ``sheets-sync run`` process at one named checkpoint
(``SHEETS_SYNC_KILL_AT=<point>[#n]``, see ``sheets_sync/faults.py``): mid-read, before and
after the ledger commit, between two workbook saves, mid-save (the temporary copy half
written, or complete but not yet renamed), mid audit.csv append. Then:

* right after the kill no file is corrupt: openpyxl opens every workbook, SQLite's
  integrity check passes, audit.csv holds whole rows (a torn row only where the fault
  tears the append on purpose, as a power cut could);
* a second, ordinary run exits 0 and leaves no temporary file behind;
* the final state equals that of one uninterrupted run with the same ``--as-of``: every
  sheet's cells, the ledger's entries and first-seen stamps, and audit.csv (run ids aside).

LibreOffice opens a subset of the workbooks left by kills (``test_libreoffice_opens_...``).
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Queue
from typing import Any

import pytest
from conftest import Workspace
from openpyxl import load_workbook
from sync_state import WarmCli, copy_workspace, leftovers, run_cli, workspace_state

from sheets_sync import load_config, run_sync
from sheets_sync.core.project.audit import AUDIT_COLUMNS

FIRST_RUN = "2024-03-04T10:00"
SECOND_RUN = "2024-03-06T15:30"

# (name, run it interrupts, SHEETS_SYNC_KILL_AT settings, one per attempt before the final run)
KILLS: list[tuple[str, str, tuple[str, ...]]] = [
    ("run.locked", "second", ("run.locked",)),
    ("read.leads", "second", ("read.leads",)),
    ("excel.loaded#1 (tracking read)", "second", ("excel.loaded#1",)),
    ("read.tracking", "second", ("read.tracking",)),
    ("excel.loaded#3 (mid returns reads)", "second", ("excel.loaded#3",)),
    ("read.returns#1", "second", ("read.returns#1",)),
    ("read.returns#3", "second", ("read.returns#3",)),
    ("decided", "second", ("decided",)),
    ("ledger.before_commit", "second", ("ledger.before_commit",)),
    ("ledger.committed", "second", ("ledger.committed",)),
    ("write.workbook#1 (first save)", "second", ("write.workbook#1",)),
    ("excel.save.partial#1", "second", ("excel.save.partial#1",)),
    ("excel.before_replace#1", "second", ("excel.before_replace#1",)),
    ("excel.replaced#1", "second", ("excel.replaced#1",)),
    ("write.workbook#2 (between two saves)", "second", ("write.workbook#2",)),
    ("excel.save.partial#2", "second", ("excel.save.partial#2",)),
    ("excel.before_replace#3", "second", ("excel.before_replace#3",)),
    ("write.workbook#4 (tracking)", "second", ("write.workbook#4",)),
    ("excel.save.partial#4 (tracking)", "second", ("excel.save.partial#4",)),
    ("excel.before_replace#4 (tracking)", "second", ("excel.before_replace#4",)),
    ("excel.replaced#4 (tracking)", "second", ("excel.replaced#4",)),
    ("audit.before_append", "second", ("audit.before_append",)),
    ("audit.partial", "second", ("audit.partial",)),
    ("audit.appended", "second", ("audit.appended",)),
    ("run.done", "second", ("run.done",)),
    ("first run: ledger.before_commit", "first", ("ledger.before_commit",)),
    ("first run: excel.replaced#2", "first", ("excel.replaced#2",)),
    ("first run: excel.save.partial#4 (new tracking)", "first", ("excel.save.partial#4",)),
    ("first run: audit.partial (new audit.csv)", "first", ("audit.partial",)),
    ("twice: ledger.committed, then excel.save.partial#2", "second", ("ledger.committed", "excel.save.partial#2")),
    ("twice: audit.partial, then audit.partial", "second", ("audit.partial", "audit.partial")),
]
EXEC_CASES = ("ledger.committed", "excel.save.partial#2", "audit.partial", "run.locked")
"""Cases run through the installed console script, exec'd afresh (the others fork from a warm
interpreter that imported sheets-sync once: the same CLI code in its own process, faster)."""
LIBREOFFICE_CASES = ("excel.save.partial#1", "excel.before_replace#4 (tracking)", "excel.replaced#1",
                     "first run: excel.save.partial#4 (new tracking)")


def _build(root: Path) -> Workspace:
    """Three clients, two tracking groups, every status; a review waiting for the operator."""
    ws = Workspace(root)
    ws.policy.update(window_days=10)
    for number, day in enumerate((26, 27, 28, 29, 1, 2), start=1):
        month = 2 if day > 20 else 3
        ws.lead(f"A-00{number}", f"2024-{month:02d}-{day:02d} 10:00", "Acme", f"{20 + number}.50")
    for number, (vertical, country) in enumerate([("Solar", "US"), ("Roofing", "UK"), ("Roofing", "UK"),
                                                  ("Solar", "US"), ("Roofing", "UK")], start=1):
        ws.lead(f"Z-00{number}", f"2024-02-{24 + number:02d} 09:00", "Zenith", "12.35", vertical=vertical,
                country=country)
    for number in range(1, 5):
        ws.lead(f"B-00{number}", f"2024-02-{26 + number:02d} 11:00", "Birch Homes", "40.00", vertical="Roofing",
                country="UK")
    ws.client("Acme", [["A-001", "wrong number"], ["a-002 , A-003", "Wrong #"], ["A-004", "the lead was rude"]])
    ws.client("Zenith", [["Z-001", "disconnected"], ["Z-002", ""]])
    ws.client("Birch Homes", [["B-001", "fake info"]])
    ws.write()
    return ws


def _second_run_inputs(ws: Workspace) -> None:
    """What people did between the two runs: new pastes, an operator decision, ad spend."""
    ws.paste("Acme", [["A-005", "fake info"], ["A-001", "again"], ["A-006; A-999", "duplicate"]])
    ws.paste("Zenith", [["Z-999", "wrong number"], ["Z-003\nZ-004", "disconnected"]])
    ws.paste("Birch Homes", [["B-002", "no answer"], ["B-003", "out of area"]])
    tracking = ws.root / "tracking.xlsx"
    book = load_workbook(tracking)
    review = book["Review"]
    header = [cell.value for cell in review[1]]
    for row in review.iter_rows(min_row=2):
        if row[header.index("Lead ID")].value == "A-004":
            row[header.index("Decision")].value = "Approve"
    solar = book["Solar US"]
    for row in solar.iter_rows(min_row=2):
        if row[0].value == "Ad spend":
            row[1].value = 150
    book.save(tracking)


@dataclass
class Outcome:
    kill_codes: list[int] = field(default_factory=list)
    kill_output: list[str] = field(default_factory=list)
    problems_after_kill: list[str] = field(default_factory=list)
    state_after_kill: dict[str, Any] | None = None
    final_code: int | None = None
    final_output: str = ""
    leftovers: list[str] = field(default_factory=list)
    state: dict[str, Any] | None = None
    error: str | None = None


def _corruption(root: Path, torn_audit_allowed: bool) -> list[str]:
    """What is wrong with the files a killed run left (nothing, we expect)."""
    problems = []
    for path in sorted(root.rglob("*.xlsx")):
        try:
            load_workbook(path).close()
        except Exception as error:  # noqa: BLE001 -- any failure to open is the finding
            problems.append(f"{path.name} does not open: {error!r}")
    ledger = root / "ledger.sqlite"
    if ledger.exists():
        scratch = root.parent / f"{root.name}-ledger-check"
        scratch.mkdir()
        for companion in root.glob("ledger.sqlite*"):  # check a copy: the real one stays as the kill left it
            shutil.copy2(companion, scratch / companion.name)
        with closing(sqlite3.connect(scratch / "ledger.sqlite")) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
        shutil.rmtree(scratch)
        if verdict != "ok":
            problems.append(f"ledger integrity check: {verdict}")
    audit = root / "audit.csv"
    if audit.exists():
        data = audit.read_bytes()
        if data and not data.endswith(b"\n") and not torn_audit_allowed:
            problems.append("audit.csv ends in a torn row")
        whole = data[: data.rfind(b"\n") + 1].decode("utf-8-sig")
        widths = {len(row) for row in csv.reader(whole.splitlines())}
        if widths - {len(AUDIT_COLUMNS)}:
            problems.append(f"audit.csv rows of {sorted(widths)} fields")
    return problems


def _run_case(name: str, which: str, kills: tuple[str, ...], bases: dict[str, Path], work: Path,
              warm: Queue) -> Outcome:
    outcome = Outcome()
    if name in EXEC_CASES:
        return _run_case_with(run_cli, name, which, kills, bases, work, outcome)
    cli = warm.get()
    try:
        return _run_case_with(cli.run, name, which, kills, bases, work, outcome)
    finally:
        warm.put(cli)


def _run_case_with(run, name: str, which: str, kills: tuple[str, ...], bases: dict[str, Path], work: Path,
                   outcome: Outcome) -> Outcome:
    slug = "".join(char if char.isalnum() else "-" for char in name)
    root = copy_workspace(bases[which], work / slug)
    config = root / "config.yaml"
    as_of = FIRST_RUN if which == "first" else SECOND_RUN
    try:
        for kill_at in kills:
            killed = run(config, as_of, kill_at=kill_at)
            outcome.kill_codes.append(killed.returncode)
            outcome.kill_output.append(killed.stdout[-500:] + killed.stderr[-1500:])
            outcome.problems_after_kill += _corruption(root, torn_audit_allowed=kill_at.startswith("audit.partial"))
            if outcome.state_after_kill is None and not outcome.problems_after_kill:
                outcome.state_after_kill = workspace_state(root)
            if name in LIBREOFFICE_CASES:
                keep = work / "libreoffice" / slug
                keep.mkdir(parents=True, exist_ok=True)
                for path in root.rglob("*.xlsx"):
                    if not path.name.startswith("."):
                        shutil.copy2(path, keep / f"{path.parent.name}-{path.name}")
        final = run(config, as_of)
        outcome.final_code, outcome.final_output = final.returncode, final.stdout[-2000:] + final.stderr[-2000:]
        outcome.leftovers = leftovers(root)
        outcome.state = workspace_state(root)
    except Exception as error:  # noqa: BLE001 -- reported by the case's test
        outcome.error = repr(error)
    return outcome


@pytest.fixture(scope="module")
def crash_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every kill case, run in parallel real processes; and the uninterrupted references."""
    work = tmp_path_factory.mktemp("crash")
    first_base = _build(work / "base-first").root
    second = _build(work / "base-second")
    run_sync(load_config(second.config_path), as_of=datetime.fromisoformat(FIRST_RUN))
    _second_run_inputs(second)
    bases = {"first": first_base, "second": second.root}
    references = {}
    for which, as_of in (("first", FIRST_RUN), ("second", SECOND_RUN)):
        root = copy_workspace(bases[which], work / f"reference-{which}")
        done = run_cli(root / "config.yaml", as_of)
        assert done.returncode == 0, done.stderr
        references[which] = workspace_state(root)
    workers = max(2, min(4, os.cpu_count() or 2))
    warm: Queue = Queue()
    for number in range(workers):
        scratch = work / f"warm-{number}"
        scratch.mkdir()
        warm.put(WarmCli(scratch))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {name: pool.submit(_run_case, name, which, kills, bases, work, warm)
                       for name, which, kills in KILLS}
            outcomes = {name: future.result() for name, future in futures.items()}
    finally:
        while not warm.empty():
            warm.get().close()
    return {"references": references, "outcomes": outcomes, "work": work}


def test_the_reference_runs_cover_every_kind_of_write(crash_runs: dict[str, Any]) -> None:
    """The scenario is worth killing: decisions of every kind, three returns workbooks, the
    tracking workbook (with the operator's ad spend and review decision) and audit.csv."""
    second = crash_runs["references"]["second"]
    statuses = {entry[4] for entry in second["ledger"]["entries"]}
    assert {"Approved", "Rejected", "Needs review"} <= statuses
    assert {"decision", "review"} <= {entry[3] for entry in second["ledger"]["entries"]}
    assert set(second["workbooks"]) >= {"tracking.xlsx", "returns/acme.xlsx", "returns/zenith.xlsx",
                                        "returns/birch.xlsx"}
    solar = {row[0]: row[1:] for row in second["workbooks"]["tracking.xlsx"]["Solar US"]}
    assert solar["Ad spend"][0] == 150
    assert len(second["audit"]) == len(second["ledger"]["entries"]) + 1
    assert len(KILLS) >= 20 and len({(run, kills) for _, run, kills in KILLS}) == len(KILLS)


@pytest.mark.parametrize("name", [name for name, _, _ in KILLS])
def test_a_killed_run_is_finished_by_the_next(name: str, crash_runs: dict[str, Any]) -> None:
    which = next(run for case, run, _ in KILLS if case == name)
    outcome: Outcome = crash_runs["outcomes"][name]
    assert outcome.error is None, outcome.error
    assert outcome.kill_codes == [-signal.SIGKILL] * len(outcome.kill_codes), \
        f"the kill point was not reached: {outcome.kill_codes} {outcome.kill_output}"
    assert outcome.problems_after_kill == []
    assert outcome.final_code == 0, outcome.final_output
    assert outcome.leftovers == []
    reference = crash_runs["references"][which]
    assert outcome.state["ledger"] == reference["ledger"]
    assert outcome.state["audit"] == reference["audit"]
    assert outcome.state["workbooks"].keys() == reference["workbooks"].keys()
    for path, tabs in reference["workbooks"].items():
        assert outcome.state["workbooks"][path] == tabs, path
    # Not vacuous: the kill left work undone, except where everything was already durable.
    finished = name in ("excel.replaced#4 (tracking)", "run.done")  # the tracking workbook is written last
    assert (outcome.state_after_kill == reference) is finished


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.slow
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_opens_the_workbooks_a_kill_left(crash_runs: dict[str, Any]) -> None:
    """A real spreadsheet program opens what the kills left mid-save (one soffice run)."""
    folder = crash_runs["work"] / "libreoffice"
    sources = sorted(folder.rglob("*.xlsx"))
    assert len(sources) >= 4 * len(LIBREOFFICE_CASES)
    flat = crash_runs["work"] / "libreoffice-flat"
    flat.mkdir()
    for number, source in enumerate(sources):
        shutil.copy2(source, flat / f"{number:03d}-{source.parent.name}-{source.name}")
    out = crash_runs["work"] / "libreoffice-pdf"
    profile = crash_runs["work"] / "libreoffice-profile"
    subprocess.run([SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--calc", "--convert-to",
                    "pdf", "--outdir", str(out), *map(str, sorted(flat.iterdir()))],
                   check=True, capture_output=True, timeout=300)
    for source in sorted(flat.iterdir()):
        pdf = out / f"{source.stem}.pdf"
        assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF"), source.name


def test_a_torn_audit_row_is_dropped_even_when_it_was_cut_inside_a_quoted_field(workspace: Workspace) -> None:
    """A power cut can tear the append anywhere, also just after a newline inside a quoted
    field (a client name or lead ID with a line break): the next append drops the whole torn
    row, not just its last line, and rewrites it."""
    from sheets_sync.store.audit_csv import append_audit_csv
    from sheets_sync.store.ledger import read_entries

    workspace.lead("A-1", "2024-03-01 10:00", "Acme")
    workspace.lead("A-2", "2024-03-01 11:00", "Acme")
    workspace.client("Acme", [["A-1", "wrong number"], ["A-2", "disconnected"]])
    workspace.run(as_of="2024-03-04T10:00")
    audit = workspace.root / "audit.csv"
    whole = audit.read_bytes()
    header, first, _ = whole.split(b"\n", 2)
    audit.write_bytes(header + b"\n" + first + b'\nrun-x,2024-03-04 10:00,"Acme\nHoldings')  # torn mid-row
    entries = read_entries(load_config(workspace.config_path))
    assert append_audit_csv(audit, entries) == 1
    assert audit.read_bytes() == whole
