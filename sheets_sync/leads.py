"""Reading the operator's lead log (SPEC §2.1) from Excel, CSV or a Workbook tab.

A run needs a few facts about every lead (its client, group, day and amounts) but a whole
:class:`~sheets_sync.model.Lead` only for the leads it decides or restates, so the log is
held as columns (:class:`LeadLog`): texts and amounts that repeat are stored once, money in
integer cents, and a ``Lead`` is built when asked for. The parsed columns of an Excel or
CSV log are kept in a cache file keyed by the file's content and the parsing settings
(:func:`read_lead_log_cached`), so a run over an unchanged log does not parse it again.
"""

from __future__ import annotations

import csv
import hashlib
import marshal
import os
import sys
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import islice, repeat
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy

from .backends.base import CellValue, WorkbookError, cell_as_date, cell_text, storable_text
from .backends.calamine import calamine_panicked, panics_unprinted
from .config import LeadsConfig
from .model import Lead, Problem
from .money import CENT, amount_problem, to_money
from .tracking import Delivered, GroupKey

REQUIRED_FIELDS = ("lead_id", "delivered_at", "client", "vertical", "country", "price")
LABEL_FIELDS = ("client", "vertical", "country", "source", "campaign")
"""The lead's text fields a run groups and matches by; each is a column of codes."""
_BLANK_LABEL = {"vertical": "(none)", "country": "(none)"}

_EPOCH = datetime(1, 1, 1)
_MICROS_PER_DAY = 86_400_000_000
CACHE_FORMAT = 2
"""Bump when the cached columns change meaning; older caches are then ignored."""



