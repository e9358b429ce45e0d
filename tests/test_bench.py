"""The performance bench still works: a tiny workload through every phase, in subprocesses.

The figures at this size mean nothing; what is checked is that the generated workspace is
what the engine expects (every phase syncs with exit code 0, requests get decided) and
that the no-op run writes no cell and rewrites no file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from python_calamine import CalamineWorkbook

# bench/ is a top-level folder of the project, not part of the installed package; `python -m
# pytest` from the project root finds it, a bare `pytest` needs the root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.__main__ import google_targets, render, run_google, run_size, targets
from bench.workload import Params, ensure_workspace
from sheets_sync import load_config
from sheets_sync.leadlog import read_lead_log

TINY = Params(leads=2_000, returns=50, clients=3, new_requests=20)


def test_generated_lead_log_reads_back_exactly(tmp_path: Path) -> None:
    workspace = ensure_workspace(TINY, tmp_path, log=lambda message: None)
    rows = CalamineWorkbook.from_path(str(workspace / "leads.xlsx")).get_sheet_by_name("Leads").to_python()
    assert rows[0][:6] == ["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price"]
    assert len(rows) == TINY.leads + 1
    config = load_config(workspace / "config.yaml")
    leads, problems = read_lead_log(config.leads, config.zone)
    assert problems == [] and len(leads) == TINY.leads
    assert any(lead.lead_id.startswith("0") for lead in leads)  # zero-padded IDs survive as text
    meta = json.loads((workspace / "meta.json").read_text())
    assert meta["returns_rows"] > 0 and meta["new_rows"] > 0


def test_bench_runs_every_phase_and_the_noop_run_writes_nothing(tmp_path: Path) -> None:
    result = run_size("tiny", TINY, cache=tmp_path, log=lambda message: None)
    assert result["floor"]["rows"] == TINY.leads + 1
    first, incremental, noop = result["first"], result["incremental"], result["noop"]
    assert first["leads_read"] == TINY.leads
    assert first["cells_written"] > 0 and first["workbooks_written"] == TINY.clients + 1
    assert sum(first["decisions"].values()) > 0
    assert result["incremental_rows_pasted"] > 0 and sum(incremental["decisions"].values()) > 0
    assert noop["cells_written"] == 0 and noop["workbooks_written"] == 0
    assert noop["decisions"] == {}
    assert result["noop_files_changed"] == []
    assert all(result[phase]["peak_rss"] > 0 for phase in ("floor", "first", "incremental", "noop"))
    checks = {target: passed for target, _, passed in targets(result)}
    assert checks["no-op run writes 0 cells, rewrites no workbook"]
    assert checks["first sync <= 2 x read floor"] is None  # the ratios are judged at the size only
    text, _ = render([result])
    assert "PASS" in text and "first sync <= 2 x read floor" in text and "not judged" in text
    judged = {**result, "params": {**result["params"], "leads": 1_000_000, "returns": 50_000, "clients": 200}}
    assert [passed for target, _, passed in targets(judged) if "x read floor" in target] in ([True], [False])
    assert list((tmp_path / "runs").iterdir()) == []  # scratch copies are removed


def test_google_bench_counts_requests_per_spreadsheet(tmp_path: Path) -> None:
    result = run_google("tiny", TINY, cache=tmp_path, minute=5, log=lambda message: None)
    first, noop = result["google-first"], result["google-noop"]
    assert first["exit_code"] == 0 and first["cells_written"] > 0
    assert first["spreadsheets"] == TINY.clients + 1
    assert 0 < first["max_requests_per_spreadsheet"] <= 3
    assert noop["exit_code"] == 0 and noop["cells_written"] == 0 and noop["writes"] == 0
    assert all(passed for _, _, passed in google_targets(result))
