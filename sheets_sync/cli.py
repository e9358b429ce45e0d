"""The command line: parse, call the library, print, exit with SPEC §5's codes."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sheets_sync.backends.base import WorkbookError
from sheets_sync.backends.google.endpoint import sheets_api_root
from sheets_sync.config import ConfigError, load_config, missing_files
from sheets_sync.core.cells import CellValue, CellWrite, Formula, column_letter
from sheets_sync.faults import FaultSettingError
from sheets_sync.run.summary import SyncReport
from sheets_sync.run.sync import run_sync
from sheets_sync.store.ledger import LedgerError
from sheets_sync.store.lock import RunLockedError

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_BAD_CONFIG = 0, 1, 2

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Decide lead returns by policy, keep a ledger, restate the weeks the leads came from.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        out.print(f"sheets-sync {version('sheets-sync')}", markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="Print the version and exit.")] = False,
) -> None:
    """Decide lead returns by policy, keep a ledger, restate the weeks the leads came from."""


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _exit_codes() -> Iterator[None]:
    """A library call's errors as SPEC §5 has them: one sentence, exit 2 for a bad config,
    ledger or usage, exit 1 for a source (a workbook, the workspace lock) that failed."""
    try:
        yield
    except (ConfigError, LedgerError, FaultSettingError) as error:
        raise _fail(str(error), EXIT_BAD_CONFIG) from None
    except (WorkbookError, RunLockedError) as error:
        raise _fail(str(error), EXIT_SOURCE_FAILED) from None


def _load(config_path: Path):
    try:
        config = load_config(config_path)
    except ConfigError as error:
        raise _fail(str(error), EXIT_BAD_CONFIG) from None
    problems = missing_files(config)
    if problems:
        raise _fail(" ".join(problems), EXIT_BAD_CONFIG)
    if config.uses_google:
        try:
            sheets_api_root()  # where the service account's token would go: refused before any source
        except ConfigError as error:
            raise _fail(str(error), EXIT_BAD_CONFIG) from None
    return config


def _parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--as-of {text!r} is not a date or date-time (use e.g. 2024-03-03 or 2024-03-03T09:30).",
                    EXIT_BAD_CONFIG) from None


CELLS_SHOWN_PER_TAB = 12


def shown_value(value: CellValue) -> str:
    """A cell value as a person reads it in a dry run: text quoted, numbers and dates plain."""
    if value is None:
        return "(empty)"
    if isinstance(value, Formula):
        return str(value)
    if isinstance(value, str):
        return f"“{value}”"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_changes(report: SyncReport, console: Console) -> None:
    """Each decision, then each tab's cell changes: a few cells shown, the rest counted."""
    for entry in report.new_entries:
        # Client text (IDs, reasons) is shown as typed, never read as console markup.
        console.print(f"  {escape(entry.client)} · lead {escape(entry.lead_id)}: [bold]{entry.status}[/] "
                      f"— {escape(entry.detail)}", soft_wrap=True)
    by_tab: dict[tuple[str, str], list[CellWrite]] = {}
    for label, write in report.changes:
        by_tab.setdefault((label, write.tab), []).append(write)
    for (label, tab), writes in by_tab.items():
        console.print(f"  [bold]{escape(label)} · {escape(tab)}[/]: {len(writes)} cells", soft_wrap=True)
        for write in writes[:CELLS_SHOWN_PER_TAB]:
            console.print(f"      {column_letter(write.col)}{write.row} ← {escape(shown_value(write.value))}",
                          soft_wrap=True)
        if len(writes) > CELLS_SHOWN_PER_TAB:
            console.print(f"      … and {len(writes) - CELLS_SHOWN_PER_TAB} more cells")


