"""Google Sheets backend: the :class:`~sheets_sync.backends.base.Workbook` protocol on gspread.

It uses gspread's HTTP layer (URLs, error type) and google-auth service-account credentials
with the ``spreadsheets`` scope only. A sync run costs two requests per spreadsheet, one
read and one write, whatever the number of cells:

1. the first :meth:`GoogleWorkbook.tab_titles` or :meth:`GoogleWorkbook.read` is one
   ``spreadsheets.get`` whose field mask asks for the tab list (titles, sheet ids, grid
   sizes, chart ids) *and* every tab's entered values: Google counts reads per request, not
   per byte, so a second request for the values would double the read quota a run spends.
   The reads that follow are served from it, each tab once; a tab read again (after a write
   of this run) is one ``values:batchGet`` for all requested tabs;
2. each :meth:`GoogleWorkbook.write` is one ``spreadsheets:batchUpdate``: ``addSheet`` for new
   tabs (with explicit sheet ids, so the same batch can write into them), ``appendDimension``
   where a grid must grow, and typed ``updateCells`` for every cell (with its note and
   background colour, if any); a new tab's dropdowns, protected ranges and conditional
   colours, and charts (``deleteEmbeddedObject`` + ``addChart``) ride in the same batch
   (see ``style.py``; the cells themselves: ``cells.py``). Writing nothing sends nothing.

Reading gets what was entered (``userEnteredValue``), the same as ``values`` reads with
FORMULA rendering and serial-number dates, so formulas come back as their text
(as :class:`~sheets_sync.backends.base.Formula`), numbers unformatted and dates as serial
numbers (``base.cell_as_date`` reads them). Sheets' FORMULA rendering shows a text cell as
its text, so a *text* cell whose text starts with ``=`` cannot be told from a formula there:
it reads back as ``Formula``. Writing is exact: ``str`` always goes as ``stringValue`` (text,
never parsed), ``Formula`` as ``formulaValue``.

Growing a grid uses ``appendDimension`` (relative) rather than setting an absolute
``rowCount``: if a person inserted rows after this run read the tab list, an absolute size
would cut their bottom rows off, while a repeated append only leaves blank rows.

Reads and writes each wait for their turn under Google's per-minute quotas
(:data:`READS_PER_MINUTE` and :data:`WRITES_PER_MINUTE` per service account, shared by every
spreadsheet opened with the same key; :data:`REQUESTS_PER_PROJECT` for all the keys of one
Cloud project), so a run of hundreds of spreadsheets is paced rather than refused, and its
reads and writes proceed side by side. Every request is retried, within ``retry_budget_seconds``, on
408, 429 (another program using the quota), 5xx (JSON body or not) and connection errors,
with exponential back-off and jitter, honouring ``Retry-After``; the last try comes at the
end of the budget, so the default budget of a minute outlasts a quota window. Retrying is
safe because every cell is set at an explicit position (no appends of rows).

``SHEETS_SYNC_GOOGLE_API_URL`` (a base URL such as ``http://127.0.0.1:8123``) sends all
Sheets API traffic there instead of ``https://sheets.googleapis.com``; tests point it at
:class:`sheets_sync.testing.FakeSheetsServer`. Every request carries the service account's
bearer token, so the URL must be ``https://``, or ``http://`` to a loopback host only
(``localhost``, ``127.0.0.0/8``, ``::1``): see :func:`sheets_api_root`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from google.auth.exceptions import RefreshError
from google.oauth2.service_account import Credentials
from gspread.exceptions import APIError

from sheets_sync.backends.base import WorkbookChanged, WorkbookError
from sheets_sync.backends.google import verify
from sheets_sync.backends.google.cells import grid_of, update_cells_requests
from sheets_sync.backends.google.endpoint import may_carry_secrets, sheets_api_root
from sheets_sync.backends.google.style import chart_extent, chart_requests, tab_requests
from sheets_sync.backends.google.transport import (
    Quota,
    RetryBudgetExhausted,
    RetryPolicy,
    SheetsHTTPClient,
    quota_pacers,
)
from sheets_sync.core.cells import CellValue, CellWrite, Grid, LineChart, TabRename, TabSpec, split_tab_changes

SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
NEW_TAB_ROWS = 1000  # what Google gives a new tab; a new tab is at least this big
NEW_TAB_COLUMNS = 26
PIXELS_PER_CHARACTER = 7.5  # Sheets sizes columns in pixels; the engine's widths are in characters
WRITES_PER_MINUTE = 60
"""Google's default Sheets quota of write requests per minute per user (here: the service
account), across all its spreadsheets. Writes are paced under it rather than refused."""
READS_PER_MINUTE = 60
"""The same for read requests: a budget of its own, as large."""
REQUESTS_PER_PROJECT = 300
"""Google's quota of read (and, separately, write) requests per minute per Cloud project."""

