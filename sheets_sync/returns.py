"""Returns tabs, the Review tab and the audit log as pure projections of the ledger.

Reading: a tab's grid becomes pasted rows (columns found by header wherever they are).
Writing: from the ledger's state, every engine-owned cell is computed and compared with
what the tab holds; only differences become :class:`CellWrite`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .backends.base import (CellValue, CellWrite, Formula, Grid, TabSpec, cell_text, cells_equal, grid_cell,
                            storable_text)
from .ids import ClientLeadIndex, ledger_key, split_pasted
from .model import APPROVED, DUPLICATE, MIXED, NEEDS_REVIEW, UNKNOWN, LedgerEntry
from .money import ZERO

CLIENT_COLUMNS = ("Lead ID", "Reason", "Note")
ENGINE_COLUMNS = ("Status", "Detail", "Credit", "Week restated", "First seen")
REVIEW_TAB = "Review"
REVIEW_COLUMNS = ("Client", "Lead ID", "Reason", "Requested", "Why", "Decision", "Decided")
AUDIT_COLUMNS = ("Run", "Time", "Client", "Lead ID", "Status", "Rule", "Credit", "Week restated")
MONEY, DATE, DATE_TIME = "#,##0.00", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
RETURNS_FORMATS = {"Credit": MONEY, "Week restated": DATE, "First seen": DATE_TIME}
REVIEW_FORMATS = {"Requested": DATE_TIME, "Decided": DATE_TIME}
REVIEW_TAB_SPEC = TabSpec(REVIEW_TAB, column_widths=((1, 22), (2, 14), (3, 24), (4, 17), (5, 60), (6, 10), (7, 17)))


def returns_tab_spec(title: str) -> TabSpec:
    """A returns tab the engine creates: header frozen, room for the Detail sentences."""
    return TabSpec(title, column_widths=((1, 16), (2, 24), (3, 20), (4, 16), (5, 60), (6, 10), (7, 14), (8, 17)))


CELL_TEXT_LIMIT = 32_767
"""Characters (UTF-16 code units) an Excel cell holds; Google Sheets holds 50,000. Longer
text would be cut by the file (and rewritten by every run) or refused by Google."""


def _units(text: str) -> int:
    """Length as spreadsheets count it (UTF-16 code units: an emoji counts 2)."""
    return len(text) + sum(1 for char in text if char > "\uffff")


def cell_safe(value: CellValue) -> CellValue:
    """``value`` as every backend can store it exactly, so the engine's text never breaks a
    save and a run compares what it wants with what a cell can hold (no rewrite each run):
    characters no workbook can hold are dropped and text too long for a cell is cut,
    ending in an ellipsis. Anything but text is returned as it is."""
    if not isinstance(value, str) or isinstance(value, Formula):
        return value
    text = storable_text(value)
    if len(text) * 2 > CELL_TEXT_LIMIT and _units(text) > CELL_TEXT_LIMIT:
        text = _cut(text, CELL_TEXT_LIMIT - 1) + "\u2026"
    return text


def _cut(text: str, units: int) -> str:
    """The longest start of ``text`` within ``units`` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if char > "\uffff" else 1
        if used > units:
            return text[:index]
    return text


class TabError(ValueError):
    """A tab cannot be used as it is; the message says what to fix."""


def _header_key(value: CellValue) -> str:
    return str(value).strip().casefold() if value is not None else ""


@dataclass(frozen=True, slots=True)
class TableLayout:
    """Where each named column of a header-row table is, and which headers must be added."""

    column_of: Mapping[str, int]
    added_headers: tuple[tuple[int, str], ...]


def table_layout(grid: Grid, required: Sequence[str], engine: Sequence[str], tab: str) -> TableLayout:
    """Find ``required`` and ``engine`` headers in row 1 (trimmed, case-insensitive).

    A missing required header is an error; missing engine headers are placed right of every
    column in use, so a column the client fills without a header is never written into.
    """
    header = grid[0] if grid else []
    found: dict[str, int] = {}
    for index, cell in enumerate(header, start=1):
        found.setdefault(_header_key(cell), index)
    missing = [name for name in required if name.casefold() not in found]
    if missing:
        raise TabError(f"tab {tab!r} has no {', '.join(repr(name) for name in missing)} column in row 1")
    last = max((index for cells in grid for index, cell in enumerate(cells, start=1) if cell_text(cell)), default=0)
    column_of = {name: found[name.casefold()] for name in (*required, *engine) if name.casefold() in found}
    added = []
    for name in engine:
        if name not in column_of:
            last += 1
            column_of[name] = last
            added.append((last, name))
    return TableLayout(column_of, tuple(added))


