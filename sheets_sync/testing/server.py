"""A local Google Sheets API v4 server, for tests that must run without Google.

    from sheets_sync.testing import FakeSheetsServer

    with FakeSheetsServer() as server:
        sid = server.create_spreadsheet("Acme returns", {"Returns": [["Lead ID", "Reason"], ["A-1", "Wrong #"]]})
        email = server.service_account_file(tmp_path / "key.json")   # a real, signed service-account login
        os.environ["SHEETS_SYNC_GOOGLE_API_URL"] = server.url        # route sheets-sync's Google backend here
        ...                                                          # run the code under test with that key file
        assert server.values(sid, "Returns")[1][2] == "Approved"
        assert len(server.sheets_requests) <= 3                      # the batching bound, measured

It is a real HTTP server on 127.0.0.1 (a free port, one thread per connection) that keeps
spreadsheets in memory and answers the calls gspread and sheets-sync make, in the shapes
Google's published discovery document describes (the project's contract tests check every
answer against it and replay recorded Google traffic against it):

- ``POST /token``: the OAuth token endpoint. It verifies google-auth's RS256-signed JWT
  grant against the key written by :meth:`FakeSheetsServer.service_account_file` and hands
  out a bearer token carrying the requested scopes. Sheets calls need that token
  (401 without it, 403 when its scopes do not allow the call), as Google does.
- ``GET spreadsheets/{id}`` (``fields`` masks honoured; ``ranges`` limit it to their sheets;
  grid data for ``includeGridData=true`` or a mask naming ``sheets.data``, shaped as below),
  ``POST spreadsheets/{id}:batchUpdate`` with ``addSheet``, ``deleteSheet``,
  ``updateSheetProperties``, ``updateSpreadsheetProperties``, ``updateCells`` (values,
  number formats, background colours, notes), ``appendDimension``, ``insertDimension``,
  ``deleteDimension``, ``sortRange``, ``setDataValidation``, ``addProtectedRange``,
  ``deleteProtectedRange``, ``addConditionalFormatRule``, ``addChart`` (basic charts over
  cells) and ``deleteEmbeddedObject``; all requests of a batch apply, or none. Charts,
  conditional formats and protected ranges are served in ``spreadsheets.get``;
  :meth:`FakeSheetsServer.notes`, :meth:`~FakeSheetsServer.backgrounds` and
  :meth:`~FakeSheetsServer.data_validations` show what lives in cells.
- ``values`` get, update, append, clear, batchGet, batchUpdate, batchClear, with
  ``valueInputOption`` RAW / USER_ENTERED, ``valueRenderOption`` FORMATTED_VALUE /
  UNFORMATTED_VALUE / FORMULA, ``dateTimeRenderOption`` and ``majorDimension``.

Behaviour worth knowing. The recorded Google traffic confirms the first three points; the
rest follow Google's documentation, and what neither shows is marked as assumed:

- A1 ranges: ``Tab!A1:C3``, quoted titles (``'My Tab'!A1``, ``''`` inside), whole tabs,
  open ranges (``A2:C``, ``A2:2``, ``A:A``), no tab meaning the first visible tab. A range
  answered back is clipped to the grid and names its tab quoted only where needed.
- Trailing empty cells and rows are trimmed; a range with no values answers
  ``{"range", "majorDimension"}`` without ``values``.
- USER_ENTERED parses numbers (``"007"`` -> 7, ``"2,000.5"``, ``"12%"``), TRUE/FALSE,
  ISO and US dates (-> serial number with a date format), a leading ``=`` (-> formula) and a
  leading ``'`` (-> the rest as text). RAW stores strings as text, whatever they start with.
- Writes outside the grid are rejected with 400 "exceeds grid limits" (``values`` writes and
  ``updateCells``; assumed for ``values`` writes), while ``values:append`` grows the grid.
  New tabs default to 1000 x 26.
- Formulas: there is no formula engine. Arithmetic on numbers and same-tab cell references
  (``=B2-B5``, ``=(B2+B3)/2``) is evaluated for FORMATTED_VALUE / UNFORMATTED_VALUE;
  anything else (functions, other tabs) renders as its formula text. FORMULA rendering
  returns the formula text, and text cells as they are (assumed), so text that starts with
  ``=`` looks like a formula there. Formulas do not follow inserted, deleted or sorted rows.
- Number formats: DATE, TIME, DATE_TIME, NUMBER, PERCENT and CURRENCY patterns are
  formatted for FORMATTED_VALUE (en_US); numbers without a format approximate Google's
  "automatic" display (up to 10 significant digits, ``1.23457E+15`` from 1e15 up).
- ``batchUpdate`` with ``includeSpreadsheetInResponse`` answers the spreadsheet as it is
  after the batch; ``responseRanges`` limit it to the sheets of those ranges (as recorded
  ``spreadsheets.get`` with ``ranges`` does), and with grid data (``responseIncludeGridData``,
  or any ``fields`` mask, which then decides) each such sheet has one GridData per range:
  rows up to the last with a value, empty cells ``{}``, ``startRow``/``startColumn`` left out
  when 0 (assumed from proto3 JSON).

Fault injection (documented settings, not monkeypatching) applies to Sheets API calls,
never to the token endpoint: :meth:`~FakeSheetsServer.fail_next`,
:meth:`~FakeSheetsServer.disconnect_next`, :meth:`~FakeSheetsServer.slow`,
:meth:`~FakeSheetsServer.quota` (:meth:`~FakeSheetsServer.google_quota`: Google's read and
write limits per user and per project) and :meth:`~FakeSheetsServer.before_next_write` (a
person editing, inserting or sorting rows between a program's read and its write).
:attr:`~FakeSheetsServer.calls` logs every Sheets call with its arrival time and status.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sheets_sync.testing.auth import TOKEN_PATH, _Tokens, _write_key_file
from sheets_sync.testing.batch import _batch_update, _get_spreadsheet, _sort_range
from sheets_sync.testing.cells import _python_cell
from sheets_sync.testing.grid import (
    DEFAULT_COLUMNS,
    DEFAULT_ROWS,
    _cell_name,
    _new_sheet,
    _parse_field_mask,
    _Range,
    _select_fields,
    _Sheet,
    _Spreadsheet,
)
from sheets_sync.testing.responses import _STATUS_NAMES, _Answer, _ApiError
from sheets_sync.testing.values import (
    _append_values,
    _batch_update_values,
    _clear_values,
    _read_values,
    _RenderOptions,
    _write_values,
)

__all__ = ["Call", "Exchange", "FakeSheetsServer"]

SHEETS_PATH_PREFIX = "/v4/spreadsheets"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One answered request, as handed to the ``observe`` callback of :class:`FakeSheetsServer`."""

    api_method: str  # the discovery method id, e.g. "sheets.spreadsheets.values.batchGet", or "oauth2.token"
    http_method: str
    path: str
    request_body: Any  # parsed JSON (or the token form as a dict); None when empty
    status: int
    response_body: Any  # parsed JSON; None for non-JSON answers


