"""Lead-ID splitting and matching: what clients paste into a returns tab."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext
from time import perf_counter

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sheets_sync.core.cells import Formula
from sheets_sync.core.ids import ClientLeadIndex, IdMatch, PastedId, ledger_key, split_pasted


def texts(value: object) -> list[str]:
    return [token.text for token in split_pasted(value)]  # type: ignore[arg-type]


# --- split_pasted: text cells ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        # blank
        (None, []),
        ("", []),
        ("   ", []),
        ("\n\t \u00a0", []),
        # surrounding spaces
        ("  000123 ", ["000123"]),
        ("ABC-9", ["ABC-9"]),
        # separators
        ("1,2", ["1", "2"]),
        ("1;2", ["1", "2"]),
        ("1 2", ["1", "2"]),
        ("1\n2", ["1", "2"]),
        ("1\r\n2", ["1", "2"]),
        ("1\t2", ["1", "2"]),
        ("1\u00a02", ["1", "2"]),  # non-breaking space
        ("1\u202f2", ["1", "2"]),  # narrow non-breaking space
        ("1\u200b2", ["1", "2"]),  # zero-width space
        ("1\u30002", ["1", "2"]),  # ideographic space
        ("1\uff0c2", ["1", "2"]),  # full-width comma
        ("1 , ;\n 2", ["1", "2"]),
        (",1,,2,", ["1", "2"]),
        ("A1, B2; C3\nD4\tE5", ["A1", "B2", "C3", "D4", "E5"]),
        # duplicates collapse to the first, ignoring case
        ("123, 123", ["123"]),
        ("abc ABC Abc", ["abc"]),
        ("b a B", ["b", "a"]),
        ("000123 '000123", ["000123"]),
        ("000123 123", ["000123", "123"]),  # different text: both asked for
        # scientific notation: kept as the client sees it (the dot form only)
        ("1.23457E+15", ["1.23457E+15"]),
        ("1,23457E+15", ["1", "23457E+15"]),
        # Excel's ways of keeping leading zeros, and quotes
        ('="000123"', ["000123"]),
        ("=\u201c000123\u201d", ["000123"]),
        ("'000123", ["000123"]),
        ('"000123"', ["000123"]),
        ("'000123'", ["000123"]),
        ("\u201c000123\u201d", ["000123"]),
        ("\u00ab000123\u00bb", ["000123"]),
        ('"123, 456"', ["123", "456"]),
        ('="000123","000124"', ["000123", "000124"]),
        ('="000123, 000124"', ["000123", "000124"]),
        ("''", []),
        ('=""', []),
        ("O'Brien-7", ["O'Brien-7"]),
        # formula-looking text is plain text, never evaluated
        ("=123", ["=123"]),
        ("+123", ["+123"]),
        ("-123", ["-123"]),
        ("@123", ["@123"]),
        ("=SUM(A1:A9)", ["=SUM(A1:A9)"]),
        ('=HYPERLINK("http://x")', ['=HYPERLINK("http://x")']),
        ("=", ["="]),
        (Formula("=A1"), ["=A1"]),
        # invisible characters are removed
        ("12\x003", ["123"]),
        ("\x07123\x7f", ["123"]),
        ("\u200f000123\u200e", ["000123"]),  # right-to-left / left-to-right marks
        ("\ufeff000123", ["000123"]),  # byte-order mark
        ("000\u00ad123", ["000123"]),  # soft hyphen
        ("\u2066ABC\u2069", ["ABC"]),  # bidi isolates
        ("12\ud8003", ["123"]),  # lone surrogate
        # emoji and right-to-left text pass through as text
        ("\U0001f600", ["\U0001f600"]),
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467", ["\U0001f468\u200d\U0001f469\u200d\U0001f467"]),
        ("\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
         ["\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]),
        ("\u05e9\u05dc\u05d5\u05dd-12", ["\u05e9\u05dc\u05d5\u05dd-12"]),
        ("\u0645\u0631\u062d\u0628\u0627\u060c 7", ["\u0645\u0631\u062d\u0628\u0627", "7"]),
        # full-width text is kept as typed (matching reads it in plain form)
        ("\uff10\uff10\uff11\uff12\uff13", ["\uff10\uff10\uff11\uff12\uff13"]),
    ],
)
def test_split_pasted_text(cell: str | None, expected: list[str]) -> None:
    assert texts(cell) == expected


# --- split_pasted: cells that are not text --------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (123, "123"),
        (0, "0"),
        (-5, "-5"),
        (123.0, "123"),
        (-0.0, "0"),
        (-5.0, "-5"),
        (12.5, "12.5"),
        (1e-05, "0.00001"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (1.23457e15, "1234570000000000"),
        (Decimal("123"), "123"),
        (Decimal("123.00"), "123"),
        (Decimal("1.23457E+15"), "1234570000000000"),
        (Decimal("12.50"), "12.50"),
        (Decimal("sNaN"), "sNaN"),
        (Decimal("1E+999999999"), "1E+999999999"),
        (True, "TRUE"),
        (False, "FALSE"),
        (date(2024, 3, 1), "2024-03-01"),
        (datetime(2024, 3, 1), "2024-03-01"),
        (datetime(2024, 3, 1, 10, 5), "2024-03-01 10:05:00"),
        (datetime(2024, 3, 1, 10, 5, tzinfo=timezone.utc), "2024-03-01 10:05:00+00:00"),
        (time(10, 30), "10:30:00"),
    ],
)
def test_split_pasted_other_cells_become_one_token(cell: object, expected: str) -> None:
    assert texts(cell) == [expected]


def test_split_pasted_huge_integer_is_text_not_a_crash() -> None:
    [token] = split_pasted(10**5000)
    assert len(token.text) == 5001
    assert token.significant_digits is None


def test_split_pasted_survives_an_object_whose_text_fails() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    assert split_pasted(Broken()) == []  # type: ignore[arg-type]


# --- split_pasted: numbers the spreadsheet shortened ----------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        # scientific notation shows only some digits
        ("1.23457E+15", PastedId("1.23457E+15", 6)),
        ("1.23457e15", PastedId("1.23457e15", 6)),
        ("1.23457E15", PastedId("1.23457E15", 6)),
        ("1.2345678901234E+15", PastedId("1.2345678901234E+15", 14)),
        ("1.20E+15", PastedId("1.20E+15", 3)),
        ("1E+15", PastedId("1E+15", 1)),
        ("1.23E+2", PastedId("1.23E+2")),  # 123: nothing lost
        ("1.5E-3", PastedId("1.5E-3")),  # not a whole number
        ("1.5E+0", PastedId("1.5E+0")),
        ("12E3", PastedId("12E3")),  # not how a spreadsheet shows numbers
        # numbers longer than 15 digits whose tail is zeros lost it
        (1.23457e15, PastedId("1234570000000000", 6)),
        (1234567890123450, PastedId("1234567890123450", 15)),
        (1234567890123450.0, PastedId("1234567890123450", 15)),
        (Decimal("1234567890123450"), PastedId("1234567890123450", 15)),
        (12345678901234000000, PastedId("12345678901234000000", 14)),
        # ... but not when the sheet kept every digit, or there were only 15
        (1234567890123456, PastedId("1234567890123456")),
        (123456789012340, PastedId("123456789012340")),
        (-1234567890123450, PastedId("-1234567890123450")),
        (-12345678901234000000, PastedId("-12345678901234000000")),  # not an ID at all
    ],
)
def test_split_pasted_remembers_lost_digits(cell: object, expected: PastedId) -> None:
    assert split_pasted(cell) == [expected]  # type: ignore[arg-type]


# --- ClientLeadIndex.match -------------------------------------------------------------

LEADS = [
    "000123",
    "0123",
    "ABC-9",
    "abc",
    "ABC",
    "Q7",
    "00042",
    "1234567890123456",
    "7000000000000001",
    "7000000000000002",
    "\u05e9\u05dc\u05d5\u05dd-12",
]
SHORTENED = "(the spreadsheet had shortened the number)"
AS_TEXT = "paste the full ID as text (start it with ')"


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        # exact text
        ("000123", IdMatch("000123")),
        ("abc", IdMatch("abc")),
        ("ABC", IdMatch("ABC")),
        ("\u05e9\u05dc\u05d5\u05dd-12", IdMatch("\u05e9\u05dc\u05d5\u05dd-12")),
        # letter case
        ("abc-9", IdMatch("ABC-9", "read abc-9 as lead ABC-9 (letter case ignored)")),
        ("q7", IdMatch("Q7", "read q7 as lead Q7 (letter case ignored)")),
        ("Abc", IdMatch(None, "Abc could be ABC or abc: paste the ID with its exact letter case")),
        # full-width characters
        (
            "\uff21\uff22\uff23-\uff19",
            IdMatch("ABC-9", "read \uff21\uff22\uff23-\uff19 as lead ABC-9 (characters read in their plain form)"),
        ),
        # leading zeros
        (42, IdMatch("00042", "read 42 as lead 00042 (leading zeros restored)")),
        (42.0, IdMatch("00042", "read 42 as lead 00042 (leading zeros restored)")),
        ("0042", IdMatch("00042", "read 0042 as lead 00042 (leading zeros restored)")),
        ("000042", IdMatch("00042", "read 000042 as lead 00042 (extra leading zeros ignored)")),
        ("4.2E+1", IdMatch("00042", "read 4.2E+1 as lead 00042 (leading zeros restored)")),
        (123, IdMatch(None, "123 could be 000123 or 0123: paste the full ID")),
        ("1.23E+2", IdMatch(None, "1.23E+2 could be 000123 or 0123: paste the full ID")),
        # shortened numbers
        ("1.23457E+15", IdMatch("1234567890123456", f"read 1.23457E+15 as lead 1234567890123456 {SHORTENED}")),
        (1.23457e15, IdMatch("1234567890123456", f"read 1234570000000000 as lead 1234567890123456 {SHORTENED}")),
        (1234567890123450, IdMatch("1234567890123456", f"read 1234567890123450 as lead 1234567890123456 {SHORTENED}")),
        ("7E+15", IdMatch(None, f"7E+15 could be 7000000000000001 or 7000000000000002: {AS_TEXT}")),
        ("5.55555E+15", IdMatch(None, f"5.55555E+15 is a number the spreadsheet shortened: {AS_TEXT}")),
        # unknown
        ("999", IdMatch(None)),
        ("Z", IdMatch(None)),
        ("-42", IdMatch(None)),
        ("=42", IdMatch(None)),
        (True, IdMatch(None)),
        (date(2024, 3, 1), IdMatch(None)),
    ],
)
def test_match(pasted: object, expected: IdMatch) -> None:
    [token] = split_pasted(pasted)  # type: ignore[arg-type]
    assert ClientLeadIndex(LEADS).match(token) == expected


@pytest.mark.parametrize(
    ("lead", "pasted", "matches"),
    [
        # a display rounds half up
        ("1234565000000000", "1.23457E+15", True),
        ("1234574999999999", "1.23457E+15", True),
        ("1234564999999999", "1.23457E+15", False),
        ("1234575000000000", "1.23457E+15", False),
        ("1234567890123449", "1.23456789012345E+15", True),
        ("1234567890123459", "1.23456789012345E+15", False),
        # a number cell was rounded, or cut by Excel
        ("1234567890123445", 1234567890123450, True),
        ("1234567890123459", 1234567890123450, True),
        ("1234567890123444", 1234567890123450, False),
        ("1234567890123460", 1234567890123450, False),
        # only leads of the same length, leading zeros aside
        ("01234567890123456", "1.23457E+15", True),
        ("1000004000000000", "1E+15", True),
        ("999999999999999", "1.00000E+15", False),
        ("12345678901234567", "1.23457E+15", False),
    ],
)
def test_match_shortened_number_bounds(lead: str, pasted: object, matches: bool) -> None:
    [token] = split_pasted(pasted)  # type: ignore[arg-type]
    assert (ClientLeadIndex([lead]).match(token).lead_id == lead) is matches


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("\uff10\uff10\uff11\uff12\uff13",
         IdMatch("00123", "read \uff10\uff10\uff11\uff12\uff13 as lead 00123 (characters read in their plain form)")),
        ("bb-7k2m9qx", IdMatch("BB-7K2M9QX", "read bb-7k2m9qx as lead BB-7K2M9QX (letter case ignored)")),
        ("\uff42\uff42-7k2m9qx",
         IdMatch("BB-7K2M9QX", "read \uff42\uff42-7k2m9qx as lead BB-7K2M9QX (characters read in their plain form)")),
        ("\uff58-1", IdMatch(None, "\uff58-1 could be X-1 or x-1: paste the ID with its exact letter case")),
    ],
)
def test_match_ascii_ids_ignoring_case_and_width(pasted: str, expected: IdMatch) -> None:
    """The ASCII-only index folds only IDs with letters; an ID of digits is its own fold."""
    index = ClientLeadIndex(["00123", "BB-7K2M9QX", "4412345678901234", "X-1", "x-1"])
    assert index.match(pasted) == expected


def test_match_exact_text_wins_over_other_readings() -> None:
    index = ClientLeadIndex(["123", "000123", "1.23457E+15", "1234567890123456", "ab", "AB"])
    assert index.match("123") == IdMatch("123")
    assert index.match("1.23457E+15") == IdMatch("1.23457E+15")
    assert index.match("AB") == IdMatch("AB")


@pytest.mark.parametrize("pasted", ["1.5E+0", "1.05E+1", "1.234E+2"])
def test_match_scientific_notation_of_a_fraction_is_no_number(pasted: str) -> None:
    assert ClientLeadIndex(["1", "10", "123", "0001"]).match(pasted) == IdMatch(None)


def test_match_long_ambiguity_names_a_few_and_counts_the_rest() -> None:
    index = ClientLeadIndex(str(7000000000000000 + n) for n in range(1, 11))
    assert index.match("7E+15").note == (
        f"7E+15 could be 7000000000000001, 7000000000000002, 7000000000000003 or 7 more: {AS_TEXT}"
    )


def test_match_reads_a_str_like_one_pasted_token() -> None:
    index = ClientLeadIndex(["000123", "1234567890123456"])
    assert index.match("  '000123 ") == IdMatch("000123")
    assert index.match("1.23457E+15").lead_id == "1234567890123456"
    assert index.match("") == IdMatch(None)
    assert index.match(" '' ") == IdMatch(None)


def test_match_duplicate_lead_ids_are_one_lead() -> None:
    assert ClientLeadIndex(["A", "A"]).match("a") == IdMatch("A", "read a as lead A (letter case ignored)")


def test_match_empty_index() -> None:
    assert ClientLeadIndex([]).match("123") == IdMatch(None)


# --- ledger_key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("ABC", "abc"),
        (" 'Abc' ", "abc"),
        (PastedId("\uff21\uff22\uff23"), "abc"),
        ("Stra\u00dfe", "strasse"),
        ("1.23457E+15", "1.23457e+15"),
        (PastedId("1234570000000000", 6), "1234570000000000"),
        ("", ""),
    ],
)
def test_ledger_key(pasted: PastedId | str, expected: str) -> None:
    assert ledger_key(pasted) == expected


def test_ledger_key_recognises_a_repaste_in_other_case() -> None:
    [first] = split_pasted("XyZ-1")
    [again] = split_pasted(" 'xyz-1' ")
    assert ledger_key(first) == ledger_key(again)


# --- speed ------------------------------------------------------------------------------


def test_split_pasted_ten_thousand_ids_in_one_cell_is_fast() -> None:
    ids = [f"{n:08d}" for n in range(10_000)]
    cell = "\n".join(f"\u200f'{lead_id}\u200f, " for lead_id in ids * 3)
    started = perf_counter()
    assert texts(cell) == ids
    assert perf_counter() - started < 2


def test_index_of_a_hundred_thousand_leads_answers_fifty_thousand_pastes_fast() -> None:
    started = perf_counter()
    index = ClientLeadIndex(f"{n:010d}" for n in range(100_000))
    matches = [index.match(token) for n in range(0, 100_000, 2) for token in split_pasted(n)]
    assert perf_counter() - started < 10
    assert matches[21] == IdMatch("0000000042", "read 42 as lead 0000000042 (leading zeros restored)")


# --- properties -------------------------------------------------------------------------

ID_CHARACTERS = "abcXYZ0123456789-_#./\u00e9\u05e9\u05dc\U0001f600"
lead_ids = st.text(alphabet=ID_CHARACTERS, min_size=1, max_size=12)
separators = st.lists(
    st.sampled_from([",", ";", " ", "\t", "\n", "\r\n", "\u00a0", "\u200b", "\u3000", "\uff0c"]),
    min_size=1,
    max_size=3,
).map("".join)
blank = st.sampled_from(["", " ", "\n", "\t ", "\u00a0"])
wrappings = st.sampled_from(["{}", '"{}"', "'{}", "'{}'", '="{}"', "\u201c{}\u201d"])


@given(st.lists(lead_ids, max_size=20), st.data())
def test_split_pasted_returns_the_distinct_ids_in_order(ids: list[str], data: st.DataObject) -> None:
    cell = data.draw(blank)
    for position, lead_id in enumerate(ids):
        if position:
            cell += data.draw(separators)
        cell += data.draw(wrappings).format(lead_id)
    cell += data.draw(blank)

    first_of_each: dict[str, str] = {}
    for lead_id in ids:
        first_of_each.setdefault(lead_id.casefold(), lead_id)
    assert texts(cell) == list(first_of_each.values())


@given(
    st.integers(min_value=0, max_value=10**15 - 1),
    st.integers(min_value=0, max_value=6),
    st.lists(st.one_of(st.from_regex(r"0{0,3}[0-9]{1,15}", fullmatch=True), lead_ids)),
    st.booleans(),
)
def test_zero_padded_id_pasted_as_a_number_matches_its_lead(
    number: int, zeros: int, others: list[str], as_float: bool
) -> None:
    lead = "0" * zeros + str(number)
    others = [other for other in others if other.lstrip("0") != lead.lstrip("0")]
    [token] = split_pasted(float(number) if as_float else number)
    assert ClientLeadIndex([*others, lead]).match(token).lead_id == lead


def excel_display(digits: str, shown: int) -> str:
    """How a spreadsheet's General format shows a long number: half-up to `shown` digits."""
    with localcontext() as context:
        context.prec, context.rounding = shown, ROUND_HALF_UP
        return f"{+Decimal(digits):.{shown - 1}E}"


