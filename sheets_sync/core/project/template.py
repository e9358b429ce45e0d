"""The returns tab a client is given: what the engine draws when it creates a client's
returns tab (a missing tab on the first sync), and what ``sheets-sync init`` ships as
``returns.xlsx`` (built by :mod:`.starter` from the same functions).

- row 1 is the header, frozen;
- ``Reason`` offers the client's reasons as a dropdown: the policy's returnable reasons,
  then the outcome codes, in plain words ("Wrong number"); any other text is still accepted
  and read as before (aliases, or review);
- the engine columns (``Status`` … ``First seen``) are read-only: Excel protects the sheet
  (no password) with the client's columns unlocked, Google protects those columns so that
  only the service account edits them; their headers are grey, the client's green;
- ``Status`` is coloured: Approved green, Rejected red, Needs review amber;
- the client's return policy (window, reasons, credit, cap) is a note on the ``Lead ID``
  header cell. A note and not a block of text beside the table, because anything in the
  grid beside the table is data to every program that reads the tab as a table (pandas,
  openpyxl's ``max_column``, a client's own import) and would move when a client sorts the
  sheet; a note changes no cell, travels with its column, and shows on hover in Excel,
  LibreOffice and Google Sheets. Notes are never read back, so the note shows the policy
  as it was when the tab was made.

Everything here is a :class:`~.backends.base.TabSpec` and :class:`~.backends.base.CellWrite`
list, so the Excel and Google backends draw it the same way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sheets_sync.core.cells import CellWrite, ColorRule, TabSpec
from sheets_sync.core.model import APPROVED, NEEDS_REVIEW, REJECTED
from sheets_sync.core.project.returns import CLIENT_COLUMNS, ENGINE_COLUMNS, returns_tab_spec
from sheets_sync.core.reasons import OUTCOME_REASONS, REASON_CODES, reason_label

if TYPE_CHECKING:  # the config is read by the I/O layer and handed in
    from sheets_sync.config import Policy

CLIENT_HEADER_FILL = "E2EFDA"  # light green: yours to fill in
ENGINE_HEADER_FILL = "D9D9D9"  # grey: filled in by sheets-sync
STATUS_COLORS = (
    ColorRule(0, APPROVED, fill="C6EFCE", font="006100"),
    ColorRule(0, REJECTED, fill="FFC7CE", font="9C0006"),
    ColorRule(0, NEEDS_REVIEW, fill="FFEB9C", font="9C5700"),
)
CREDIT_WORDS = {
    "wallet": "wallet credit of the lead's price",
    "invoice": "a credit note on your invoice for the lead's price",
    "replacement": "a replacement lead",
}
ENGINE_HEADER_NOTE = "Filled in by sheets-sync. Edits here are overwritten by the next run."


def reason_choices(policy: Policy) -> tuple[str, ...]:
    """The dropdown of a client's ``Reason`` column: its returnable reasons, then the outcome
    codes (not returnable unless its policy says so, but honest answers to record)."""
    codes = dict.fromkeys([*policy.returnable_reasons, *OUTCOME_REASONS])
    return tuple(reason_label(code) for code in codes)


def policy_note(policy: Policy, currency: str) -> str:
    """The client's return policy in plain sentences."""
    if not policy.returns_enabled:
        return "Return policy\nReturns are not accepted at the moment; requests pasted here are answered Rejected."
    returnable = [reason_label(code) for code in policy.returnable_reasons]
    others = [reason_label(code) for code in REASON_CODES if code not in policy.returnable_reasons]
    lines = [
        "Return policy",
        f"- Window: {policy.window_days} days from delivery to the day sheets-sync first sees your request.",
        "- Returnable reasons: " + (", ".join(returnable) if returnable else "none") + ".",
    ]
    if others:
        lines.append("- Not returnable: " + ", ".join(others) + ".")
    lines.append("- A reason is required." if policy.require_reason else "- A reason is optional.")
    lines.append(f"- Credit: {CREDIT_WORDS[policy.credit]} ({currency}).")
    lines.append(f"- Above {float(policy.max_return_rate) * 100:g}% of your leads of the last "
                 f"{policy.cap_window_days} days returned, a person reviews each further request.")
    lines.append("Paste lead IDs under Lead ID, pick or type a Reason; the grey columns are ours.")
    return "\n".join(lines)


def new_returns_tab(title: str, policy: Policy, currency: str) -> tuple[TabSpec, list[CellWrite]]:
    """The spec of a client's new returns tab and its header row (the client's columns, then
    the engine's, as a missing tab is laid out), decorated."""
    columns = (*CLIENT_COLUMNS, *ENGINE_COLUMNS)
    column_of = {name: column for column, name in enumerate(columns, start=1)}
    spec = replace(
        returns_tab_spec(title),
        dropdowns=((column_of["Reason"], reason_choices(policy)),),
        read_only_columns=tuple(column_of[name] for name in ENGINE_COLUMNS),
        color_rules=tuple(replace(rule, column=column_of["Status"]) for rule in STATUS_COLORS),
    )
    notes = {"Lead ID": policy_note(policy, currency),
             "Reason": "Pick a reason from the list, or type your own words.",
             **{name: ENGINE_HEADER_NOTE for name in ENGINE_COLUMNS}}
    header = [CellWrite(title, 1, column, name, note=notes.get(name),
                        fill=CLIENT_HEADER_FILL if name in CLIENT_COLUMNS else ENGINE_HEADER_FILL)
              for name, column in column_of.items()]
    return spec, header