@dataclass(frozen=True, slots=True)
class PastedToken:
    text: str
    """The ID as the client pasted it (cleaned), for messages."""
    key: str
    """The ledger's key: the lead log's ID when matched, else the normalised pasted text."""
    pasted_key: str
    """The normalised pasted text, whatever it matched: a lead pasted before the lead log
    listed it was first seen under this key."""
    lead_id: str | None
    note: str | None
    duplicate_of_row: int | None
    """The returns-tab row where this client first asked for the same lead, if another."""


@dataclass(frozen=True, slots=True)
class PastedRow:
    row: int
    reason: str
    tokens: tuple[PastedToken, ...]


def read_returns_rows(grid: Grid, layout: TableLayout, index: ClientLeadIndex) -> list[PastedRow]:
    """The non-blank rows of a returns tab, each pasted ID matched against the client's leads.

    The first row (in row order) that asks for a lead owns the request; later asks for the
    same lead are duplicates.
    """
    id_column = layout.column_of["Lead ID"]
    reason_column = layout.column_of["Reason"]
    first_row_of: dict[str, int] = {}
    rows = []
    for number in range(2, len(grid) + 1):
        pasted = grid_cell(grid, number, id_column)
        if cell_text(pasted) == "":
            continue
        tokens = []
        for token in split_pasted(pasted):
            match = index.match(token)
            pasted_key = ledger_key(token)
            key = match.lead_id if match.lead_id is not None else pasted_key
            owner = first_row_of.setdefault(key, number)
            already = owner if owner != number or any(t.key == key for t in tokens) else None
            tokens.append(PastedToken(token.text, key, pasted_key, match.lead_id, match.note, already))
        rows.append(PastedRow(number, cell_text(grid_cell(grid, number, reason_column)), tuple(tokens)))
    return rows


@dataclass(frozen=True, slots=True)
class TokenOutcome:
    status: str
    detail: str
    credit: Decimal | None
    week: date | None
    first_seen: datetime | None


def _local(moment: datetime | None) -> datetime | None:
    """Spreadsheets have no timezone: show local wall-clock time without seconds."""
    return moment.replace(tzinfo=None, second=0, microsecond=0) if moment else None


def token_outcome(token: PastedToken, current: LedgerEntry | None, first_seen: datetime | None) -> TokenOutcome:
    if token.duplicate_of_row is not None:
        return TokenOutcome(DUPLICATE, f"Already requested on row {token.duplicate_of_row}.", None, None,
                            _local(first_seen))
    if token.lead_id is None or current is None:
        note = f" ({token.note})" if token.note else ""
        return TokenOutcome(UNKNOWN, f"No lead {token.text} was delivered to you{note}.", None, None,
                            _local(first_seen))
    note = f" Read {token.text!r} as lead {token.lead_id}." if token.note else ""
    approved = current.status == APPROVED
    return TokenOutcome(current.status, current.detail + note, current.credit if approved else None,
                        current.lead_week if approved else None, _local(first_seen))


def row_cells(outcomes: Sequence[tuple[PastedToken, TokenOutcome]]) -> dict[str, CellValue]:
    """The engine columns of one returns row; several IDs share one status when they agree."""
    if not outcomes:
        return {"Status": UNKNOWN, "Detail": "No lead ID found in this cell.", "Credit": None,
                "Week restated": None, "First seen": None}
    statuses = {outcome.status for _, outcome in outcomes}
    if len(outcomes) == 1:
        detail = outcomes[0][1].detail
    else:
        detail = _each_outcome(outcomes)
    credits = [outcome.credit for _, outcome in outcomes if outcome.credit is not None]
    weeks = sorted({outcome.week for _, outcome in outcomes if outcome.week is not None})
    seen = [outcome.first_seen for _, outcome in outcomes if outcome.first_seen is not None]
    week_cell: CellValue = None
    if len(weeks) == 1:
        week_cell = weeks[0]
    elif weeks:
        week_cell = ", ".join(week.isoformat() for week in weeks)
    return {
        "Status": statuses.pop() if len(statuses) == 1 else MIXED,
        "Detail": detail,
        "Credit": sum(credits, ZERO) if credits else None,
        "Week restated": week_cell,
        "First seen": min(seen) if seen else None,
    }


def _each_outcome(outcomes: Sequence[tuple[PastedToken, TokenOutcome]]) -> str:
    """Each ID's outcome, as many as one cell holds; the rest are counted, not cut mid-word."""
    budget = CELL_TEXT_LIMIT - 200  # room for the closing note
    parts: list[str] = []
    used = 0
    for number, (token, outcome) in enumerate(outcomes):
        part = f"{token.text}: {outcome.status} - {outcome.detail.rstrip('.')}"
        used += _units(part) + 3
        if used > budget:
            parts.append(f"... and {len(outcomes) - number} more IDs than one cell can list: "
                         "paste fewer IDs per row to see each outcome")
            break
        parts.append(part)
    return " | ".join(parts)