@given(
    st.from_regex(r"[1-9][0-9]{15,18}", fullmatch=True),
    st.sampled_from([6, 10, 15]),
    st.lists(lead_ids),
)
def test_long_id_shown_in_scientific_notation_matches_its_lead(lead: str, shown: int, others: list[str]) -> None:
    pasted = excel_display(lead, shown)
    assume(pasted.endswith(f"E+{len(lead) - 1}"))  # rounding up did not add a digit
    assert ClientLeadIndex([*others, lead]).match(pasted).lead_id == lead


@given(st.from_regex(r"[1-9][0-9]{15,18}", fullmatch=True), st.lists(lead_ids))
def test_long_id_cut_to_15_digits_by_excel_matches_its_lead(lead: str, others: list[str]) -> None:
    cut = int(lead[:15].ljust(len(lead), "0"))
    [token] = split_pasted(cut)
    assert ClientLeadIndex([*others, lead]).match(token).lead_id == lead


cell_values = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=" ,;'\"=+-@.eE0123456789\u200b\u00a0\u200f\x00"),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(timezone.utc)),
    st.times(),
)


@given(cell_values)
def test_split_pasted_never_raises_and_gives_clean_distinct_tokens(cell: object) -> None:
    tokens = split_pasted(cell)  # type: ignore[arg-type]
    assert all(token.text and token.text == token.text.strip() for token in tokens)
    assert len({ledger_key(token) for token in tokens}) == len(tokens)


digit_heavy_ids = st.one_of(
    lead_ids,
    st.from_regex(r"0{0,3}[0-9]{1,19}", fullmatch=True),
    st.from_regex(r"[A-Za-z]{1,3}", fullmatch=True),
)
pasted_values = st.one_of(
    cell_values,
    digit_heavy_ids,
    st.integers(min_value=0, max_value=10**19),
    st.builds(lambda number, shown: f"{number:.{shown}E}", st.integers(1, 10**19), st.integers(0, 14)),
)


@given(st.lists(digit_heavy_ids, max_size=30), pasted_values)
def test_match_only_ever_returns_a_lead_of_the_index(leads: list[str], pasted: object) -> None:
    index = ClientLeadIndex(leads)
    for token in split_pasted(pasted):  # type: ignore[arg-type]
        found = index.match(token)
        assert found.lead_id is None or found.lead_id in leads
        if found.lead_id is not None and found.note is None:
            assert found.lead_id == token.text  # only a literal match goes without a note
