"""Cell values written straight into an .xlsx file's worksheet XML.

openpyxl's cost is the whole workbook: it parses every part into objects and serialises them
all again, ~25-45 ms for a small returns workbook whatever the number of cells that change,
and a run rewrites up to one workbook per client. Most runs set a few dozen plain values
(statuses, details, credits, dates) in one tab; this module rewrites only the rows those
cells live in and copies every other byte of the file as it was.

It takes the file only when it can be sure of the result, and says ``None`` otherwise, so
the caller loads the workbook with openpyxl as before: a formula or a note to write, a tab
to create, cells inside merged ranges, a worksheet that does not name its rows and cells
(``r=""`` is optional in the format), a prefixed namespace, 1904-based dates. What it
writes reads back exactly as openpyxl's own save of the same writes (values, number
formats, quote prefixes: ``tests/test_excel_patch.py`` checks it on random workbooks).
Text goes in as inline strings, so the shared-string table is left alone.
"""

from __future__ import annotations

import math
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import chain
from typing import BinaryIO
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr
from xml.sax.saxutils import unescape as xml_unescape

from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_REVERSE, is_date_format
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.utils.datetime import to_excel

from sheets_sync.core.cells import CellValue, CellWrite, Formula, column_letter, storable_text

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
WRAP_SAFE = 8
"""Characters of text that fit on one line of any wrapped column: longer text in a wrapped
cell is left to openpyxl, which sizes the row."""
FORMULA_STARTS = ("=", "+", "-", "@")
"""What makes Excel read a typed entry as a formula."""

_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_FIRST_CUSTOM_FORMAT_ID = 164

_SHEET_DATA = re.compile(rb"<sheetData\b[^>]*?(?:/>|>(.*?)</sheetData>)", re.S)
_ROW = re.compile(rb"<row\b([^>]*?)(?:/>|>(.*?)</row>)", re.S)
_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_DIMENSION = re.compile(rb"<dimension\b[^>]*?\sref=[\"']([^\"']*)[\"'][^>]*/>")
CELL_REFERENCE = re.compile(rb"\sr=[\"']([A-Z]{1,3})?([0-9]+)[\"']")
"""A row's (``r="5"``) or a cell's (``r="B5"``) reference among an element's attributes."""
_STYLE = re.compile(rb"\ss=[\"']([0-9]+)[\"']")
_COLUMN = re.compile(rb"<col\b([^>]*?)/?>")
_SPANS = re.compile(rb"\sspans=[\"'][^\"']*[\"']")
_UNSURE = re.compile(rb"<!--|<!\[CDATA\[|<\w+:sheetData|<mergeCell\b")
FORMULA_ELEMENT = re.compile(rb"<(?:\w+:)?f[\s>/]")
_ENTITIES = {"&quot;": '"', "&apos;": "'"}
_CARRIAGE_RETURN = {"\r": "&#13;"}


def xml_text(raw: bytes) -> str:
    """Text as an XML attribute or element holds it, entities resolved."""
    return xml_unescape(raw.decode(), _ENTITIES)


def cell_place(attributes: bytes) -> tuple[int, int] | None:
    """The 1-based (row, column) a cell's attributes name, or ``None`` if they name none."""
    reference = CELL_REFERENCE.search(attributes)
    if reference is None or reference[1] is None:
        return None
    return int(reference[2]), column_index_from_string(reference[1].decode())


def date_format(value: date, current: str) -> str:
    """The number format a cell of format ``current`` gets when ``value`` is set in it: an
    operator's date format is kept, a date-only one widened for a time of day."""
    if isinstance(value, datetime):
        return DATETIME_FORMAT if current == DATE_FORMAT or not is_date_format(current) else current
    return current if is_date_format(current) else DATE_FORMAT


class _NotPatchable(Exception):
    """The file holds something this module does not rewrite with certainty."""


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Tab title -> the member of the .xlsx archive that holds the tab's cells."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relationships = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = {relationship.get("Id"): relationship.get("Target", "") for relationship in relationships}
    parts = {}
    for sheet in workbook.iter(f"{_MAIN_NS}sheet"):
        path = target[sheet.get(_RELATIONSHIP_ID)]  # relative to xl/, unless it starts with /
        parts[sheet.get("name")] = path[1:] if path.startswith("/") else posixpath.normpath(f"xl/{path}")
    return parts


