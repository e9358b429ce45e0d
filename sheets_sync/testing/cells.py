"""What a cell holds and how it gets there (fixtures, RAW and USER_ENTERED input, updateCells),
and how numbers and dates show under a number format."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sheets_sync.core.cells import Formula, date_serial
from sheets_sync.testing.responses import _ApiError

_DEFAULT_PATTERNS = {  # what Google shows for a number format type without a pattern (en_US)
    "DATE": "M/d/yyyy",
    "TIME": "h:mm:ss am/pm",
    "DATE_TIME": "M/d/yyyy H:mm:ss",
    "NUMBER": "#,##0.00",
    "PERCENT": "0.00%",
    "CURRENCY": '"$"#,##0.00',
}
_DATE_TYPES = {"DATE", "TIME", "DATE_TIME"}


# --------------------------------------------------------------------------- cells


@dataclass(frozen=True, slots=True)
class _Cell:
    kind: str  # the ExtendedValue key: stringValue, numberValue, boolValue or formulaValue
    value: Any


_NumberFormat = tuple[str, str]  # (NumberFormat.type, pattern)


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
        return _Cell("numberValue", date_serial(value)), ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")
    if isinstance(value, date):
        return _Cell("numberValue", date_serial(value)), ("DATE", "yyyy-mm-dd")
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
            return _Cell("numberValue", date_serial(day)), ("DATE", "yyyy-mm-dd")
        if match := _ISO_DATE_TIME.fullmatch(text):
            moment = datetime(*(int(part or 0) for part in match.groups()))
            return _Cell("numberValue", date_serial(moment)), ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")
        if match := _US_DATE.fullmatch(text):
            month, day_of_month, year = (int(part) for part in match.groups())
            return _Cell("numberValue", date_serial(date(year, month, day_of_month))), ("DATE", "M/d/yyyy")
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
