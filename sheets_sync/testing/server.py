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
- ``GET spreadsheets/{id}`` (``fields`` masks honoured; grid data is never served),
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
:meth:`~FakeSheetsServer.quota` and :meth:`~FakeSheetsServer.before_next_write` (a person
editing, inserting or sorting rows between a program's read and its write).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sheets_sync.core.cells import EXCEL_EPOCH, Formula, column_letter

__all__ = ["Exchange", "FakeSheetsServer"]

DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26
SERVICE_ACCOUNT_EMAIL = "sheets-sync-test@fake-sheets-server.iam.gserviceaccount.com"
TOKEN_PATH = "/token"
SHEETS_PATH_PREFIX = "/v4/spreadsheets"

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_WRITE_SCOPES = {
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
}
_READ_SCOPES = _WRITE_SCOPES | {
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/drive.readonly",
}
_JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_DEFAULT_PATTERNS = {  # what Google shows for a number format type without a pattern (en_US)
    "DATE": "M/d/yyyy",
    "TIME": "h:mm:ss am/pm",
    "DATE_TIME": "M/d/yyyy H:mm:ss",
    "NUMBER": "#,##0.00",
    "PERCENT": "0.00%",
    "CURRENCY": '"$"#,##0.00',
}
_DATE_TYPES = {"DATE", "TIME", "DATE_TIME"}
_RENDER_OPTIONS = {"FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"}
_DATE_RENDER_OPTIONS = {"SERIAL_NUMBER", "FORMATTED_STRING"}


class _ApiError(Exception):
    """An error answered in Google's JSON envelope."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        status = _STATUS_NAMES.get(self.code, "UNKNOWN")
        return {"error": {"code": self.code, "message": self.message, "status": status}}


# --------------------------------------------------------------------------- cells


@dataclass(frozen=True, slots=True)
class _Cell:
    kind: str  # the ExtendedValue key: stringValue, numberValue, boolValue or formulaValue
    value: Any


_NumberFormat = tuple[str, str]  # (NumberFormat.type, pattern)


def _serial(value: date) -> float | int:
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=None)
        return (moment - datetime(1899, 12, 30)).total_seconds() / 86400
    return (value - EXCEL_EPOCH).days


def _json_number(number: float | int) -> float | int:
    """Google writes integral numbers without a fraction (43831, not 43831.0)."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def _python_cell(value: Any) -> tuple[_Cell | None, _NumberFormat | None]:
    """A Python value as fixtures give it: text stays text, Formula is a formula."""
    if value is None or value == "":
        return None, None
    if isinstance(value, Formula):
        return _Cell("formulaValue", str(value)), None
    if isinstance(value, str):
        return _Cell("stringValue", value), None
    if isinstance(value, bool):
        return _Cell("boolValue", value), None
    if isinstance(value, datetime):
        return _Cell("numberValue", _serial(value)), ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")
    if isinstance(value, date):
        return _Cell("numberValue", _serial(value)), ("DATE", "yyyy-mm-dd")
    if isinstance(value, (int, float, Decimal)):
        return _Cell("numberValue", float(value) if isinstance(value, Decimal) else value), None
    raise TypeError(f"cannot store {type(value).__name__} in a fake spreadsheet cell")


_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.(\d+))?")
_PERCENT = re.compile(r"([+-]?(?:\d+\.?(\d*)|\.(\d+)))%")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_ISO_DATE_TIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _user_entered_cell(value: Any) -> tuple[_Cell | None, _NumberFormat | None]:
    """What Google stores when a person types ``value`` (USER_ENTERED)."""
    if not isinstance(value, str) or value == "":
        return _raw_cell(value)
    if value.startswith("="):
        return _Cell("formulaValue", value), None
    if value.startswith("'"):
        return (_Cell("stringValue", value[1:]) if len(value) > 1 else None), None
    text = value.strip()
    if text.upper() in ("TRUE", "FALSE"):
        return _Cell("boolValue", text.upper() == "TRUE"), None
    if _PLAIN_NUMBER.fullmatch(text):
        return _Cell("numberValue", _json_number(float(text))), None
    if match := _GROUPED_NUMBER.fullmatch(text):
        decimals = len(match.group(3) or "")
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return _Cell("numberValue", _json_number(float(text.replace(",", "")))), ("NUMBER", pattern)
    if match := _PERCENT.fullmatch(text):
        decimals = len(match.group(2) or match.group(3) or "")
        pattern = "0" + ("." + "0" * decimals if decimals else "") + "%"
        number = float(Decimal(match.group(1)) / 100)
        return _Cell("numberValue", _json_number(number)), ("PERCENT", pattern)
    try:
        if match := _ISO_DATE.fullmatch(text):
            day = date(*(int(part) for part in match.groups()))
            return _Cell("numberValue", _serial(day)), ("DATE", "yyyy-mm-dd")
        if match := _ISO_DATE_TIME.fullmatch(text):
            moment = datetime(*(int(part or 0) for part in match.groups()))
            return _Cell("numberValue", _serial(moment)), ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")
        if match := _US_DATE.fullmatch(text):
            month, day_of_month, year = (int(part) for part in match.groups())
            return _Cell("numberValue", _serial(date(year, month, day_of_month))), ("DATE", "M/d/yyyy")
    except ValueError:  # 2024-02-30 and the like stay text, as in Sheets
        pass
    return _Cell("stringValue", value), None


def _raw_cell(value: Any) -> tuple[_Cell | None, _NumberFormat | None]:
    """What Google stores for RAW input: strings are text, whatever they start with."""
    if value is None or value == "":
        return None, None
    if isinstance(value, str):
        return _Cell("stringValue", value), None
    if isinstance(value, bool):
        return _Cell("boolValue", value), None
    if isinstance(value, (int, float)):
        return _Cell("numberValue", value), None
    raise _ApiError(400, f"Invalid value {json.dumps(value)}: a cell holds a string, a number or a boolean.")


def _extended_value_cell(extended: Mapping[str, Any]) -> _Cell | None:
    """An ``ExtendedValue`` of ``updateCells``."""
    for kind in ("stringValue", "numberValue", "boolValue", "formulaValue"):
        if kind in extended:
            return _Cell(kind, extended[kind])
    if not extended:
        return None
    raise _ApiError(400, f"Invalid ExtendedValue: {json.dumps(extended)}")


# --------------------------------------------------------------------------- formatting


def _automatic_number_text(number: float | int) -> str:
    """How Google's automatic format shows a number without a number format (en_US)."""
    magnitude = abs(number)
    if number != 0 and (magnitude >= 1e15 or magnitude < 1e-9):
        return _scientific(number)
    if float(number).is_integer():
        return str(int(number))
    return format(number, ".10g")


def _scientific(number: float | int) -> str:
    mantissa, exponent = format(number, ".5E").split("E")
    mantissa = mantissa.rstrip("0").rstrip(".")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}E{sign}{int(exponent[1:]):02d}"


_DATE_TOKEN = re.compile(r'yyyy|yy|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm|a/p|"[^"]*"|\\.|.', re.IGNORECASE)


def _format_date(serial: float, pattern: str) -> str:
    moment = datetime(1899, 12, 30) + timedelta(days=serial)
    moment = (moment + timedelta(milliseconds=500)).replace(microsecond=0)
    tokens = _DATE_TOKEN.findall(pattern)
    twelve_hour = any(token.lower() in ("am/pm", "a/p") for token in tokens)
    pieces = []
    for position, token in enumerate(tokens):
        lower = token.lower()
        if lower in ("m", "mm") and _is_minute(tokens, position):
            pieces.append(f"{moment.minute:02d}" if lower == "mm" else str(moment.minute))
        elif lower in ("yyyy", "yy"):
            pieces.append(str(moment.year) if lower == "yyyy" else f"{moment.year % 100:02d}")
        elif lower in ("mmmm", "mmm", "mm", "m"):
            pieces.append({"mmmm": moment.strftime("%B"), "mmm": moment.strftime("%b"),
                           "mm": f"{moment.month:02d}", "m": str(moment.month)}[lower])
        elif lower in ("dddd", "ddd", "dd", "d"):
            pieces.append({"dddd": moment.strftime("%A"), "ddd": moment.strftime("%a"),
                           "dd": f"{moment.day:02d}", "d": str(moment.day)}[lower])
        elif lower in ("hh", "h"):
            hour = (moment.hour % 12 or 12) if twelve_hour else moment.hour
            pieces.append(f"{hour:02d}" if lower == "hh" else str(hour))
        elif lower in ("ss", "s"):
            pieces.append(f"{moment.second:02d}" if lower == "ss" else str(moment.second))
        elif lower in ("am/pm", "a/p"):
            marker = "AM" if moment.hour < 12 else "PM"
            pieces.append(marker if lower == "am/pm" else marker[0])
        elif token.startswith('"'):
            pieces.append(token[1:-1])
        elif token.startswith("\\"):
            pieces.append(token[1:])
        else:
            pieces.append(token)
    return "".join(pieces)