def patchable(writes: Sequence[CellWrite]) -> bool:
    """Whether these writes are plain values (no formula, note or fill): the kind
    :func:`patched_members` may write without openpyxl, if the file allows."""
    return all(write.note is None and write.fill is None and not isinstance(write.value, Formula)
               for write in writes)


def patched_members(archive: zipfile.ZipFile, writes: Sequence[CellWrite]) -> dict[str, bytes] | None:
    """The archive members that change when ``writes`` are set (worksheets, the styles and,
    where formulas elsewhere may depend on the new values, the workbook part), or ``None``
    when the file needs openpyxl."""
    if not patchable(writes):
        return None
    try:
        parts = sheet_parts(archive)
        by_tab: dict[str, list[CellWrite]] = {}
        for write in writes:
            by_tab.setdefault(write.tab, []).append(write)
        if any(tab not in parts for tab in by_tab):
            return None
        workbook_xml = archive.read("xl/workbook.xml")
        if re.search(rb"date1904=[\"'](?:1|true)[\"']", workbook_xml):
            return None
        styles = _Styles(archive.read("xl/styles.xml"))
        written = {parts[tab]: archive.read(parts[tab]) for tab in by_tab}
        members = {parts[tab]: _patched_sheet(written[parts[tab]], tab_writes, styles)
                   for tab, tab_writes in by_tab.items()}
        members["xl/styles.xml"] = styles.xml()
        names = set(archive.namelist())
        others = (archive.read(part) for part in parts.values() if part in names and part not in written)
        if any(FORMULA_ELEMENT.search(xml) for xml in chain(written.values(), others)):
            members["xl/workbook.xml"] = _recalculate_on_load(workbook_xml)
        return members
    except (_NotPatchable, KeyError, ValueError, ElementTree.ParseError):
        return None


def write_archive(archive: zipfile.ZipFile, members: Mapping[str, bytes], target: BinaryIO) -> None:
    """``archive`` into ``target`` with ``members`` replaced, every other member as it was."""
    with zipfile.ZipFile(target, "w") as patched:
        patched.comment = archive.comment
        for info in archive.infolist():
            data = members[info.filename] if info.filename in members else archive.read(info)
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.compress_type, copy.external_attr, copy.create_system = (
                info.compress_type, info.external_attr, info.create_system)
            # The fastest deflate: a returns tab's XML grows to megabytes, and size barely matters here.
            patched.writestr(copy, data, compresslevel=1 if info.filename in members else None)


def _recalculate_on_load(workbook_xml: bytes) -> bytes:
    """Formulas elsewhere may count the cells that change: ask for a recalculation on open,
    as openpyxl's saves do (their cached results would be stale)."""
    calculation = re.search(rb"<calcPr\b([^>]*?)/>", workbook_xml)
    if calculation is None:
        raise _NotPatchable("no calcPr to mark")
    attributes = re.sub(rb"\sfullCalcOnLoad=[\"'][^\"']*[\"']", b"", calculation[1])
    return (workbook_xml[:calculation.start()] + b"<calcPr" + attributes + b' fullCalcOnLoad="1"/>'
            + workbook_xml[calculation.end():])


