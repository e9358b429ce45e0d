"""The one place that opens a workbook the config names: an Excel file or a Google
spreadsheet. Google's client (gspread, google-auth) is imported only when one is opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sheets_sync.backends.base import Workbook
from sheets_sync.backends.excel.workbook import ExcelWorkbook
from sheets_sync.config import Config


def path_label(path: Path, config: Config) -> str:
    """How messages name a file: relative to the config when it lies below it."""
    try:
        return str(path.relative_to(config.base_dir))
    except ValueError:
        return str(path)


def open_workbook(config: Config, excel: Path | None, google: str | None, *, create: bool = False) -> Workbook:
    if excel is not None:
        return ExcelWorkbook(excel, create=create, label=path_label(excel, config))
    from sheets_sync.backends.google.workbook import open_google_workbook

    return open_google_workbook(google, config.credentials_file,
                                retry_budget_seconds=config.google.retry_budget_seconds)


Opener = Callable[[Path | None, str | None, bool], Workbook]
"""Opens the workbook at an Excel path or a Google ID (``create``: an Excel file may not
exist yet). A run takes one (:func:`workspace_opener` by default; tests may hand in
:func:`~sheets_sync.backends.memory.memory_opener`)."""


def workspace_opener(config: Config) -> Opener:
    return lambda excel, google, create: open_workbook(config, excel, google, create=create)


def google_opener(config: Config) -> Callable[[str], Workbook]:
    """Opens a Google spreadsheet by ID or URL with the config's credentials."""
    return lambda spreadsheet: open_workbook(config, None, spreadsheet)