_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_ID = re.compile(r"[A-Za-z0-9_-]+")
_TAB_FIELDS = ("properties.title,sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),"
               "charts.chartId,data(startRow,startColumn,rowData.values.userEnteredValue))")


_Result = TypeVar("_Result")


def spreadsheet_id_from(spreadsheet: str) -> str:
    """The id of ``spreadsheet``, given as an id or as a Google Sheets URL."""
    text = spreadsheet.strip()
    if match := _URL_ID.search(text):
        return match.group(1)
    if _BARE_ID.fullmatch(text):
        return text
    raise WorkbookError(f"{spreadsheet!r} is neither a Google spreadsheet id nor a Google Sheets URL.")


def open_google_workbook(
    spreadsheet: str,
    credentials_file: Path | None,
    *,
    retry_budget_seconds: float = 60.0,
    first_retry_delay: float = 1.0,
    writes_per_minute: int = WRITES_PER_MINUTE,
    reads_per_minute: int = READS_PER_MINUTE,
    requests_per_project: int = REQUESTS_PER_PROJECT,
    quota_window_seconds: float = 60.0,
) -> GoogleWorkbook:
    """Open a Google spreadsheet (id or URL) with a service-account key; makes no request yet.

    ``credentials_file`` None falls back to ``GOOGLE_APPLICATION_CREDENTIALS``.
    ``first_retry_delay`` is the first back-off step; it doubles up to 32 seconds.
    ``writes_per_minute`` and ``reads_per_minute`` pace the writes and reads of every
    spreadsheet opened with the same key, ``requests_per_project`` those of every key of its
    Cloud project; ``quota_window_seconds`` shortens Google's minute (tests).
    """
    spreadsheet_id = spreadsheet_id_from(spreadsheet)
    api_root = sheets_api_root()  # before anything can send the token
    key_file = credentials_file or os.environ.get(CREDENTIALS_ENV)
    if not key_file:
        raise WorkbookError(
            "No Google service-account key is configured: set `google.credentials` in the config "
            f"(or the {CREDENTIALS_ENV} environment variable) to the key file's path."
        )
    credentials = _load_credentials(Path(key_file))
    retry = RetryPolicy(budget_seconds=retry_budget_seconds, first_delay=first_retry_delay)
    account = credentials.service_account_email
    project = credentials.project_id or account.partition("@")[2]  # x@PROJECT.iam.gserviceaccount.com
    pacers = {kind: quota_pacers(api_root, account, project, kind, Quota(per_user, requests_per_project,
                                                                         quota_window_seconds))
              for kind, per_user in (("read", reads_per_minute), ("write", writes_per_minute))}
    client = SheetsHTTPClient(credentials, api_root, retry, pacers["write"], pacers["read"])
    return GoogleWorkbook(spreadsheet_id, client, credentials.service_account_email, Path(key_file))


_parsed_keys: dict[tuple[str, int, int], Credentials] = {}
"""Key file (path, modification time, size) -> its credentials. Parsing a private key takes
about 0.15 s, and a run opens every spreadsheet with the same key."""