def _patched_sheet(sheet_xml: bytes, writes: Sequence[CellWrite], styles: _Styles) -> bytes:
    if _UNSURE.search(sheet_xml):
        raise _NotPatchable("comments, CDATA, a prefixed namespace or merged cells")
    data = _SHEET_DATA.search(sheet_xml)
    if data is None:
        raise _NotPatchable("no sheetData")
    rows = _split(data[1] or b"", _ROW)
    row_numbers = [_row_number(attributes) for attributes, _ in rows]
    if row_numbers != sorted(set(row_numbers)):
        raise _NotPatchable("rows out of order")
    by_row: dict[int, dict[int, list[CellWrite]]] = {}
    for write in writes:
        by_row.setdefault(write.row, {}).setdefault(write.col, []).append(write)
    existing = dict(zip(row_numbers, rows))
    column_styles = _column_styles(sheet_xml[:data.start()])
    new_rows = []
    for number in sorted(set(row_numbers) | set(by_row)):
        attributes, content = existing.get(number, (f' r="{number}"'.encode(), b""))
        if number in by_row:
            row_style = _attribute(attributes, b"s") if _attribute(attributes, b"customFormat") in ("1", "true") \
                else None
            # A new cell takes its row's or column's style, as openpyxl's path gives it (style.take_line_style).
            content = _patched_row(number, content, by_row[number], styles,
                                   (lambda _: int(row_style)) if row_style else column_styles)
            attributes = _SPANS.sub(b"", attributes)  # an optional hint the new cells may fall outside
        new_rows.append(b"<row" + attributes + (b">" + content + b"</row>" if content else b"/>"))
    body = b"<sheetData>" + b"".join(new_rows) + b"</sheetData>"
    patched = sheet_xml[:data.start()] + body + sheet_xml[data.end():]
    return _with_dimension(patched, [(w.row, w.col) for w in writes if w.value is not None])


def _split(xml: bytes, element: re.Pattern[bytes]) -> list[tuple[bytes, bytes]]:
    """(attributes, content) of each element in ``xml``, which must hold nothing else."""
    found, position = [], 0
    for match in element.finditer(xml):
        if xml[position:match.start()].strip():
            raise _NotPatchable("unexpected content")
        found.append((match[1], match[2] or b""))
        position = match.end()
    if xml[position:].strip():
        raise _NotPatchable("unexpected content")
    return found


def _row_number(attributes: bytes) -> int:
    reference = CELL_REFERENCE.search(attributes)
    if reference is None or reference[1] is not None:
        raise _NotPatchable("a row without its number")
    return int(reference[2])


def _column_styles(before_data: bytes) -> Callable[[int], int]:
    """The style a new cell of a column takes: its ``<col style=..>``, else the default."""
    ranges = []
    for attributes in _COLUMN.findall(before_data):
        style = _attribute(attributes, b"style")
        if style:
            ranges.append((int(_attribute(attributes, b"min") or 0), int(_attribute(attributes, b"max") or 0),
                           int(style)))
    return lambda column: next((style for first, last, style in ranges if first <= column <= last), 0)


def _patched_row(row: int, content: bytes, writes: Mapping[int, Sequence[CellWrite]], styles: _Styles,
                 new_cell_style: Callable[[int], int] = lambda _: 0) -> bytes:
    cells: dict[int, bytes] = {}
    style_of: dict[int, int] = {}
    for attributes, inner in _split(content, _CELL):
        place = cell_place(attributes)
        if place is None or place[0] != row:
            raise _NotPatchable("a cell without its reference")
        column = place[1]
        if column in cells:
            raise _NotPatchable("a cell written twice")
        cells[column] = b"<c" + attributes + (b">" + inner + b"</c>" if inner else b"/>")
        style = _STYLE.search(attributes)
        style_of[column] = int(style[1]) if style else 0
        if column in writes and FORMULA_ELEMENT.search(inner):
            raise _NotPatchable("a formula to overwrite")
    if list(cells) != sorted(cells):
        raise _NotPatchable("cells out of order")
    for column, cell_writes in writes.items():
        style = style_of[column] if column in style_of else new_cell_style(column)
        for write in cell_writes:  # one after the other, as openpyxl sets them
            style = styles.style_for(style, write)
        value = cell_writes[-1].value
        if isinstance(value, str) and len(value) > WRAP_SAFE and styles.wraps(style):
            raise _NotPatchable("wrapped text: openpyxl's path makes its row tall enough (style.fit_row_height)")
        cells[column] = _cell_xml(cell_writes[-1], style)
    return b"".join(cells[column] for column in sorted(cells) if cells[column])