def print_report(report: SyncReport, console: Console, *, verbose: bool) -> None:
    """A person's view of a run: what was decided, what changed, what went wrong."""
    if verbose:
        print_changes(report, console)
    table = Table(title="Dry run: nothing was written" if report.dry_run else f"Run {report.run_id}",
                  show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("leads in the log", str(report.leads_read))
    table.add_row("lead log rows left out", str(report.rows_left_out))
    for status, count in sorted(report.as_json()["decisions"].items()):
        table.add_row(f"new decisions: {status}", str(count))
    table.add_row("credits approved", str(report.credits))
    table.add_row("cells to change" if report.dry_run else "cells written", str(len(report.changes)))
    table.add_row("audit rows added", str(report.audit_rows_added))
    table.add_row("waiting for review (Review tab)", str(report.waiting_for_review))
    console.print(table)
    for problem in report.problems[:20]:
        console.print(f"[yellow]note:[/] {escape(str(problem))}", soft_wrap=True)
    if len(report.problems) > 20:
        console.print(f"[yellow]note:[/] … and {len(report.problems) - 20} more (see --json)")
    for failure in report.failures:
        console.print(f"[bold red]failed:[/] {escape(str(failure))}", soft_wrap=True)


def one_line(report: SyncReport) -> str:
    """The summary a cron log keeps: every count on one line (problems follow on stderr)."""
    decisions = ", ".join(f"{count} {status}" for status, count in sorted(report.as_json()["decisions"].items()))
    left_out = f" ({report.rows_left_out} lead log rows left out)" if report.rows_left_out else ""
    return (f"sheets-sync {'dry run' if report.dry_run else 'run'} {report.run_id}: {report.leads_read} leads, "
            f"{decisions or 'no new decisions'}, credits {report.credits}, "
            f"{len(report.changes)} cells {'to change' if report.dry_run else 'written'}, "
            f"{report.waiting_for_review} waiting for review, {len(report.problems)} problems{left_out}, "
            f"{len(report.failures)} failed sources")


def problem_lines(report: SyncReport) -> list[str]:
    return [f"problem: {problem}" for problem in report.problems] + [f"failed: {failure}" for failure in report.failures]


def execute(config_path: Path, *, dry_run: bool, as_json: bool, as_of: datetime | None) -> SyncReport:
    config = _load(config_path)
    interactive = sys.stdout.isatty() and not as_json
    with _exit_codes():
        if interactive:
            with out.status("Syncing…") as status:
                return run_sync(config, as_of=as_of, dry_run=dry_run, on_step=lambda step: status.update(f"{step}…"))
        return run_sync(config, as_of=as_of, dry_run=dry_run)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The workspace config (YAML).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show every decision and cell change; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary (for schedulers).")] = False,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Run as if at this time (workspace timezone); stamps first-seen for backfills.")] = None,
) -> None:
    """One sync pass: decide new returns, record them, update every sheet."""
    report = execute(config, dry_run=dry_run, as_json=as_json, as_of=_parse_as_of(as_of))
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    elif sys.stdout.isatty() or dry_run:
        print_report(report, out, verbose=dry_run)
    else:
        print(one_line(report))
        for line in problem_lines(report):
            print(line, file=sys.stderr)
    raise typer.Exit(report.exit_code)


@app.command()
def check(
    config: Annotated[Path, typer.Option("--config", "-c", help="The workspace config (YAML).")],
) -> None:
    """Validate the config and reach every workbook, read only."""
    from sheets_sync.commands.check import reach_everything

    loaded = _load(config)
    failures = 0
    for reached in reach_everything(loaded):
        if reached.problem:
            failures += 1
            out.print(f"[bold red]✗[/] {escape(reached.source)}: {escape(reached.problem)}", soft_wrap=True)
        else:
            out.print(f"[green]✓[/] {escape(reached.source)}", soft_wrap=True)
        for note in reached.notes:
            out.print(f"    [yellow]left out:[/] {escape(note)}", soft_wrap=True)
    raise typer.Exit(EXIT_SOURCE_FAILED if failures else EXIT_OK)


@app.command()
def report(
    config: Annotated[Path, typer.Option("--config", "-c", help="The workspace config (YAML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the alerts as JSON, each with its figures.")] = False,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Report as if at this time (workspace timezone).")] = None,
    no_files: Annotated[bool, typer.Option("--no-files", help="Do not write the per-source returns files.")] = False,
) -> None:
    """List what needs a look (refund rates, sources, caps, reasons); write each source's defect returns."""
    from sheets_sync.commands.report import SOURCE_FILES_DIR, make_report

    loaded = _load(config)
    with _exit_codes():
        result = make_report(loaded, as_of=_parse_as_of(as_of), write_files=not no_files)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return
    if result.alerts:
        things = "1 thing needs" if len(result.alerts) == 1 else f"{len(result.alerts)} things need"
        out.print(f"{things} a look (as of {result.as_of:%Y-%m-%d %H:%M}):")
        for alert in result.alerts:
            out.print(f"  • {alert.message}", markup=False, soft_wrap=True)
    else:
        out.print(f"Nothing needs a look (as of {result.as_of:%Y-%m-%d %H:%M}).")
    if result.source_files:
        out.print(f"Defect returns by lead source: {len(result.source_files)} files in "
                  f"{loaded.base_dir / SOURCE_FILES_DIR} ({len(result.source_files_changed)} updated).",
                  markup=False, soft_wrap=True)
    if result.problems:
        out.print(f"note: {len(result.problems)} lead log rows were left out (sheets-sync run lists them).")


