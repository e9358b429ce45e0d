"""``python -m bench``: time a year of a busy agency through sheets-sync, phase by phase.

For each size: the read floor (python-calamine reading the same lead log, nothing else),
the first sync, an incremental sync after clients paste new requests, and a no-op sync.
Each phase runs in a fresh subprocess, which reports its own wall time (imports excluded)
and peak RSS (``resource.getrusage``). Every target of the performance issue is printed
beside its figure with PASS or FAIL. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from .workload import (
    AS_OF_FIRST,
    AS_OF_INCREMENTAL,
    AS_OF_NOOP,
    CACHE_DIR,
    SIZES,
    Params,
    copy_workspace,
    ensure_workspace,
    paste_incremental,
)

ROOT = Path(__file__).resolve().parent.parent
GB = 1024**3
MB = 1024**2

# The issue's targets.
FIRST_OVER_FLOOR = 2.0
INCREMENTAL_OVER_FIRST = 0.5
PEAK_MEMORY = 2 * GB
GROWTH_EXPONENT = 1.1
""""Linear or better" with room for noise: time ~ size**k with k at most this."""

PHASES = ("floor", "first", "incremental", "noop")
GOOGLE_PHASES = ("google-first", "google-noop")
REQUESTS_PER_SPREADSHEET = 2  # one read (tab list and values together), one write
WRITES_PER_MINUTE = 60  # Google's limits per user, reads and writes each (and 300 per project)
GOOGLE_SECONDS_PER_SPREADSHEET = 220 / 201  # the issue's target: 201 spreadsheets in 220 s (floor 201 s)
JUDGED_SPREADSHEETS = 120  # below two quota minutes of reads, start-up and round trips outweigh the quota


# -- the child: one phase in a fresh process ------------------------------------------------------


def _peak_rss() -> int:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


def _cpu_seconds() -> float:
    """CPU time of the phase's process and of the worker processes it has finished with
    (the sync saves Excel workbooks in a pool of them)."""
    import resource

    return sum(usage.ru_utime + usage.ru_stime
               for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def _child(phase: str, workspace: Path, as_of: str | None, result_path: Path, profile: Path | None) -> int:
    from python_calamine import CalamineWorkbook  # noqa: F401  (imported before the clock starts)

    from sheets_sync import load_config, run_sync

    baseline = _peak_rss()
    steps: list[tuple[str, float]] = []
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    result: dict[str, Any] = {"phase": phase, "baseline_rss": baseline}
    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    if phase == "floor":
        config = load_config(workspace / "config.yaml")
        book = CalamineWorkbook.from_path(str(config.leads.excel))
        rows = book.get_sheet_by_name(config.leads.tab or book.sheet_names[0]).to_python(skip_empty_area=False)
        result["rows"] = len(rows)
        del rows
    else:
        def on_step(step: str) -> None:
            steps.append((step, time.perf_counter()))

        config = load_config(workspace / "config.yaml")
        report = run_sync(config, as_of=datetime.fromisoformat(as_of) if as_of else None, on_step=on_step)
        summary = report.as_json()
        result.update(
            leads_read=summary["leads_read"],
            decisions=summary["decisions"],
            rows_by_status=summary["rows_by_status"],
            cells_written=summary["cells_written"],
            workbooks_written=len(summary["workbooks_written"]),
            audit_rows_added=summary["audit_rows_added"],
            problems=len(summary["problems"]),
            errors=summary["errors"],
            exit_code=summary["exit_code"],
        )
    finished = time.perf_counter()
    result["cpu_seconds"] = _cpu_seconds() - cpu_started
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    result["seconds"] = finished - started
    result["peak_rss"] = _peak_rss()
    result["steps"] = _step_seconds(steps, started, finished)
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


def _step_seconds(steps: list[tuple[str, float]], started: float, finished: float) -> dict[str, float]:
    """Seconds per ``on_step`` step of a sync; the 200 "Reading returns of X" steps add up."""
    totals: dict[str, float] = {}
    marks = [("Starting", started), *steps, ("", finished)]
    for (name, begin), (_, end) in zip(marks, marks[1:]):
        name = "Reading returns tabs" if name.startswith("Reading returns of ") else name
        totals[name] = totals.get(name, 0.0) + end - begin
    return {name: round(seconds, 3) for name, seconds in totals.items()}


# -- the parent: phases, checks, report -----------------------------------------------------------


def _run_child(phase: str, workspace: Path, as_of: datetime | None, profile: Path | None,
               extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    result_path = workspace / f".bench-{phase}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench", "--child", phase, "--workspace", str(workspace),
               "--result", str(result_path)]
    if as_of is not None:
        command += ["--as-of", as_of.isoformat()]
    if profile is not None:
        command += ["--profile", str(profile)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           **(extra_env or {})}
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"bench phase {phase} failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    result["process_seconds"] = wall
    return result


def _snapshot(workspace: Path) -> dict[str, tuple[int, int, str]]:
    """(size, mtime_ns, sha1) of every file a run may write (lock files and SQLite's
    scratch files left out)."""
    files = {}
    for path in sorted(workspace.rglob("*")):
        name = path.name
        if not path.is_file() or name.endswith((".lock", "-wal", "-shm", "-journal")) or name.startswith(".bench-"):
            continue
        stat = path.stat()
        digest = hashlib.sha1(path.read_bytes()).hexdigest() if name != "leads.xlsx" else ""
        files[str(path.relative_to(workspace))] = (stat.st_size, stat.st_mtime_ns, digest)
    return files


def run_size(name: str, params: Params, *, cache: Path = CACHE_DIR, repeat: int = 1, keep: bool = False,
             profile_dir: Path | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every phase of one size (each phase ``repeat`` times on fresh copies; medians kept)."""
    load_average = _load_average()
    source = ensure_workspace(params, cache, log=log)
    meta = json.loads((source / "meta.json").read_text(encoding="utf-8"))
    runs: list[dict[str, Any]] = []
    for attempt in range(repeat):
        workspace = cache / "runs" / f"{params.key}-{os.getpid()}-{attempt}"
        shutil.rmtree(workspace, ignore_errors=True)
        copy_workspace(source, workspace)
        phases: dict[str, Any] = {}

        def phase(label: str, as_of: datetime | None) -> dict[str, Any]:
            profile = profile_dir / f"{name}-{label}.prof" if profile_dir and attempt == 0 else None
            log(f"  {name}: {label} ...")
            phases[label] = result = _run_child(label, workspace, as_of, profile)
            log(f"  {name}: {label} {result['seconds']:.2f} s, peak {result['peak_rss'] / MB:.0f} MB"
                + (f", {result['cells_written']} cells, {result['workbooks_written']} workbooks written"
                   if "cells_written" in result else ""))
            if result.get("exit_code"):
                raise RuntimeError(f"bench phase {label} of {name}: sync exit code {result['exit_code']}: "
                                   f"{result['errors']}")
            return result

        phase("floor", None)
        phase("first", AS_OF_FIRST)
        phases["incremental_rows_pasted"] = paste_incremental(workspace)
        phase("incremental", AS_OF_INCREMENTAL)
        before = _snapshot(workspace)
        phase("noop", AS_OF_NOOP)
        after = _snapshot(workspace)
        phases["noop_files_changed"] = sorted(path for path in set(before) | set(after)
                                              if before.get(path) != after.get(path))
        runs.append(phases)
        if not keep:
            shutil.rmtree(workspace, ignore_errors=True)
        else:
            log(f"  kept {workspace}")
    merged = dict(runs[0])
    for label in PHASES:
        for figure in ("seconds", "cpu_seconds", "peak_rss", "process_seconds"):
            merged[label][figure] = statistics.median(run[label][figure] for run in runs)
    return {"name": name, "params": meta["params"], "meta": meta, "repeat": repeat, "load_average": load_average,
            **merged}


