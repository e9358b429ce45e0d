"""Helpers of the reliability tests: run ``sheets-sync`` as a real process, and capture a
workspace's whole visible state (every sheet's cells, the ledger, audit.csv) to compare runs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from sheets_sync.faults import KILL_ENV, PAUSE_ENV


def sheets_sync_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m sheets_sync``."""
    script = Path(sys.executable).with_name("sheets-sync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sheets_sync"]


def run_cli(config: Path, as_of: str, *, kill_at: str | None = None, pause_at: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``sheets-sync run --config CONFIG --as-of AS_OF --json`` in a fresh process."""
    return subprocess.run([*sheets_sync_command(), "run", "--config", str(config), "--as-of", as_of, "--json"],
                          env=cli_env(kill_at=kill_at, pause_at=pause_at), capture_output=True, text=True,
                          timeout=timeout, cwd=config.parent, check=False)


_WARM_SERVER = r"""
import json, os, sys
import sheets_sync.cli
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, name in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.argv = ["sheets-sync", *request["args"]]
        try:
            sheets_sync.cli.main()
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class WarmCli:
    """Runs ``sheets-sync`` in processes forked from one interpreter that has imported it.

    Each run is still its own process executing the CLI's ``main()`` (so SIGKILL kills just
    that run, and its exit code or signal is what a scheduler would see); forking skips the
    half second of imports an exec would repeat, which keeps a 30-kill harness fast.
    """

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._count = 0
        self._server = subprocess.Popen([sys.executable, "-c", _WARM_SERVER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=cli_env())

    def run(self, config: Path, as_of: str, *, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
        self._count += 1
        out, err = self._scratch / f"run-{self._count}.out", self._scratch / f"run-{self._count}.err"
        args = ["run", "--config", str(config), "--as-of", as_of, "--json"]
        request = {"cwd": str(config.parent), "env": cli_env(kill_at=kill_at), "args": args,
                   "stdout": str(out), "stderr": str(err)}
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        code = json.loads(self._server.stdout.readline())["code"]
        return subprocess.CompletedProcess(args, code, out.read_text(), err.read_text())

    def close(self) -> None:
        self._server.stdin.close()
        self._server.wait(timeout=30)


def start_cli(config: Path, as_of: str, *, pause_at: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*sheets_sync_command(), "run", "--config", str(config), "--as-of", as_of, "--json"],
                            env=cli_env(pause_at=pause_at), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=config.parent)


def cli_env(*, kill_at: str | None = None, pause_at: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in (KILL_ENV, PAUSE_ENV)}
    env["PYTHONUNBUFFERED"] = "1"
    if kill_at:
        env[KILL_ENV] = kill_at
    if pause_at:
        env[PAUSE_ENV] = pause_at
    return env


def copy_workspace(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def workbook_cells(path: Path) -> dict[str, list[list[Any]]]:
    """Every tab's cell values, in tab order (formulas as their text)."""
    book = load_workbook(path)
    try:
        return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}
    finally:
        book.close()


def ledger_state(path: Path) -> dict[str, list[tuple]]:
    """The ledger's entries (run ids left out) and first-seen stamps."""
    if not path.exists():
        return {"entries": [], "sightings": []}
    with closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(entries)") if row[1] != "run_id"]
        entries = db.execute(f"SELECT {', '.join(columns)} FROM entries ORDER BY seq").fetchall()
        sightings = db.execute("SELECT client, pasted_key, first_seen FROM sightings"
                               " ORDER BY client, pasted_key").fetchall()  # run IDs are random
    return {"entries": entries, "sightings": sightings}


def audit_state(path: Path) -> list[list[str]]:
    """audit.csv's rows without the Run column (run ids differ between runs)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [row[1:] for row in csv.reader(handle)]


def workspace_state(root: Path) -> dict[str, Any]:
    """What a person or a program sees of a workspace after a run."""
    workbooks = {str(path.relative_to(root)): workbook_cells(path)
                 for path in sorted(root.rglob("*.xlsx")) if not path.name.startswith((".", "~$"))}
    return {"workbooks": workbooks, "ledger": ledger_state(root / "ledger.sqlite"),
            "audit": audit_state(root / "audit.csv")}


def leftovers(root: Path) -> list[str]:
    """Temporary copies a run left behind."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.tmp"))