def _is_minute(tokens: list[str], position: int) -> bool:
    """``m``/``mm`` mean minutes right after an hour or right before seconds."""
    before = [t.lower() for t in tokens[:position] if t.lower() not in (":", " ")]
    after = [t.lower() for t in tokens[position + 1 :] if t.lower() not in (":", " ")]
    return bool(before and before[-1] in ("h", "hh")) or bool(after and after[0] in ("s", "ss"))


def _format_with_pattern(number: float | int, pattern: str) -> str:
    unquoted = re.sub(r'"[^"]*"', "", pattern)
    if re.search(r"[yYdDhHsS]", unquoted) or re.fullmatch(r"[mM]+", unquoted):
        return _format_date(float(number), pattern)
    prefix, body, suffix = re.fullmatch(r'((?:"[^"]*"|[^#0.,%])*)([#0.,]*)(.*)', pattern).groups()
    if "%" in suffix:
        number = number * 100
    decimals = len(body.split(".", 1)[1]) if "." in body else 0
    text = format(abs(number), f"{',' if ',' in body else ''}.{decimals}f")
    sign = "-" if number < 0 and float(text.replace(",", "")) != 0 else ""
    return sign + prefix.replace('"', "") + text + suffix.replace('"', "")


def _formatted_number(number: float | int, number_format: _NumberFormat | None) -> str:
    if number_format is None or number_format[0] == "TEXT":
        return _automatic_number_text(number)
    kind, pattern = number_format
    pattern = pattern or _DEFAULT_PATTERNS.get(kind, "")
    return _format_with_pattern(number, pattern) if pattern else _automatic_number_text(number)


# --------------------------------------------------------------------------- formulas


class _FormulaError(Exception):
    """A spreadsheet error value such as ``#DIV/0!``."""


class _NotEvaluable(Exception):
    """The formula uses something this small evaluator does not know."""


_FORMULA_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|\$?([A-Za-z]{1,3})\$?(\d+)|([-+*/^()]))")


class _FormulaEvaluator:
    """Arithmetic and same-tab cell references; recursive descent over the formula text."""

    def __init__(self, sheet: _Sheet, visiting: frozenset[tuple[int, int]]) -> None:
        self.sheet = sheet
        self.visiting = visiting
        self.tokens: list[tuple[str, Any]] = []
        self.position = 0

    def evaluate(self, formula: str) -> float:
        text = formula[1:].strip()
        offset = 0
        while offset < len(text):
            match = _FORMULA_TOKEN.match(text, offset)
            if match is None or match.end() == offset:
                raise _NotEvaluable(formula)
            number, letters, row, operator = match.groups()
            if number is not None:
                self.tokens.append(("number", float(number)))
            elif letters is not None:
                self.tokens.append(("ref", (int(row) - 1, _column_index(letters))))
            else:
                self.tokens.append(("op", operator))
            offset = match.end()
        result = self._sum()
        if self.position != len(self.tokens):
            raise _NotEvaluable(formula)
        return result

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take_operator(self, *operators: str) -> str | None:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in operators:
            self.position += 1
            return token[1]
        return None

    def _sum(self) -> float:
        result = self._product()
        while operator := self._take_operator("+", "-"):
            right = self._product()
            result = result + right if operator == "+" else result - right
        return result

    def _product(self) -> float:
        result = self._unary()
        while operator := self._take_operator("*", "/"):
            right = self._unary()
            if operator == "/" and right == 0:
                raise _FormulaError("#DIV/0!")
            result = result * right if operator == "*" else result / right
        return result

    def _unary(self) -> float:
        if operator := self._take_operator("+", "-"):
            value = self._unary()
            return -value if operator == "-" else value
        return self._power()

    def _power(self) -> float:
        base = self._atom()
        if self._take_operator("^"):
            return base ** self._unary()
        return base

    def _atom(self) -> float:
        token = self._peek()
        if token is None:
            raise _NotEvaluable("unexpected end")
        self.position += 1
        kind, value = token
        if kind == "number":
            return value
        if kind == "ref":
            return self._reference(value)
        if value == "(":
            result = self._sum()
            if not self._take_operator(")"):
                raise _NotEvaluable("unbalanced parenthesis")
            return result
        raise _NotEvaluable(f"unexpected {value}")

    def _reference(self, position: tuple[int, int]) -> float:
        cell = self.sheet.cells.get(position)
        if cell is None:
            return 0.0
        if cell.kind == "numberValue":
            return float(cell.value)
        if cell.kind == "boolValue":
            return 1.0 if cell.value else 0.0
        if cell.kind == "formulaValue":
            if position in self.visiting:
                raise _FormulaError("#REF!")
            result = _evaluate(self.sheet, position, cell.value, self.visiting)
            if isinstance(result, str):
                raise _FormulaError(result)
            return result
        raise _FormulaError("#VALUE!")


def _evaluate(
    sheet: _Sheet, position: tuple[int, int], formula: str, visiting: frozenset[tuple[int, int]] = frozenset()
) -> float | str | None:
    """A number, an error value like ``"#DIV/0!"``, or None when the formula is beyond us."""
    try:
        return _FormulaEvaluator(sheet, visiting | {position}).evaluate(formula)
    except _FormulaError as error:
        return str(error)
    except (_NotEvaluable, OverflowError, ZeroDivisionError):
        return None


# --------------------------------------------------------------------------- A1 notation


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - 64
    return index - 1


def _quote_title(title: str) -> str:
    """Quote a tab title in A1 notation only where Google does (``Sheet1``, ``'My Tab'``, ``'D3'``)."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title)
    looks_like_cell = re.fullmatch(r"[A-Za-z]{1,3}\d+|[Rr]\d+[Cc]\d+", title)
    return title if plain and not looks_like_cell else "'" + title.replace("'", "''") + "'"


def _cell_name(row: int, col: int) -> str:
    return f"{column_letter(col + 1)}{row + 1}"


_A1_ENDPOINT = re.compile(r"\$?([A-Za-z]{0,3})\$?(\d*)")


@dataclass(frozen=True, slots=True)
class _Range:
    """A rectangle of one tab: 0-based, end-exclusive; an end of None runs to the grid's edge."""

    sheet: _Sheet
    start_row: int
    start_col: int
    end_row: int | None
    end_col: int | None
    single_cell: bool = False  # written as "A1": reads that cell, but a write may spread from it

    def clipped(self) -> tuple[int, int, int, int]:
        end_row = min(self.end_row if self.end_row is not None else self.sheet.row_count, self.sheet.row_count)
        end_col = min(self.end_col if self.end_col is not None else self.sheet.column_count, self.sheet.column_count)
        return self.start_row, self.start_col, end_row, end_col

    def a1(self) -> str:
        """The range as Google answers it: clipped to the grid."""
        start_row, start_col, end_row, end_col = self.clipped()
        return _a1(self.sheet, start_row, start_col, end_row, end_col)

    def check_inside_grid(self) -> None:
        if self.start_row >= self.sheet.row_count or self.start_col >= self.sheet.column_count:
            raise _grid_limit_error(self.sheet, self.start_row, self.start_col, self.start_row + 1, self.start_col + 1)


