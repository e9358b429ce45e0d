"""A1 ranges, field masks, and the in-memory spreadsheets they address."""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sheets_sync.core.cells import column_letter
from sheets_sync.testing.cells import _Cell, _NumberFormat
from sheets_sync.testing.responses import _ApiError

DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26


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


def _grid_range(spreadsheet: _Spreadsheet, grid_range: Mapping[str, Any]) -> tuple[_Sheet, int, int, int, int]:
    sheet = spreadsheet.sheet_by_id(grid_range.get("sheetId", 0))
    return (
        sheet,
        grid_range.get("startRowIndex", 0),
        grid_range.get("startColumnIndex", 0),
        grid_range.get("endRowIndex", sheet.row_count),
        grid_range.get("endColumnIndex", sheet.column_count),
    )
