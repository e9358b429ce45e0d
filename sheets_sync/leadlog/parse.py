"""Parsing lead-log rows (header row, then a row per lead) into :class:`LeadLog` columns.

Rows that cannot be a delivery are left out with their row number and the reason.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice, repeat
from zoneinfo import ZoneInfo

import numpy

from sheets_sync.backends.base import WorkbookError
from sheets_sync.core.cells import CellValue, cell_as_date, cell_text, storable_text
from sheets_sync.core.model import Problem
from sheets_sync.core.money import amount_problem, to_money
from sheets_sync.leadlog.columns import LABEL_FIELDS, LOCAL_EPOCH, LeadLog
from sheets_sync.leadlog.dates import moment_from_text, why_not_a_moment

REQUIRED_FIELDS = ("lead_id", "delivered_at", "client", "vertical", "country", "price")
_BLANK_LABEL = {"vertical": "(none)", "country": "(none)"}


def _moment(value: CellValue, date_order: str | None) -> datetime | None:
    """A delivery time: a date-time cell, a date cell, a serial number or text (``dates``)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        return moment_from_text(value, date_order)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        day = cell_as_date(value)
        if day is None:
            return None
        seconds = round((float(value) % 1) * 86400)
        return datetime.combine(day, time()) + timedelta(seconds=seconds)
    return None


def _label(value: CellValue) -> str:
    """A client, vertical, country, source or campaign as text that tab titles and cells can
    hold: invisible control characters (an export's junk) are dropped."""
    return storable_text(cell_text(value)).strip()


def _bad_amount(name: str, value: CellValue) -> str:
    """Why a price or cost cell leaves its row out: not a number, a number too large for a
    spreadsheet to show to the cent (``1e26``: a typo), or below zero. A huge number is
    quoted as ``1e+26``, not as its 27 digits, and long text is cut short."""
    if isinstance(value, float) and abs(value) >= 1e15:
        shown = repr(value)
    else:
        text = cell_text(value)
        shown = text if len(text) <= 40 else text[:40] + "…"
    return f"{name} {shown!r} {amount_problem(value) or 'is below zero'}; row left out"


class LogColumns:
    """Where each field is in a row of the log; ``None`` for an optional field it lacks."""

    def __init__(self, columns: Mapping[str, int]) -> None:
        self.lead_id, self.delivered_at, self.price = columns["lead_id"], columns["delivered_at"], columns["price"]
        self.cost = columns.get("cost")
        self.labels = [(field, columns.get(field)) for field in LABEL_FIELDS]
        self.mapped = list(columns.values())
        self.width = max(self.mapped) + 1
        """Cells a row needs; shorter rows (a CSV file's) are padded with blanks."""


def _cell(row: Sequence[CellValue], index: int | None) -> CellValue:
    return None if index is None else row[index]


_ONE_MICROSECOND = timedelta(microseconds=1)
MICROS_PER_DAY = 86_400_000_000
_FILE_SHIFT = 32
"""A sale's place in a log of several files: its row, plus the file's number shifted by this."""
_BLOCK_ROWS = 512
_UNSEEN = object()