def _a1(sheet: _Sheet, start_row: int, start_col: int, end_row: int, end_col: int) -> str:
    first = _cell_name(start_row, start_col)
    last = _cell_name(end_row - 1, end_col - 1)
    return f"{_quote_title(sheet.title)}!{first}" + ("" if first == last else f":{last}")


def _grid_limit_error(sheet: _Sheet, start_row: int, start_col: int, end_row: int, end_col: int) -> _ApiError:
    quoted = "'" + sheet.title.replace("'", "''") + "'"
    first, last = _cell_name(start_row, start_col), _cell_name(end_row - 1, end_col - 1)
    area = first if first == last else f"{first}:{last}"
    return _ApiError(
        400,
        f"Range ({quoted}!{area}) exceeds grid limits. "
        f"Max rows: {sheet.row_count}, max columns: {sheet.column_count}",
    )


def _split_title(text: str) -> tuple[str | None, str]:
    """``'It''s'!A1`` -> ("It's", "A1"); ``A1`` -> (None, "A1")."""
    if text.startswith("'"):
        title, position = [], 1
        while position < len(text):
            char = text[position]
            if char == "'" and text[position + 1 : position + 2] == "'":
                title.append("'")
                position += 2
                continue
            if char == "'":
                rest = text[position + 1 :]
                if rest == "" or rest.startswith("!"):
                    return "".join(title), rest[1:]
                break
            title.append(char)
            position += 1
        raise _ApiError(400, f"Unable to parse range: {text}")
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells
    return None, text


# --------------------------------------------------------------------------- field masks


_FIELD_PATH = re.compile(r"\s*([^,()\s]+)\s*")


def _parse_field_mask(text: str) -> dict[str, Any]:
    """``a.b(c,d/e),f`` -> {"a": {"b": {"c": None, "d": {"e": None}}}, "f": None}; None = all of it."""
    position = 0

    def parse_list() -> dict[str, Any]:
        nonlocal position
        tree: dict[str, Any] = {}
        while True:
            match = _FIELD_PATH.match(text, position)
            if match is None:
                raise _ApiError(400, f"Invalid field selection {text}")
            position = match.end()
            sub = None
            if text[position : position + 1] == "(":
                position += 1
                sub = parse_list()
                if text[position : position + 1] != ")":
                    raise _ApiError(400, f"Invalid field selection {text}")
                position += 1
            _merge_path(tree, re.split(r"[./]", match.group(1)), sub)
            if text[position : position + 1] != ",":
                return tree
            position += 1

    tree = parse_list()
    if position != len(text.rstrip()):
        raise _ApiError(400, f"Invalid field selection {text}")
    return tree


def _merge_path(tree: dict[str, Any], path: list[str], leaf: dict[str, Any] | None) -> None:
    node = tree
    for name in path[:-1]:
        if name in node and node[name] is None:
            return  # the whole of it is selected already
        node = node.setdefault(name, {})
    name = path[-1]
    if leaf is None or node.get(name, {}) is None:
        node[name] = None
    else:
        for key, sub in leaf.items():
            _merge_path(node.setdefault(name, {}), [key], sub)


def _select_fields(value: Any, tree: dict[str, Any] | None) -> Any:
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [_select_fields(item, tree) for item in value]
    if isinstance(value, dict):
        return {key: _select_fields(value[key], sub) for key, sub in tree.items() if key in value}
    return value


def _mask_paths(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, sub in tree.items():
        paths.extend([prefix + (name,)] if sub is None else _mask_paths(sub, prefix + (name,)))
    return paths


def _copy_masked(target: dict[str, Any], source: Mapping[str, Any], fields: str) -> None:
    """Apply an update request's field mask: listed fields take the request's value or are reset."""
    for path in _mask_paths(_parse_field_mask(fields)):
        if path == ("*",):
            target.clear()
            target.update(copy.deepcopy(dict(source)))
            continue
        found: Any = source
        for name in path:
            found = found.get(name) if isinstance(found, Mapping) else None
        node = target
        for name in path[:-1]:
            node = node.setdefault(name, {})
        if found is None or (found == 0 and path[-1] not in ("sheetId", "index")):
            node.pop(path[-1], None)  # proto3 JSON leaves out false and zero, so Google's answers do
        else:
            node[path[-1]] = copy.deepcopy(found)


# --------------------------------------------------------------------------- the model


@dataclass
class _Sheet:
    properties: dict[str, Any]  # SheetProperties as Google answers them, minus the derived index
    cells: dict[tuple[int, int], _Cell] = field(default_factory=dict)
    formats: dict[tuple[int, int], _NumberFormat] = field(default_factory=dict)
    pixel_sizes: dict[tuple[str, int], int] = field(default_factory=dict)
    """(dimension, index) -> pixelSize set by ``updateDimensionProperties``."""
    notes: dict[tuple[int, int], str] = field(default_factory=dict)
    backgrounds: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    """Cell notes and ``userEnteredFormat.backgroundColor`` set by ``updateCells``."""
    charts: list[dict[str, Any]] = field(default_factory=list)
    conditional_formats: list[dict[str, Any]] = field(default_factory=list)
    protected_ranges: list[dict[str, Any]] = field(default_factory=list)
    data_validations: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    """(GridRange, DataValidationRule) in the order they were set; a later one wins."""

    @property
    def sheet_id(self) -> int:
        return self.properties["sheetId"]

    @property
    def title(self) -> str:
        return self.properties["title"]

    @property
    def row_count(self) -> int:
        return self.properties["gridProperties"]["rowCount"]

    @property
    def column_count(self) -> int:
        return self.properties["gridProperties"]["columnCount"]

    def resize(self, rows: int, columns: int) -> None:
        self.properties["gridProperties"].update(rowCount=rows, columnCount=columns)
        self._keep(lambda row, col: row < rows and col < columns)

    def _keep(self, inside: Callable[[int, int], bool]) -> None:
        self.cells = {position: cell for position, cell in self.cells.items() if inside(*position)}
        self.formats = {position: fmt for position, fmt in self.formats.items() if inside(*position)}
        self.notes = {position: note for position, note in self.notes.items() if inside(*position)}
        self.backgrounds = {position: color for position, color in self.backgrounds.items() if inside(*position)}

    def shift(self, dimension: str, start: int, delta: int) -> None:
        """Insert (delta > 0) or delete (delta < 0) rows or columns at ``start``."""
        axis = 0 if dimension == "ROWS" else 1

        def moved(store: dict[tuple[int, int], Any]) -> dict[tuple[int, int], Any]:
            result = {}
            for position, item in store.items():
                index = position[axis]
                if delta < 0 and start <= index < start - delta:
                    continue
                if index >= start:
                    position = (index + delta, position[1]) if axis == 0 else (position[0], index + delta)
                result[position] = item
            return result

        self.cells, self.formats = moved(self.cells), moved(self.formats)
        self.notes, self.backgrounds = moved(self.notes), moved(self.backgrounds)
        grid = self.properties["gridProperties"]
        grid["rowCount" if axis == 0 else "columnCount"] += delta

    def put(self, row: int, col: int, cell: _Cell | None, number_format: _NumberFormat | None = None) -> None:
        """Set a value; a parsed input's inferred format replaces the cell's format, else it stays."""
        if cell is None:
            self.cells.pop((row, col), None)
        else:
            self.cells[(row, col)] = cell
        if number_format is not None:
            self.formats[(row, col)] = number_format

    def clone(self) -> _Sheet:
        return _Sheet(copy.deepcopy(self.properties), dict(self.cells), dict(self.formats), dict(self.pixel_sizes),
                      dict(self.notes), dict(self.backgrounds), copy.deepcopy(self.charts),
                      copy.deepcopy(self.conditional_formats), copy.deepcopy(self.protected_ranges),
                      copy.deepcopy(self.data_validations))

    def objects_json(self) -> dict[str, Any]:
        """The Sheet resource's charts, conditional formats and protected ranges, where any."""
        objects = {"charts": self.charts, "conditionalFormats": self.conditional_formats,
                   "protectedRanges": self.protected_ranges}
        return {key: copy.deepcopy(value) for key, value in objects.items() if value}


@dataclass
class _Spreadsheet:
    spreadsheet_id: str
    properties: dict[str, Any]
    sheets: list[_Sheet]
    shared: bool = True

    def sheet_by_id(self, sheet_id: Any) -> _Sheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise _ApiError(400, f"No grid with id: {sheet_id}")

    def sheet_by_title(self, title: str) -> _Sheet | None:
        exact = [sheet for sheet in self.sheets if sheet.title == title]
        folded = [sheet for sheet in self.sheets if sheet.title.casefold() == title.casefold()]
        return (exact or folded or [None])[0]

    def new_sheet_id(self) -> int:
        while True:
            candidate = secrets.randbelow(2**31 - 2) + 1
            if all(sheet.sheet_id != candidate for sheet in self.sheets):
                return candidate

    def parse_range(self, text: str) -> _Range:
        title, cells = _split_title(text)
        if title is None:
            sheet = self.sheet_by_title(cells)
            if sheet is not None:
                return _Range(sheet, 0, 0, None, None)
            visible = [s for s in self.sheets if not s.properties.get("hidden")] or self.sheets
            sheet = visible[0]
        else:
            sheet = self.sheet_by_title(title)
            if sheet is None:
                raise _ApiError(400, f"Unable to parse range: {text}")
        if cells == "":
            return _Range(sheet, 0, 0, None, None)
        first, separator, last = cells.partition(":")
        start, end = _A1_ENDPOINT.fullmatch(first), _A1_ENDPOINT.fullmatch(last if separator else first)
        if not start or not end or not any(start.groups()) or not any(end.groups()):
            raise _ApiError(400, f"Unable to parse range: {text}")
        if not separator and not (start.group(1) and start.group(2)):
            raise _ApiError(400, f"Unable to parse range: {text}")
        start_row = int(start.group(2)) - 1 if start.group(2) else 0
        start_col = _column_index(start.group(1)) if start.group(1) else 0
        end_row = int(end.group(2)) if end.group(2) else None
        end_col = _column_index(end.group(1)) + 1 if end.group(1) else None
        if start_row < 0 or (end_row is not None and end_row < 1):
            raise _ApiError(400, f"Unable to parse range: {text}")
        if end_row is not None and end_row <= start_row:  # a reversed range (B2:A1) means A1:B2
            start_row, end_row = end_row - 1, start_row + 1
        if end_col is not None and end_col <= start_col:
            start_col, end_col = end_col - 1, start_col + 1
        return _Range(sheet, start_row, start_col, end_row, end_col, single_cell=not separator)

    def json(self) -> dict[str, Any]:
        """The Spreadsheet resource as spreadsheets.get answers it (without grid data)."""
        sheets = [
            {"properties": {"sheetId": sheet.sheet_id, "title": sheet.title, "index": index}
             | {key: value for key, value in copy.deepcopy(sheet.properties).items() if key not in ("sheetId", "title")}}
            | sheet.objects_json()
            for index, sheet in enumerate(self.sheets)
        ]
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": copy.deepcopy(self.properties),
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }


def _new_sheet(sheet_id: int, title: str, rows: int = DEFAULT_ROWS, columns: int = DEFAULT_COLUMNS) -> _Sheet:
    return _Sheet({"sheetId": sheet_id, "title": title, "sheetType": "GRID",
                   "gridProperties": {"rowCount": rows, "columnCount": columns}})


# --------------------------------------------------------------------------- reading values


@dataclass(frozen=True, slots=True)
class _RenderOptions:
    value: str = "FORMATTED_VALUE"
    date_time: str = "SERIAL_NUMBER"
    major_dimension: str = "ROWS"

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]], *, for_response: bool = False) -> _RenderOptions:
        """Read the options of a values call; ``for_response`` reads its ``response...`` variants."""

        def pick(name: str, default: str, allowed: set[str]) -> str:
            if for_response:
                name = "response" + name[0].upper() + name[1:]
            chosen = (query.get(name) or [default])[-1] or default
            if chosen not in allowed:
                raise _ApiError(400, f"Invalid value at '{name}' ({chosen})")
            return chosen

        major = (query.get("majorDimension") or ["ROWS"])[-1]
        if major not in ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED", ""):
            raise _ApiError(400, f"Invalid value at 'majorDimension' ({major})")
        return cls(
            pick("valueRenderOption", "FORMATTED_VALUE", _RENDER_OPTIONS),
            pick("dateTimeRenderOption", "SERIAL_NUMBER", _DATE_RENDER_OPTIONS),
            "COLUMNS" if major == "COLUMNS" and not for_response else "ROWS",
        )


def _render_cell(sheet: _Sheet, position: tuple[int, int], options: _RenderOptions) -> Any:
    cell = sheet.cells[position]
    number_format = sheet.formats.get(position)
    if cell.kind == "stringValue":
        return cell.value
    if cell.kind == "boolValue":
        return ("TRUE" if cell.value else "FALSE") if options.value == "FORMATTED_VALUE" else cell.value
    if cell.kind == "formulaValue":
        if options.value == "FORMULA":
            return cell.value
        result = _evaluate(sheet, position, cell.value)
        if result is None or isinstance(result, str):
            return cell.value if result is None else result
        return _render_number(result, number_format, options)
    return _render_number(cell.value, number_format, options)


def _render_number(number: float | int, number_format: _NumberFormat | None, options: _RenderOptions) -> Any:
    if options.value == "FORMATTED_VALUE":
        return _formatted_number(number, number_format)
    if number_format and number_format[0] in _DATE_TYPES and options.date_time == "FORMATTED_STRING":
        return _formatted_number(number, number_format)
    return _json_number(number)


def _read_values(rng: _Range, options: _RenderOptions) -> dict[str, Any]:
    """A ValueRange of the range: trailing empty cells and lines trimmed, gaps inside as ""."""
    rng.check_inside_grid()
    start_row, start_col, end_row, end_col = rng.clipped()
    rendered: dict[tuple[int, int], Any] = {}  # (line, item): rows and cells, or columns and cells
    first_line, first_item = (start_col, start_row) if options.major_dimension == "COLUMNS" else (start_row, start_col)
    for position in rng.sheet.cells:
        row, col = position
        if start_row <= row < end_row and start_col <= col < end_col:
            key = (col, row) if options.major_dimension == "COLUMNS" else (row, col)
            rendered[key] = _render_cell(rng.sheet, position, options)
    answer: dict[str, Any] = {"range": rng.a1(), "majorDimension": options.major_dimension}
    if not rendered:
        return answer
    lines: list[list[Any]] = [[] for _ in range(max(line for line, _ in rendered) - first_line + 1)]
    for (line, item), value in sorted(rendered.items()):
        cells = lines[line - first_line]
        cells.extend([""] * (item - first_item - len(cells)))
        cells.append(value)
    answer["values"] = lines
    return answer


# --------------------------------------------------------------------------- writing values


def _value_matrix(body: Mapping[str, Any]) -> list[list[Any]]:
    values = body.get("values", [])
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(line, list) for line in values):
        message = f"Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), {json.dumps(values)}"
        raise _ApiError(400, message)
    return values


def _write_values(
    spreadsheet: _Spreadsheet, rng: _Range, body: Mapping[str, Any], input_option: str, range_text: str
) -> dict[str, Any]:
    """Write a ValueRange at ``rng``; answers an UpdateValuesResponse."""
    if input_option not in ("RAW", "USER_ENTERED"):
        raise _ApiError(400, "'valueInputOption' is required but not specified" if not input_option
                        else f"Invalid valueInputOption: {input_option}")
    columns_major = body.get("majorDimension") == "COLUMNS"
    placed: dict[tuple[int, int], Any] = {}
    for line_index, line in enumerate(_value_matrix(body)):
        for item_index, value in enumerate(line):
            if value is not None:  # null means "leave this cell alone"
                offset = (item_index, line_index) if columns_major else (line_index, item_index)
                placed[(rng.start_row + offset[0], rng.start_col + offset[1])] = value
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id}
    if not placed:
        answer["updatedRange"] = _a1(rng.sheet, rng.start_row, rng.start_col, rng.start_row + 1, rng.start_col + 1)
        return answer
    last_row = max(row for row, _ in placed)
    last_col = max(col for _, col in placed)
    bounded = not rng.single_cell
    if bounded and rng.end_row is not None and last_row >= rng.end_row:
        raise _ApiError(400, f"Requested writing within range [{range_text}], but tried writing to row [{last_row + 1}]")
    if bounded and rng.end_col is not None and last_col >= rng.end_col:
        raise _ApiError(400, f"Requested writing within range [{range_text}], but tried writing to column "
                             f"[{column_letter(last_col + 1)}]")
    if last_row >= rng.sheet.row_count or last_col >= rng.sheet.column_count:
        raise _grid_limit_error(rng.sheet, rng.start_row, rng.start_col, last_row + 1, last_col + 1)
    parse = _raw_cell if input_option == "RAW" else _user_entered_cell
    for (row, col), value in placed.items():
        rng.sheet.put(row, col, *parse(value))
    answer.update(
        updatedRange=_a1(rng.sheet, rng.start_row, rng.start_col, last_row + 1, last_col + 1),
        updatedRows=len({row for row, _ in placed}),
        updatedColumns=len({col for _, col in placed}),
        updatedCells=len(placed),
    )
    return answer