def _load_credentials(key_file: Path) -> Credentials:
    if not key_file.is_file():
        raise WorkbookError(
            f"The Google service-account key file {key_file} does not exist: "
            "set `google.credentials` to the key file's path."
        )
    status = key_file.stat()
    parsed_key = (str(key_file.resolve()), status.st_mtime_ns, status.st_size)
    try:
        if parsed_key not in _parsed_keys:
            info = json.loads(key_file.read_text(encoding="utf-8"))
            token_uri = info.get("token_uri", "") if isinstance(info, dict) else ""
            if isinstance(token_uri, str) and token_uri and not may_carry_secrets(token_uri):
                raise WorkbookError(  # the login it signs would go out unencrypted, readable on the way
                    f"The token_uri of {key_file} is not https:// (nor http:// to this machine): sheets-sync "
                    "will not send the service account's signed login over it; download the key again from "
                    "the Google Cloud console.")
            _parsed_keys[parsed_key] = Credentials.from_service_account_info(info, scopes=[SHEETS_SCOPE])
        # A copy of its own (its own token), sharing the parsed private key.
        return _parsed_keys[parsed_key].with_scopes([SHEETS_SCOPE])
    except (ValueError, KeyError, TypeError, AttributeError):  # the message may quote the key: never echo it
        raise WorkbookError(
            f"{key_file} is not a Google service-account key (JSON with client_email, private_key and "
            "token_uri): create a key for the service account in the Google Cloud console and set "
            "`google.credentials` to it."
        ) from None


# --------------------------------------------------------------------------- HTTP with bounded retry


@dataclass(frozen=True)
class _Tab:
    sheet_id: int
    rows: int
    columns: int
    charts: tuple[int, ...] = ()