def _moment(value: CellValue) -> datetime | None:
    """A delivery time: a date-time cell, a date cell, a serial number or ISO text."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
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


def _numbers(column: array) -> numpy.ndarray:
    """A column of the log as a numpy array, without a copy."""
    return numpy.frombuffer(column, dtype=f"{'u' if column.typecode.isupper() else 'i'}{column.itemsize}")


def _summable(cents: array) -> numpy.ndarray:
    """Amounts in cents to sum exactly: 64-bit integers while no sum can overflow them,
    else Python integers (a log of absurd amounts is slower, never wrong)."""
    values = _numbers(cents)
    if len(values) and max(abs(int(values.max())), abs(int(values.min()))) * len(values) >= 2 ** 63:
        return values.astype(object)
    return values


@lru_cache(maxsize=65536)  # prices repeat: a Decimal per distinct amount
def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2).quantize(CENT)


class LeadLog:
    """The accepted rows of a lead log as columns, in log order (position 0 is the first lead).

    ``local_micros`` is each delivery's wall-clock time in the workspace timezone (naive cells
    are local already), in microseconds since 0001-01-01, and ``days`` its date's ordinal.
    ``labels[field]`` lists the distinct texts of a :data:`LABEL_FIELDS` field and
    ``label_codes[field]`` holds each lead's index into it. Prices and costs are in cents.
    """

    def __init__(self, source: str, lead_ids: list[str], local_micros: array, days: array,
                 labels: dict[str, list[str]], label_codes: dict[str, array], price_cents: array,
                 cost_cents: array, problems: list[Problem]) -> None:
        self.source = source
        self.lead_ids = lead_ids
        self.local_micros = local_micros
        self.days = days
        self.labels = labels
        self.label_codes = label_codes
        self.price_cents = price_cents
        self.cost_cents = cost_cents
        self.problems = problems
        self._position: dict[str, int] | None = None
        self._built: dict[int, Lead] = {}
        self._positions: dict[tuple, dict[str, list[int]]] = {}
        self._dates: dict[tuple, dict[str, list[date]]] = {}

    def __len__(self) -> int:
        return len(self.lead_ids)

    def __iter__(self) -> Iterator[Lead]:
        """Every lead, built as it is reached (a million leads take seconds: prefer the columns)."""
        return map(self._build, range(len(self.lead_ids)))

    def lead_at(self, position: int) -> Lead:
        """The lead at ``position``, built once."""
        lead = self._built.get(position)
        if lead is None:
            lead = self._built[position] = self._build(position)
        return lead

    def _build(self, position: int) -> Lead:
        client, vertical, country, source, campaign = [
            self.labels[field][self.label_codes[field][position]] for field in LABEL_FIELDS]
        return Lead(self.lead_ids[position], _EPOCH + timedelta(microseconds=self.local_micros[position]),
                    date.fromordinal(self.days[position]), client, vertical, country,
                    _money(self.price_cents[position]), _money(self.cost_cents[position]), source, campaign)

    def lead(self, lead_id: str) -> Lead | None:
        """The lead with this exact ID, or ``None``."""
        if self._position is None:
            self._position = dict(zip(self.lead_ids, range(len(self.lead_ids))))
        position = self._position.get(lead_id)
        return None if position is None else self.lead_at(position)

    def positions_by_client(self, names: Mapping[str, str]) -> dict[str, list[int]]:
        """Lead positions per client, in log order. ``names`` maps a casefolded client name to
        the name the leads are filed under (the configured spelling); other clients keep the
        log's. Worked out once per ``names``."""
        key = tuple(sorted(names.items()))
        if key not in self._positions:
            self._positions[key] = self._split_by_client(names)
        return self._positions[key]

    def _split_by_client(self, names: Mapping[str, str]) -> dict[str, list[int]]:
        client_of_code = [names.get(text.casefold(), text) for text in self.labels["client"]]
        codes = _numbers(self.label_codes["client"])
        by_code = numpy.argsort(codes, kind="stable")  # each client's positions in log order
        counts = numpy.bincount(codes, minlength=len(client_of_code))
        positions: dict[str, list[int]] = defaultdict(list)
        for code, found in enumerate(numpy.split(by_code, numpy.cumsum(counts)[:-1])):
            if len(found):
                positions[client_of_code[code]].extend(found.tolist())
        return {client: sorted(found) for client, found in positions.items()}  # in log order, as one list

    def ids_at(self, positions: Iterable[int]) -> list[str]:
        return list(map(self.lead_ids.__getitem__, positions))

    def delivery_dates_by_client(self, names: Mapping[str, str]) -> dict[str, list[date]]:
        """The sorted delivery dates of each client's leads (clients as in
        :meth:`positions_by_client`), worked out once per ``names``: callers must not change them."""
        key = tuple(sorted(names.items()))
        if key not in self._dates:
            days = _numbers(self.days)
            date_of = {day: date.fromordinal(day) for day in numpy.unique(days).tolist()}
            self._dates[key] = {client: list(map(date_of.__getitem__, numpy.sort(days[found]).tolist()))
                                for client, found in self.positions_by_client(names).items()}
        return self._dates[key]

    def groups(self, fields: Sequence[str]) -> set[GroupKey]:
        """The distinct values of ``fields`` (e.g. vertical and country) among the leads."""
        return set(self._grouped(fields)[1])

    def delivered(self, fields: Sequence[str], week_end_weekday: int) -> dict[GroupKey, dict[date, Delivered]]:
        """Per group of ``fields`` (e.g. vertical and country), per week ending: the leads
        delivered, summed in cents and turned into money once per group and week."""
        if not len(self):
            return {}
        group_of_lead, keys = self._grouped(fields)
        days = _numbers(self.days).astype(numpy.int64)
        weeks = days + (week_end_weekday - (days - 1) % 7) % 7  # ordinal 1 (0001-01-01) is a Monday
        first_week = int(weeks.min())
        span = int(weeks.max()) - first_week + 1
        slot = group_of_lead * span + (weeks - first_week)
        order = numpy.argsort(slot)
        ordered = slot[order]
        starts = numpy.flatnonzero(numpy.concatenate(([True], ordered[1:] != ordered[:-1])))
        counts = numpy.diff(numpy.append(starts, len(ordered))).tolist()
        gross, cost = (numpy.add.reduceat(_summable(cents)[order], starts).tolist()
                       for cents in (self.price_cents, self.cost_cents))
        delivered: dict[GroupKey, dict[date, Delivered]] = defaultdict(dict)
        for number, found in enumerate(ordered[starts].tolist()):
            group, week = divmod(found, span)
            delivered[keys[group]][date.fromordinal(first_week + week)] = Delivered(
                counts[number], _money(gross[number]), _money(cost[number]))
        return dict(delivered)

    def _grouped(self, fields: Sequence[str]) -> tuple[numpy.ndarray, list[GroupKey]]:
        """Each lead's group of ``fields`` as a number, and each number's texts."""
        group_of_lead = numpy.zeros(len(self), dtype=numpy.int64)
        groups = [()]
        for field in fields:
            combined = group_of_lead * len(self.labels[field]) + _numbers(self.label_codes[field])
            found, group_of_lead = numpy.unique(combined, return_inverse=True)
            labels = self.labels[field]
            groups = [(*groups[number // len(labels)], labels[number % len(labels)]) for number in found.tolist()]
        return group_of_lead.reshape(-1), groups

    # -- the cache --------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return marshal.dumps((
            self.source, self.lead_ids, self.local_micros.tobytes(), self.days.tobytes(), self.labels,
            {field: codes.tobytes() for field, codes in self.label_codes.items()}, self.price_cents.tobytes(),
            self.cost_cents.tobytes(), [(problem.source, problem.message, problem.row) for problem in self.problems]))

    @classmethod
    def from_bytes(cls, data: bytes) -> LeadLog:
        """The log :meth:`to_bytes` wrote. Raises ``ValueError`` (or ``EOFError``, ``TypeError``)
        for anything else."""
        source, lead_ids, micros, days, labels, label_codes, prices, costs, problems = marshal.loads(data)

        def column(typecode: str, raw: bytes) -> array:
            values = array(typecode)
            values.frombytes(raw)
            if len(values) != len(lead_ids):
                raise ValueError("a cached column has the wrong length")
            return values

        codes = {field: column("I", label_codes[field]) for field in LABEL_FIELDS}
        if any(codes[field] and max(codes[field]) >= len(labels[field]) for field in LABEL_FIELDS):
            raise ValueError("a cached label code is out of range")
        return cls(source, lead_ids, column("q", micros), column("i", days), labels, codes, column("q", prices),
                   column("q", costs), [Problem(*problem) for problem in problems])


class _Columns:
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
_BLOCK_ROWS = 512
_UNSEEN = object()


class _LogBuilder:
    """Accepts lead rows into :class:`LeadLog` columns: a block of clean rows at once, any
    other row one by one with the reason it is left out.

    Both ways convert every cell with the same cached helpers (:meth:`cents`,
    :meth:`label_code`); a block is accepted at once only when every one of its rows would
    be accepted one by one, so the two ways give the same log.
    """

    def __init__(self, columns: _Columns, zone: ZoneInfo) -> None:
        self.columns = columns
        self.zone = zone
        self.lead_ids: list[str] = []
        self.local_micros = array("q")
        self.days = array("i")
        self.labels: dict[str, list[str]] = {field: [] for field in LABEL_FIELDS}
        self.label_codes: dict[str, array] = {field: array("I") for field in LABEL_FIELDS}
        self.price_cents = array("q")
        self.cost_cents = array("q")
        self.row_of: dict[str, int] = {}
        """Lead ID -> the log row it was accepted from."""
        self._code_of_text: dict[str, dict[str, int]] = {field: {} for field in LABEL_FIELDS}
        self._code_of_cell: dict[str, dict[str, int]] = {field: {} for field in LABEL_FIELDS}
        self._cents_of_cell: dict[object, int | None] = {}

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
        if lead_id in self.row_of:
            return f"Lead ID {lead_id} already on row {self.row_of[lead_id]}; row left out"
        delivered_at = _moment(row[columns.delivered_at])
        if delivered_at is None:
            return f"Delivered At {cell_text(row[columns.delivered_at])!r} is not a date; row left out"
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
        self._append([lead_id], [row_number], [delivered_at], [price], [cost], [[code] for code in codes])
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
        distinct = set(lead_ids)
        if "" in distinct or len(distinct) != len(lead_ids) or any(map(self.row_of.__contains__, distinct)):
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
        self._append(lead_ids, range(first_row_number, first_row_number + len(rows)), moments, prices, costs, codes)
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

    def _append(self, lead_ids: list[str], row_numbers: Iterable[int], moments: Sequence[datetime],
                prices: Sequence[int], costs: Sequence[int], codes: Sequence[Sequence[int]]) -> None:
        self.row_of.update(zip(lead_ids, row_numbers))
        self.lead_ids.extend(lead_ids)
        self.days.extend(map(datetime.toordinal, moments))
        self.local_micros.extend(map(_ONE_MICROSECOND.__rfloordiv__, map(_EPOCH.__rsub__, moments)))
        self.price_cents.extend(prices)
        self.cost_cents.extend(costs)
        for (field, _), field_codes in zip(self.columns.labels, codes):
            self.label_codes[field].extend(field_codes)

    def build(self, source: str, problems: list[Problem]) -> LeadLog:
        return LeadLog(source, self.lead_ids, self.local_micros, self.days, self.labels, self.label_codes,
                       self.price_cents, self.cost_cents, problems)


_CACHEABLE_AMOUNTS = frozenset({float, int, str, type(None)})


def parse_lead_log(rows: Iterable[Sequence[CellValue]], headers: dict[str, str], zone: ZoneInfo,
                   source: str) -> LeadLog:
    """Header row then data rows -> the accepted leads, and one problem per rejected row
    (1-based rows).

    A log without its header row (empty, or missing a required column) raises
    :class:`WorkbookError`: read as "no leads", it would tell every client that none of its
    leads exist and take back every status already shown.
    """
    iterator = iter(rows)
    header_row = next(iterator, None)
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
    log = _LogBuilder(_Columns(columns), zone)
    problems: list[Problem] = []
    first_row_number = 2
    while block := list(islice(iterator, _BLOCK_ROWS)):
        if not log.add_clean_block(block, first_row_number):
            for row_number, row in enumerate(block, start=first_row_number):
                if problem := log.add_row(row, row_number):
                    problems.append(Problem(source, problem, row_number))
        first_row_number += len(block)
    return log.build(source, problems)


def parse_lead_rows(rows: Iterable[Sequence[CellValue]], headers: dict[str, str], zone: ZoneInfo,
                    source: str) -> tuple[list[Lead], list[Problem]]:
    """Header row then data rows -> leads and one problem per rejected row (1-based rows)."""
    log = parse_lead_log(rows, headers, zone, source)
    return list(log), log.problems


def read_excel_rows(path: Path, tab: str | None) -> Iterator[list[CellValue]]:
    """The rows of one tab from A1 on, streamed by python-calamine (the fast reader; see EXCEL-NOTES)."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own error types for every unreadable file
        raise WorkbookError(f"{path} cannot be read as an Excel workbook ({error.__class__.__name__}).") from None
    name = tab or workbook.sheet_names[0]
    if name not in workbook.sheet_names:
        raise WorkbookError(f"{path} has no tab named {name!r} (tabs: {', '.join(workbook.sheet_names)}).")
    sheet = workbook.get_sheet_by_name(name)
    # iter_rows yields the empty rows above the first used cell but starts each row at the
    # first used column: put the empty columns back, so that column and row numbers hold.
    first_column = sheet.start[1] if sheet.start else 0
    rows = sheet.iter_rows()
    return ([*repeat("", first_column), *row] for row in rows) if first_column else rows


@contextmanager
def _panics_as_errors(path: Path) -> Iterator[None]:
    """While rows stream from python-calamine: its panic on a cell becomes one sentence."""
    try:
        with panics_unprinted():
            yield
    except BaseException as error:
        if not calamine_panicked(error):
            raise
        raise WorkbookError(f"{path} cannot be read: a cell holds a number formatted as a date that no date can be "
                            "(Excel shows it as ####); correct that cell and run again.") from None


def read_csv_rows(path: Path) -> list[list[CellValue]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [list(row) for row in csv.reader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise WorkbookError(f"{path} cannot be read as UTF-8 CSV ({error.__class__.__name__}).") from None


def load_lead_log(config: LeadsConfig, zone: ZoneInfo, open_google: Callable | None = None) -> LeadLog:
    """The lead log named by the config, as columns. Raises :class:`WorkbookError` if it
    cannot be read."""
    if config.kind == "excel":
        with _panics_as_errors(config.excel):
            return parse_lead_log(read_excel_rows(config.excel, config.tab), config.headers, zone, config.excel.name)
    if config.kind == "csv":
        rows, source = read_csv_rows(config.csv), str(config.csv.name)
    else:
        workbook = open_google(config.google)
        grids = workbook.read([config.tab or "Leads"])
        if not grids:
            raise WorkbookError(f"Spreadsheet {workbook.label} has no tab named {config.tab!r}.")
        rows, source = next(iter(grids.values())), f"{workbook.label} {config.tab}"
    return parse_lead_log(rows, config.headers, zone, source)


def read_lead_log(config: LeadsConfig, zone: ZoneInfo, open_google=None) -> tuple[list[Lead], list[Problem]]:
    """The lead log named by the config as leads. Raises :class:`WorkbookError` if it cannot be read."""
    log = load_lead_log(config, zone, open_google)
    return list(log), log.problems


class LeadLogCache:
    """A parsed Excel or CSV lead log kept in a file, keyed by the log file's content and
    every parsing setting, so a run over an unchanged log does not parse it again.

    The file starts with its key: one that is unreadable, cut short, or of another log,
    setting or format version is ignored (and replaced by the next :meth:`save`). It is
    written to a temporary file and renamed, so it is always whole. A Google tab is never
    cached: its content cannot be known without reading it.
    """

    def __init__(self, path: Path, config: LeadsConfig, zone: ZoneInfo) -> None:
        self.path = path
        self._header = None if (key := _cache_key(config, zone)) is None else f"sheets-sync lead log {key}\n".encode()

    def load(self) -> LeadLog | None:
        if self._header is None:
            return None
        try:
            data = self.path.read_bytes()
            return LeadLog.from_bytes(data[len(self._header):]) if data.startswith(self._header) else None
        except (OSError, ValueError, EOFError, TypeError, KeyError):
            return None

    def save(self, log: LeadLog) -> None:
        if self._header is None:
            return
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(self._header + log.to_bytes())
            os.replace(temporary, self.path)
        except OSError:
            pass  # the cache only saves time; the next run parses the log again
        finally:
            temporary.unlink(missing_ok=True)


def _cache_key(config: LeadsConfig, zone: ZoneInfo) -> str | None:
    """What the parsed log depends on: the file's bytes and every parsing setting."""
    path = config.excel or config.csv
    if path is None:
        return None
    digest = hashlib.sha1()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None  # reading the log itself says what is wrong
    settings = (CACHE_FORMAT, sys.byteorder, config.kind, path.name, config.tab, sorted(config.headers.items()),
                str(zone))
    digest.update(repr(settings).encode())
    return digest.hexdigest()