def _find_table(rng: _Range) -> tuple[int, int, int, int] | None:
    """Google's "table" for values:append: the block around the last filled cell of the range."""
    start_row, start_col, end_row, end_col = rng.clipped()
    cells = rng.sheet.cells
    filled = [(r, c) for r, c in cells if start_row <= r < end_row and start_col <= c < end_col]
    if not filled:
        return None
    anchor_row, anchor_col = max(filled)
    left = right = anchor_col
    while (anchor_row, left - 1) in cells:
        left -= 1
    while (anchor_row, right + 1) in cells:
        right += 1

    def row_used(row: int) -> bool:
        return any((row, col) in cells for col in range(left, right + 1))

    top = bottom = anchor_row
    while top > 0 and row_used(top - 1):
        top -= 1
    while row_used(bottom + 1):
        bottom += 1
    return top, left, bottom + 1, right + 1


def _append_values(
    spreadsheet: _Spreadsheet, rng: _Range, body: Mapping[str, Any], query: Mapping[str, list[str]]
) -> dict[str, Any]:
    rng.check_inside_grid()
    table = _find_table(rng)
    target_row, target_col = (table[2], table[1]) if table else (rng.start_row, rng.start_col)
    lines = _value_matrix(body)
    columns_major = body.get("majorDimension") == "COLUMNS"
    height = max((len(line) for line in lines), default=0) if columns_major else len(lines)
    width = len(lines) if columns_major else max((len(line) for line in lines), default=0)
    sheet = rng.sheet
    if (query.get("insertDataOption") or ["OVERWRITE"])[-1] == "INSERT_ROWS" and target_row < sheet.row_count:
        sheet.shift("ROWS", target_row, height)
    sheet.properties["gridProperties"].update(  # appending grows the grid, as Google does
        rowCount=max(sheet.row_count, target_row + height), columnCount=max(sheet.column_count, target_col + width)
    )
    target = _Range(sheet, target_row, target_col, None, None)
    input_option = (query.get("valueInputOption") or [""])[-1]
    updates = _write_values(spreadsheet, target, body, input_option, target.a1())
    if (query.get("includeValuesInResponse") or ["false"])[-1].lower() == "true" and "updatedRange" in updates:
        written = spreadsheet.parse_range(updates["updatedRange"])
        updates["updatedData"] = _read_values(written, _RenderOptions.from_query(query, for_response=True))
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id}
    if table:
        answer["tableRange"] = _a1(sheet, *table)
    answer["updates"] = updates
    return answer


def _clear_values(rng: _Range) -> str:
    rng.check_inside_grid()
    start_row, start_col, end_row, end_col = rng.clipped()
    rng.sheet.cells = {
        (row, col): cell
        for (row, col), cell in rng.sheet.cells.items()
        if not (start_row <= row < end_row and start_col <= col < end_col)
    }
    return rng.a1()


# --------------------------------------------------------------------------- spreadsheets:batchUpdate


def _grid_range(spreadsheet: _Spreadsheet, grid_range: Mapping[str, Any]) -> tuple[_Sheet, int, int, int, int]:
    sheet = spreadsheet.sheet_by_id(grid_range.get("sheetId", 0))
    return (
        sheet,
        grid_range.get("startRowIndex", 0),
        grid_range.get("startColumnIndex", 0),
        grid_range.get("endRowIndex", sheet.row_count),
        grid_range.get("endColumnIndex", sheet.column_count),
    )