# -- Google Sheets: the same workspace with every returns tab and the tracking workbook on Sheets --


_SPREADSHEET_IN_PATH = re.compile(r"/v4/spreadsheets/([^/:]+)")


def _google_config(workspace: Path, ids: dict[str, str], tracking_id: str, key_file: Path) -> None:
    import yaml

    path = workspace / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    for client in config["clients"].values():
        client["returns"] = {"google": ids[client["returns"]["excel"]], "tab": "Returns"}
    config["tracking"] = {"google": tracking_id, "group_by": config["tracking"]["group_by"]}
    config["google"] = {"credentials": key_file.name}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _sheet_rows(path: Path) -> dict[str, list[list[Any]]]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    return {name: [[None if cell == "" else cell for cell in row]
                   for row in book.get_sheet_by_name(name).to_python()] for name in book.sheet_names}


def run_google(name: str, params: Params, *, cache: Path = CACHE_DIR, minute: float = 60.0, keep: bool = False,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """First and no-op sync with the returns tabs and the tracking workbook on a local
    FakeSheetsServer that answers 429 past Google's limits (60 reads and 60 writes per user,
    300 each per project, per ``minute`` seconds); the lead log stays the Excel file. Counts the Sheets calls per spreadsheet, answered and refused."""
    from sheets_sync.testing import FakeSheetsServer

    source = ensure_workspace(params, cache, log=log)
    workspace = cache / "runs" / f"{params.key}-google-{os.getpid()}"
    shutil.rmtree(workspace, ignore_errors=True)
    copy_workspace(source, workspace)
    calls: list[tuple[str, int, str]] = []
    phases: dict[str, Any] = {}
    with FakeSheetsServer(observe=lambda exchange: calls.append(
            (exchange.path, exchange.status, exchange.api_method))) as server:
        ids = {}
        for path in sorted((workspace / "returns").glob("*.xlsx")):
            ids[f"returns/{path.name}"] = server.create_spreadsheet(path.stem, _sheet_rows(path))
        tracking_id = server.create_spreadsheet("Tracking")
        key_file = workspace / "service-account.json"
        server.service_account_file(key_file)
        _google_config(workspace, ids, tracking_id, key_file)
        server.google_quota(window_seconds=minute)
        for label, as_of in (("google-first", AS_OF_FIRST), ("google-noop", AS_OF_NOOP)):
            start = len(calls)
            log(f"  {name}: {label} ({len(ids) + 1} spreadsheets, {WRITES_PER_MINUTE} reads and writes per "
                f"{minute:g} s) ...")
            result = _run_child(label, workspace, as_of, None, {"SHEETS_SYNC_GOOGLE_API_URL": server.url})
            per_spreadsheet: dict[str, list[int]] = {}
            for path, status, api_method in calls[start:]:
                match = _SPREADSHEET_IN_PATH.match(path)
                if match:
                    per_spreadsheet.setdefault(match[1], []).append(status)
            answered = {sid: sum(1 for status in statuses if status != 429)
                        for sid, statuses in per_spreadsheet.items()}
            result.update(
                spreadsheets=len(per_spreadsheet),
                max_requests_per_spreadsheet=max(answered.values(), default=0),
                max_requests_per_client_spreadsheet=max((count for sid, count in answered.items()
                                                         if sid != tracking_id), default=0),
                tracking_requests=answered.get(tracking_id, 0),
                requests_answered=sum(answered.values()),
                refused_429=sum(statuses.count(429) for statuses in per_spreadsheet.values()),
                writes=sum(1 for _, status, api_method in calls[start:] if status != 429 and _is_write(api_method)),
                quota_minutes=result["seconds"] / minute,
            )
            phases[label] = result
            log(f"  {name}: {label} {result['seconds']:.1f} s, exit {result.get('exit_code')}, "
                f"max {result['max_requests_per_spreadsheet']} requests per spreadsheet, "
                f"{result['writes']} writes, {result['refused_429']} answered 429")
    if not keep:
        shutil.rmtree(workspace, ignore_errors=True)
    return {"name": name, "params": asdict(params), "minute": minute, **phases}


def _is_write(api_method: str) -> bool:
    return api_method.endswith(("batchUpdate", ".update", ".append", ".clear", "batchClear"))


def google_targets(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    rows = []
    for label in GOOGLE_PHASES:
        phase = result[label]
        rows.append((f"{label}: requests per spreadsheet <= {REQUESTS_PER_SPREADSHEET}",
                     f"max {phase['max_requests_per_spreadsheet']} answered over {phase['spreadsheets']} "
                     f"spreadsheets (tracking {phase['tracking_requests']}), {phase['refused_429']} more "
                     "answered 429 and retried",
                     phase["max_requests_per_spreadsheet"] <= REQUESTS_PER_SPREADSHEET))
        rows.append((f"{label}: 0 requests refused (429)", f"{phase['refused_429']} answered 429",
                     phase["refused_429"] == 0))
        if phase["spreadsheets"] >= JUDGED_SPREADSHEETS:  # where the quota, not start-up, sets the time
            limit = phase["spreadsheets"] * GOOGLE_SECONDS_PER_SPREADSHEET * result["minute"] / 60
            rows.append((f"{label}: <= {limit:.0f} s for {phase['spreadsheets']} spreadsheets "
                         f"(floor {phase['spreadsheets'] * result['minute'] / 60:.0f} s)",
                         f"{phase['seconds']:.1f} s", phase["seconds"] <= limit))
        errors = phase["errors"]
        failed = f"{len(errors)} sources failed, e.g. {errors[0]['message'][:110]}" if errors else "no source failed"
        rows.append((f"{label}: finishes under {WRITES_PER_MINUTE} reads and writes/min",
                     f"exit {phase['exit_code']}, {phase['writes']} writes in {phase['seconds']:.1f} s "
                     f"({phase['quota_minutes']:.1f} quota minutes), {failed}",
                     phase["exit_code"] == 0))
    return rows


def _is_the_issues_workload(params: dict[str, Any]) -> bool:
    issue = SIZES["large"]
    return (params["leads"], params["returns"], params["clients"]) == (issue.leads, issue.returns, issue.clients)


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, figure, passed) for one size; ``passed`` is ``None`` for the ratio targets at
    other sizes than the issue's workload (the large one), which they are set for: a smaller
    workload's floor is a fraction of a second beside a tracking workbook's fixed cost."""
    floor, first, incremental, noop = (result[label] for label in PHASES)
    judged = _is_the_issues_workload(result["params"])
    peak = max(result[label]["peak_rss"] for label in ("first", "incremental", "noop"))
    workbooks_changed = [path for path in result["noop_files_changed"] if path.endswith(".xlsx")]
    return [
        (f"first sync <= {FIRST_OVER_FLOOR:g} x read floor",
         f"{first['seconds']:.2f} s / {floor['seconds']:.2f} s = {first['seconds'] / floor['seconds']:.2f} x",
         first["seconds"] <= FIRST_OVER_FLOOR * floor["seconds"] if judged else None),
        (f"incremental ({result['incremental_rows_pasted']} new rows) <= {INCREMENTAL_OVER_FIRST:g} x first",
         f"{incremental['seconds']:.2f} s / {first['seconds']:.2f} s = "
         f"{incremental['seconds'] / first['seconds']:.2f} x",
         incremental["seconds"] <= INCREMENTAL_OVER_FIRST * first["seconds"] if judged else None),
        ("no-op run writes 0 cells, rewrites no workbook",
         f"{noop['cells_written']} cells, {noop['workbooks_written']} workbooks written, "
         f"files changed: {', '.join(result['noop_files_changed']) or 'none'}",
         noop["cells_written"] == 0 and noop["workbooks_written"] == 0 and not workbooks_changed),
        (f"peak memory <= {PEAK_MEMORY / GB:g} GB", f"{peak / MB:.0f} MB", peak <= PEAK_MEMORY),
    ]


def growth(results: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """Between consecutive sizes: the exponent k in time ~ leads**k (and memory)."""
    rows = []
    ordered = sorted(results, key=lambda result: result["params"]["leads"])
    for smaller, larger in zip(ordered, ordered[1:]):
        ratio = larger["params"]["leads"] / smaller["params"]["leads"]
        if ratio <= 1:
            continue
        for label in ("first", "incremental"):
            for figure, unit in (("seconds", "time"), ("peak_rss", "peak memory")):
                a, b = smaller[label][figure], larger[label][figure]
                exponent = math.log(b / a) / math.log(ratio) if a > 0 and b > 0 else 0.0
                rows.append((f"{label} sync {unit} {smaller['name']} -> {larger['name']} (x{ratio:g} leads)",
                             f"x{b / a:.2f}, exponent {exponent:.2f}", exponent <= GROWTH_EXPONENT))
    return rows


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(str(cell).ljust(width) for cell, width in zip(header, widths)) + " |",
             "|" + "|".join("-" * (width + 2) for width in widths) + "|"]
    lines += ["| " + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + " |" for row in rows]
    return "\n".join(lines)


def render(results: list[dict[str, Any]], google: list[dict[str, Any]] = ()) -> tuple[str, bool]:
    out = [f"machine: {platform.machine()}, {os.cpu_count()} cores, {_memory_gb()} GiB, "
           f"Python {platform.python_version()}, {platform.platform()}; engine at {_revision()}",
           "1-minute load average when each size started (other work on the machine skews wall times): "
           + ", ".join(f"{result['name']} {result.get('load_average', '?')}" for result in results)]
    figure_rows = []
    for result in results:
        p = result["params"]
        size = f"{result['name']} ({p['leads']:,} leads / {p['returns']:,} req / {p['clients']} clients)"
        for label in PHASES:
            phase = result[label]
            figure_rows.append([
                size, label, f"{phase['seconds']:.2f}", f"{phase['cpu_seconds']:.2f}",
                f"{phase['process_seconds']:.2f}",
                f"{phase['peak_rss'] / MB:.0f}", str(phase.get("cells_written", "-")),
                str(phase.get("workbooks_written", "-")),
                ", ".join(f"{k} {v}" for k, v in sorted(phase.get("decisions", {}).items())) or "-",
            ])
    out += ["", "Figures (seconds: wall time in the phase's process, imports excluded; cpu s: its CPU time and "
                "its workers'; process s: the whole subprocess as the parent saw it)",
            _table(figure_rows, ["size", "phase", "seconds", "cpu s", "process s", "peak MB", "cells written",
                                 "workbooks written", "decisions"])]
    step_rows = []
    for result in results:
        for label in ("first", "incremental", "noop"):
            steps = result[label]["steps"]
            step_rows.append([result["name"], label, *(f"{steps.get(step, 0):.2f}" for step in _STEPS)])
    out += ["", "Where a sync's time goes (seconds between run_sync's on_step calls)",
            _table(step_rows, ["size", "phase", *_STEP_HEADERS])]
    all_passed = True
    target_rows = []
    for result in results:
        for target, figure, passed in targets(result):
            all_passed &= passed is not False
            verdict = "not judged (set for the large size)" if passed is None else "PASS" if passed else "FAIL"
            target_rows.append([result["name"], target, figure, verdict])
    for target, figure, passed in growth(results):
        all_passed &= passed
        target_rows.append(["growth", target, figure, "PASS" if passed else "FAIL"])
    for result in google:
        for target, figure, passed in google_targets(result):
            all_passed &= passed
            target_rows.append([f"{result['name']} (Google)", target, figure, "PASS" if passed else "FAIL"])
    if google:
        google_rows = [[result["name"], label, f"{phase['seconds']:.2f}", f"{phase['peak_rss'] / MB:.0f}",
                        str(phase["cells_written"]), str(phase["workbooks_written"]), str(phase["requests_answered"]),
                        str(phase["refused_429"])]
                       for result in google for label, phase in ((label, result[label]) for label in GOOGLE_PHASES)]
        out += ["", f"Google Sheets (FakeSheetsServer, {WRITES_PER_MINUTE} reads and {WRITES_PER_MINUTE} writes per "
                "quota minute)",
                _table(google_rows, ["size", "phase", "seconds", "peak MB", "cells written", "spreadsheets written",
                                     "requests answered", "answered 429"])]
    out += ["", "Targets", _table(target_rows, ["size", "target", "figure", "result"])]
    return "\n".join(out), all_passed


_STEPS = ("Starting", "Reading returns tabs", "Reading the lead log", "Reading the tracking workbook",
          "Matching pasted IDs", "Deciding", "Writing returns tabs", "Writing the tracking workbook")
_STEP_HEADERS = ["config", "returns read", "lead log+index", "tracking read", "ID matching", "decide+ledger",
                 "returns write", "tracking write+audit"]


def _revision() -> str:
    """The commit the engine was measured at, and whether the work tree differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sheets_sync"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    return f"{head or 'unknown revision'}{' + uncommitted changes in sheets_sync/' if dirty else ''}"


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def _memory_gb() -> str:
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GB:.0f}"
    except (ValueError, OSError, AttributeError):
        return "?"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Time a year of a busy agency through "
                                     "sheets-sync, phase by phase; see bench/README.md.")
    parser.add_argument("--size", choices=[*SIZES, "all"], help="a named workload (default: all three)")
    parser.add_argument("--leads", type=int, help="custom workload: delivered leads")
    parser.add_argument("--returns", type=int, help="custom workload: return requests (lead IDs pasted)")
    parser.add_argument("--clients", type=int, help="custom workload: clients (one returns workbook each)")
    parser.add_argument("--new", type=int, default=500, help="requests pasted before the incremental run (500)")
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--seed", type=int, default=20240303)
    parser.add_argument("--repeat", type=int, default=1, help="run every phase N times on fresh copies; medians")
    parser.add_argument("--cache", type=Path, default=CACHE_DIR, help=f"generated workspaces ({CACHE_DIR})")
    parser.add_argument("--keep", action="store_true", help="keep the synced scratch workspace")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="write cProfile stats of every phase to DIR")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--google", action="store_true",
                        help="also sync every size with the clients' returns and the tracking workbook on Google "
                             "Sheets (a local FakeSheetsServer limiting reads and writes as Google does)")
    parser.add_argument("--google-minute", type=float, default=60.0, metavar="SECONDS",
                        help="how long the fake server's quota 'minute' lasts (60; less to run faster)")
    parser.add_argument("--child", choices=[*PHASES, *GOOGLE_PHASES], help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.workspace, args.as_of, args.result, args.profile)
    custom = (args.leads, args.returns, args.clients)
    if any(value is not None for value in custom):
        if None in custom or args.size:
            parser.error("a custom workload needs all of --leads, --returns and --clients, and no --size")
        sizes = [("custom", Params(args.leads, args.returns, args.clients, args.new, args.weeks, args.seed))]
    else:
        names = list(SIZES) if args.size in (None, "all") else [args.size]
        sizes = [(name, Params(SIZES[name].leads, SIZES[name].returns, SIZES[name].clients, args.new, args.weeks,
                               args.seed)) for name in names]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        print(f"profiling: cProfile stats go to {args.profile} (timings are inflated by the profiler)")
    results = [run_size(name, params, cache=args.cache, repeat=args.repeat, keep=args.keep,
                        profile_dir=args.profile) for name, params in sizes]
    google = [run_google(name, params, cache=args.cache, minute=args.google_minute, keep=args.keep)
              for name, params in sizes] if args.google else []
    text, all_passed = render(results, google)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"excel": results, "google": google}, indent=2, default=str),
                             encoding="utf-8")
    return 1 if args.strict and not all_passed else 0


if __name__ == "__main__":
    sys.exit(main())