def _cell_xml(write: CellWrite, style: int) -> bytes:
    reference = f"{column_letter(write.col)}{write.row}"
    styled = f' s="{style}"' if style else ""
    value = write.value
    if isinstance(value, str):
        value = storable_text(value) or None  # openpyxl saves an empty text as no value
    if value is None:
        return f'<c r="{reference}"{styled}/>'.encode() if style else b""
    if isinstance(value, str):
        # As openpyxl's own save (through lxml) writes it: spaces around text kept, and a
        # carriage return escaped so that readers keep it one.
        kept = ' xml:space="preserve"' if value != value.strip() else ""
        text = escape(value, _CARRIAGE_RETURN)
        return f'<c r="{reference}"{styled} t="inlineStr"><is><t{kept}>{text}</t></is></c>'.encode()
    if isinstance(value, bool):
        return f'<c r="{reference}"{styled} t="b"><v>{int(value)}</v></c>'.encode()
    return f'<c r="{reference}"{styled}><v>{_number_text(value)}</v></c>'.encode()


def _number_text(value: CellValue) -> str:
    if isinstance(value, date):
        if isinstance(value, datetime) and value.tzinfo is not None:
            raise _NotPatchable("a date-time with a time zone")
        return _serial_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)  # exact; openpyxl keeps 16 significant digits
    raise _NotPatchable(f"a value of type {type(value).__name__}")


@lru_cache(maxsize=4096, typed=True)  # a run writes the same few moments and weeks again and again
def _serial_text(value: date) -> str:
    return f"{to_excel(value):.16g}"  # as openpyxl's own save writes it


def _with_dimension(sheet_xml: bytes, written: Iterable[tuple[int, int]]) -> bytes:
    """The worksheet's used-range hint widened to the cells given values."""
    dimension = _DIMENSION.search(sheet_xml)
    written = list(written)
    if dimension is None or not written:
        return sheet_xml
    min_col, min_row, max_col, max_row = range_boundaries(dimension[1].decode())
    rows = [row for row, _ in written] + [min_row or 1, max_row or 1]
    columns = [col for _, col in written] + [min_col or 1, max_col or 1]
    reference = f"{column_letter(min(columns))}{min(rows)}:{column_letter(max(columns))}{max(rows)}"
    return sheet_xml[:dimension.start(1)] + reference.encode() + sheet_xml[dimension.end(1):]


_CELL_XFS = re.compile(rb"<cellXfs\b([^>]*?)(?:/>|>(.*?)</cellXfs>)", re.S)
_XF = re.compile(rb"<xf\b([^>]*?)(?:/>|>(.*?)</xf>)", re.S)
_NUMBER_FORMATS = re.compile(rb"<numFmts\b[^>]*?(?:/>|>(.*?)</numFmts>)", re.S)
_NUMBER_FORMAT = re.compile(rb"<numFmt\b([^>]*?)(?:/>|>(.*?)</numFmt>)", re.S)
_STYLE_SHEET_START = re.compile(rb"<styleSheet\b[^>]*>")


def _attribute(attributes: bytes, name: bytes) -> str | None:
    found = re.search(rb"\s" + name + rb"=[\"']([^\"']*)[\"']", attributes)
    return None if found is None else xml_text(found[1])


def _set_attribute(attributes: bytes, name: bytes, value: str) -> bytes:
    kept = re.sub(rb"\s" + name + rb"=[\"'][^\"']*[\"']", b"", attributes)
    return kept + b" " + name + b"=" + quoteattr(value).encode()


