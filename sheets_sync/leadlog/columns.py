"""The lead log held as columns (SPEC §2.1).

A run needs a few facts about every lead (its client, group, day and amounts) but a whole
:class:`~sheets_sync.core.model.Lead` only for the leads it decides or restates, so the log
is held as columns (:class:`LeadLog`): texts and amounts that repeat are stored once, money
in integer cents, and a ``Lead`` is built when asked for. Weekly sums per group are
answered from the columns, vectorised.
"""

from __future__ import annotations

import marshal
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy

from sheets_sync.core.model import Lead, Problem
from sheets_sync.core.money import CENT
from sheets_sync.core.project.dashboard import NO_SOURCE, LeadSummary
from sheets_sync.core.project.tracking import Delivered, GroupKey

LABEL_FIELDS = ("client", "vertical", "country", "source", "campaign")
RESPELLED_FIELDS = LABEL_FIELDS[1:]
"""Fields whose spellings in other letter case are one value (a client's name is matched to
the config's instead, SPEC §3.1)."""
"""The lead's text fields a run groups and matches by; each is a column of codes."""

LOCAL_EPOCH = datetime(1, 1, 1)
"""Delivery moments are kept as microseconds of local wall-clock time since this."""
_MICROS_PER_DAY = 86_400_000_000
DAYS_APART = 366
"""A delivery date more than this many days from every other one is taken for a typo."""


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
                 cost_cents: array, problems: list[Problem], row_numbers: array) -> None:
        self.source = source
        self.lead_ids = lead_ids
        self.local_micros = local_micros
        self.days = days
        self.labels = labels
        self.label_codes = label_codes
        self.price_cents = price_cents
        self.cost_cents = cost_cents
        self.problems = problems
        self.row_numbers = row_numbers
        """The log row each lead was read from, for messages."""
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
        return Lead(self.lead_ids[position], LOCAL_EPOCH + timedelta(microseconds=self.local_micros[position]),
                    date.fromordinal(self.days[position]), client, vertical, country,
                    _money(self.price_cents[position]), _money(self.cost_cents[position]), source, campaign)

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

    def summary(self, names: Mapping[str, str]) -> LeadSummary:
        """What the Dashboard needs of the log, from the columns (a million leads are never
        built one by one); ``names`` as for :meth:`positions_by_client`."""
        by_source: Counter = Counter()
        for code, count in Counter(self.label_codes["source"]).items():
            by_source[self.labels["source"][code] or NO_SOURCE] += count
        dates = self.delivery_dates_by_client(names)
        last_day = date.fromordinal(max(self.days)) if len(self) else None
        return LeadSummary(last_day, by_source, {client: dates.get(client, []) for client in dict.fromkeys(names.values())})

    def client_counts(self) -> Counter:
        """How many leads the log files under each ``Client`` value, as the log spells it."""
        return Counter({self.labels["client"][code]: count
                        for code, count in enumerate(numpy.bincount(_numbers(self.label_codes["client"]),
                                                                    minlength=len(self.labels["client"])).tolist())
                        if count})

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
            self.cost_cents.tobytes(), [(problem.source, problem.message, problem.row) for problem in self.problems],
            self.row_numbers.tobytes()))

    @classmethod
    def from_bytes(cls, data: bytes) -> LeadLog:
        """The log :meth:`to_bytes` wrote. Raises ``ValueError`` (or ``EOFError``, ``TypeError``)
        for anything else."""
        source, lead_ids, micros, days, labels, label_codes, prices, costs, problems, rows = marshal.loads(data)

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
                   column("q", costs), [Problem(*problem) for problem in problems], column("I", rows))

    def one_spelling_each(self) -> tuple[LeadLog, list[str]]:
        """This log with every vertical, country, source and campaign that is written in other
        letter case (``us`` beside ``US``) counted under its most frequent spelling, so one
        group never becomes two tracking tabs; and a sentence per spelling so counted."""
        told: list[str] = []
        codes = dict(self.label_codes)
        for field in RESPELLED_FIELDS:
            labels = self.labels[field]
            same: dict[str, list[int]] = defaultdict(list)
            for code, text in enumerate(labels):
                same[text.casefold()].append(code)
            if len(same) == len(labels):
                continue
            counts = numpy.bincount(_numbers(codes[field]), minlength=len(labels))
            renamed = numpy.arange(len(labels), dtype=numpy.uint32)
            for spellings in (spellings for spellings in same.values() if len(spellings) > 1):
                usual = max(spellings, key=lambda code: (counts[code], -code))
                for code in spellings:
                    count = int(counts[code])
                    if code != usual and count:
                        renamed[code] = usual
                        told.append(f"{field.capitalize()} {labels[code]!r} ({count} lead{'s' * (count != 1)}) is "
                                    f"counted as {labels[usual]!r}, its most frequent spelling.")
            codes[field] = array("I", renamed[_numbers(codes[field])].tobytes())
        if not told:
            return self, []
        return LeadLog(self.source, self.lead_ids, self.local_micros, self.days, self.labels, codes, self.price_cents,
                       self.cost_cents, self.problems, self.row_numbers), told

    def implausible(self, latest: datetime) -> dict[int, str]:
        """The deliveries that cannot be real, by position, and why (SPEC §2.1): one after
        ``latest`` (the run's local time), or one more than a year from every other
        delivery (a mistyped year), which would add years of weeks to a tracking tab."""
        days = _numbers(self.days)
        found: dict[int, str] = {}
        if not len(days):
            return found
        distinct = numpy.unique(days)
        gaps = numpy.diff(distinct)
        lonely = numpy.ones(len(distinct), dtype=bool) if len(distinct) > 1 else numpy.zeros(1, dtype=bool)
        lonely[1:] &= gaps > DAYS_APART
        lonely[:-1] &= gaps > DAYS_APART
        for day in distinct[lonely].tolist():
            for position in numpy.flatnonzero(days == day).tolist():
                found.setdefault(position, f"delivered {date.fromordinal(day).isoformat()}, more than a year away "
                                           "from every other delivery (a mistyped year?)")
        limit = (latest - LOCAL_EPOCH) // timedelta(microseconds=1)
        for position in numpy.flatnonzero(_numbers(self.local_micros) > limit).tolist():
            found.setdefault(position, f"delivered {date.fromordinal(self.days[position]).isoformat()}, "
                                       "after this run's time")
        return found

    def without(self, left_out: Mapping[int, str]) -> LeadLog:
        """This log without the leads at ``left_out``'s positions, each reported with its row."""
        if not left_out:
            return self
        keep = numpy.ones(len(self), dtype=bool)
        keep[list(left_out)] = False

        def kept(column: array) -> array:
            values = array(column.typecode)
            values.frombytes(_numbers(column)[keep].tobytes())
            return values

        problems = [*self.problems, *(Problem(self.source, f"Delivered At {why}; row left out", self.row_numbers[at])
                                      for at, why in sorted(left_out.items()))]
        return LeadLog(self.source, [lead_id for lead_id, flag in zip(self.lead_ids, keep.tolist()) if flag],
                       kept(self.local_micros), kept(self.days), self.labels,
                       {field: kept(codes) for field, codes in self.label_codes.items()}, kept(self.price_cents),
                       kept(self.cost_cents), problems, kept(self.row_numbers))