@dataclass(frozen=True, slots=True)
class Call:
    """One Sheets call in :attr:`FakeSheetsServer.calls`."""

    at: float  # time.monotonic() when it arrived, the moment Google's quota counts it
    api_method: str
    spreadsheet_id: str
    writes: bool  # counted against the write quota (else the read quota)
    status: int


@dataclass
class _Failure:
    status: int
    json_body: bool
    retry_after: float | None


_ROUTES: list[tuple[str, re.Pattern[str], str, bool]] = [  # (HTTP method, path, discovery id, writes?)
    ("GET", re.compile(r"/v4/spreadsheets/([^/:]+)"), "sheets.spreadsheets.get", False),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+):batchUpdate"), "sheets.spreadsheets.batchUpdate", True),
    ("GET", re.compile(r"/v4/spreadsheets/([^/:]+)/values:batchGet"), "sheets.spreadsheets.values.batchGet", False),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+)/values:batchUpdate"), "sheets.spreadsheets.values.batchUpdate",
     True),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+)/values:batchClear"), "sheets.spreadsheets.values.batchClear",
     True),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+)/values/(.+):append"), "sheets.spreadsheets.values.append", True),
    ("POST", re.compile(r"/v4/spreadsheets/([^/:]+)/values/(.+):clear"), "sheets.spreadsheets.values.clear", True),
    ("GET", re.compile(r"/v4/spreadsheets/([^/:]+)/values/(.+)"), "sheets.spreadsheets.values.get", False),
    ("PUT", re.compile(r"/v4/spreadsheets/([^/:]+)/values/(.+)"), "sheets.spreadsheets.values.update", True),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Google's front end speaks to requests
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, Nagle's algorithm meets the
        # client's delayed ACK and every answer waits 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.fake._answer(self.command, self.path, self.headers, body)
        if answer is None:  # an injected dropped connection
            self.close_connection = True
            return
        if isinstance(answer.body, str):
            payload, content_type = answer.body.encode(), "text/html; charset=UTF-8"
        else:
            payload = json.dumps(answer.body, ensure_ascii=False, indent=2).encode()
            content_type = "application/json; charset=UTF-8"
        self.send_response(answer.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: tests read ``server.requests`` instead of stderr."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSheetsServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class FakeSheetsServer:
    """A stateful Sheets API v4 and OAuth token server on 127.0.0.1; see the module docstring.

    It serves from construction until :meth:`close` (or the end of a ``with`` block).
    ``observe`` is called with an :class:`Exchange` for every answer (the project's contract
    tests validate each against Google's discovery document); it runs on the server's
    threads, so collect rather than assert there.
    """

    def __init__(self, *, observe: Callable[[Exchange], None] | None = None) -> None:
        self.requests: list[tuple[str, str]] = []
        """(HTTP method, path) of every request, token requests (path ``/token``) included."""
        self._observe = observe
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, _Spreadsheet] = {}
        self._tokens = _Tokens(self._lock)
        self._failures: deque[_Failure] = deque()
        self._disconnects = 0
        self._delay_seconds = 0.0
        self._delays_left: int | None = None
        self.calls: list[Call] = []
        """Every Sheets call (token requests left out), in the order they arrived."""
        # keyed by (scope, is a write): one service account here, so "user" and "project"
        # count the same calls, each against its own limit
        self._quota_limits: dict[tuple[str, bool], int | None] = {}
        self._quota_window = 60.0
        self._quota_seen: dict[tuple[str, bool], deque[float]] = {}
        self._write_hooks: deque[Callable[[], None]] = deque()
        self._http = _HTTPServer(self)
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL; Sheets calls live under ``{url}/v4/spreadsheets``."""
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    def __enter__(self) -> FakeSheetsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def sheets_requests(self) -> list[tuple[str, str]]:
        """The Sheets API calls among :attr:`requests` (token requests left out)."""
        return [request for request in list(self.requests) if request[1].startswith(SHEETS_PATH_PREFIX)]

    # ------------------------------------------------------------------ state

    def create_spreadsheet(
        self, title: str, tabs: Mapping[str, Sequence[Sequence[Any]]] | None = None, *, shared: bool = True
    ) -> str:
        """Make a spreadsheet and return its id.

        ``tabs`` maps tab titles (in order) to rows of cells: ``str`` stays text, ``Formula``
        is a formula, numbers and ``Decimal`` are numbers, ``bool`` booleans, ``date`` and
        ``datetime`` date cells (serial numbers with a date format), ``None`` empty. Without
        tabs it has one empty ``Sheet1``, like a spreadsheet made in Drive. Grids are
        1000 x 26, or larger to fit the rows. ``shared=False`` makes every Sheets call on it
        answer 403, as for a spreadsheet not shared with the service account.
        """
        spreadsheet_id = secrets.token_urlsafe(33)
        sheets = []
        for index, (tab_title, rows) in enumerate((tabs or {"Sheet1": []}).items()):
            height, width = len(rows), max((len(row) for row in rows), default=0)
            sheet_id = 0 if index == 0 else secrets.randbelow(2**31 - 2) + 1
            sheet = _new_sheet(sheet_id, tab_title, max(DEFAULT_ROWS, height), max(DEFAULT_COLUMNS, width))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    sheet.put(r, c, *_python_cell(value))
            sheets.append(sheet)
        properties = {"title": title, "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Etc/GMT"}
        with self._lock:
            self._spreadsheets[spreadsheet_id] = _Spreadsheet(spreadsheet_id, properties, sheets, shared)
        return spreadsheet_id

    def tabs(self, spreadsheet_id: str) -> list[str]:
        """Tab titles, in order."""
        with self._lock:
            return [sheet.title for sheet in self._spreadsheet(spreadsheet_id).sheets]

    def values(self, spreadsheet_id: str, tab: str) -> list[list[Any]]:
        """The tab's cells as an UNFORMATTED_VALUE read shows them, formulas as their text.

        Numbers are numbers, dates serial numbers, empty cells inside the data ``""``;
        trailing empty cells and rows are trimmed.
        """
        with self._lock:
            sheet = self._sheet(spreadsheet_id, tab)
            answer = _read_values(_Range(sheet, 0, 0, None, None), _RenderOptions("FORMULA"))
        return answer.get("values", [])

    def sheet_resource(self, spreadsheet_id: str, tab: str) -> dict[str, Any]:
        """The tab as spreadsheets.get answers it: properties, charts, conditionalFormats,
        protectedRanges (those present)."""
        with self._lock:
            spreadsheet = self._spreadsheet(spreadsheet_id)
            sheet = self._sheet(spreadsheet_id, tab)
            return spreadsheet.json()["sheets"][spreadsheet.sheets.index(sheet)]

    def notes(self, spreadsheet_id: str, tab: str) -> dict[str, str]:
        """Cell notes by A1 name (``{"C5": "Restated ..."}``)."""
        with self._lock:
            sheet = self._sheet(spreadsheet_id, tab)
            return {_cell_name(*position): note for position, note in sorted(sheet.notes.items())}

    def backgrounds(self, spreadsheet_id: str, tab: str) -> dict[str, str]:
        """Cell background colours by A1 name, as ``"RRGGBB"``."""
        with self._lock:
            sheet = self._sheet(spreadsheet_id, tab)
            return {_cell_name(*position): "".join(f"{round(color.get(part, 0) * 255):02X}"
                                                   for part in ("red", "green", "blue"))
                    for position, color in sorted(sheet.backgrounds.items())}

    def data_validations(self, spreadsheet_id: str, tab: str) -> list[dict[str, Any]]:
        """Data validation rules as set: ``[{"range": GridRange, "rule": DataValidationRule}]``."""
        with self._lock:
            sheet = self._sheet(spreadsheet_id, tab)
            return [{"range": copy.deepcopy(grid_range), "rule": copy.deepcopy(rule)}
                    for grid_range, rule in sheet.data_validations]

    def edit(self, spreadsheet_id: str, range_a1: str, values: Sequence[Sequence[Any]]) -> None:
        """A person typing ``values`` into the cells at ``range_a1`` (USER_ENTERED)."""
        with self._lock:
            spreadsheet = self._spreadsheet(spreadsheet_id)
            try:
                rng = spreadsheet.parse_range(range_a1)
                _write_values(spreadsheet, rng, {"values": [list(row) for row in values]}, "USER_ENTERED", range_a1)
            except _ApiError as error:
                raise ValueError(error.message) from None

    def insert_rows(self, spreadsheet_id: str, tab: str, row: int, count: int = 1) -> None:
        """A person inserting ``count`` empty rows before 1-based ``row``."""
        with self._lock:
            self._sheet(spreadsheet_id, tab).shift("ROWS", row - 1, count)

    def delete_rows(self, spreadsheet_id: str, tab: str, row: int, count: int = 1) -> None:
        """A person deleting ``count`` rows from 1-based ``row`` on."""
        with self._lock:
            self._sheet(spreadsheet_id, tab).shift("ROWS", row - 1, -count)

    def sort_rows(
        self, spreadsheet_id: str, tab: str, column: int, *, first_row: int = 2, descending: bool = False
    ) -> None:
        """A person sorting the rows from 1-based ``first_row`` down by 1-based ``column``."""
        with self._lock:
            spreadsheet = self._spreadsheet(spreadsheet_id)
            sheet = self._sheet(spreadsheet_id, tab)
            grid_range = {"sheetId": sheet.sheet_id, "startRowIndex": first_row - 1}
            order = "DESCENDING" if descending else "ASCENDING"
            _sort_range(spreadsheet, {"range": grid_range, "sortSpecs": [{"dimensionIndex": column - 1,
                                                                          "sortOrder": order}]})

    def service_account_file(self, path: str | Path) -> str:
        """Write a service-account key file whose ``token_uri`` is this server; return its email.

        The key is a real RSA key, made once per process; google-auth signs its token grant
        with it and the server verifies the signature, so login works as with Google.
        """
        return _write_key_file(path, self.url)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self, status: int = 500, count: int = 1, *, json_body: bool = True, retry_after: float | None = None
    ) -> None:
        """Answer the next ``count`` Sheets calls with ``status`` instead of serving them.

        ``json_body=False`` sends an HTML page, as Google's front end does for some 5xx;
        ``retry_after`` adds a ``Retry-After`` header (seconds).
        """
        with self._lock:
            self._failures.extend(_Failure(status, json_body, retry_after) for _ in range(count))

    def disconnect_next(self, count: int = 1) -> None:
        """Drop the connection of the next ``count`` Sheets calls without answering."""
        with self._lock:
            self._disconnects += count

    def slow(self, seconds: float, count: int | None = None) -> None:
        """Delay Sheets calls by ``seconds``: the next ``count`` of them, or all until ``slow(0)``."""
        with self._lock:
            self._delay_seconds, self._delays_left = seconds, count

    def quota(
        self,
        writes_per_minute: int | None = None,
        reads_per_minute: int | None = None,
        *,
        window_seconds: float = 60.0,
        per_project: int | None = None,
    ) -> None:
        """Answer 429 (Google's quota error) past these many calls per window; None lifts a limit.

        Reads and writes are counted apart, per user (the service account) and, with
        ``per_project``, per project (reads and writes each). ``window_seconds`` shortens "a
        minute" so tests need not wait one.
        """
        with self._lock:
            self._quota_limits = {("user", True): writes_per_minute, ("user", False): reads_per_minute,
                                  ("project", True): per_project, ("project", False): per_project}
            self._quota_window = window_seconds
            self._quota_seen = {key: deque() for key in self._quota_limits}

    def google_quota(self, window_seconds: float = 60.0) -> None:
        """Google's published Sheets limits: 60 reads and 60 writes a minute per user, 300 of
        each per project (:meth:`quota`)."""
        self.quota(60, 60, window_seconds=window_seconds, per_project=300)

    def before_next_write(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` inside the server just before it applies the next write call.

        This is a person editing between a program's read and its write: the callback may call
        :meth:`edit`, :meth:`insert_rows`, :meth:`delete_rows` or :meth:`sort_rows`.
        """
        with self._lock:
            self._write_hooks.append(callback)

    # ------------------------------------------------------------------ serving

    def _spreadsheet(self, spreadsheet_id: str) -> _Spreadsheet:
        try:
            return self._spreadsheets[spreadsheet_id]
        except KeyError:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r} on this server") from None

    def _sheet(self, spreadsheet_id: str, tab: str) -> _Sheet:
        sheet = self._spreadsheet(spreadsheet_id).sheet_by_title(tab)
        if sheet is None:
            raise KeyError(f"spreadsheet {spreadsheet_id!r} has no tab {tab!r}")
        return sheet

    def _answer(self, http_method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> _Answer | None:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests.append((http_method, path))
        if path == TOKEN_PATH and http_method == "POST":
            form = {key: values[-1] for key, values in parse_qs(raw_body.decode()).items()}
            answer = self._tokens.grant(form)
            self._notify("oauth2.token", http_method, path, form, answer)
            return answer
        route = next(
            ((api_method, match.groups(), writes) for method, pattern, api_method, writes in _ROUTES
             if method == http_method and (match := pattern.fullmatch(path))),
            None,
        )
        if route is None:
            message = f"Method not found: {http_method} {path} is not served by FakeSheetsServer."
            return _Answer(404, _ApiError(404, message).body())
        api_method, (spreadsheet_id, *range_part), writes = route
        arrived = time.monotonic()
        self._pause()
        with self._lock:
            if self._disconnects:
                self._disconnects -= 1
                return None
            injected = self._injected_answer(writes)
            request_body = None
            if injected is None:
                try:
                    request_body = json.loads(raw_body) if raw_body.strip() else None
                    answer = self._serve(api_method, unquote(spreadsheet_id), range_part, query, request_body or {},
                                         headers, writes)
                except json.JSONDecodeError:
                    answer = _Answer(400, _ApiError(400, "Invalid JSON payload received.").body())
                except _ApiError as error:
                    answer = _Answer(error.code, error.body())
            else:
                answer = injected
            self.calls.append(Call(arrived, api_method, unquote(spreadsheet_id), writes, answer.status))
        self._notify(api_method, http_method, path, request_body, answer)
        return answer

    def _pause(self) -> None:
        with self._lock:
            delay = self._delay_seconds
            if self._delays_left is not None:
                self._delays_left -= 1
                if self._delays_left <= 0:
                    self._delay_seconds, self._delays_left = 0.0, None
        if delay:
            time.sleep(delay)

    def _injected_answer(self, writes: bool) -> _Answer | None:
        if self._failures:
            failure = self._failures.popleft()
            headers = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
            if failure.json_body:
                status_name = _STATUS_NAMES.get(failure.status, "UNKNOWN")
                body = {"error": {"code": failure.status, "message": f"Injected failure ({status_name}).",
                                  "status": status_name}}
            else:
                body = f"<html><body><h1>Error {failure.status}</h1><p>Injected failure.</p></body></html>"
            return _Answer(failure.status, body, headers)
        now, counted = time.monotonic(), []
        for scope in ("user", "project"):
            limit, seen = self._quota_limits.get((scope, writes)), self._quota_seen.get((scope, writes))
            if limit is None or seen is None:
                continue
            while seen and now - seen[0] >= self._quota_window:
                seen.popleft()
            if len(seen) >= limit:  # refused: counted by neither window
                metric = "Write requests" if writes else "Read requests"
                message = (
                    f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per {scope}' of "
                    "service 'sheets.googleapis.com' for consumer 'project_number:100000000001'."
                )
                return _Answer(429, _ApiError(429, message).body())
            counted.append(seen)
        for seen in counted:
            seen.append(now)
        return None

    def _serve(
        self,
        api_method: str,
        spreadsheet_id: str,
        range_part: list[str],
        query: Mapping[str, list[str]],
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        writes: bool,
    ) -> _Answer:
        self._tokens.authorize(headers, writes)
        spreadsheet = self._spreadsheets.get(spreadsheet_id)
        if spreadsheet is None:
            raise _ApiError(404, "Requested entity was not found.")
        if not spreadsheet.shared:
            raise _ApiError(403, "The caller does not have permission")
        if writes and self._write_hooks:
            self._write_hooks.popleft()()
        range_text = unquote(range_part[0]) if range_part else ""
        answer = self._call(api_method, spreadsheet, range_text, query, body)
        if "fields" in query and query["fields"][-1]:
            answer = _select_fields(answer, _parse_field_mask(query["fields"][-1]))
        return _Answer(200, answer)

    def _call(
        self,
        api_method: str,
        spreadsheet: _Spreadsheet,
        range_text: str,
        query: Mapping[str, list[str]],
        body: Mapping[str, Any],
    ) -> dict[str, Any]:
        sid = spreadsheet.spreadsheet_id
        if api_method == "sheets.spreadsheets.get":
            return _get_spreadsheet(spreadsheet, query)
        if api_method == "sheets.spreadsheets.values.get":
            return _read_values(spreadsheet.parse_range(range_text), _RenderOptions.from_query(query))
        if api_method == "sheets.spreadsheets.values.batchGet":
            options = _RenderOptions.from_query(query)
            ranges = [_read_values(spreadsheet.parse_range(text), options) for text in query.get("ranges", [])]
            return {"spreadsheetId": sid, "valueRanges": ranges} if ranges else {"spreadsheetId": sid}
        if api_method == "sheets.spreadsheets.values.update":
            input_option = (query.get("valueInputOption") or [""])[-1]
            answer = _write_values(spreadsheet, spreadsheet.parse_range(range_text), body, input_option, range_text)
            if (query.get("includeValuesInResponse") or ["false"])[-1].lower() == "true":
                written = spreadsheet.parse_range(answer["updatedRange"])
                answer["updatedData"] = _read_values(written, _RenderOptions.from_query(query, for_response=True))
            return answer
        if api_method == "sheets.spreadsheets.values.append":
            return _append_values(spreadsheet, spreadsheet.parse_range(range_text), body, query)
        if api_method == "sheets.spreadsheets.values.clear":
            return {"spreadsheetId": sid, "clearedRange": _clear_values(spreadsheet.parse_range(range_text))}
        if api_method == "sheets.spreadsheets.values.batchClear":
            cleared = [_clear_values(spreadsheet.parse_range(text)) for text in body.get("ranges", [])]
            return {"spreadsheetId": sid, "clearedRanges": cleared}
        if api_method == "sheets.spreadsheets.values.batchUpdate":
            return self._transaction(spreadsheet, lambda work: _batch_update_values(work, body))
        # A field mask decides what the answer holds; without one, responseIncludeGridData does.
        grid_data = bool(body.get("responseIncludeGridData")) or bool((query.get("fields") or [""])[-1])
        return self._transaction(spreadsheet, lambda work: _batch_update(work, body, grid_data))

    def _transaction(
        self, spreadsheet: _Spreadsheet, change: Callable[[_Spreadsheet], dict[str, Any]]
    ) -> dict[str, Any]:
        """Apply a batch to a copy and keep it only if every part succeeded, as Google does."""
        work = _Spreadsheet(spreadsheet.spreadsheet_id, copy.deepcopy(spreadsheet.properties),
                            [sheet.clone() for sheet in spreadsheet.sheets], spreadsheet.shared)
        answer = change(work)
        spreadsheet.properties, spreadsheet.sheets = work.properties, work.sheets
        return answer

    def _notify(self, api_method: str, http_method: str, path: str, request_body: Any, answer: _Answer) -> None:
        if self._observe is not None:
            response_body = None if isinstance(answer.body, str) else answer.body
            self._observe(Exchange(api_method, http_method, path, request_body, answer.status, response_body))