class _Styles:
    """The workbook's cell formats (``cellXfs``) and number formats, with the combinations a
    patch needs added at the end: the existing ones keep their indexes."""

    def __init__(self, xml: bytes) -> None:
        self._xml = xml
        cell_formats = _CELL_XFS.search(xml)
        if cell_formats is None or _STYLE_SHEET_START.search(xml) is None:
            raise _NotPatchable("no cell formats")
        self._xfs = [(attributes, inner) for attributes, inner in _split(cell_formats[2] or b"", _XF)]
        self._base_count = len(self._xfs)
        number_formats = _NUMBER_FORMATS.search(xml)
        self._custom: dict[int, str] = {}
        for attributes, _ in _split(number_formats[1] or b"", _NUMBER_FORMAT) if number_formats else ():
            self._custom[int(_attribute(attributes, b"numFmtId") or "")] = _attribute(attributes, b"formatCode") or ""
        self._base_custom = dict(self._custom)
        self._derived: dict[tuple[int, str, bool], int] = {}
        self._style_for: dict[tuple[int, str | None, object], int] = {}

    def wraps(self, style: int) -> bool:
        inner = self._xfs[style][1] if style < len(self._xfs) else b""
        return re.search(rb"<alignment\b[^>]*\swrapText=[\"'](?:1|true)[\"']", inner) is not None

    def format_of(self, style: int) -> str:
        attributes = self._xfs[style][0] if style < len(self._xfs) else b""
        number = int(_attribute(attributes, b"numFmtId") or 0)
        return self._custom.get(number) or BUILTIN_FORMATS.get(number, "General")

    def _quote_prefixed(self, style: int) -> bool:
        attributes = self._xfs[style][0] if style < len(self._xfs) else b""
        return _attribute(attributes, b"quotePrefix") in ("1", "true")

    def style_for(self, style: int, write: CellWrite) -> int:
        """The style a cell of ``style`` has once ``write`` is set, as ``ExcelWorkbook._set``
        sets it with openpyxl."""
        value = write.value
        kind = type(value) if isinstance(value, date) else isinstance(value, str) and value.startswith(FORMULA_STARTS)
        key = (style, write.number_format, kind)
        if key not in self._style_for:
            self._style_for[key] = self._derive(style, write)
        return self._style_for[key]

    def _derive(self, style: int, write: CellWrite) -> int:
        if style >= len(self._xfs):
            raise _NotPatchable("a style the workbook does not define")
        value, current = write.value, self.format_of(style)
        wanted = write.number_format or (date_format(value, current) if isinstance(value, date) else current)
        quote = isinstance(value, str) and value.startswith(FORMULA_STARTS) and not self._quote_prefixed(style)
        if wanted == current and not quote:
            return style
        key = (style, wanted, quote)
        if key not in self._derived:
            attributes, inner = self._xfs[style]
            if wanted != current:
                attributes = _set_attribute(attributes, b"numFmtId", str(self._format_id(wanted)))
                attributes = _set_attribute(attributes, b"applyNumberFormat", "1")
            if quote:
                attributes = _set_attribute(attributes, b"quotePrefix", "1")
            self._xfs.append((attributes, inner))
            self._derived[key] = len(self._xfs) - 1
        return self._derived[key]

    def _format_id(self, code: str) -> int:
        for number, custom in self._custom.items():
            if custom == code:
                return number
        if code in BUILTIN_FORMATS_REVERSE:
            return BUILTIN_FORMATS_REVERSE[code]
        number = max([_FIRST_CUSTOM_FORMAT_ID - 1, *self._custom]) + 1
        self._custom[number] = code
        return number

    def xml(self) -> bytes:
        if len(self._xfs) == self._base_count:
            return self._xml
        xml = self._xml
        cell_formats = _CELL_XFS.search(xml)
        xfs = b"".join(b"<xf" + attributes + (b">" + inner + b"</xf>" if inner else b"/>")
                       for attributes, inner in self._xfs)
        xml = (xml[:cell_formats.start()] + b"<cellXfs" + _set_attribute(cell_formats[1], b"count", str(len(self._xfs)))
               + b">" + xfs + b"</cellXfs>" + xml[cell_formats.end():])
        if self._custom != self._base_custom:
            formats = b"".join(b"<numFmt numFmtId=" + quoteattr(str(number)).encode() + b" formatCode="
                               + quoteattr(code).encode() + b"/>" for number, code in self._custom.items())
            element = b'<numFmts count="' + str(len(self._custom)).encode() + b'">' + formats + b"</numFmts>"
            existing = _NUMBER_FORMATS.search(xml)
            if existing is not None:
                xml = xml[:existing.start()] + element + xml[existing.end():]
            else:  # numFmts is the first child of styleSheet
                start = _STYLE_SHEET_START.search(xml).end()
                xml = xml[:start] + element + xml[start:]
        return xml