class GoogleWorkbook:
    """One Google spreadsheet for one sync run; see the module docstring for the request budget."""

    def __init__(
        self, spreadsheet_id: str, client: SheetsHTTPClient, service_account_email: str, key_file: Path
    ) -> None:
        self.label = spreadsheet_id
        self.title: str | None = None
        """The spreadsheet's name as people see it, once its tabs were listed."""
        self._client = client
        self._service_account_email = service_account_email
        self._key_file = key_file
        self._tabs: dict[str, _Tab] | None = None
        self._read_grids: dict[str, Grid] = {}
        # Tabs read with the tab list (see _tab_index) or by an undo (see _undo), not yet returned.
        self._prefetched: dict[str, Grid] = {}

    def tab_titles(self) -> list[str]:
        return list(self._tab_index())

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        index = self._tab_index()
        wanted = [title for title in dict.fromkeys(tabs) if title in index]
        ready = {title: self._prefetched.pop(title) for title in wanted if title in self._prefetched}
        wanted = [title for title in wanted if title not in ready]
        if not wanted:
            self._read_grids.update(ready)
            return ready
        params = {"majorDimension": "ROWS", "valueRenderOption": "FORMULA", "dateTimeRenderOption": "SERIAL_NUMBER"}
        answer = self._call(lambda: self._client.values_batch_get(self.label, [_quoted(t) for t in wanted], params))
        value_ranges = answer.get("valueRanges", [])
        grids = {title: grid_of(value_range.get("values", [])) for title, value_range in zip(wanted, value_ranges)}
        grids.update(ready)
        self._read_grids.update(grids)  # what a write checks its rows against
        return grids

    def write(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename] = (),
              charts: Sequence[LineChart] = ()) -> None:
        if not writes and not new_tabs and not charts:
            return
        renames, specs = split_tab_changes(new_tabs)
        index, renamed = self._renamed_index(renames)
        added = list({spec.title: spec for spec in specs if spec.title not in index}.values())
        if not writes and not added and not charts and not renamed:
            return
        # the last write of a cell wins
        cells = {(write.tab, write.row, write.col): write for write in writes}
        unknown = sorted({tab for tab, _, _ in cells} - set(index) - {spec.title for spec in added}
                         | {chart.tab for chart in charts} - set(index) - {spec.title for spec in added})
        if unknown:
            raise WorkbookError(f"Spreadsheet {self.label} has no tab named {unknown[0]!r} to write to.")
        extent = _extent(cells)
        for tab, (rows, columns) in chart_extent(charts).items():
            extent[tab] = (max(rows, extent.get(tab, (0, 0))[0]), max(columns, extent.get(tab, (0, 0))[1]))
        batch, planned = _grid_requests(index, added, extent)
        batch[:0] = [_rename_request(index[rename.new].sheet_id, rename.new) for rename in renamed]
        for spec in added:
            batch.extend(tab_requests(spec, planned[spec.title].sheet_id, self._service_account_email))
        batch.extend(update_cells_requests(cells, _sheet_ids(planned)))
        chart_batch, placed = chart_requests(charts, {title: (tab.sheet_id, tab.charts) for title, tab in planned.items()})
        batch.extend(chart_batch)
        # The same request answers with the written rows as they are after it (google_verify.py).
        read = _after_renames(self._read_grids, renamed)
        spans = verify.rows_to_check(cells, read)
        answer = self._call(lambda: self._verified_batch_update(verify.verified_body(batch, spans)))
        self._tabs = {title: replace(tab, charts=placed.get(title, tab.charts)) for title, tab in planned.items()}
        self._read_grids = read
        self._prefetched = _after_renames(self._prefetched, renamed)
        for title in {tab for tab, _, _ in cells}:  # what was read of them is past; the undo may read them
            self._prefetched.pop(title, None)
        for title, (rows, columns) in verify.grid_sizes(answer).items():
            if title in self._tabs:
                self._tabs[title] = replace(self._tabs[title], rows=rows, columns=columns)
        moved = verify.first_change(self._read_grids, cells, spans, answer)
        undo = verify.undo_writes(self._read_grids, cells, spans, answer) if moved is not None else {}
        for title in spans:  # read again before another checked write
            self._read_grids.pop(title, None)
        if moved is not None:
            if undo:  # its answer holds every tab this batch wrote, for the plan made again
                self._undo(undo, sorted({*spans, *(tab for tab, _, _ in cells)}))
            raise WorkbookChanged(f"Someone changed spreadsheet {self.label} (at {moved}) while sheets-sync wrote it; "
                                  "its cells are planned again on what it holds now.", written=True)

    def _renamed_index(self, renames: Sequence[TabRename]) -> tuple[dict[str, _Tab], list[TabRename]]:
        """The tabs as they are once ``renames`` are done, and the renames to do (a tab
        already renamed, or whose new title is taken, is left as it is)."""
        index, renamed = dict(self._tab_index()), []
        for rename in renames:
            if rename.old in index and rename.new not in index:
                index[rename.new] = index.pop(rename.old)
                renamed.append(rename)
        return index, renamed

    def _undo(self, undo: Mapping[tuple[str, int, int], CellValue], tabs: list[str]) -> None:
        """Put back what this run's last batch overwrote on rows that had moved under it; the
        same request answers with those tabs whole, which the next read returns (so undoing
        and reading again cost one request)."""
        restore = {key: CellWrite(key[0], key[1], key[2], value) for key, value in undo.items()}
        body = {"requests": update_cells_requests(restore, _sheet_ids(self._tabs)),
                "includeSpreadsheetInResponse": True, "responseIncludeGridData": True, "responseRanges": [_quoted(tab) for tab in tabs]}
        answer = self._call(lambda: verify.batch_update(self._client, self.label, body))
        # Tabs the batch did not write are as good as when read: checked writes to them still
        # compare with that read.
        self._prefetched.update({**self._read_grids, **verify.grids_from_answer(answer)})

    def _verified_batch_update(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return verify.batch_update(self._client, self.label, body)
        except APIError as error:
            message = str(error.error.get("message", ""))
            if error.response.status_code == 400 and any(part in message for part in verify.GRID_MOVED):
                self._tabs, self._prefetched = None, {}  # listed and read again by the next read
                raise WorkbookChanged(f"Tabs of spreadsheet {self.label} changed while sheets-sync worked on it "
                                      "(nothing was written); its cells are planned again.", written=False) from None
            raise

    def _tab_index(self) -> dict[str, _Tab]:
        if self._tabs is None:
            metadata = self._call(lambda: self._client.fetch_sheet_metadata(self.label, {"fields": _TAB_FIELDS}))
            self.title = metadata.get("properties", {}).get("title")
            # The values came along: the reads of this run take them from here.
            self._prefetched = verify.grids_of(metadata)
            self._tabs = {
                sheet["properties"]["title"]: _Tab(
                    sheet["properties"].get("sheetId", 0),
                    sheet["properties"]["gridProperties"].get("rowCount", 0),
                    sheet["properties"]["gridProperties"].get("columnCount", 0),
                    tuple(chart["chartId"] for chart in sheet.get("charts", []) if "chartId" in chart),
                )
                for sheet in metadata.get("sheets", [])
                if "gridProperties" in sheet["properties"]  # charts and data-source sheets hold no cells
            }
        return self._tabs

    def _call(self, action: Callable[[], _Result]) -> _Result:
        """Run one API call, turning every failure into a one-sentence WorkbookError."""
        try:
            return action()
        except APIError as error:
            raise self._refusal(error) from error
        except RetryBudgetExhausted as error:
            raise WorkbookError(
                f"Google Sheets kept failing for spreadsheet {self.label} ({error.args[0]}) and sheets-sync "
                f"gave up after {self._client.retry.budget_seconds:g} seconds of retrying: try again later."
            ) from error
        except RefreshError as error:
            raise WorkbookError(
                f"Google refused to log in with the service-account key {self._key_file} "
                f"({error.args[0] if error.args else 'no reason given'}): check that the key is current."
            ) from error

    def _refusal(self, error: APIError) -> WorkbookError:
        status = error.response.status_code
        message = str(error.error.get("message", "")).strip()
        account = self._service_account_email
        if status == 403 and ("has not been used" in message or "is disabled" in message):
            return WorkbookError(
                f"The Google Sheets API is not enabled for the project of {account}: "
                "enable it in the Google Cloud console, then run again."
            )
        if status == 403:
            return WorkbookError(
                f"Spreadsheet {self.label} is not shared with {account}: "
                "open it in Google Sheets, Share, and add that email as Editor."
            )
        if status == 404:
            return WorkbookError(
                f"Spreadsheet {self.label} was not found: check its id or URL in the config, and that it is "
                f"shared with {account} as Editor."
            )
        return WorkbookError(f"Google Sheets refused a request on spreadsheet {self.label}: HTTP {status} {message}")


def _extent(cells: Mapping[tuple[str, int, int], object]) -> dict[str, tuple[int, int]]:
    """The last row and column written in each tab."""
    extent: dict[str, tuple[int, int]] = {}
    for tab, row, col in cells:
        rows, columns = extent.get(tab, (0, 0))
        extent[tab] = (max(rows, row), max(columns, col))
    return extent


def _grid_requests(
    index: Mapping[str, _Tab], added: Sequence[TabSpec], extent: Mapping[str, tuple[int, int]]
) -> tuple[list[dict[str, Any]], dict[str, _Tab]]:
    """Requests that add the new tabs (frozen panes, column widths) and grow the grids to fit
    ``extent``; the tabs afterwards."""
    batch: list[dict[str, Any]] = []
    planned = dict(index)
    used_ids = {tab.sheet_id for tab in index.values()}
    for spec in added:
        sheet_id = _new_sheet_id(used_ids)
        used_ids.add(sheet_id)
        rows, columns = extent.get(spec.title, (0, 0))
        planned[spec.title] = _Tab(sheet_id, max(NEW_TAB_ROWS, rows), max(NEW_TAB_COLUMNS, columns))
        grid = {"rowCount": planned[spec.title].rows, "columnCount": planned[spec.title].columns,
                "frozenRowCount": spec.frozen_rows, "frozenColumnCount": spec.frozen_columns}
        batch.append({"addSheet": {"properties": {"sheetId": sheet_id, "title": spec.title, "gridProperties": grid}}})
        batch.extend(
            {"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": column - 1, "endIndex": column},
                "properties": {"pixelSize": round(width * PIXELS_PER_CHARACTER)}, "fields": "pixelSize"}}
            for column, width in spec.column_widths)
    for title, tab in index.items():
        rows, columns = extent.get(title, (0, 0))
        for dimension, missing in (("ROWS", rows - tab.rows), ("COLUMNS", columns - tab.columns)):
            if missing > 0:
                batch.append({"appendDimension": {"sheetId": tab.sheet_id, "dimension": dimension, "length": missing}})
        planned[title] = _Tab(tab.sheet_id, max(tab.rows, rows), max(tab.columns, columns), tab.charts)
    return batch, planned


def _rename_request(sheet_id: int, title: str) -> dict[str, Any]:
    return {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "title": title}, "fields": "title"}}


def _after_renames(grids: Mapping[str, Grid], renames: Sequence[TabRename]) -> dict[str, Grid]:
    """What was read of each tab, under its title once ``renames`` are done."""
    new_title = {rename.old: rename.new for rename in renames}
    return {new_title.get(title, title): grid for title, grid in grids.items()}


def _sheet_ids(tabs: Mapping[str, _Tab]) -> dict[str, int]:
    return {title: tab.sheet_id for title, tab in tabs.items()}


def _quoted(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _new_sheet_id(used: set[int]) -> int:
    while True:
        candidate = secrets.randbelow(2**31 - 2) + 1
        if candidate not in used:
            return candidate
