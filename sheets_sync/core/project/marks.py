"""What the tracking tabs mark beside the numbers: the accrual rows and the cash row each
carry a colour, and a refund cell of an earlier week that was restated later says when and
by how much ("Restated 2024-03-03: +65.00 (2 leads)").

Pure, and only ever a decoration of writes :func:`~.tracking.plan_tracking_tab` already
planned: a mark is written with a cell's new value, never on its own, so a run whose
numbers are unchanged still writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from sheets_sync.core.cells import CellWrite, Grid, cell_as_date
from sheets_sync.core.money import ZERO
from sheets_sync.core.project.tracking import GroupKey, Refund, group_key
from sheets_sync.core.weeks import week_ending

ACCRUAL_LABELS = ("Refunded leads", "Refunds")
CASH_LABEL = "Refunds reported (cash view)"
AFTER_CLOSE_LABEL = "Refunds after close"
ACCRUAL_FILL = "DDEBF7"  # light blue: refunds by the week the lead was delivered
CASH_FILL = "FCE4D6"  # light orange: refunds by the week they were approved
RESTATED_FILL = "FFD966"  # gold: this week was restated after it ended
AFTER_CLOSE_FILL = "E4DFEC"  # light purple: money booked after the week was closed
LABEL_NOTES = {
    "Refunded leads": "Accrual: approved returns of the leads delivered in this week, whenever they were "
                      "approved. A gold cell was restated after its week ended; its note says when and by how much.",
    "Refunds": "Accrual: credits of the returns of the leads delivered in this week, whenever they were "
               "approved. A gold cell was restated after its week ended; its note says when and by how much.",
    CASH_LABEL: "Cash view: credits approved during this week, whatever week their lead came from. "
                "Compare with Refunds (accrual) above.",
    "Replaced leads": "Accrual: approved returns of the leads delivered in this week credited by a replacement "
                      "lead (counted in Refunded leads, not in the money rows).",
    AFTER_CLOSE_LABEL: "Money booked for this week's leads after the week was closed (sheets-sync close): the "
                       "closed rows stay as they were reported; Net revenue counts this row.",
}
ROW_FILLS = {CASH_LABEL: CASH_FILL, "Replaced leads": ACCRUAL_FILL, AFTER_CLOSE_LABEL: AFTER_CLOSE_FILL}
"""Rows coloured whole (label and week cells), without restatement notes on their weeks."""


def restatement_notes(refunds: Iterable[Refund], group_by: Sequence[str],
                      week_end_weekday: int) -> dict[GroupKey, dict[date, str]]:
    """Per group and lead week: the note of every refund approved after that week ended,
    one line per approval date, oldest first."""
    restated: dict[tuple[GroupKey, date], dict[date, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
    for refund in refunds:
        lead_week = week_ending(refund.lead.delivered_on, week_end_weekday)
        if refund.booked_on <= lead_week:
            continue  # approved within its own week: nothing was restated
        restated[(group_key(refund.lead, group_by), lead_week)][refund.booked_on].append(refund.credit)
    notes: dict[GroupKey, dict[date, str]] = defaultdict(dict)
    for (key, week), by_day in restated.items():
        notes[key][week] = "\n".join(
            f"Restated {day.isoformat()}: {sum(credits, ZERO):+,.2f} ({len(credits)} lead{'s' * (len(credits) != 1)})"
            for day, credits in sorted(by_day.items()))
    return dict(notes)


def mark_tracking_writes(writes: Sequence[CellWrite], grid: Grid, notes: dict[date, str],
                         cash_week: date) -> list[CellWrite]:
    """``writes`` of one tracking tab with the group colours and restatement notes added.

    A refund cell of a week before ``cash_week`` (the week of this run) that has a
    restatement note gets the note and the gold fill; other accrual cells get the accrual
    colour and lose any old note (a relayout can move a different week under a cell)."""
    label_of_row = {number: _key(cells[0]) for number, cells in enumerate(grid[1:], start=2) if cells}
    week_of_column = {column: cell_as_date(cell) for column, cell in enumerate(grid[0] if grid else [], start=1)}
    for write in writes:
        if write.col == 1 and write.row > 1:
            label_of_row[write.row] = _key(write.value)
        elif write.row == 1:
            week_of_column[write.col] = cell_as_date(write.value)
    accrual = {_key(label) for label in ACCRUAL_LABELS}
    whole_rows = {_key(label): fill for label, fill in ROW_FILLS.items()}
    marked = []
    for write in writes:
        label = label_of_row.get(write.row, "") if write.row > 1 else ""
        if write.col == 1 and (label in accrual or label in whole_rows):
            original = next(name for name in LABEL_NOTES if _key(name) == label)
            write = replace(write, fill=whole_rows.get(label, ACCRUAL_FILL), note=LABEL_NOTES[original])
        elif write.col > 1 and label in accrual:
            week = week_of_column.get(write.col)
            note = notes.get(week, "") if week is not None and week < cash_week else ""
            write = replace(write, fill=RESTATED_FILL if note else ACCRUAL_FILL, note=note)
        elif write.col > 1 and label in whole_rows:
            write = replace(write, fill=whole_rows[label])
        marked.append(write)
    return marked


def _key(value: object) -> str:
    return value.strip().casefold() if isinstance(value, str) else ""