@app.command()
def undo(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run to undo, as `run` printed it.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The workspace config (YAML).")],
) -> None:
    """Reverse every ledger entry of a run by new entries; the next run decides its requests again."""
    from sheets_sync.commands.undo import undo_run

    loaded = _load(config)
    with _exit_codes():
        result = undo_run(loaded, run_id)
    out.print(f"Undid run {result.undone_run} as run {result.run_id}: {len(result.entries)} ledger entries voided, "
              f"{result.credits_taken_back:,.2f} of credits taken back. The next run decides its requests again "
              "and updates the sheets.", markup=False, soft_wrap=True)


@app.command()
def close(
    config: Annotated[Path, typer.Option("--config", "-c", help="The workspace config (YAML).")],
    through: Annotated[str, typer.Option("--through", help="Close the weeks ending on or before this date.")],
) -> None:
    """Close a reported period: its weeks' engine rows never change again."""
    from sheets_sync.commands.close import close_through

    loaded = _load(config)
    try:
        day = datetime.strptime(through.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise _fail(f"--through {through!r} is not a date (use e.g. 2024-02-25).", EXIT_BAD_CONFIG) from None
    with _exit_codes():
        result = close_through(loaded, day)
    if not result.weeks:
        out.print(f"Closed through {day.isoformat()}: no week was left open up to then, so nothing new was frozen.")
        return
    out.print(f"Closed through {day.isoformat()}: froze {len(result.weeks)} weeks ({result.weeks[0].isoformat()} to "
              f"{result.weeks[-1].isoformat()}) of {result.groups} groups: {result.delivered:,} leads, "
              f"{result.gross_revenue:,.2f} gross revenue, {result.refunds:,.2f} refunds. Later refunds of their "
              "leads show in Refunds after close; the next run writes the sheets.", markup=False, soft_wrap=True)


@app.command()
def statement(
    config: Annotated[Path, typer.Option("--config", "-c", help="The workspace config (YAML).")],
    month: Annotated[Optional[str], typer.Option("--month", help="YYYY-MM (default: the last whole month).")] = None,
    client: Annotated[Optional[str], typer.Option("--client", help="One client (default: every client).")] = None,
) -> None:
    """Write each client's credits of a month as CSV for billing (statements/ beside the config)."""
    from sheets_sync.commands.statement import month_of, write_statements

    loaded = _load(config)
    with _exit_codes():
        first_day = month_of(month, datetime.now(loaded.zone).date())
        written = write_statements(loaded, first_day, client)
    table = Table("Client", "Credits", "Money credited", "Replacement leads", "File",
                  title=f"Statements {first_day:%B %Y}")
    for made in written:
        table.add_row(escape(made.client), str(made.credits), f"{made.total.money:,.2f}", str(made.total.replaced),
                      escape(str(made.path.relative_to(loaded.base_dir))) + ("" if made.changed else " (unchanged)"))
    out.print(table)


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="Where to write the starter files.")]) -> None:
    """Write a starter config and blank templates to fill in."""
    from sheets_sync.commands.init import write_starter

    try:
        written = write_starter(directory)
    except FileExistsError as error:
        raise _fail(f"{error.filename} already exists; init never overwrites files.", EXIT_BAD_CONFIG) from None
    for path in written:
        out.print(f"wrote {path}", markup=False)
    out.print(f"Next: fill in the files, then run  {_invocation()} check --config {directory / 'config.yaml'}",
              markup=False)


@app.command()
def demo(directory: Annotated[Path, typer.Argument(help="Where to make the sample workspace.")] = Path("sheets-sync-demo")) -> None:
    """Make a realistic sample workspace, run a sync on it, and say where to look."""
    from sheets_sync.commands.demo import DEMO_AS_OF, explain, make_demo

    try:
        config_path = make_demo(directory)
    except FileExistsError:
        raise _fail(f"{directory} holds files the demo did not make; demo never overwrites a workspace: "
                    "name an empty or new folder, e.g. sheets-sync demo sheets-sync-demo", EXIT_BAD_CONFIG) from None
    out.print(f"Sample workspace written to [bold]{escape(str(directory))}[/] (config: {escape(config_path.name)}).")
    report = execute(config_path, dry_run=False, as_json=False, as_of=DEMO_AS_OF)
    print_report(report, out, verbose=False)
    out.print(explain(directory, _invocation()), soft_wrap=True, markup=False)
    raise typer.Exit(report.exit_code)


def _invocation() -> str:
    """How to run sheets-sync again from here: its name when that is what ran (an activated
    venv, a pipx install), else the path that ran (`make demo` runs .venv/bin/sheets-sync)."""
    started, on_path = Path(sys.argv[0]), shutil.which("sheets-sync")
    if on_path is not None and Path(on_path).resolve() == started.resolve():
        return "sheets-sync"
    if started.name == "sheets-sync":
        return str(started)
    return f"{sys.executable} -m sheets_sync"


def main() -> None:
    app()
