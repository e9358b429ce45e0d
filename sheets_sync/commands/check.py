"""``sheets-sync check``: reach every source the config names, read only."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from sheets_sync.backends.base import WorkbookError
from sheets_sync.backends.excel.workbook import read_only_on_disk
from sheets_sync.backends.open import open_workbook
from sheets_sync.config import Config
from sheets_sync.core.cells import cell_text
from sheets_sync.core.project.returns import ENGINE_COLUMNS
from sheets_sync.core.project.table import TabError, table_layout
from sheets_sync.leadlog import workspace_lead_log
from sheets_sync.store.ledger import LedgerError, open_ledger

ROWS_LISTED = 10


@dataclass(frozen=True)
class Reached:
    """One source as ``check`` found it: ``problem`` says why a run would fail on it; ``notes``
    what a run would leave out of it and go on."""

    source: str
    problem: str | None = None
    notes: tuple[str, ...] = ()


def reach_everything(config: Config) -> list[Reached]:
    """One finding per source, in config order; nothing is written."""
    results: list[Reached] = []
    try:
        log = workspace_lead_log(config)
        notes = [f"row {problem.row}: {problem.message}" for problem in log.problems[:ROWS_LISTED]]
        if len(log.problems) > ROWS_LISTED:
            notes.append(f"… and {len(log.problems) - ROWS_LISTED} more rows (sheets-sync run --dry-run lists them all)")
        left_out = f", {len(log.problems)} rows left out" if log.problems else ""
        results.append(Reached(f"lead log {config.leads.describe()}: {len(log)} leads{left_out}", notes=tuple(notes)))
    except WorkbookError as error:
        results.append(Reached(f"lead log {config.leads.describe()}", str(error)))
    tracking = config.tracking
    if tracking.excel is not None and not tracking.excel.exists():
        results.append(Reached(f"tracking {tracking.excel.name}") if tracking.excel.parent.is_dir() else
                       Reached(f"tracking {tracking.excel}", "its folder does not exist (key 'tracking.excel')"))
    else:
        results.append(_reach(config, "tracking", tracking.excel, tracking.google, None))
    if tracking.excel is not None and config.audit_csv.is_dir():
        results.append(Reached(f"audit log {config.audit_csv.name}", f"{config.audit_csv} is a folder, not a file; "
                                                                     "move it away so runs can write the audit log"))
    results.append(_reach_ledger(config))
    for name, client in config.clients.items():
        if client.returns.excel is not None and not client.returns.excel.exists() \
                and client.returns.excel.parent.is_dir():
            results.append(Reached(f"{name} returns {client.returns.excel.name} (no file yet; the first run makes "
                                   "it with the client's returns tab and policy)"))
            continue
        results.append(_reach(config, f"{name} returns", client.returns.excel, client.returns.google,
                              client.returns.tab or "Returns"))
    return results


def _reach(config: Config, what: str, excel, google, tab: str | None) -> Reached:
    try:
        with ExitStack() as stack:
            workbook = open_workbook(config, excel, google)
            if hasattr(workbook, "__enter__"):
                stack.enter_context(workbook)
            workbook.tab_titles()  # reached (a Google spreadsheet's title comes with its tab list)
            grid = workbook.read([tab]).get(tab) if tab is not None else None
            title = getattr(workbook, "title", None)  # a Google spreadsheet is named by people, not by its ID
            label = f"{what} {workbook.label}" if title is None else f"{what} “{title}” ({workbook.label})"
            if tab is not None and grid is None:
                label += f" (no tab {tab!r} yet; the first run adds it)"
            elif tab is not None and (not grid or not any(cell_text(cell) for cell in grid[0])):
                label += f" (tab {tab!r} has no header row yet; the first run adds it)"
            elif tab is not None:
                table_layout(grid, ("Lead ID", "Reason"), ENGINE_COLUMNS, tab)
            if excel is not None and read_only_on_disk(excel):
                return Reached(what, f"{workbook.label} is read-only on disk: a run can read it but not write to "
                                     "it; make it writable")
            return Reached(label)
    except (WorkbookError, TabError) as error:
        return Reached(what, str(error))


def _reach_ledger(config: Config) -> Reached:
    name = config.ledger.path.name if config.ledger.url is None else config.ledger.label
    try:
        with open_ledger(config, mode="read") as ledger:
            if ledger.absent:
                return Reached(f"ledger {name} (the first run creates it)")
            entries = ledger.entries()
    except LedgerError as error:
        return Reached(f"ledger {name}", str(error))
    return Reached(f"ledger {name}: {len(entries)} entries")
