"""docs/scheduling.md and the scheduler files in deploy/, checked against the real CLI.

Each file is parsed and, where this machine can, run: the crontab line through ``sh -c`` as
cron would (placeholders replaced, ``\\%`` unescaped, cron's bare environment), the systemd
unit's ``ExecStart`` and ``systemd-analyze verify``, the GitHub workflow's steps through
``bash`` with the runner's files, the Windows task's XML and batch file by parsing. Every
run is on a copy of the workspace ``sheets-sync demo`` makes. The exit-code table of the
doc is checked against what the CLI returns for each case it names, and the doc must quote
the deploy files as they are, so neither can drift from the other.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook
from sync_state import cli_env, sheets_sync_command

from sheets_sync.cli import EXIT_BAD_CONFIG, EXIT_OK, EXIT_SOURCE_FAILED
from sheets_sync.config import load_config
from sheets_sync.store.lock import workspace_lock

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "scheduling.md"
DEPLOY = ROOT / "deploy"
CRONTAB = DEPLOY / "cron" / "sheets-sync.crontab"
SERVICE = DEPLOY / "systemd" / "sheets-sync.service"
TIMER = DEPLOY / "systemd" / "sheets-sync.timer"
WORKFLOW = DEPLOY / "github" / "sheets-sync.yml"
TASK_XML = DEPLOY / "windows" / "sheets-sync-task.xml"
TASK_CMD = DEPLOY / "windows" / "sheets-sync-run.cmd"
SCHEDULER_FILES = (CRONTAB, SERVICE, TIMER, WORKFLOW, TASK_XML, TASK_CMD)
QUOTED_IN_DOC = (CRONTAB, SERVICE, TIMER, WORKFLOW, TASK_CMD)

WORKSPACE_PLACEHOLDER = "/srv/sheets-sync"
VENV_PLACEHOLDER = "/opt/sheets-sync/venv"
INTERVAL_MINUTES = 15
"""What the doc recommends and every file uses; the doc's rule is at least every hour."""
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


