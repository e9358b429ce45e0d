"""The tracking workbook's layout: which weeks (``week_ends_on``, ``timezone``) and which
groups (``group_by``) its tabs show, and what happens when the config changes it (SPEC §3.1).

Every figure is recomputed from the ledger's moments for the new layout. The tabs of the old
layout are kept, renamed ``<title> (old)``, with the operator inputs typed into them: their
ad spend belongs to weeks or groups that no longer exist, so nothing is carried over and
nothing is counted twice. The ``Dashboard`` names the layout its figures are for; that line
is how a later run knows the layout changed, and it changes in the same write as the renames
(one Excel save, one Google batch), so a run killed half way leaves either layout whole.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sheets_sync.core.cells import Grid, TabRename
from sheets_sync.core.project.tracking import MAX_TITLE, is_tracking_tab, week_columns

OLD_SUFFIX = " (old)"
_OLD = re.compile(r" \(old(?: [0-9]+)?\)$")
_LINE = re.compile(r"Weeks end on [A-Z][a-z]+days \([^()]+\); one tab per .+")


def layout_line(week_end_weekday: int, timezone: str, group_by: Sequence[str]) -> str:
    """How the Dashboard names the layout, e.g. "Weeks end on Sundays (Europe/Berlin); one
    tab per vertical and country"."""
    fields = [field.replace("_", " ") for field in group_by]
    groups = " and ".join([", ".join(fields[:-1]), fields[-1]] if len(fields) > 1 else fields)
    return f"Weeks end on {date(2024, 1, 1 + week_end_weekday):%A}s ({timezone}); one tab per {groups}"


def is_old_tab(title: str) -> bool:
    """A tab of an earlier layout: ``… (old)`` or, after several changes, ``… (old 2)``."""
    return _OLD.search(title) is not None


def engine_tab(title: str, grid: Grid) -> bool:
    """A tracking tab of the current layout: laid out by the engine, not kept as old."""
    return is_tracking_tab(grid) and not is_old_tab(title)


@dataclass(frozen=True, slots=True)
class Relayout:
    """The tabs to keep as old, and the sentence a run says about it."""

    renames: tuple[TabRename, ...]
    message: str


def relayout(grids: Mapping[str, Grid], shown_line: str, wanted_line: str, week_end_weekday: int) -> Relayout | None:
    """The renames that keep the old layout's tabs, when the layout changed.

    ``shown_line`` is what the Dashboard says now. A workbook made before the Dashboard said
    it (blank) changed layout only if a tab's weeks end on another weekday."""
    tabs = {title: grid for title, grid in grids.items() if engine_tab(title, grid)}
    if not _LINE.fullmatch(shown_line):  # a person's stray typing there names no layout
        shown_line = ""
    if shown_line:
        changed = shown_line != wanted_line
    else:
        changed = any(week.weekday() != week_end_weekday for grid in tabs.values() for week in week_columns(grid))
    if not changed or not tabs:
        return None
    taken = set(grids)
    renames = []
    for title in sorted(tabs):
        new = old_title(title, taken)
        taken.add(new)
        renames.append(TabRename(title, new))
    named = ", ".join(f"'{rename.new}'" for rename in renames[:3]) + \
        (f" and {len(renames) - 3} more" if len(renames) > 3 else "")
    was = f"; it was: {shown_line}" if shown_line else ""
    message = (f"the tracking layout changed ({wanted_line}{was}): every figure was recomputed from the ledger; "
               f"the old tabs are kept as {named}, with what was typed in them, and are not counted on the "
               "Dashboard; type this layout's ad spend, impressions and clicks into the new tabs")
    return Relayout(tuple(renames), message)


def old_title(title: str, taken: Collection[str]) -> str:
    """``title (old)``, ``title (old 2)``, … : the first free one, within Excel's 31 characters."""
    folded = {name.casefold() for name in taken}
    number = 1
    while True:
        suffix = OLD_SUFFIX if number == 1 else f" (old {number})"
        candidate = title[: MAX_TITLE - len(suffix)].rstrip() + suffix
        if candidate.casefold() not in folded:
            return candidate
        number += 1