def _add_sheet(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    properties = copy.deepcopy(request.get("properties", {}))
    sheet_id = properties.pop("sheetId", None)
    if sheet_id is None:
        sheet_id = spreadsheet.new_sheet_id()
    elif any(sheet.sheet_id == sheet_id for sheet in spreadsheet.sheets):
        raise _ApiError(400, f"A sheet with the id {sheet_id} already exists.")
    title = properties.pop("title", None)
    if title is None:
        number = len(spreadsheet.sheets) + 1
        while spreadsheet.sheet_by_title(f"Sheet{number}"):
            number += 1
        title = f"Sheet{number}"
    if spreadsheet.sheet_by_title(title):
        raise _ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
    index = properties.pop("index", len(spreadsheet.sheets))
    grid = {"rowCount": DEFAULT_ROWS, "columnCount": DEFAULT_COLUMNS} | properties.pop("gridProperties", {})
    sheet = _new_sheet(sheet_id, title, grid.pop("rowCount"), grid.pop("columnCount"))
    sheet.properties["gridProperties"].update(grid)
    sheet.properties.update({key: value for key, value in properties.items() if key != "sheetType"})
    spreadsheet.sheets.insert(min(index, len(spreadsheet.sheets)), sheet)
    reply = spreadsheet.json()["sheets"][spreadsheet.sheets.index(sheet)]["properties"]
    return {"addSheet": {"properties": reply}}


def _delete_sheet(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet = spreadsheet.sheet_by_id(request.get("sheetId"))
    if len(spreadsheet.sheets) == 1:
        raise _ApiError(400, "You can't remove all the sheets in a document.")
    spreadsheet.sheets.remove(sheet)
    return {}


def _update_sheet_properties(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("properties", {})
    sheet = spreadsheet.sheet_by_id(wanted.get("sheetId"))
    fields = request.get("fields")
    if not fields:
        raise _ApiError(400, "At least one field must be updated, but none were specified.")
    old_index = spreadsheet.sheets.index(sheet)
    updated = copy.deepcopy(sheet.properties)
    _copy_masked(updated, wanted, fields)
    new_index = updated.pop("index", None)
    updated["sheetId"], updated["sheetType"] = sheet.sheet_id, "GRID"
    if "title" not in updated or updated["title"] == "":
        raise _ApiError(400, "The sheet title must not be empty.")
    other = spreadsheet.sheet_by_title(updated["title"])
    if other is not None and other is not sheet:
        raise _ApiError(400, f'A sheet with the name "{updated["title"]}" already exists. Please enter another name.')
    grid = updated.setdefault("gridProperties", {})
    rows, columns = grid.setdefault("rowCount", sheet.row_count), grid.setdefault("columnCount", sheet.column_count)
    if rows < 1 or columns < 1:
        raise _ApiError(400, "A sheet must keep at least one row and one column.")
    hidden_others = all(s.properties.get("hidden") for s in spreadsheet.sheets if s is not sheet)
    if updated.get("hidden") and hidden_others:
        raise _ApiError(400, "You can't hide all the sheets in a document.")
    if not updated.get("hidden"):
        updated.pop("hidden", None)
    sheet.properties = updated
    sheet.resize(rows, columns)
    if new_index is not None and new_index not in (old_index, old_index + 1):
        # Google counts the target index before the move.
        spreadsheet.sheets.pop(old_index)
        spreadsheet.sheets.insert(new_index - 1 if new_index > old_index else new_index, sheet)
    return {}


def _update_spreadsheet_properties(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    if not request.get("fields"):
        raise _ApiError(400, "At least one field must be updated, but none were specified.")
    _copy_masked(spreadsheet.properties, request.get("properties", {}), request["fields"])
    return {}


def _update_cells(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    paths = {".".join(path) for path in _mask_paths(_parse_field_mask(request.get("fields") or "*"))}
    sets_value = bool(paths & {"*", "userEnteredValue"})
    sets_format = bool(paths & {"*", "userEnteredFormat", "userEnteredFormat.numberFormat"})
    sets_background = bool(paths & {"*", "userEnteredFormat", "userEnteredFormat.backgroundColor"})
    sets_note = bool(paths & {"*", "note"})
    rows = request.get("rows", [])
    if "start" in request:
        start = request["start"]
        sheet = spreadsheet.sheet_by_id(start.get("sheetId", 0))
        first_row, first_col = start.get("rowIndex", 0), start.get("columnIndex", 0)
        given = {
            (first_row + r, first_col + c): cell_data
            for r, row_data in enumerate(rows)
            for c, cell_data in enumerate(row_data.get("values", []))
        }
        targets = list(given)
    elif "range" in request:
        sheet, first_row, first_col, end_row, end_col = _grid_range(spreadsheet, request["range"])
        given = {
            (first_row + r, first_col + c): cell_data
            for r, row_data in enumerate(rows)
            for c, cell_data in enumerate(row_data.get("values", []))
        }
        # With a range, cells of the range that rows leave out are reset too.
        targets = [(r, c) for r in range(first_row, end_row) for c in range(first_col, end_col)]
    else:
        raise _ApiError(400, "Invalid updateCells: one of start or range must be set.")
    for row, col in targets:
        if row >= sheet.row_count:
            raise _ApiError(400, f"GridCoordinate.rowIndex[{row}] is after last row in grid[{sheet.row_count - 1}]")
        if col >= sheet.column_count:
            raise _ApiError(
                400, f"GridCoordinate.columnIndex[{col}] is after last column in grid[{sheet.column_count - 1}]"
            )
    for position in targets:
        cell_data = given.get(position, {})
        if sets_value:
            sheet.put(*position, _extended_value_cell(cell_data.get("userEnteredValue", {})))
        if sets_format:
            number_format = cell_data.get("userEnteredFormat", {}).get("numberFormat")
            if number_format:
                sheet.formats[position] = (number_format.get("type", "NUMBER"), number_format.get("pattern", ""))
            else:
                sheet.formats.pop(position, None)
        if sets_background:
            background = cell_data.get("userEnteredFormat", {}).get("backgroundColor")
            if background:
                sheet.backgrounds[position] = dict(background)
            else:
                sheet.backgrounds.pop(position, None)
        if sets_note:
            if cell_data.get("note"):
                sheet.notes[position] = cell_data["note"]
            else:
                sheet.notes.pop(position, None)
    return {}


def _append_dimension(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet = spreadsheet.sheet_by_id(request.get("sheetId"))
    length = request.get("length", 0)
    if length < 1:
        raise _ApiError(400, "length must be at least 1.")
    if request.get("dimension") == "COLUMNS":
        sheet.resize(sheet.row_count, sheet.column_count + length)
    else:
        sheet.resize(sheet.row_count + length, sheet.column_count)
    return {}


def _dimension_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> tuple[_Sheet, str, int, int]:
    dimension_range = request.get("range", {})
    sheet = spreadsheet.sheet_by_id(dimension_range.get("sheetId"))
    dimension = dimension_range.get("dimension", "ROWS")
    size = sheet.row_count if dimension == "ROWS" else sheet.column_count
    start, end = dimension_range.get("startIndex", 0), dimension_range.get("endIndex", size)
    if not 0 <= start < end:
        raise _ApiError(400, f"Invalid dimension range [{start}, {end}).")
    return sheet, dimension, start, end


def _update_dimension_properties(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_range(spreadsheet, request)
    if request.get("fields") != "pixelSize":
        raise _ApiError(400, "FakeSheetsServer only updates pixelSize of rows or columns.")
    for index in range(start, end):
        sheet.pixel_sizes[(dimension, index)] = int(request["properties"]["pixelSize"])
    return {}


def _insert_dimension(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_range(spreadsheet, request)
    sheet.shift(dimension, start, end - start)
    return {}


def _delete_dimension(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_range(spreadsheet, request)
    size = sheet.row_count if dimension == "ROWS" else sheet.column_count
    if end - start >= size:
        raise _ApiError(400, "You can't delete all the rows (or columns) on the sheet.")
    sheet.shift(dimension, start, start - min(end, size))
    return {}


def _sort_key(cell: _Cell | None) -> tuple[int, Any] | None:
    if cell is None:
        return None
    if cell.kind == "numberValue":
        return (0, cell.value)
    if cell.kind == "boolValue":
        return (2, cell.value)
    return (1, str(cell.value).casefold())


def _sort_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    sheet, first_row, first_col, end_row, end_col = _grid_range(spreadsheet, request.get("range", {}))
    specs = [
        (first_col + spec.get("dimensionIndex", 0), spec.get("sortOrder") == "DESCENDING")
        for spec in request.get("sortSpecs", [{}])
    ]
    columns = range(first_col, end_col)
    lines = [
        ({c: sheet.cells.get((r, c)) for c in columns}, {c: sheet.formats.get((r, c)) for c in columns})
        for r in range(first_row, end_row)
    ]

    def compare(a: tuple[dict, dict], b: tuple[dict, dict]) -> int:
        for column, descending in specs:
            key_a, key_b = _sort_key(a[0].get(column)), _sort_key(b[0].get(column))
            if key_a == key_b:
                continue
            if key_a is None or key_b is None:  # blanks go last in both orders
                return 1 if key_a is None else -1
            order = -1 if key_a < key_b else 1
            return -order if descending else order
        return 0

    lines.sort(key=functools.cmp_to_key(compare))
    for offset, (cells, formats) in enumerate(lines):
        for column in columns:
            position = (first_row + offset, column)
            sheet.put(*position, cells[column])
            if formats[column] is None:
                sheet.formats.pop(position, None)
            else:
                sheet.formats[position] = formats[column]
    return {}


# --------------------------------------------------------------------------- embedded objects and rules
#
# Replies follow recorded Google traffic where it exists (addProtectedRange, setDataValidation,
# deleteProtectedRange): proto3 JSON leaves out a GridRange's sheetId 0, false booleans and
# empty lists, Google adds the requesting account to a protected range's editors, and its
# reply says ``requestingUserCanEdit``. Replies to addChart echo the chart with its id
# (assumed). Ranges of rules, protections and charts do not follow inserted or deleted rows.


def _checked_range(spreadsheet: _Spreadsheet, grid_range: Mapping[str, Any]) -> dict[str, Any]:
    """A GridRange as Google stores and answers it, after checking it lies on an existing grid."""
    sheet, start_row, start_col, end_row, end_col = _grid_range(spreadsheet, grid_range)
    if end_row > sheet.row_count or end_col > sheet.column_count or start_row < 0 or start_col < 0:
        raise _grid_limit_error(sheet, start_row, start_col, max(end_row, start_row + 1), max(end_col, start_col + 1))
    stored = {key: value for key, value in grid_range.items() if value is not None}
    if stored.get("sheetId", 0) == 0:
        stored.pop("sheetId", None)
    return copy.deepcopy(stored)


def _without_defaults(value: Any) -> Any:
    """proto3 JSON: false, empty strings and empty lists are left out; messages stay."""
    if isinstance(value, dict):
        return {key: _without_defaults(item) for key, item in value.items()
                if item is not None and item is not False and item != "" and item != []}
    if isinstance(value, list):
        return [_without_defaults(item) for item in value]
    return value


def _new_object_id(spreadsheet: _Spreadsheet) -> int:
    taken = {chart.get("chartId") for sheet in spreadsheet.sheets for chart in sheet.charts} | {
        protected.get("protectedRangeId") for sheet in spreadsheet.sheets for protected in sheet.protected_ranges}
    while True:
        candidate = secrets.randbelow(2**31 - 2) + 1
        if candidate not in taken:
            return candidate


def _add_protected_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("protectedRange") or {}
    if "range" not in wanted:
        raise _ApiError(400, "FakeSheetsServer protects ranges only (not named ranges or tables).")
    sheet = spreadsheet.sheet_by_id(wanted["range"].get("sheetId", 0))
    protected = _without_defaults({key: copy.deepcopy(value) for key, value in wanted.items()
                                   if key not in ("requestingUserCanEdit", "protectedRangeId", "range")})
    protected = {"protectedRangeId": _new_object_id(spreadsheet), "range": _checked_range(spreadsheet, wanted["range"]),
                 **protected, "requestingUserCanEdit": True}
    protected.setdefault("editors", {})
    reply = copy.deepcopy(protected)
    users = list(protected["editors"].get("users", []))
    protected["editors"]["users"] = users + [SERVICE_ACCOUNT_EMAIL] * (SERVICE_ACCOUNT_EMAIL not in users)
    sheet.protected_ranges.append(protected)
    return {"addProtectedRange": {"protectedRange": reply}}


def _delete_protected_range(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("protectedRangeId")
    for sheet in spreadsheet.sheets:
        for protected in sheet.protected_ranges:
            if protected["protectedRangeId"] == wanted:
                sheet.protected_ranges.remove(protected)
                return {}
    raise _ApiError(400, f"No protected range with id: {wanted}")


def _set_data_validation(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    grid_range = request.get("range") or {}
    sheet = spreadsheet.sheet_by_id(grid_range.get("sheetId", 0))
    stored = _checked_range(spreadsheet, grid_range)
    rule = request.get("rule")
    sheet.data_validations = [(old, old_rule) for old, old_rule in sheet.data_validations if old != stored]
    if rule:
        if (rule.get("condition") or {}).get("type") in (None, "CONDITION_TYPE_UNSPECIFIED"):
            raise _ApiError(400, "Invalid DataValidationRule: a condition type is required.")
        sheet.data_validations.append((stored, _without_defaults(copy.deepcopy(dict(rule)))))
    return {}


def _add_conditional_format_rule(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    rule = request.get("rule") or {}
    ranges = rule.get("ranges") or []
    if not ranges or ("booleanRule" in rule) == ("gradientRule" in rule):
        raise _ApiError(400, "Invalid ConditionalFormatRule: it needs ranges and one of booleanRule or gradientRule.")
    sheets = {spreadsheet.sheet_by_id(grid_range.get("sheetId", 0)).sheet_id for grid_range in ranges}
    if len(sheets) != 1:
        raise _ApiError(400, "All ranges of a conditional format rule must be on the same sheet.")
    sheet = spreadsheet.sheet_by_id(sheets.pop())
    stored = {**_without_defaults(copy.deepcopy(dict(rule))),
              "ranges": [_checked_range(spreadsheet, grid_range) for grid_range in ranges]}
    index = request.get("index", 0)
    if not 0 <= index <= len(sheet.conditional_formats):
        raise _ApiError(400, f"Invalid index {index}: the sheet has {len(sheet.conditional_formats)} rules.")
    sheet.conditional_formats.insert(index, stored)
    return {}


def _add_chart(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    chart = copy.deepcopy(dict(request.get("chart") or {}))
    overlay = (chart.get("position") or {}).get("overlayPosition")
    if not overlay or "anchorCell" not in overlay:
        raise _ApiError(400, "FakeSheetsServer places charts over cells only (position.overlayPosition.anchorCell).")
    anchor = overlay["anchorCell"]
    sheet = spreadsheet.sheet_by_id(anchor.get("sheetId", 0))
    if anchor.get("rowIndex", 0) >= sheet.row_count or anchor.get("columnIndex", 0) >= sheet.column_count:
        raise _grid_limit_error(sheet, anchor.get("rowIndex", 0), anchor.get("columnIndex", 0),
                                anchor.get("rowIndex", 0) + 1, anchor.get("columnIndex", 0) + 1)
    basic = (chart.get("spec") or {}).get("basicChart")
    if basic is None:
        raise _ApiError(400, "FakeSheetsServer draws basic charts only (spec.basicChart).")
    for part in [*basic.get("domains", []), *basic.get("series", [])]:
        data = part.get("domain") or part.get("series") or {}
        sources = (data.get("sourceRange") or {}).get("sources") or []
        if not sources:
            raise _ApiError(400, "Invalid chart: every domain and series needs a sourceRange.")
        data["sourceRange"]["sources"] = [_checked_range(spreadsheet, source) for source in sources]
    chart_id = chart.get("chartId")
    if chart_id is None:
        chart_id = _new_object_id(spreadsheet)
    elif any(existing.get("chartId") == chart_id for other in spreadsheet.sheets for existing in other.charts):
        raise _ApiError(400, f"An object with the id {chart_id} already exists.")
    chart = {**_without_defaults(chart), "chartId": chart_id}
    sheet.charts.append(chart)
    return {"addChart": {"chart": copy.deepcopy(chart)}}


def _delete_embedded_object(spreadsheet: _Spreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    wanted = request.get("objectId")
    for sheet in spreadsheet.sheets:
        for chart in sheet.charts:
            if chart.get("chartId") == wanted:
                sheet.charts.remove(chart)
                return {}
    raise _ApiError(400, f"No object with id: {wanted}")


_BATCH_UPDATE_REQUESTS: dict[str, Callable[[_Spreadsheet, Mapping[str, Any]], dict[str, Any]]] = {
    "addSheet": _add_sheet,
    "deleteSheet": _delete_sheet,
    "updateSheetProperties": _update_sheet_properties,
    "updateSpreadsheetProperties": _update_spreadsheet_properties,
    "updateCells": _update_cells,
    "appendDimension": _append_dimension,
    "updateDimensionProperties": _update_dimension_properties,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "sortRange": _sort_range,
    "addProtectedRange": _add_protected_range,
    "deleteProtectedRange": _delete_protected_range,
    "setDataValidation": _set_data_validation,
    "addConditionalFormatRule": _add_conditional_format_rule,
    "addChart": _add_chart,
    "deleteEmbeddedObject": _delete_embedded_object,
}


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True, slots=True)
class Exchange:
    """One answered request, as handed to the ``observe`` callback of :class:`FakeSheetsServer`."""

    api_method: str  # the discovery method id, e.g. "sheets.spreadsheets.values.batchGet", or "oauth2.token"
    http_method: str
    path: str
    request_body: Any  # parsed JSON (or the token form as a dict); None when empty
    status: int
    response_body: Any  # parsed JSON; None for non-JSON answers


@dataclass
class _Answer:
    status: int
    body: Any  # JSON-able, or str for a non-JSON body
    headers: dict[str, str] = field(default_factory=dict)


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
        self._tokens: dict[str, set[str]] = {}
        self._failures: deque[_Failure] = deque()
        self._disconnects = 0
        self._delay_seconds = 0.0
        self._delays_left: int | None = None
        self._quota_limits: dict[bool, int | None] = {True: None, False: None}  # keyed by "is a write"
        self._quota_window = 60.0
        self._quota_seen: dict[bool, deque[float]] = {True: deque(), False: deque()}
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
        pem = _signing_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        key = {
            "type": "service_account",
            "project_id": "fake-sheets-server",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": SERVICE_ACCOUNT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": f"{self.url}/auth",
            "token_uri": f"{self.url}{TOKEN_PATH}",
            "auth_provider_x509_cert_url": f"{self.url}/certs",
            "client_x509_cert_url": f"{self.url}/certs/{SERVICE_ACCOUNT_EMAIL}",
            "universe_domain": "googleapis.com",
        }
        target = Path(path)
        target.write_text(json.dumps(key, indent=2))
        target.chmod(0o600)
        return SERVICE_ACCOUNT_EMAIL

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
    ) -> None:
        """Answer 429 (Google's quota error) past these many calls per window; None lifts a limit.

        ``window_seconds`` shortens "a minute" so tests need not wait one.
        """
        with self._lock:
            self._quota_limits = {True: writes_per_minute, False: reads_per_minute}
            self._quota_window = window_seconds
            self._quota_seen = {True: deque(), False: deque()}

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
            answer = self._token(form)
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
        limit = self._quota_limits[writes]
        if limit is not None:
            now, seen = time.monotonic(), self._quota_seen[writes]
            while seen and now - seen[0] >= self._quota_window:
                seen.popleft()
            if len(seen) >= limit:
                metric = "Write requests" if writes else "Read requests"
                message = (
                    f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of "
                    "service 'sheets.googleapis.com' for consumer 'project_number:100000000001'."
                )
                return _Answer(429, _ApiError(429, message).body())
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
        self._authorize(headers, writes)
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
            return spreadsheet.json()
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

    def _authorize(self, headers: Mapping[str, str], writes: bool) -> None:
        authorization = headers.get("Authorization") or ""
        if not authorization.startswith("Bearer "):
            raise _ApiError(401, "Request is missing required authentication credential. Expected OAuth 2 access "
                                 "token, login cookie or other valid authentication credential.")
        scopes = self._tokens.get(authorization.removeprefix("Bearer ").strip())
        if scopes is None:
            raise _ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                 "login cookie or other valid authentication credential.")
        if not scopes & (_WRITE_SCOPES if writes else _READ_SCOPES):
            raise _ApiError(403, "Request had insufficient authentication scopes.")

    def _token(self, form: Mapping[str, str]) -> _Answer:
        """Google's OAuth token endpoint for the JWT-bearer grant of a service account."""

        def refuse(description: str) -> _Answer:
            return _Answer(400, {"error": "invalid_grant", "error_description": description})

        if form.get("grant_type") != _JWT_GRANT_TYPE:
            return _Answer(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        try:
            header_part, claims_part, signature_part = form.get("assertion", "").split(".")
            claims = json.loads(_b64decode(claims_part))
            signature = _b64decode(signature_part)
        except ValueError:
            return refuse("Invalid JWT: malformed assertion.")
        if claims.get("iss") != SERVICE_ACCOUNT_EMAIL:
            return refuse("Invalid grant: account not found")
        try:
            _signing_key().public_key().verify(
                signature, f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return refuse("Invalid JWT Signature.")
        if claims.get("exp", 0) < time.time():
            return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = set(str(claims.get("scope", "")).split())
        return _Answer(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _notify(self, api_method: str, http_method: str, path: str, request_body: Any, answer: _Answer) -> None:
        if self._observe is not None:
            response_body = None if isinstance(answer.body, str) else answer.body
            self._observe(Exchange(api_method, http_method, path, request_body, answer.status, response_body))


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    """The service account's key; one per process, as making an RSA key takes a while."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _batch_update_values(spreadsheet: _Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
    input_option = body.get("valueInputOption", "")
    responses = []
    for value_range in body.get("data", []):
        range_text = value_range.get("range", "")
        responses.append(_write_values(spreadsheet, spreadsheet.parse_range(range_text), value_range, input_option,
                                       range_text))
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id}
    written = [spreadsheet.parse_range(response["updatedRange"]) for response in responses if "updatedCells" in response]
    if written:
        rows = {(rng.sheet.sheet_id, row) for rng in written for row in range(rng.start_row, rng.clipped()[2])}
        cols = {(rng.sheet.sheet_id, col) for rng in written for col in range(rng.start_col, rng.clipped()[3])}
        answer.update(
            totalUpdatedRows=len(rows),
            totalUpdatedColumns=len(cols),
            totalUpdatedCells=sum(response["updatedCells"] for response in responses if "updatedCells" in response),
            totalUpdatedSheets=len({rng.sheet.sheet_id for rng in written}),
        )
    if responses:
        answer["responses"] = responses
    return answer


def _batch_update(spreadsheet: _Spreadsheet, body: Mapping[str, Any], grid_data: bool = False) -> dict[str, Any]:
    replies = []
    for index, request in enumerate(body.get("requests", [])):
        if len(request) != 1:
            raise _ApiError(400, f"Invalid requests[{index}]: exactly one kind of request must be set.")
        (kind, payload), = request.items()
        handler = _BATCH_UPDATE_REQUESTS.get(kind)
        if handler is None:
            raise _ApiError(400, f"Invalid requests[{index}]: FakeSheetsServer does not implement '{kind}'.")
        try:
            replies.append(handler(spreadsheet, payload))
        except _ApiError as error:
            raise _ApiError(error.code, f"Invalid requests[{index}].{kind}: {error.message}") from None
    answer: dict[str, Any] = {"spreadsheetId": spreadsheet.spreadsheet_id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        answer["updatedSpreadsheet"] = _updated_spreadsheet(spreadsheet, body, grid_data)
    return answer


def _updated_spreadsheet(spreadsheet: _Spreadsheet, body: Mapping[str, Any], grid_data: bool) -> dict[str, Any]:
    """The Spreadsheet a batchUpdate answers with: after the batch, limited to the sheets of
    ``responseRanges`` when given (as spreadsheets.get with ``ranges``), each with one GridData
    per range when grid data is asked for."""
    answer = spreadsheet.json()
    ranges = [spreadsheet.parse_range(text) for text in body.get("responseRanges") or []]
    if not ranges:
        ranges = [_Range(sheet, 0, 0, None, None) for sheet in spreadsheet.sheets] if grid_data else []
        if not ranges:
            return answer
    by_sheet: dict[int, list[_Range]] = {}
    for rng in ranges:
        by_sheet.setdefault(rng.sheet.sheet_id, []).append(rng)
    sheets = []
    for index, sheet in enumerate(spreadsheet.sheets):
        if sheet.sheet_id in by_sheet:
            entry = answer["sheets"][index]
            if grid_data:
                entry["data"] = [_grid_data(rng) for rng in by_sheet[sheet.sheet_id]]
            sheets.append(entry)
    answer["sheets"] = sheets
    return answer


def _grid_data(rng: _Range) -> dict[str, Any]:
    """A GridData of the range: rows up to the last with a value, cells up to each row's last
    (empty ones as ``{}``), every row's and column's pixel size; proto3 leaves out start 0."""
    start_row, start_col, end_row, end_col = rng.clipped()
    sheet = rng.sheet
    inside = [(row, col) for row, col in sheet.cells if start_row <= row < end_row and start_col <= col < end_col]
    data: dict[str, Any] = {}
    if start_row:
        data["startRow"] = start_row
    if start_col:
        data["startColumn"] = start_col
    if inside:
        last_row = max(row for row, _ in inside)
        row_data = []
        for row in range(start_row, last_row + 1):
            columns = [col for r, col in inside if r == row]
            values = [_cell_data_json(sheet, (row, col)) for col in range(start_col, max(columns) + 1)] if columns else []
            row_data.append({"values": values} if values else {})
        data["rowData"] = row_data
    data["rowMetadata"] = [{"pixelSize": sheet.pixel_sizes.get(("ROWS", row), 21)} for row in range(start_row, end_row)]
    data["columnMetadata"] = [{"pixelSize": sheet.pixel_sizes.get(("COLUMNS", col), 100)}
                              for col in range(start_col, end_col)]
    return data


def _cell_data_json(sheet: _Sheet, position: tuple[int, int]) -> dict[str, Any]:
    """A CellData: what was entered, what it evaluates to and shows as, its number format."""
    cell_json: dict[str, Any] = {}
    cell = sheet.cells.get(position)
    if cell is not None:
        entered = _json_number(cell.value) if cell.kind == "numberValue" else cell.value
        cell_json["userEnteredValue"] = {cell.kind: entered}
        if cell.kind != "formulaValue":
            cell_json["effectiveValue"] = {cell.kind: entered}
        elif isinstance(result := _evaluate(sheet, position, cell.value), float):
            cell_json["effectiveValue"] = {"numberValue": _json_number(result)}
        shown = _render_cell(sheet, position, _RenderOptions())
        cell_json["formattedValue"] = shown if isinstance(shown, str) else str(shown)
    cell_format: dict[str, Any] = {}
    if (number_format := sheet.formats.get(position)) is not None:
        cell_format["numberFormat"] = {"type": number_format[0], "pattern": number_format[1]}
    if (background := sheet.backgrounds.get(position)) is not None:
        cell_format["backgroundColor"] = dict(background)
    if cell_format:
        cell_json["userEnteredFormat"] = cell_format
    if (note := sheet.notes.get(position)) is not None:
        cell_json["note"] = note
    return cell_json