def _diff(tab: str, grid: Grid, wanted: Mapping[tuple[int, int], CellValue],
          format_of_column: Mapping[int, str]) -> list[CellWrite]:
    safe = ((key, cell_safe(value)) for key, value in sorted(wanted.items()))
    return [CellWrite(tab, row, column, value, format_of_column.get(column) if row > 1 else None)
            for (row, column), value in safe
            if not cells_equal(value, grid_cell(grid, row, column))]


def _formats(layout: TableLayout, by_name: Mapping[str, str]) -> dict[int, str]:
    return {layout.column_of[name]: number_format for name, number_format in by_name.items()
            if name in layout.column_of}


def plan_returns_tab(tab: str, grid: Grid, layout: TableLayout, rows: Iterable[PastedRow],
                     current: Mapping[str, LedgerEntry], first_seen: Mapping[str, datetime]) -> list[CellWrite]:
    """Engine cells of one client's returns tab. ``current`` maps a lead ID to its latest
    ledger entry; ``first_seen`` maps a token key to its first sighting."""
    wanted: dict[tuple[int, int], CellValue] = {(1, column): name for column, name in layout.added_headers}
    listed = set()
    for pasted in rows:
        listed.add(pasted.row)
        outcomes = [(token, token_outcome(token, current.get(token.lead_id or ""), first_seen.get(token.key)))
                    for token in pasted.tokens]
        for name, value in row_cells(outcomes).items():
            wanted[(pasted.row, layout.column_of[name])] = value
    for number in range(2, len(grid) + 1):
        if number not in listed:
            for name in ENGINE_COLUMNS:
                wanted[(number, layout.column_of[name])] = None
    return _diff(tab, grid, wanted, _formats(layout, RETURNS_FORMATS))


@dataclass(frozen=True, slots=True)
class ReviewRow:
    row: int
    client: str
    lead_text: str
    decision: str
    """``Approve``, ``Reject`` or ``""`` as the operator typed it (normalised)."""


def read_review_rows(grid: Grid, layout: TableLayout) -> list[ReviewRow]:
    rows = []
    for number in range(2, len(grid) + 1):
        client = cell_text(grid_cell(grid, number, layout.column_of["Client"]))
        lead_text = cell_text(grid_cell(grid, number, layout.column_of["Lead ID"]))
        if not client and not lead_text:
            continue
        decision = cell_text(grid_cell(grid, number, layout.column_of["Decision"])).casefold()
        word = {"approve": "Approve", "approved": "Approve", "reject": "Reject", "rejected": "Reject"}.get(decision, "")
        rows.append(ReviewRow(number, client, lead_text, word))
    return rows


@dataclass(frozen=True, slots=True)
class ReviewLine:
    """What the engine shows on one Review row."""

    client: str
    lead_id: str
    reason: str | None
    requested: datetime | None
    why: str
    decided: datetime | None


def plan_review_tab(grid: Grid, layout: TableLayout,
                    lines: Sequence[tuple[int | None, ReviewLine]]) -> list[CellWrite]:
    """Each line goes to its row; lines without one are appended at the bottom, in order."""
    wanted: dict[tuple[int, int], CellValue] = {(1, column): name for column, name in layout.added_headers}
    next_row = max(len(grid), 1) + 1
    for row, line in lines:
        if row is None:
            row, next_row = next_row, next_row + 1
            wanted[(row, layout.column_of["Client"])] = line.client
            wanted[(row, layout.column_of["Lead ID"])] = line.lead_id
        if line.reason is not None:
            wanted[(row, layout.column_of["Reason"])] = line.reason
        if line.requested is not None:
            wanted[(row, layout.column_of["Requested"])] = _local(line.requested)
        wanted[(row, layout.column_of["Why"])] = line.why
        wanted[(row, layout.column_of["Decided"])] = _local(line.decided)
    return _diff(REVIEW_TAB, grid, wanted, _formats(layout, REVIEW_FORMATS))


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters that make a spreadsheet program read a CSV cell, or a text cell a
person re-enters, as a formula (OWASP "CSV injection"; the full-width forms too)."""


def csv_safe(text: str) -> str:
    """Text for a CSV cell that a spreadsheet program opens as the same text, never as a
    formula: text starting with a formula trigger gets a leading apostrophe (OWASP)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def audit_rows(entries: Sequence[LedgerEntry], already: int) -> list[list[CellValue]]:
    """Audit log rows for the ledger entries not yet in the log (the log holds ``already``)."""
    return [
        [entry.run_id, _local(entry.decided_at), entry.client, entry.lead_id, entry.status, entry.rule,
         entry.credit if entry.status == APPROVED else None,
         entry.lead_week if entry.status == APPROVED else None]
        for entry in entries[already:]
    ]


def needs_review(entry: LedgerEntry) -> bool:
    return entry.kind == "decision" and entry.status == NEEDS_REVIEW
