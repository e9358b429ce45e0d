"""Where the lead log lives (``leads:`` in the config): an Excel tab, a Google tab, CSV or
Parquet files (``files``) or a SQL database (``database``)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from sheets_sync.backends.base import WorkbookError
from sheets_sync.backends.excel.calamine import panics_as_errors, stream_rows
from sheets_sync.backends.open import google_opener
from sheets_sync.config import Config, LeadsConfig
from sheets_sync.core.model import Lead, Problem
from sheets_sync.leadlog.columns import LeadLog
from sheets_sync.leadlog.database import read_lead_table
from sheets_sync.leadlog.files import read_lead_files
from sheets_sync.leadlog.parse import parse_lead_log


def load_lead_log(config: LeadsConfig, zone: ZoneInfo, open_google: Callable | None = None) -> LeadLog:
    """The lead log named by the config, as columns. Raises :class:`WorkbookError` if it
    cannot be read."""
    if config.kind == "excel":
        with panics_as_errors(config.excel):
            return parse_lead_log(stream_rows(config.excel, config.tab), config.headers, zone, config.excel.name,
                                  config.date_order)
    if config.kind in ("csv", "parquet"):
        return read_lead_files(config, zone)
    if config.kind == "sql":
        return read_lead_table(config, zone)
    # Google: ``open_google`` opens a spreadsheet by ID (backends.open.google_opener)
    workbook = open_google(config.google)
    grids = workbook.read([config.tab or "Leads"])
    if not grids:
        raise WorkbookError(f"Spreadsheet {workbook.label} has no tab named {config.tab!r}.")
    return parse_lead_log(next(iter(grids.values())), config.headers, zone, f"{workbook.label} {config.tab}",
                          config.date_order)


def read_lead_log(config: LeadsConfig, zone: ZoneInfo, open_google=None) -> tuple[list[Lead], list[Problem]]:
    """The lead log named by the config as leads. Raises :class:`WorkbookError` if it cannot be read."""
    log = load_lead_log(config, zone, open_google)
    return list(log), log.problems


def workspace_lead_log(config: Config) -> LeadLog:
    """The lead log of a workspace's config, each group value in one spelling (as a run counts
    it). Raises :class:`WorkbookError` if it cannot be read."""
    return load_lead_log(config.leads, config.zone, google_opener(config)).one_spelling_each()[0]