class LogBuilder:
    """Accepts lead rows into :class:`LeadLog` columns: a block of clean rows at once, any
    other row one by one with the reason it is left out.

    Both ways convert every cell with the same cached helpers (:meth:`cents`,
    :meth:`label_code`); a block is accepted at once only when every one of its rows would
    be accepted one by one, so the two ways give the same log. A log of several files
    (:meth:`next_file`) is one log: a sale on two files is a duplicate too.
    """

    def __init__(self, columns: LogColumns, zone: ZoneInfo, date_order: str | None) -> None:
        self.columns = columns
        self.file_names: list[str] = []
        self.zone = zone
        self.date_order = date_order
        self.lead_ids: list[str] = []
        self.local_micros = array("q")
        self.days = array("i")
        self.labels: dict[str, list[str]] = {field: [] for field in LABEL_FIELDS}
        self.label_codes: dict[str, array] = {field: array("I") for field in LABEL_FIELDS}
        self.price_cents = array("q")
        self.cost_cents = array("q")
        self.row_of: dict[tuple[str, int], int] = {}
        """The place of each sale (its row, and file: :data:`_FILE_SHIFT`): (Lead ID, client
        code). One lead sold to several clients is a sale per client (SPEC §2.1); the same ID
        twice for one client is a duplicate."""
        self.row_numbers = array("I")
        self._code_of_text: dict[str, dict[str, int]] = {field: {} for field in LABEL_FIELDS}
        self._code_of_cell: dict[str, dict[str, int]] = {field: {} for field in LABEL_FIELDS}
        self._cents_of_cell: dict[object, int | None] = {}

    def next_file(self, name: str, columns: LogColumns) -> None:
        """Rows from here on are of file ``name`` (of a log of several), its columns at ``columns``."""
        self.file_names.append(name)
        self.columns = columns

    def _place(self, rows: Iterable[int]) -> Iterable[int]:
        if len(self.file_names) < 2:
            return rows
        shift = (len(self.file_names) - 1) << _FILE_SHIFT
        return (row + shift for row in rows)

    def _place_text(self, place: int) -> str:
        file, row = divmod(place, 1 << _FILE_SHIFT)
        if file == max(len(self.file_names) - 1, 0):
            return f"row {row}"
        return f"row {row} of {self.file_names[file]}"

    # -- cells --------------------------------------------------------------------------------

    def label_code(self, field: str, value: CellValue) -> int | None:
        """The code of a label cell; ``None`` for a blank client."""
        if type(value) is str:  # the usual cell: repeated text, looked up once per distinct text
            code = self._code_of_cell[field].get(value)
            if code is not None:
                return code
        text = _label(value) or _BLANK_LABEL.get(field, "")
        if not text and field == "client":
            return None
        codes = self._code_of_text[field]
        code = codes.get(text)
        if code is None:
            code = codes[text] = len(self.labels[field])
            self.labels[field].append(text)
        if type(value) is str:
            self._code_of_cell[field][value] = code
        return code

    def cents(self, value: CellValue) -> int | None:
        """A price or cost cell in cents; ``None`` when it is not an amount of at least zero."""
        cacheable = type(value) in _CACHEABLE_AMOUNTS
        if cacheable and value in self._cents_of_cell:
            return self._cents_of_cell[value]
        amount = to_money(value)
        cents = None if amount is None or amount < 0 else int(amount.scaleb(2))
        if cacheable:
            self._cents_of_cell[value] = cents
        return cents

    def cost_cents_of(self, value: CellValue) -> int | None:
        """A cost cell in cents: a blank cell costs nothing."""
        cents = self.cents(value)
        return 0 if cents is None and cell_text(value) == "" else cents

    # -- rows ---------------------------------------------------------------------------------

    def add_row(self, row: Sequence[CellValue], row_number: int) -> str | None:
        """Accept one row, or say why it is left out (``""``: a blank row, left out silently)."""
        columns = self.columns
        if len(row) < columns.width:
            row = [*row, *repeat(None, columns.width - len(row))]
        raw_id = row[columns.lead_id]
        lead_id = raw_id.strip() if type(raw_id) is str else cell_text(raw_id)
        if not lead_id:
            return "no Lead ID; row left out" if any(cell_text(row[index]) for index in columns.mapped) else ""
        delivered_at = _moment(row[columns.delivered_at], self.date_order)
        if delivered_at is None:
            typed = cell_text(row[columns.delivered_at])
            return f"Delivered At {typed!r} {why_not_a_moment(typed)}; row left out"
        if delivered_at.tzinfo is not None:
            delivered_at = delivered_at.astimezone(self.zone).replace(tzinfo=None)
        price = self.cents(row[columns.price])
        if price is None:
            return _bad_amount("Price", row[columns.price])
        cost = self.cost_cents_of(_cell(row, columns.cost))
        if cost is None:
            return _bad_amount("Cost", _cell(row, columns.cost))
        codes = [self.label_code(field, _cell(row, index)) for field, index in columns.labels]
        if codes[0] is None:
            return "no Client; row left out"
        if (lead_id, codes[0]) in self.row_of:
            client = self.labels["client"][codes[0]]
            return (f"Lead ID {lead_id} of {client} already on {self._place_text(self.row_of[(lead_id, codes[0])])}; "
                    "row left out")
        self._append([lead_id], [row_number], _micros([delivered_at]), [price], [cost], [[code] for code in codes])
        return None

    def add_clean_block(self, rows: Sequence[Sequence[CellValue]], first_row_number: int) -> bool:
        """Accept every row of ``rows`` at once if each is a clean lead row: a text Lead ID
        new to the log, a date-time without a timezone, amounts and a client. Otherwise
        accept nothing and return False."""
        columns = self.columns
        if min(map(len, rows)) < columns.width:
            return False
        cells = list(zip(*rows))
        blanks = (None,) * len(rows)  # the cells of a field the log lacks
        if set(map(type, cells[columns.lead_id])) != {str}:
            return False
        lead_ids = list(map(str.strip, cells[columns.lead_id]))
        if "" in lead_ids:
            return False
        moments = cells[columns.delivered_at]
        if set(map(type, moments)) != {datetime} or any(moment.tzinfo for moment in moments):
            return False
        prices = self._cached_cents(cells[columns.price], self.cents)
        costs = self._cached_cents(blanks if columns.cost is None else cells[columns.cost], self.cost_cents_of)
        if prices is None or costs is None:
            return False
        codes = [self._cached_codes(field, blanks if index is None else cells[index]) for field, index in columns.labels]
        if None in codes[0]:
            return False
        return self.add_clean_columns(lead_ids, range(first_row_number, first_row_number + len(rows)),
                                      _micros(moments), prices, costs, codes)

    def add_clean_columns(self, lead_ids: list[str], row_numbers: Sequence[int], local_micros: Sequence[int],
                          prices: Sequence[int], costs: Sequence[int], codes: Sequence[Sequence[int]]) -> bool:
        """Accept leads already converted (a source that reads columns, not cells): each a sale
        new to the log. Otherwise accept nothing and return False."""
        sales = set(zip(lead_ids, codes[0]))
        if len(sales) != len(lead_ids) or any(map(self.row_of.__contains__, sales)):
            return False
        self._append(lead_ids, row_numbers, local_micros, prices, costs, codes)
        return True

    def _cached_cents(self, cells: Sequence[CellValue], convert: Callable[[CellValue], int | None]) -> list[int] | None:
        if not set(map(type, cells)) <= _CACHEABLE_AMOUNTS:
            return None  # a bool or date cell would find the cents of an equal number
        cents = list(map(self._cents_of_cell.get, cells, repeat(_UNSEEN)))
        if _UNSEEN in cents or None in cents:  # a new amount, or one that is not (a blank cost is)
            cents = [convert(cell) if value is _UNSEEN or value is None else value for cell, value in zip(cells, cents)]
        return None if None in cents else cents

    def _cached_codes(self, field: str, cells: Sequence[CellValue]) -> list[int | None]:
        codes = list(map(self._code_of_cell[field].get, cells))
        if None in codes:
            codes = [self.label_code(field, cell) if code is None else code for cell, code in zip(cells, codes)]
        return codes

    def _append(self, lead_ids: list[str], row_numbers: Sequence[int], local_micros: Sequence[int],
                prices: Sequence[int], costs: Sequence[int], codes: Sequence[Sequence[int]]) -> None:
        self.row_of.update(zip(zip(lead_ids, codes[0]), self._place(row_numbers)))
        self.row_numbers.extend(row_numbers)
        self.lead_ids.extend(lead_ids)
        micros = numpy.asarray(local_micros, dtype=numpy.int64)
        self.days.frombytes((micros // MICROS_PER_DAY + 1).astype(numpy.int32).tobytes())  # ordinal 1: 0001-01-01
        self.local_micros.frombytes(micros.tobytes())
        self.price_cents.extend(prices)
        self.cost_cents.extend(costs)
        for (field, _), field_codes in zip(self.columns.labels, codes):
            self.label_codes[field].extend(field_codes)

    def build(self, source: str, problems: list[Problem]) -> LeadLog:
        return LeadLog(source, self.lead_ids, self.local_micros, self.days, self.labels, self.label_codes,
                       self.price_cents, self.cost_cents, problems, self.row_numbers)


_CACHEABLE_AMOUNTS = frozenset({float, int, str, Decimal, type(None)})


def _micros(moments: Sequence[datetime]) -> list[int]:
    """Wall-clock moments as microseconds since :data:`LOCAL_EPOCH`."""
    return list(map(_ONE_MICROSECOND.__rfloordiv__, map(LOCAL_EPOCH.__rsub__, moments)))


def locate_columns(header_row: Sequence[CellValue] | None, headers: dict[str, str], source: str) -> LogColumns:
    """Where each field is, from the log's header row. A log without its header row (empty,
    or missing a required column) raises :class:`WorkbookError`: read as "no leads", it would
    tell every client that none of its leads exist and take back every status already shown."""
    if header_row is None or not any(cell_text(cell) for cell in header_row):
        state = "is empty" if header_row is None else "has a blank row 1"
        raise WorkbookError(f"The lead log {source} {state}: row 1 must hold the headers "
                            f"({', '.join(headers[field] for field in REQUIRED_FIELDS)}), then a row per lead.")
    position = {cell_text(cell).casefold(): index for index, cell in enumerate(header_row) if cell_text(cell)}
    columns: dict[str, int] = {}
    missing = []
    for field, header in headers.items():
        index = position.get(header.strip().casefold())
        if index is not None:
            columns[field] = index
        elif field in REQUIRED_FIELDS:
            missing.append(header)
    if missing:
        raise WorkbookError(f"The lead log {source} has no column headed {', '.join(repr(h) for h in missing)} "
                            "in row 1 (set leads.columns in the config if it is named differently).")
    return LogColumns(columns)


def parse_lead_log(rows: Iterable[Sequence[CellValue]], headers: dict[str, str], zone: ZoneInfo,
                   source: str, date_order: str | None = None) -> LeadLog:
    """Header row then data rows -> the accepted leads, and one problem per rejected row
    (1-based rows). A log without its header row raises :class:`WorkbookError` (:func:`locate_columns`)."""
    iterator = iter(rows)
    log = LogBuilder(locate_columns(next(iterator, None), headers, source), zone, date_order)
    problems: list[Problem] = []
    first_row_number = 2
    while block := list(islice(iterator, _BLOCK_ROWS)):
        if not log.add_clean_block(block, first_row_number):
            for row_number, row in enumerate(block, start=first_row_number):
                if problem := log.add_row(row, row_number):
                    problems.append(Problem(source, problem, row_number))
        first_row_number += len(block)
    return log.build(source, problems)
