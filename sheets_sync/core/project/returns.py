"""A client's returns tab as a pure projection of the ledger.

Reading: a tab's grid becomes pasted rows (columns found by header wherever they are).
Writing: from the ledger's state, every engine-owned cell is computed and compared with
what the tab holds; only differences become :class:`CellWrite`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sheets_sync.core.cells import CellValue, CellWrite, Grid, TabSpec, cell_text, grid_cell
from sheets_sync.core.ids import ClientLeadIndex, ledger_key, split_pasted
from sheets_sync.core.model import APPROVED, DUPLICATE, MIXED, UNKNOWN, LedgerEntry
from sheets_sync.core.money import ZERO
from sheets_sync.core.project.table import (
    CELL_TEXT_LIMIT,
    DATE,
    DATE_TIME,
    MONEY,
    TableLayout,
    column_formats,
    diff_cells,
    local_moment,
    text_units,
)
from sheets_sync.core.weeks import Calendar

CLIENT_COLUMNS = ("Lead ID", "Reason", "Note")
ENGINE_COLUMNS = ("Status", "Detail", "Credit", "Week restated", "First seen")
RETURNS_FORMATS = {"Credit": MONEY, "Week restated": DATE, "First seen": DATE_TIME}


HEADER_FILL = "D9D9D9"


def returns_tab_spec(title: str) -> TabSpec:
    """A returns tab the engine creates: bold header, frozen; ``Lead ID`` as left-aligned
    text (a typed ``000123`` keeps its zeros); ``Reason``, ``Note`` and ``Detail`` wrap, so
    a 190-character ``Detail`` reads whole in three lines; printed landscape, one page wide."""
    columns = (*CLIENT_COLUMNS, *ENGINE_COLUMNS)
    column_of = {name: column for column, name in enumerate(columns, start=1)}
    return TabSpec(title, column_widths=((1, 16), (2, 22), (3, 20), (4, 15), (5, 66), (6, 10), (7, 14), (8, 17)),
                   header_fill=HEADER_FILL, header_columns=len(columns),
                   wrap_columns=(column_of["Reason"], column_of["Note"], column_of["Detail"]),
                   text_columns=(column_of["Lead ID"],))


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


def token_outcome(token: PastedToken, current: LedgerEntry | None, credited: Decimal, first_seen: datetime | None,
                  calendar: Calendar) -> TokenOutcome:
    """What a client's row shows for one pasted ID: ``current`` is the sale's latest entry,
    ``credited`` what the client was credited for it in all (a corrected price included);
    the week its refund restated is the sale's week under the layout of the day, worked out
    from its delivery moment."""
    if token.duplicate_of_row is not None:
        return TokenOutcome(DUPLICATE, f"Already requested on row {token.duplicate_of_row}.", None, None,
                            local_moment(first_seen))
    if token.lead_id is None or current is None:
        note = f" ({token.note})" if token.note else ""
        return TokenOutcome(UNKNOWN, f"No lead {token.text} was delivered to you{note}.", None, None,
                            local_moment(first_seen))
    note = f" Read {token.text!r} as lead {token.lead_id}." if token.note else ""
    approved = current.status == APPROVED
    return TokenOutcome(current.status, current.detail + note, credited if approved else None,
                        calendar.week(current.delivered_at) if approved else None, local_moment(first_seen))


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
        detail = outcome.detail.rstrip(".")
        part = f"{token.text}: {detail if detail.startswith(outcome.status) else f'{outcome.status} - {detail}'}"
        used += text_units(part) + 3
        if used > budget:
            parts.append(f"... and {len(outcomes) - number} more IDs than one cell can list: "
                         "paste fewer IDs per row to see each outcome")
            break
        parts.append(part)
    return " | ".join(parts)


def plan_returns_tab(tab: str, grid: Grid, layout: TableLayout, rows: Iterable[PastedRow],
                     current: Mapping[str, LedgerEntry], credited: Mapping[str, Decimal],
                     first_seen: Mapping[str, datetime], calendar: Calendar) -> list[CellWrite]:
    """Engine cells of one client's returns tab. ``current`` maps a lead ID to its latest
    ledger entry, ``credited`` to what was credited for it in all; ``first_seen`` maps a
    token key to its first sighting."""
    wanted: dict[tuple[int, int], CellValue] = {(1, column): name for column, name in layout.added_headers}
    listed = set()
    for pasted in rows:
        listed.add(pasted.row)
        outcomes = [(token, token_outcome(token, current.get(token.lead_id or ""),
                                          credited.get(token.lead_id or "", ZERO), first_seen.get(token.key), calendar))
                    for token in pasted.tokens]
        for name, value in row_cells(outcomes).items():
            wanted[(pasted.row, layout.column_of[name])] = value
    for number in range(2, len(grid) + 1):
        if number not in listed:
            for name in ENGINE_COLUMNS:
                wanted[(number, layout.column_of[name])] = None
    return diff_cells(tab, grid, wanted, column_formats(layout, RETURNS_FORMATS))


