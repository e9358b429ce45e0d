"""A workspace whose ledger is a PostgreSQL database (``ledger: {url: ...}``), end to end
through the real CLI, against a throwaway server (tests/pg_cluster.py):

* it syncs exactly as the same workspace with a SQLite file does (workbooks, audit.csv and
  the ledger's entries alike), and ``check``, ``report``, ``undo``, ``close`` and
  ``statement`` work on it;
* two runs from two processes (two machines) are serialised by the database's lock: the
  second waits briefly, then runs after the first or exits 1 with one sentence;
* a run killed mid-commit leaves the ledger whole, and the next run finishes the work;
* a database that is down, refuses the login or is not a ledger of this version: one
  sentence naming ``ledger.url``, exit 2, never a traceback -- and the password, whether in
  the URL, ``PGPASSWORD`` or a ``.pgpass`` file, never appears in any output, ``--json``
  or log.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from conftest import Workspace
from pg_cluster import PASSWORD, ROLE, Cluster, _free_port
from sync_state import audit_state, cli_env, ledger_state, run_cli, sheets_sync_command, start_cli, workbook_cells

from sheets_sync import load_config, run_sync
from sheets_sync.store.ledger import LedgerError

AS_OF = "2024-03-04T10:00"
WRONG_PASSWORD = "Wr0ng-Ledger-pw"


def _workspace(root: Path, ledger_url: str | None = None) -> Workspace:
    """Two clients, each request with a known outcome."""
    ws = Workspace(root, ledger_url=ledger_url)
    for number, day in enumerate((26, 27, 28, 29), start=1):
        ws.lead(f"A-{number}", f"2024-02-{day} 10:00", "Acme", f"1{number}.00")
    ws.lead("Z-1", "2024-02-27 10:00", "Zenith", "20.00", vertical="Roofing", country="UK")
    ws.client("Acme", [["A-1", "wrong number"], ["A-2", "no answer"], ["A-3", "disconnected"]])
    ws.client("Zenith", [["Z-1", "disconnected"]])
    ws.write()
    return ws


def database_state(url: str) -> dict[str, list[tuple]]:
    """The ledger's entries (run ids left out) and first-seen stamps, as sync_state.ledger_state has a file's."""
    with psycopg.connect(url) as db:
        if db.execute("SELECT to_regclass('entries') IS NULL").fetchone()[0]:
            return {"entries": [], "sightings": []}
        columns = [row[0] for row in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'entries' AND column_name <> "
            "'run_id' ORDER BY ordinal_position")]
        return {"entries": db.execute(f"SELECT {', '.join(columns)} FROM entries ORDER BY seq").fetchall(),
                "sightings": db.execute("SELECT client, pasted_key, first_seen FROM sightings"
                                        " ORDER BY client, pasted_key").fetchall()}


def state(ws: Workspace, ledger_url: str | None = None) -> dict:
    """What a person sees of a workspace: every workbook's cells, audit.csv, the ledger."""
    return {"workbooks": {str(path.relative_to(ws.root)): workbook_cells(path)
                          for path in sorted(ws.root.rglob("*.xlsx")) if not path.name.startswith((".", "~$"))},
            "audit": audit_state(ws.root / "audit.csv"),
            "ledger": database_state(ledger_url) if ledger_url else ledger_state(ws.root / "ledger.sqlite")}


def sheets_sync(config: Path, *arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sheets_sync_command(), *arguments, "--config", str(config)], capture_output=True,
                          text=True, timeout=120, cwd=config.parent, env={**cli_env(), **(env or {})}, check=False)


@pytest.fixture
def reference(tmp_path: Path) -> dict:
    """The same workspace with its ledger in a file, run once."""
    ws = _workspace(tmp_path / "on-file")
    assert run_cli(ws.config_path, AS_OF).returncode == 0
    return state(ws)


def test_a_workspace_with_its_ledger_in_postgresql_syncs_as_one_with_a_file(
        tmp_path: Path, ledger_url: str, reference: dict) -> None:
    ws = _workspace(tmp_path / "in-db", ledger_url)
    dry = sheets_sync(ws.config_path, "run", "--dry-run", "--json", "--as-of", AS_OF)
    assert dry.returncode == 0, dry.stderr  # a dry run first: it changes nothing, makes no table
    assert database_state(ledger_url) == {"entries": [], "sightings": []}
    first = run_cli(ws.config_path, AS_OF)
    assert first.returncode == 0, first.stderr
    assert state(ws, ledger_url) == reference
    assert not (ws.root / "ledger.sqlite").exists()
    again = json.loads(run_cli(ws.config_path, "2024-03-04T11:00").stdout)
    assert again["decisions"] == {} and again["cells_written"] == 0 and again["audit_rows_added"] == 0

    checked = sheets_sync(ws.config_path, "check")
    assert checked.returncode == 0, checked.stdout
    masked = ledger_url.replace(f":{PASSWORD}@", ":***@")
    assert f"ledger {masked}: 4 entries" in checked.stdout
    reported = sheets_sync(ws.config_path, "report", "--json", "--no-files", "--as-of", "2024-03-04T12:00")
    assert reported.returncode == 0, reported.stderr
    with psycopg.connect(ledger_url) as db:
        run_id = db.execute("SELECT run_id FROM runs ORDER BY rowid LIMIT 1").fetchone()[0]
    undone = sheets_sync(ws.config_path, "undo", run_id)
    assert undone.returncode == 0 and "4 ledger entries voided" in undone.stdout, undone.stdout + undone.stderr
    closed = sheets_sync(ws.config_path, "close", "--through", "2024-02-25")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    statements = sheets_sync(ws.config_path, "statement", "--month", "2024-03")
    assert statements.returncode == 0, statements.stderr
    outputs = [dry, first, checked, reported, undone, closed, statements]
    assert not any(PASSWORD in result.stdout + result.stderr for result in outputs)


