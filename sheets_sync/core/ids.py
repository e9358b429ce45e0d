"""Lead IDs as clients paste them into a returns tab, and matching them to the lead log.

What clients paste is messy: several IDs in one cell, stray spaces, quotes and invisible
characters, other letter case, and IDs that the spreadsheet turned into numbers (leading
zeros gone, long IDs cut to 15 digits or shown as ``1.23457E+15``).

- :func:`split_pasted` turns one ``Lead ID`` cell into clean :class:`PastedId` tokens that
  remember whether the spreadsheet shortened them.
- :class:`ClientLeadIndex` matches a token against ONE client's lead IDs. When it had to
  read the token generously, or could not decide, :class:`IdMatch` says so in plain words
  for the client's ``Detail`` column. Keeping other clients' IDs out of the index is the
  caller's job, so notes may name the client's own IDs.
- :func:`ledger_key` is the stable key of a token that matched nothing.

Pure (no I/O), and nothing here raises on what a client pasted.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from itertools import filterfalse
from operator import methodcaller

import numpy

from sheets_sync.core.cells import CellValue

_SPREADSHEET_PRECISION = 15
"""Significant digits a spreadsheet keeps of a number: Excel, Google Sheets and LibreOffice
hold numbers as doubles, and Excel cuts typed digits past the 15th to zeros."""

_LONGEST_NUMBER = 1000
"""Digits beyond which a number is kept as text. No spreadsheet number comes close (doubles
end at 309 digits); the bound keeps arithmetic on pasted numbers cheap."""

# Whitespace (``\s`` covers tabs, newlines and non-breaking spaces), commas and semicolons,
# plus the zero-width spaces and the full-width, ideographic and Arabic commas that phones
# and non-Latin keyboards type.
_SEPARATORS = re.compile(r"[\s,;\u200b\ufeff\u3001\uff0c\uff1b\u060c\u061b]+")

_QUOTES = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"

# Invisible characters are dropped (category Cc controls, Cf format marks such as
# right-to-left marks and soft hyphens, Cs lone surrogates), except the zero-width
# (non-)joiners and tag characters that are part of emoji and of some scripts.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_KEPT_INVISIBLES = frozenset("\u200c\u200d") | frozenset(map(chr, range(0xE0020, 0xE0080)))

_PLAIN_DIGITS = re.compile(r"[0-9]+")
# How a spreadsheet shows a long number: 1.23457E+15. Only with a dot: a comma separates IDs.
_SCIENTIFIC = re.compile(r"([1-9])(?:\.([0-9]+))?[eE]\+?([0-9]{1,3})")

_LISTED_CANDIDATES = 3
"""How many candidate IDs an ambiguity note names before saying "or N more"."""


@dataclass(frozen=True, slots=True)
class PastedId:
    """One lead ID as a client pasted it.

    ``text`` is the clean text the client sees (what notes quote), e.g. ``"000123"``,
    ``"1.23457E+15"``, or ``"1234567890123450"`` for a number cell.

    ``significant_digits`` is set when the token is a number the spreadsheet shortened: only
    its first ``significant_digits`` digits are the client's, the rest were rounded away
    (scientific-notation text: the digits shown, e.g. 6 for ``1.23457E+15``) or cut to zeros
    (a number cell longer than 15 digits: its digits up to the last non-zero one, at most 15).
    ``None`` means the text is exactly what was pasted.
    """

    text: str
    significant_digits: int | None = None


@dataclass(frozen=True, slots=True)
class IdMatch:
    """What a pasted token was read as.

    ``lead_id`` is the lead log's own ID, or ``None`` when nothing (or more than one lead)
    matched. ``note`` is a plain sentence for the client when the match was not literal or
    the token could not be decided (e.g. ``"read 123 as lead 000123 (leading zeros
    restored)"``, ``"123 could be 000123 or 0123: paste the full ID"``); ``None`` otherwise.
    """

    lead_id: str | None
    note: str | None = None


_NO_MATCH = IdMatch(None)


def split_pasted(value: CellValue) -> list[PastedId]:
    """The distinct lead-ID tokens one returns-tab ``Lead ID`` cell holds, in order.

    Text is split on whitespace, commas and semicolons; each piece loses invisible
    characters and surrounding quotes, including Excel's ``'000123`` and ``="000123"``
    ways of keeping zeros. Text starting with ``=``, ``+``, ``-`` or ``@`` is otherwise
    plain text. Tokens equal but for letter case collapse into the first. Number cells
    become their digits; booleans, dates and anything else become their text, so that they
    get an answer instead of breaking the run. Never raises; linear in the cell's length.
    """
    if value is None:
        return []
    if isinstance(value, str):
        tokens = [_read_token(piece) for piece in _SEPARATORS.split(value)]
    else:
        tokens = [_read_cell(value)]
    distinct: dict[str, PastedId] = {}
    for token in tokens:
        if token is not None:
            distinct.setdefault(_fold(token.text), token)
    return list(distinct.values())


def ledger_key(pasted: PastedId | str) -> str:
    """The key under which the ledger records a token that matched no lead.

    Letter case and character width are folded away, so a re-paste of the same unknown text
    in another case is recognised as the same request. A ``str`` is read like one pasted
    token; blank text gives ``""``.
    """
    token = pasted if isinstance(pasted, PastedId) else _read_token(pasted)
    return _fold(token.text) if token is not None else ""


class ClientLeadIndex:
    """One client's lead IDs, indexed once so each match is a dict look-up or a bisection.

    Matching tries, in order, and stops at the first step that finds anything:

    1. the exact text;
    2. the text ignoring letter case and character width (two leads that differ only so
       make the token ambiguous);
    3. for digits (or scientific notation) the spreadsheet kept whole: all-digit leads equal
       but for leading zeros;
    4. for numbers the spreadsheet shortened: all-digit leads of the same length that it
       would have shortened to the same number.

    Step 3 or 4 finding several leads is an ambiguity: no match, and a note naming them.
    """

    def __init__(self, lead_ids: Iterable[str], positions: Iterable[int] | None = None) -> None:
        """``positions``: where each lead is in the lead log, for :meth:`position`."""
        self._lead_ids: dict[str, int | None] = (dict.fromkeys(lead_ids) if positions is None
                                                 else dict(zip(lead_ids, positions)))
        self._ascii_only = all(map(str.isascii, self._lead_ids))
        # Built when a token first needs them: most pasted IDs match exactly.
        self._folded: _Grouped | None = None
        self._digits: tuple[list[str], list[str]] | None = None
        self._by_number: _Grouped | None = None
        self._digit_lengths: list[int] | None = None
        self._numbered: _NumberLine | None = None

    def _same_but_case(self, text: str) -> list[str]:
        """The leads whose ID equals ``text`` but for letter case and character width."""
        folded = _fold(text)
        if not self._ascii_only:
            if self._folded is None:
                lead_ids = list(self._lead_ids)
                self._folded = _grouped(list(map(_fold, lead_ids)), lead_ids)
            return _found(self._folded, folded)
        # An ASCII ID of digits alone is its own fold: looked up as it is, left out of the map.
        if self._folded is None:
            lead_ids = list(filterfalse(str.isdigit, self._lead_ids))
            self._folded = _grouped(list(map(str.lower, lead_ids)), lead_ids)
        found = _found(self._folded, folded)
        return [folded] if not found and folded.isdigit() and folded in self._lead_ids else found

    def _digit_ids(self) -> tuple[list[str], list[str]]:
        """The all-digit leads, and their digits (full-width ones made plain)."""
        if self._digits is None:
            if self._ascii_only:  # isdigit is 0-9 there: all in C
                lead_ids = list(filter(str.isdigit, self._lead_ids))
                self._digits = lead_ids, lead_ids
            else:
                digits_of = {lead_id: digits for lead_id in self._lead_ids
                             if (digits := _plain_digits(lead_id)) is not None}
                self._digits = list(digits_of), list(digits_of.values())
        return self._digits

    def _same_number(self, digits: str) -> list[str]:
        """The all-digit leads whose number is ``digits``, leading zeros aside."""
        significant = digits.lstrip("0")
        if self._ascii_only:
            # Such a lead is the number zero-padded to its own length: a look-up per length.
            if self._digit_lengths is None:
                self._digit_lengths = sorted(set(map(len, self._digit_ids()[0])))
            return sorted(candidate for length in self._digit_lengths if length >= len(significant)
                          and (candidate := significant.zfill(length)) in self._lead_ids)
        if self._by_number is None:
            lead_ids, all_digits = self._digit_ids()
            self._by_number = _grouped(list(map(methodcaller("lstrip", "0"), all_digits)), lead_ids)
        return _found(self._by_number, significant)

    def _numbers(self) -> _NumberLine:
        if self._numbered is None:
            self._numbered = _NumberLine(*self._digit_ids())
        return self._numbered

    def position(self, lead_id: str) -> int | None:
        """The lead log position of this exact lead ID, if it is one of the client's."""
        return self._lead_ids.get(lead_id)

    def match(self, pasted: PastedId | str) -> IdMatch:
        """The lead ``pasted`` refers to. A ``str`` is read like one pasted token."""
        token = pasted if isinstance(pasted, PastedId) else _read_token(pasted)
        if token is None:
            return _NO_MATCH
        text = token.text
        if text in self._lead_ids:
            return IdMatch(text)

        same_but_case = self._same_but_case(text)
        if len(same_but_case) == 1:
            lead_id = same_but_case[0]
            how = (
                "letter case ignored"
                if text.casefold() == lead_id.casefold()
                else "characters read in their plain form"
            )
            return IdMatch(lead_id, f"read {text} as lead {lead_id} ({how})")
        if same_but_case:
            candidates = sorted(same_but_case)
            listed = _one_of(candidates[:_LISTED_CANDIDATES], len(candidates))
            return IdMatch(
                None,
                f"{text} could be {listed}: "
                "paste the ID with its exact letter case",
            )

        number = _whole_number(text)
        if number is None:
            return _NO_MATCH
        digits, scientific = number
        kept = token.significant_digits
        if kept is None or kept >= len(digits.lstrip("0")):
            return self._match_leading_zeros(text, digits)
        return self._match_shortened(text, digits, kept, scientific)

    def _match_leading_zeros(self, text: str, digits: str) -> IdMatch:
        found = self._same_number(digits)
        if len(found) == 1:
            lead_id = found[0]
            if len(lead_id) > len(digits):
                how = "leading zeros restored"
            elif len(lead_id) < len(digits):
                how = "extra leading zeros ignored"
            else:
                how = "number written out in full"
            return IdMatch(lead_id, f"read {text} as lead {lead_id} ({how})")
        if found:
            return IdMatch(None, f"{text} could be {_one_of(found[:_LISTED_CANDIDATES], len(found))}: paste the full ID")
        return _NO_MATCH

    def _match_shortened(self, text: str, digits: str, kept: int, scientific: bool) -> IdMatch:
        significant = digits.lstrip("0")
        length = len(significant)
        value = int(significant)
        lost = 10 ** (length - kept)
        # Scientific notation is a display, which rounds half up. A number cell may have been
        # rounded (Google, LibreOffice) or had its digits cut (Excel typing): accept both.
        # Only leads of the pasted length count; rounding up never reaches the next length
        # because ``value`` (as split_pasted reads it) is a multiple of ``lost``.
        lowest = max(value - lost // 2, 10 ** (length - 1))
        beyond = value + (lost // 2 if scientific else lost)
        found = self._numbers().between(lowest, beyond)
        if len(found) == 1:
            lead_id = found[0]
            return IdMatch(
                lead_id, f"read {text} as lead {lead_id} (the spreadsheet had shortened the number)"
            )
        if found:
            return IdMatch(
                None,
                f"{text} could be {_one_of(found[:_LISTED_CANDIDATES], len(found))}: "
                "paste the full ID as text (start it with ')",
            )
        return IdMatch(
            None,
            f"{text} is a number the spreadsheet shortened: paste the full ID as text (start it with ')",
        )


class _NumberLine:
    """The all-digit leads ordered by numeric value (leads of one number by ID), so that the
    leads in a range of values are a slice."""

    def __init__(self, lead_ids: list[str], all_digits: list[str]) -> None:
        values = list(map(int, all_digits))
        order = None
        if values and max(values) < _INT64_LIMIT:  # sorted by numpy, in C
            array = numpy.array(values, dtype=numpy.int64)
            by_value = numpy.argsort(array, kind="stable")
            ordered = array[by_value]
            if not numpy.any(ordered[1:] == ordered[:-1]):  # else the IDs of one number must be sorted too
                order = by_value.tolist()
                self._values = ordered.tolist()
        if order is None:
            pairs = sorted(zip(values, lead_ids))
            self._values = [value for value, _ in pairs]
            self._lead_ids = [lead_id for _, lead_id in pairs]
        else:
            self._lead_ids = list(map(lead_ids.__getitem__, order))

    def between(self, lowest: int, beyond: int) -> list[str]:
        """The leads numbered from ``lowest`` up to, not including, ``beyond``."""
        first = bisect_left(self._values, lowest)
        return self._lead_ids[first:bisect_left(self._values, beyond, lo=first)]


_INT64_LIMIT = 2 ** 63


_Grouped = tuple[dict[str, str], dict[str, list[str]]]
"""Leads by a key: one lead per key, and the sorted list where several leads share a key."""


def _grouped(keys: list[str], lead_ids: list[str]) -> _Grouped:
    first = dict(zip(keys, lead_ids))
    several: dict[str, list[str]] = {}
    if len(first) < len(lead_ids):  # some share a key: find which (rare, so the slow way)
        for key, lead_id in zip(keys, lead_ids):
            several.setdefault(key, []).append(lead_id)
        several = {key: sorted(ids) for key, ids in several.items() if len(ids) > 1}
    return first, several


def _found(grouped: _Grouped, key: str) -> list[str]:
    first, several = grouped
    return several.get(key) or ([first[key]] if key in first else [])


def _read_token(raw: str) -> PastedId | None:
    """One separator-free piece of pasted text as a token, or ``None`` when nothing is left."""
    token = _without_invisibles(raw).strip()
    # ="000123" is Excel's trick to keep leading zeros: a formula whose only job is to be text.
    if len(token) > 1 and token[0] == "=" and token[1] in _QUOTES:
        token = token[1:]
    # Stripping every quote from both ends also undoes Excel's '000123, and a quoted
    # multi-ID cell ("123, 456") whose quotes the split left on its first and last pieces.
    token = token.strip(_QUOTES).strip()
    if not token:
        return None
    scientific = _scientific(unicodedata.normalize("NFKC", token))
    if scientific is not None:
        digits, shown = scientific
        if len(digits) > shown:
            return PastedId(token, shown)
    return PastedId(token)


def _read_cell(value: CellValue) -> PastedId | None:
    """The token of a cell that is not text."""
    if isinstance(value, bool):
        return PastedId("TRUE" if value else "FALSE")
    if isinstance(value, (int, float, Decimal)):
        return _read_number(value)
    if isinstance(value, datetime):
        # Backends hand date cells back as midnight date-times; show the date the client saw.
        return PastedId(value.date().isoformat() if value.time() == time.min else value.isoformat(sep=" "))
    if isinstance(value, date):
        return PastedId(value.isoformat())
    # Not a cell value at all; its text is still an answer, and a broken __str__ must not
    # stop the run.
    try:
        text = str(value)
    except Exception:
        return None
    return _read_token(text)


def _read_number(number: int | float | Decimal) -> PastedId:
    """A number cell: whole numbers become their digits, anything else its text."""
    # repr gives the shortest decimal that is the same double, i.e. what the sheet showed.
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    if (
        not exact.is_finite()
        or exact.adjusted() >= _LONGEST_NUMBER
        or exact != exact.to_integral_value()
    ):
        return PastedId(str(exact))
    digits = str(int(exact))
    kept = digits.rstrip("0")
    # Longer than a spreadsheet keeps, and nothing survived past the 15th digit: the sheet
    # dropped them. A long number with later digits intact was kept whole (e.g. by Google).
    if exact > 0 and len(digits) > _SPREADSHEET_PRECISION >= len(kept):
        return PastedId(digits, len(kept))
    return PastedId(digits)


def _without_invisibles(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(
        char
        for char in text
        if char in _KEPT_INVISIBLES or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )


def _fold(text: str) -> str:
    """Text with letter case and character width folded away (full-width ``０１２`` is ``012``)."""
    if text.isascii():  # NFKC leaves ASCII alone, and casefold is lower there
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def _plain_digits(text: str) -> str | None:
    if text.isascii():  # isdigit is 0-9 there (elsewhere it also takes superscripts)
        return text if text.isdigit() else None
    normalized = unicodedata.normalize("NFKC", text)
    return normalized if _PLAIN_DIGITS.fullmatch(normalized) else None


def _scientific(text: str) -> tuple[str, int] | None:
    """The digits of the whole number that scientific-notation text shows, and how many
    significant digits it shows: ``"1.23457E+15"`` -> ``("1234570000000000", 6)``."""
    found = _SCIENTIFIC.fullmatch(text)
    if found is None:
        return None
    first_digit, fraction, exponent = found[1], found[2] or "", int(found[3])
    if len(fraction.rstrip("0")) > exponent:
        return None  # not a whole number, so not an ID
    shown = first_digit + fraction
    return (shown + "0" * exponent)[: exponent + 1], len(shown)


def _whole_number(text: str) -> tuple[str, bool] | None:
    """The digits ``text`` stands for as a whole number, and whether it was in scientific
    notation; ``None`` for text that is not a number."""
    digits = _plain_digits(text)
    if digits is not None:
        return digits, False
    scientific = _scientific(unicodedata.normalize("NFKC", text))
    return (scientific[0], True) if scientific is not None else None


def _one_of(shown: list[str], total: int) -> str:
    """``"A or B"``, ``"A, B or C"``, ``"A, B, C or 4 more"``."""
    if total > len(shown):
        return f"{', '.join(shown)} or {total - len(shown)} more"
    return f"{', '.join(shown[:-1])} or {shown[-1]}"