# --------------------------------------------------------------------------- workspaces and the CLI


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for /opt/sheets-sync/venv: bin/sheets-sync is this checkout's CLI."""
    root = tmp_path_factory.mktemp("venv")
    (root / "bin").mkdir()
    script = root / "bin" / "sheets-sync"
    command = sheets_sync_command()
    if len(command) == 1:
        script.symlink_to(command[0])
    else:
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m sheets_sync "$@"\n', encoding="utf-8")
        script.chmod(0o755)
    (root / "bin" / "python").symlink_to(sys.executable)
    return root


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory, venv: Path) -> Path:
    target = tmp_path_factory.mktemp("demo") / "workspace"
    made = subprocess.run([str(venv / "bin" / "sheets-sync"), "demo", str(target)], capture_output=True, text=True,
                          env=cli_env(), timeout=300, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    return target


@pytest.fixture
def workspace(demo_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo workspace (config.yaml, workbooks, ledger), already synced."""
    return Path(shutil.copytree(demo_template, tmp_path / "workspace"))


def cli(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "sheets-sync"), *args], capture_output=True, text=True, cwd=cwd,
                          env=cli_env(), timeout=120, check=False)


@contextmanager
def run_in_progress(workspace: Path) -> Iterator[Path]:
    """Hold the workspace lock as a running ``sheets-sync run`` does; yields the ledger."""
    ledger = load_config(workspace / "config.yaml").ledger
    with workspace_lock(ledger):
        yield ledger.path


def break_config(workspace: Path) -> None:
    """A typo a person makes in the config: an unknown timezone (exit 2)."""
    config = workspace / "config.yaml"
    text = config.read_text(encoding="utf-8")
    assert "timezone: America/New_York" in text
    config.write_text(text.replace("timezone: America/New_York", "timezone: America/New_Yrok"), encoding="utf-8")


def break_source(workspace: Path) -> str:
    """One client's workbook becomes unreadable (exit 1); returns that client's name."""
    (workspace / "returns" / "summit.xlsx").write_bytes(b"this is not a workbook")
    return "Summit Debt Relief"


def returns_rows(workbook: Path) -> list[dict[str, Any]]:
    rows = list(load_workbook(workbook, read_only=True)["Returns"].iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def paste_new_request(workspace: Path, client: str = "Zenith Solar", workbook: str = "zenith.xlsx") -> Path:
    """The client pastes one more lead ID under its returns tab: its latest lead that no row
    names yet, so the next run makes a new decision."""
    path = workspace / "returns" / workbook
    pasted = " ".join(str(row["Lead ID"]) for row in returns_rows(path))
    leads = load_workbook(workspace / "leads.xlsx", read_only=True)["Leads"].iter_rows(min_row=2, values_only=True)
    lead_id = [row[0] for row in leads if row[2] == client and str(int(row[0])) not in pasted][-1]
    book = load_workbook(path)
    book["Returns"].append([lead_id, "Wrong #", "pasted by the scheduling test"])
    book.save(path)
    return path


SUMMARY = re.compile(r"sheets-sync run \S+: \d+ leads, .+, credits [\d.]+, \d+ cells written, \d+ waiting for review, "
                     r"(?P<problems>\d+) problems(?: \(\d+ lead log rows left out\))?, (?P<failed>\d+) failed sources")
"""The one line a run prints when not on a terminal (its problems follow on stderr)."""


def one_error_sentence(stderr: str) -> str:
    """SPEC §5: an error is one line starting ``error:``, never a traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


# --------------------------------------------------------------------------- cron schedules


CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
CRON_NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
              4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}


def cron_field(text: str, index: int) -> set[int]:
    """The values one field of a 5-field cron schedule stands for; ValueError if invalid."""
    name, low, high = CRON_FIELDS[index]

    def number(word: str) -> int:
        names = CRON_NAMES.get(index, [])
        if word.lower() in names:
            return names.index(word.lower()) + (1 if index == 3 else 0)
        if not word.isdigit():
            raise ValueError(f"{name} field {text!r}: {word!r} is not a number")
        return int(word)

    values: set[int] = set()
    for part in text.split(","):
        body, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"{name} field {text!r}: bad step {step_text!r}")
        step = int(step_text) if slash else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = number(first), number(last)
        else:
            start = number(body)
            end = high if slash else start
        if not low <= start <= end <= high:
            raise ValueError(f"{name} field {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def cron_minutes_of_day(schedule: str) -> list[int]:
    """Minutes after midnight a schedule fires at, for a schedule that runs every day."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} has {len(fields)} fields, not 5")
    minutes, hours, days, months, weekdays = (cron_field(field, index) for index, field in enumerate(fields))
    if days != set(range(1, 32)) or months != set(range(1, 13)) or not {0, 1, 2, 3, 4, 5, 6} <= weekdays:
        raise ValueError(f"{schedule!r} does not run every day")
    return sorted(hour * 60 + minute for hour in hours for minute in minutes)


def assert_every_interval(schedule: str) -> None:
    fired = cron_minutes_of_day(schedule)
    gaps = {later - earlier for earlier, later in zip(fired, [*fired[1:], fired[0] + 24 * 60])}
    assert gaps == {INTERVAL_MINUTES}, f"{schedule!r} fires with gaps of {sorted(gaps)} minutes"


@pytest.mark.parametrize("schedule", ["*/15 * * *", "60 * * * *", "*/0 * * * *", "*/15 * 0 * *", "0 * * * *",
                                      "*/15 9-17 * * *", "*/15 * * * mon-fri", "x * * * *"])
def test_the_schedule_check_refuses_what_would_not_run_every_15_minutes(schedule: str) -> None:
    with pytest.raises((ValueError, AssertionError)):
        assert_every_interval(schedule)


def crontab_jobs(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A crontab's variable settings and its jobs as (5-field schedule, command)."""
    variables, jobs = {}, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        setting = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*(.*)", line)
        if setting:
            variables[setting[1]] = setting[2]
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"a crontab job needs 5 schedule fields and a command: {line!r}"
        jobs.append((" ".join(fields[:5]), fields[5]))
    return variables, jobs


def as_cron_runs_it(command: str) -> str:
    """What cron hands to /bin/sh: ``\\%`` becomes ``%``; a bare ``%`` would end the command."""
    out, index = [], 0
    while index < len(command):
        if command.startswith("\\%", index):
            out.append("%")
            index += 2
            continue
        assert command[index] != "%", f"a bare % at {index} would cut the cron command short: {command!r}"
        out.append(command[index])
        index += 1
    return "".join(out)


def the_cron_job() -> tuple[dict[str, str], str, str]:
    variables, jobs = crontab_jobs(CRONTAB.read_text(encoding="utf-8"))
    assert len(jobs) == 1, jobs
    return variables, *jobs[0]


def test_crontab_runs_every_15_minutes_and_mails_someone() -> None:
    variables, schedule, command = the_cron_job()
    assert_every_interval(schedule)
    assert re.fullmatch(r"[^@\s]+@[^@\s]+", variables["MAILTO"])
    assert command.startswith(f"cd {WORKSPACE_PLACEHOLDER} && ")
    assert f"{VENV_PLACEHOLDER}/bin/sheets-sync run --config config.yaml" in command
    assert "flock" not in command  # the tool locks the workspace itself


def _cron_workspace_command(venv: Path, workspace: Path) -> str:
    _, _, command = the_cron_job()
    return as_cron_runs_it(command).replace(VENV_PLACEHOLDER, str(venv)).replace(WORKSPACE_PLACEHOLDER, str(workspace))


def _as_cron(command: str, home: Path) -> str:
    """Run as cron does (``/bin/sh -c``, a bare environment); returns what cron would mail."""
    env = {"HOME": str(home), "LOGNAME": "sheets-sync", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["/bin/sh", "-c", command], cwd=home, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    return done.stdout + done.stderr


STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}")


def test_crontab_command_syncs_a_workspace_logs_and_mails_only_when_a_person_must_act(
        venv: Path, workspace: Path, tmp_path: Path) -> None:
    command = _cron_workspace_command(venv, workspace)
    log = workspace / "sheets-sync.log"
    zenith = paste_new_request(workspace)

    def last_entry() -> list[str]:
        """The log's lines since its last time stamp."""
        lines = log.read_text(encoding="utf-8").splitlines()
        (*_, start), = [[index for index, line in enumerate(lines) if STAMP.fullmatch(line)]]
        return lines[start + 1:]

    assert _as_cron(command, tmp_path) == ""  # exit 0: nothing mailed
    summary, *problems = last_entry()
    counts = SUMMARY.fullmatch(summary)
    assert counts and counts["failed"] == "0" and len(problems) == int(counts["problems"]), summary
    assert returns_rows(zenith)[-1]["Status"], "the run did not sync the new paste"

    with run_in_progress(workspace):  # the previous tick still runs: exit 1, logged, nothing mailed
        assert _as_cron(command, tmp_path) == ""
    (sentence,) = last_entry()
    assert sentence.startswith("error: Another sheets-sync run is using ledger")

    break_config(workspace)  # exit 2: mailed
    mail = _as_cron(command, tmp_path)
    assert mail == f"sheets-sync: exit 2 (bad config) in {workspace}: a person must fix it; see sheets-sync.log there.\n"
    (sentence,) = last_entry()
    assert "unknown timezone 'America/New_Yrok'" in sentence
    assert len([line for line in log.read_text(encoding="utf-8").splitlines() if STAMP.fullmatch(line)]) == 3


# --------------------------------------------------------------------------- CLI options named in the files


@cache
def cli_commands() -> frozenset[str]:
    listed = subprocess.run([*sheets_sync_command(), "--help"], capture_output=True, text=True, check=True,
                            env={**cli_env(), "COLUMNS": "200"}).stdout
    return frozenset(re.findall(r"^\W*([a-z]+)\s{2,}", listed, flags=re.MULTILINE))


@cache
def cli_options(command: str) -> frozenset[str]:
    """Every option ``sheets-sync COMMAND --help`` lists."""
    shown = subprocess.run([*sheets_sync_command(), command, "--help"], capture_output=True, text=True, check=True,
                           env={**cli_env(), "COLUMNS": "200"}).stdout
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", shown))


def invocations(text: str) -> list[tuple[str, list[str]]]:
    """Each ``sheets-sync COMMAND ...`` a file runs, as (command, the options it passes): the
    program by its path (``.../bin/sheets-sync``, ``...\\sheets-sync.exe``) or first on a line;
    comment lines (``#``, ``rem``) are prose."""
    code = "\n".join(line for line in text.splitlines() if not re.match(r"\s*(#|rem\b)", line, re.IGNORECASE))
    return [(match[1], re.findall(r"(?<!\S)(--?[A-Za-z][\w-]*)", match[2]))
            for match in re.finditer(r'(?:^[ \t]*|[/\\])sheets-sync(?:\.exe)?"?[ \t]+([a-z]+)\b([^\n>;|&}]*)', code,
                                     flags=re.MULTILINE)]


def test_the_option_check_knows_the_run_command() -> None:
    assert {"run", "check", "demo"} <= cli_commands()
    assert {"--config", "--json", "--dry-run", "--as-of"} <= cli_options("run")
    assert "--conf" not in cli_options("run")


@pytest.mark.parametrize("path", SCHEDULER_FILES, ids=lambda path: path.name)
def test_each_file_runs_a_real_command_with_real_options(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path == TIMER:
        assert not invocations(text)
        return
    if path == TASK_XML:  # it starts the batch file, which names the command
        assert TASK_CMD.name in text
        return
    runs = invocations(text)
    assert runs, f"{path.name} runs no sheets-sync command"
    for command, options in runs:
        assert command in cli_commands(), f"{path.name}: sheets-sync has no command {command!r}"
        unknown = set(options) - cli_options(command)
        assert not unknown, f"{path.name}: sheets-sync {command} has no option {sorted(unknown)}"
        assert command == "run" and "--config" in options
        assert not {"--as-of", "--dry-run"} & set(options), "a schedule never backfills or dry-runs"


# --------------------------------------------------------------------------- systemd


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                     comment_prefixes=("#", ";"), empty_lines_in_values=False)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return unit


def test_systemd_units_have_the_keys_a_15_minute_oneshot_needs() -> None:
    service, timer = read_unit(SERVICE), read_unit(TIMER)
    assert service["Service"]["Type"] == "oneshot"
    assert "Restart" not in service["Service"]  # the timer is the retry
    argv = shlex.split(service["Service"]["ExecStart"])
    assert argv[0] == f"{VENV_PLACEHOLDER}/bin/sheets-sync" and argv[1:3] == ["run", "--config"]
    assert Path(argv[3]).is_absolute() and Path(argv[3]).parent == Path(service["Service"]["WorkingDirectory"])
    assert service["Service"]["WorkingDirectory"] == WORKSPACE_PLACEHOLDER
    assert "1" in service["Service"]["SuccessExitStatus"].split()
    assert "2" not in service["Service"]["SuccessExitStatus"].split()
    assert timer["Timer"]["OnCalendar"] == f"*:0/{INTERVAL_MINUTES}"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"].get("Unit", SERVICE.name) == SERVICE.name and TIMER.stem == SERVICE.stem
    assert timer["Install"]["WantedBy"] == "timers.target"


def _installed_units(venv: Path, workspace: Path, directory: Path) -> tuple[Path, Path]:
    directory.mkdir()
    for unit in (SERVICE, TIMER):
        text = unit.read_text(encoding="utf-8")
        (directory / unit.name).write_text(
            text.replace(VENV_PLACEHOLDER, str(venv)).replace(WORKSPACE_PLACEHOLDER, str(workspace)), encoding="utf-8")
    return directory / SERVICE.name, directory / TIMER.name


def test_systemd_analyze_verifies_the_units(venv: Path, workspace: Path, tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here; the INI checks above still ran")
    service, timer = _installed_units(venv, workspace, tmp_path / "units")
    verified = subprocess.run(["systemd-analyze", "verify", str(service), str(timer)], capture_output=True, text=True,
                              timeout=60, check=False)
    complaints = [line for line in (verified.stdout + verified.stderr).splitlines() if "sheets-sync" in line]
    assert verified.returncode == 0 and not complaints, verified.stdout + verified.stderr


def test_systemd_timer_fires_every_15_minutes() -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here; the OnCalendar text was checked above")
    expression = read_unit(TIMER)["Timer"]["OnCalendar"]
    shown = subprocess.run(["systemd-analyze", "calendar", "--iterations=6", expression], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    times = [datetime.fromisoformat(moment) for moment in re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown)]
    assert len(times) == 6, shown
    assert {(later - earlier).total_seconds() for earlier, later in pairwise(times)} == {INTERVAL_MINUTES * 60}


def test_systemd_service_command_syncs_and_fails_the_unit_only_on_a_bad_config(
        venv: Path, workspace: Path, tmp_path: Path) -> None:
    service_file, _ = _installed_units(venv, workspace, tmp_path / "units")
    service = read_unit(service_file)["Service"]
    success = {0, *(int(code) for code in service["SuccessExitStatus"].split())}

    def start() -> subprocess.CompletedProcess[str]:
        return subprocess.run(shlex.split(service["ExecStart"]), cwd=service["WorkingDirectory"], capture_output=True,
                              text=True, env=cli_env(), timeout=120, check=False)

    assert Path(service["WorkingDirectory"]) == workspace
    ok = start()
    assert ok.returncode == EXIT_OK and ok.returncode in success and "0 failed sources" in ok.stdout, ok.stderr
    broken = break_source(workspace)
    partial = start()
    assert partial.returncode == EXIT_SOURCE_FAILED and partial.returncode in success  # the next tick retries
    assert "1 failed sources" in partial.stdout and f"failed: {broken} returns" in partial.stderr, partial.stderr
    break_config(workspace)
    bad = start()
    assert bad.returncode == EXIT_BAD_CONFIG and bad.returncode not in success  # the unit fails: alert
    one_error_sentence(bad.stderr)


# --------------------------------------------------------------------------- GitHub Actions


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def workflow_triggers() -> dict[str, Any]:
    document = workflow()
    return document["on"] if "on" in document else document[True]  # YAML 1.1 reads a bare `on` as true


def steps() -> list[dict[str, Any]]:
    (job,) = workflow()["jobs"].values()
    return job["steps"]


def step(name: str) -> dict[str, Any]:
    (found,) = [each for each in steps() if each.get("name") == name]
    return found


def test_workflow_runs_on_a_15_minute_schedule_one_at_a_time() -> None:
    document, triggers = workflow(), workflow_triggers()
    assert_every_interval(triggers["schedule"][0]["cron"])
    assert "workflow_dispatch" in triggers
    assert document["concurrency"]["group"] and document["concurrency"]["cancel-in-progress"] is False
    assert document["permissions"] == {"contents": "write"}
    uses = [each["uses"].split("@")[0] for each in steps() if "uses" in each]
    assert uses == ["actions/checkout", "actions/setup-python"]
    for each in steps():  # a secret reaches a script only through env, never pasted into its text
        assert "secrets." not in each.get("run", "")


def _github_step(script: str, cwd: Path, runner: Path, venv: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a step's script as ``shell: bash`` does on a runner, with the runner's files."""
    for name in ("output", "env", "summary"):
        (runner / name).touch()
    (job,) = workflow()["jobs"].values()
    environment = {**cli_env(), **job["env"], "RUNNER_TEMP": str(runner), "GITHUB_OUTPUT": str(runner / "output"),
                   "GITHUB_ENV": str(runner / "env"), "GITHUB_STEP_SUMMARY": str(runner / "summary"),
                   "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=120, check=False)


def _step_runs(name: str, code: str) -> bool:
    """Whether the step's ``if:`` lets it run after the Sync step returned ``code``."""
    condition = step(name).get("if")
    if condition in (None, "always()"):
        return True

    def holds(comparison: str) -> bool:  # steps.sync.outputs.code == '0' (or !=)
        left, operator, right = re.fullmatch(r"\s*(\S+)\s*(==|!=)\s*'([^']*)'\s*", comparison).groups()
        assert left == "steps.sync.outputs.code", condition
        return (code == right) is (operator == "==")

    return any(all(holds(part) for part in either.split("&&")) for either in condition.split("||"))


def test_workflow_writes_the_key_from_the_secret_for_the_run_to_use(venv: Path, tmp_path: Path) -> None:
    key_step = step("Write the service-account key")
    assert key_step["env"] == {"GOOGLE_SERVICE_ACCOUNT_KEY": "${{ secrets.GOOGLE_SERVICE_ACCOUNT_KEY }}"}
    runner = tmp_path / "runner"
    runner.mkdir()
    key = '{"type": "service_account", "client_email": "sync@example.iam.gserviceaccount.com"}'
    done = _github_step(key_step["run"], tmp_path, runner, venv, GOOGLE_SERVICE_ACCOUNT_KEY=key)
    assert done.returncode == 0, done.stderr
    (setting,) = (runner / "env").read_text(encoding="utf-8").splitlines()
    name, _, path = setting.partition("=")
    assert name == "GOOGLE_APPLICATION_CREDENTIALS" and Path(path).read_text(encoding="utf-8") == key
    assert Path(path).stat().st_mode & 0o077 == 0 and key not in done.stdout + done.stderr


def test_workflow_sync_step_keeps_the_exit_code_and_the_json(venv: Path, workspace: Path, tmp_path: Path) -> None:
    sync = step("Sync")
    assert sync["id"] == "sync"
    cases = [("ok", None, EXIT_OK), ("source", break_source, EXIT_SOURCE_FAILED),
             ("config", break_config, EXIT_BAD_CONFIG)]
    for label, breakage, expected in cases:
        if breakage:
            breakage(workspace)
        runner = tmp_path / label
        runner.mkdir()
        done = _github_step(sync["run"], workspace, runner, venv)
        assert done.returncode == 0, done.stderr  # the step itself never fails: the last step judges
        assert (runner / "output").read_text(encoding="utf-8") == f"code={expected}\n"
        assert f"### sheets-sync: exit {expected}" in (runner / "summary").read_text(encoding="utf-8")
        if expected == EXIT_BAD_CONFIG:
            assert done.stdout == "" and "unknown timezone" in one_error_sentence(done.stderr)
            continue
        summary = json.loads(done.stdout)
        assert summary["exit_code"] == expected
        assert [error["source"].split(" returns")[0] for error in summary["errors"]] == \
            ([] if expected == EXIT_OK else ["Summit Debt Relief"])


def test_workflow_commits_the_ledger_only_when_a_run_changed_it(venv: Path, workspace: Path, tmp_path: Path) -> None:
    git_env = {**cli_env(), "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Test",
               "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "Test",
               "GIT_COMMITTER_EMAIL": "test@example.com"}

    def git(*args: str, cwd: Path) -> str:
        return subprocess.run(["git", *args], cwd=cwd, env=git_env, capture_output=True, text=True, check=True).stdout

    remote, repo, other = tmp_path / "remote.git", tmp_path / "repo", tmp_path / "other"
    git("init", "--quiet", "--bare", str(remote), cwd=tmp_path)
    shutil.copytree(workspace, repo, ignore=shutil.ignore_patterns(".*"))
    git("init", "--quiet", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "the workspace", cwd=repo)
    git("remote", "add", "origin", str(remote), cwd=repo)
    git("push", "--quiet", "-u", "origin", "HEAD", cwd=repo)
    git("clone", "--quiet", str(remote), str(other), cwd=tmp_path)  # someone edits the repo meanwhile
    (other / "NOTES.md").write_text("edited on GitHub while the job ran\n", encoding="utf-8")
    git("add", "NOTES.md", cwd=other)
    git("commit", "--quiet", "-m", "notes", cwd=other)
    git("push", "--quiet", cwd=other)

    commit = step("Commit the ledger")
    assert [_step_runs("Commit the ledger", code) for code in ("0", "1", "2")] == [True, True, False]
    paste_new_request(repo)
    for attempt in ("decides", "quiet"):
        runner = tmp_path / attempt
        runner.mkdir()
        synced = _github_step(step("Sync")["run"], repo, runner, venv)
        assert (runner / "output").read_text(encoding="utf-8") == "code=0\n", synced.stderr
        done = _github_step(commit["run"], repo, runner, venv, **git_env)
        assert done.returncode == 0, done.stdout + done.stderr
        if attempt == "decides":
            run_id = json.loads(synced.stdout)["run"]
            assert git("log", "-1", "--format=%s", cwd=repo).strip() == f"sheets-sync: ledger after run {run_id}"
    log = git("log", "--format=%s", "HEAD", cwd=remote).splitlines()
    assert log == [f"sheets-sync: ledger after run {run_id}", "notes", "the workspace"]  # one commit, pushed
    assert "The ledger did not change." in done.stdout
    pushed = subprocess.run(["git", "show", "HEAD:ledger.sqlite"], cwd=remote, env=git_env, capture_output=True,
                            check=True).stdout
    assert pushed == (repo / "ledger.sqlite").read_bytes()


@pytest.mark.parametrize(("code", "fails", "annotation"), [("0", False, ""), ("1", False, "::warning"),
                                                           ("2", True, "::error"), ("", True, "::error")])
def test_workflow_fails_the_job_on_exit_2_and_warns_on_1(code: str, fails: bool, annotation: str, venv: Path,
                                                         tmp_path: Path) -> None:
    judge = step("Judge the exit code")
    assert judge["if"] == "always()" and judge["env"] == {"CODE": "${{ steps.sync.outputs.code }}"}
    done = _github_step(judge["run"], tmp_path, tmp_path, venv, CODE=code)
    assert (done.returncode != 0) is fails
    assert done.stdout.startswith(annotation) and ("::" in done.stdout) is bool(annotation)


# --------------------------------------------------------------------------- Windows Task Scheduler


def iso_minutes(duration: str) -> int:
    match = re.fullmatch(r"P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?", duration)
    assert match and duration not in ("P", "PT"), duration
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return (days * 24 + hours) * 60 + minutes


def test_windows_task_repeats_every_15_minutes_and_starts_the_batch_file() -> None:
    task = ET.parse(TASK_XML).getroot()
    assert task.tag == f"{{{TASK_NS['t']}}}Task"
    (trigger,) = task.findall("t:Triggers/*", TASK_NS)
    assert trigger.tag.endswith("TimeTrigger")
    assert iso_minutes(trigger.findtext("t:Repetition/t:Interval", namespaces=TASK_NS)) == INTERVAL_MINUTES
    assert trigger.find("t:Repetition/t:Duration", TASK_NS) is None  # repeats indefinitely
    datetime.fromisoformat(trigger.findtext("t:StartBoundary", namespaces=TASK_NS))
    settings = task.find("t:Settings", TASK_NS)
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=TASK_NS) == "IgnoreNew"
    assert settings.findtext("t:StartWhenAvailable", namespaces=TASK_NS) == "true"
    assert iso_minutes(settings.findtext("t:ExecutionTimeLimit", namespaces=TASK_NS)) > INTERVAL_MINUTES
    (action,) = task.findall("t:Actions/t:Exec", TASK_NS)
    assert action.findtext("t:Command", namespaces=TASK_NS).split("\\")[-1] == TASK_CMD.name
    workdir = action.findtext("t:WorkingDirectory", namespaces=TASK_NS)
    assert f'cd /d "{workdir}" || exit /b 2' in TASK_CMD.read_text(encoding="ascii")


def test_windows_batch_file_has_crlf_lines_logs_and_passes_the_exit_code_on() -> None:
    raw = TASK_CMD.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") > 0, "a .cmd file needs CRLF line ends"
    raw.decode("ascii")
    lines = raw.decode("ascii").splitlines()
    assert lines[0] == "@echo off" and lines[-1] == "exit /b %ERRORLEVEL%"
    (run_line,) = [line for line in lines if not line.startswith("rem") and " run --config " in line]
    assert run_line.startswith('"C:\\sheets-sync\\venv\\Scripts\\sheets-sync.exe" run --config config.yaml ')
    assert run_line.endswith(">>sheets-sync.log 2>&1")


def test_doc_schtasks_commands_match_the_task_files() -> None:
    text = DOC.read_text(encoding="utf-8")
    commands = [line for line in text.splitlines() if line.startswith("schtasks /Create ")]
    assert len(commands) == 2, commands
    by_minute, from_xml = (dict(re.findall(r'/(\w+)(?: ("[^"]*"|[^/\s]+))?', command)) for command in commands)
    assert by_minute["SC"] == "MINUTE" and int(by_minute["MO"]) == INTERVAL_MINUTES
    assert by_minute["TR"].strip('"').split("\\")[-1] == TASK_CMD.name
    assert from_xml["XML"].strip('"').split("\\")[-1] == TASK_XML.name
    task_command = ET.parse(TASK_XML).getroot().findtext("t:Actions/t:Exec/t:Command", namespaces=TASK_NS)
    assert by_minute["TR"].strip('"') == task_command
    assert by_minute["TN"] == from_xml["TN"] and "F" in by_minute and "F" in from_xml


# --------------------------------------------------------------------------- the doc


def exit_code_table() -> dict[int, str]:
    table = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        row = re.fullmatch(r"\| `(\d+)` \| (.*?) \| (.*?) \|", line)
        if row:
            table[int(row[1])] = f"{row[2]} {row[3]}"
    return table


def test_doc_exit_code_table_names_the_clis_codes() -> None:
    table = exit_code_table()
    assert set(table) == {EXIT_OK, EXIT_SOURCE_FAILED, EXIT_BAD_CONFIG}
    assert "success" in table[EXIT_OK]
    assert "some source failed" in table[EXIT_SOURCE_FAILED] and "lock" in table[EXIT_SOURCE_FAILED]
    assert "retry" in table[EXIT_SOURCE_FAILED]
    assert "bad config" in table[EXIT_BAD_CONFIG] and "alert" in table[EXIT_BAD_CONFIG]


def test_exit_0_a_run_that_synced_everything(venv: Path, workspace: Path) -> None:
    zenith = paste_new_request(workspace)
    done = cli(venv, "run", "--config", "config.yaml", cwd=workspace)
    assert done.returncode == EXIT_OK, done.stderr
    (summary,) = done.stdout.splitlines()
    counts = SUMMARY.fullmatch(summary)
    assert counts and counts["failed"] == "0", summary
    problems = done.stderr.splitlines()
    assert len(problems) == int(counts["problems"]) and all(line.startswith("problem: ") for line in problems)
    documented = re.findall(r"^sheets-sync run .*$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert documented and all(SUMMARY.fullmatch(line) for line in documented)
    assert returns_rows(zenith)[-1]["Status"]


def test_exit_1_a_source_failed_and_the_others_were_synced(venv: Path, workspace: Path) -> None:
    zenith = paste_new_request(workspace)
    broken = break_source(workspace)
    done = cli(venv, "run", "--config", "config.yaml", "--json", cwd=workspace)
    assert done.returncode == EXIT_SOURCE_FAILED, done.stderr
    summary = json.loads(done.stdout)
    assert summary["exit_code"] == EXIT_SOURCE_FAILED
    assert [error["source"].split(" returns (")[0] for error in summary["errors"]] == [broken]
    assert "cannot be opened as an Excel workbook" in summary["errors"][0]["message"]
    assert returns_rows(zenith)[-1]["Status"], "the other clients were not synced"
    plain = cli(venv, "run", "--config", "config.yaml", cwd=workspace)  # as cron logs it
    assert plain.returncode == EXIT_SOURCE_FAILED and SUMMARY.fullmatch(plain.stdout.strip())["failed"] == "1"
    (failed,) = [line for line in plain.stderr.splitlines() if line.startswith("failed: ")]
    documented = re.findall(r"^failed: .*$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert documented == [failed.replace(str(workspace), WORKSPACE_PLACEHOLDER)]
    documented = set(re.findall(r"`([a-z_]+)`", DOC.read_text(encoding="utf-8").split("With `--json`")[1]
                                .split("\n\n")[0]))
    assert documented and documented <= set(summary), documented - set(summary)


def test_exit_1_another_run_holds_the_workspace_and_nothing_changes(venv: Path, workspace: Path) -> None:
    paste_new_request(workspace)
    with run_in_progress(workspace) as ledger:
        before = ledger.read_bytes()
        done = cli(venv, "run", "--config", "config.yaml", "--json", cwd=workspace)
        assert ledger.read_bytes() == before
    assert done.returncode == EXIT_SOURCE_FAILED and done.stdout == ""
    sentence = one_error_sentence(done.stderr)
    documented = re.findall(r"^error: Another sheets-sync run .*$", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert documented == [sentence.replace(str(workspace), WORKSPACE_PLACEHOLDER)]
    assert not returns_rows(workspace / "returns" / "zenith.xlsx")[-1]["Status"]  # that run did nothing
    assert cli(venv, "run", "--config", "config.yaml", cwd=workspace).returncode == EXIT_OK  # the next tick
    assert returns_rows(workspace / "returns" / "zenith.xlsx")[-1]["Status"]


@pytest.mark.parametrize("case", ["bad config", "no --config", "--as-of in the future"])
def test_exit_2_a_person_must_fix_it(case: str, venv: Path, workspace: Path) -> None:
    args = ["run", "--config", "config.yaml", "--json"]
    if case == "bad config":
        break_config(workspace)
    elif case == "no --config":
        args = ["run", "--json"]
    else:
        args += ["--as-of", "2999-01-01T00:00"]
    done = cli(venv, *args, cwd=workspace)
    assert done.returncode == EXIT_BAD_CONFIG and done.stdout == "", done.stdout + done.stderr
    if case != "no --config":  # usage errors are typer's few lines
        one_error_sentence(done.stderr)


def test_doc_quotes_the_deploy_files_as_they_are() -> None:
    text = DOC.read_text(encoding="utf-8")
    for path in QUOTED_IN_DOC:
        content = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
        assert f"\n{content}```\n" in text, f"docs/scheduling.md does not quote {path.relative_to(ROOT)} as it is"


def test_doc_links_every_deploy_file_and_every_link_resolves() -> None:
    text = DOC.read_text(encoding="utf-8")
    links = {(DOC.parent / target).resolve() for target in re.findall(r"\]\((\.\./deploy[^)]*)\)", text)}
    assert all(link.exists() for link in links), [str(link) for link in links if not link.exists()]
    assert set(SCHEDULER_FILES) <= links


def test_doc_recommends_the_interval_the_files_use() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"every {INTERVAL_MINUTES} minutes is a good default" in text.replace("\n", " ").replace("**", "")
    assert "at least every hour" in text.replace("\n", " ").lower()
    assert INTERVAL_MINUTES <= 60