def _wait_for_pause(process: subprocess.Popen) -> None:
    line = process.stderr.readline()
    assert "paused at" in line, line + process.stderr.read()


@pytest.mark.slow
def test_a_second_run_from_another_machine_exits_1_in_one_sentence_while_the_first_holds_the_ledger(
        tmp_path: Path, ledger_url: str, reference: dict) -> None:
    ws = _workspace(tmp_path / "in-db", ledger_url)
    first = start_cli(ws.config_path, AS_OF, pause_at="ledger.committed=9")
    try:
        _wait_for_pause(first)  # it holds the run lock, its decisions committed, no sheet written
        before = {path: path.read_bytes() for path in ws.root.rglob("*") if path.is_file()}
        started = time.monotonic()
        second = run_cli(ws.config_path, AS_OF)
        waited = time.monotonic() - started
        after = {path: path.read_bytes() for path in ws.root.rglob("*") if path.is_file()}
    finally:
        _, err = first.communicate(timeout=60)
    said = " ".join(second.stderr.split())
    assert second.returncode == 1 and second.stdout == "" and "Traceback" not in second.stderr
    masked = ledger_url.replace(f":{PASSWORD}@", ":***@")
    assert said == f"error: Another sheets-sync run is using ledger {masked}, so this run did nothing; run again when it ends."
    assert 4.5 < waited < 9, waited  # it waited five seconds for the lock
    assert after == before
    assert first.returncode == 0, err
    assert state(ws, ledger_url) == reference


@pytest.mark.slow
def test_a_second_run_waits_for_the_first_then_decides_and_writes_nothing_twice(
        tmp_path: Path, ledger_url: str, reference: dict) -> None:
    ws = _workspace(tmp_path / "in-db", ledger_url)
    first = start_cli(ws.config_path, AS_OF, pause_at="ledger.committed=1.5")
    try:
        _wait_for_pause(first)
        second = run_cli(ws.config_path, AS_OF)
    finally:
        first.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    summary = json.loads(second.stdout)
    assert summary["decisions"] == {} and summary["audit_rows_added"] == 0 and summary["cells_written"] == 0
    assert state(ws, ledger_url) == reference


@pytest.mark.parametrize("point", ["run.locked", "ledger.before_commit", "ledger.committed"])
def test_a_run_killed_mid_commit_leaves_the_ledger_whole_and_the_next_run_finishes(
        point: str, tmp_path: Path, ledger_url: str, reference: dict) -> None:
    ws = _workspace(tmp_path / "in-db", ledger_url)
    killed = run_cli(ws.config_path, AS_OF, kill_at=point)
    assert killed.returncode == -9, killed.stderr
    recorded = database_state(ledger_url)["entries"]
    assert len(recorded) == (4 if point == "ledger.committed" else 0)  # all of the run's entries, or none
    started = time.monotonic()
    after = run_cli(ws.config_path, AS_OF)  # the killed run's lock and transaction died with its connection
    assert after.returncode == 0, after.stderr
    assert time.monotonic() - started < 4.5
    assert state(ws, ledger_url) == reference


# --------------------------------------------------------------------------- bad ledgers, and the password


def _not_a_ledger(postgres: Cluster, database: str) -> None:
    postgres.admin("CREATE TABLE entries (id integer); ALTER TABLE entries OWNER TO sync", database)


def _newer(postgres: Cluster, database: str) -> None:
    with psycopg.connect(postgres.url(database), autocommit=True) as db:
        db.execute("CREATE TABLE sheets_sync_schema (version INTEGER NOT NULL); INSERT INTO sheets_sync_schema "
                   "VALUES (99)")


BAD_LEDGERS: dict[str, tuple[Callable[[Cluster, str], dict], int, str]] = {
    "wrong_password": (lambda pg, db: {"url": pg.url(db, password=WRONG_PASSWORD)}, 2,
                       f'cannot be reached (connection to server at "127.0.0.1", port {{port}} failed: FATAL: '
                       f'password authentication failed for user "{ROLE}")'),
    "server_down": (lambda pg, db: {"url": pg.url(db, port=_free_port())}, 2, "cannot be reached (connection to "
                    'server at "127.0.0.1", port {other} failed: Connection refused)'),
    "no_such_database": (lambda pg, db: {"url": pg.url("no_such_ledger")}, 2,
                         'FATAL: database "no_such_ledger" does not exist)'),
    "newer_schema": (lambda pg, db: (_newer(pg, db), {"url": pg.url(db)})[1], 2,
                     "was written by a newer sheets-sync (schema 99); upgrade."),
    "not_a_ledger": (lambda pg, db: (_not_a_ledger(pg, db), {"url": pg.url(db)})[1], 2,
                     "has tables (entries) that sheets-sync did not make; point 'ledger.url' at a database of the "
                     "ledger's own."),
    "path_and_url": (lambda pg, db: {"url": pg.url(db), "path": "ledger.sqlite"}, 2,
                     "give either ledger.path (a SQLite file) or ledger.url (a PostgreSQL database), not both."),
    "not_postgresql": (lambda pg, db: {"url": f"mysql://{ROLE}:{PASSWORD}@127.0.0.1/ledger"}, 2,
                       "ledger.url must be a PostgreSQL URL such as postgresql://sync@db/sheets_sync."),
}


@pytest.mark.parametrize("name", BAD_LEDGERS)
def test_a_ledger_database_that_cannot_be_used_is_one_sentence_naming_ledger_url_and_no_password(
        name: str, tmp_path: Path, postgres: Cluster) -> None:
    make, code, words = BAD_LEDGERS[name]
    database = postgres.database()
    ledger = make(postgres, database)
    ws = _workspace(tmp_path / "ws")
    ws.settings = {"ledger": ledger}  # (settings override the workspace's own ledger)
    ws.write()
    outputs = []
    for arguments in (["run", "--as-of", AS_OF], ["run", "--json", "--as-of", AS_OF], ["run", "--dry-run"],
                      ["report", "--json", "--no-files"], ["undo", "20240304-100000-deadbeef"],
                      ["close", "--through", "2024-02-25"], ["statement", "--month", "2024-02"]):
        result = sheets_sync(ws.config_path, *arguments)
        assert result.returncode == code, (arguments, result.stdout, result.stderr)
        assert result.stdout == "" and result.stderr.startswith("error: "), (arguments, result.stdout)
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr, result.stderr
        assert "ledger.url" in result.stderr, result.stderr
        port = ledger.get("url", "").rpartition(":")[2].partition("/")[0]
        assert words.format(port=postgres.port, other=port) in " ".join(result.stderr.split()), result.stderr
        outputs.append(result.stdout + result.stderr)
    checked = sheets_sync(ws.config_path, "check")  # check lists the ledger as what failed (or the config)
    assert checked.returncode in (1, 2) and "Traceback" not in checked.stderr, checked.stdout + checked.stderr
    assert "ledger.url" in checked.stdout + checked.stderr
    outputs.append(checked.stdout + checked.stderr)
    for output in outputs:
        assert PASSWORD not in output and WRONG_PASSWORD not in output, output
    assert not (ws.root / "ledger.sqlite").exists()


def _pgpass(tmp_path: Path, postgres: Cluster, password: str) -> dict[str, str]:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres.port}:*:{ROLE}:{password}\n")
    pgpass.chmod(0o600)
    return {"PGPASSFILE": str(pgpass)}


@pytest.mark.parametrize("where", ["PGPASSWORD", ".pgpass"])
def test_a_password_from_the_environment_or_pgpass_logs_in_and_never_shows(
        where: str, tmp_path: Path, postgres: Cluster) -> None:
    database = postgres.database()
    ws = _workspace(tmp_path / "ws", postgres.url(database, password=None))
    for password, code in ((WRONG_PASSWORD, 2), (PASSWORD, 0)):
        env = {"PGPASSWORD": password} if where == "PGPASSWORD" else _pgpass(tmp_path, postgres, password)
        results = [sheets_sync(ws.config_path, "run", "--json", "--as-of", AS_OF, env=env),
                   sheets_sync(ws.config_path, "check", env=env)]
        assert results[0].returncode == code, results[0].stderr
        if code:
            assert "password authentication failed" in results[0].stderr
        for result in results:
            assert password not in result.stdout + result.stderr and "Traceback" not in result.stderr


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


def test_the_password_is_in_no_log_record_no_json_and_no_error(tmp_path: Path, postgres: Cluster) -> None:
    database = postgres.database()
    good = _workspace(tmp_path / "good", postgres.url(database))
    bad = _workspace(tmp_path / "bad", postgres.url(database, password=WRONG_PASSWORD))
    records, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        report = run_sync(load_config(good.config_path), as_of=datetime.fromisoformat(AS_OF))
        with pytest.raises(LedgerError) as refused:
            run_sync(load_config(bad.config_path), as_of=datetime.fromisoformat(AS_OF))
        configs = [repr(load_config(ws.config_path)) for ws in (good, bad)]
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    assert report.exit_code == 0 and report.new_entries
    texts = [*records.lines, json.dumps(report.as_json()), str(refused.value), *configs]
    for text in texts:
        assert PASSWORD not in text and WRONG_PASSWORD not in text, text
    assert "postgresql://sync:***@127.0.0.1" in str(refused.value)
