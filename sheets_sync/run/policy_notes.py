"""Which return policy each client's returns tab shows, so a changed policy reaches it.

The policy is a note on the tab's ``Lead ID`` header (core.project.template). Notes are
never read back, so what each tab was last given is kept in ``.sheets-sync.policy-notes.json``
beside the config: a tab the engine has not given a note yet (a copy of ``init``'s
example, a tab the client made) or whose client's policy changed gets the note again. Lost,
the file costs one rewrite of each note.
"""

from __future__ import annotations

import json
from pathlib import Path

from sheets_sync.config import Location
from sheets_sync.core.cells import CellWrite, grid_cell
from sheets_sync.core.project.table import TableLayout
from sheets_sync.store.files import write_if_changed

POLICY_NOTES_FILE = ".sheets-sync.policy-notes.json"


class PolicyNotes:
    def __init__(self, base_dir: Path) -> None:
        self.path = base_dir / POLICY_NOTES_FILE
        try:
            shown = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            shown = {}
        self.shown: dict[str, str] = {key: note for key, note in shown.items() if isinstance(note, str)} \
            if isinstance(shown, dict) else {}
        self.planned: dict[str, str] = {}

    @staticmethod
    def key(location: Location, tab: str) -> str:
        return f"{location.excel or location.google}:{tab}"

    def header_write(self, location: Location, tab: str, grid, layout: TableLayout, note: str) -> list[CellWrite]:
        """The ``Lead ID`` header again, with ``note``, unless the tab already shows it; the
        tab shows ``note`` once :meth:`written` says its write landed."""
        key = self.key(location, tab)
        self.planned[key] = note
        if self.shown.get(key) == note:
            return []
        column = layout.column_of["Lead ID"]
        return [CellWrite(tab, 1, column, grid_cell(grid, 1, column), note=note)]

    def written(self, location: Location, tab: str) -> None:
        key = self.key(location, tab)
        if key in self.planned:
            self.shown[key] = self.planned[key]

    def save(self) -> None:
        try:
            write_if_changed(self.path, json.dumps(self.shown, indent=1, sort_keys=True).encode())
        except OSError:
            pass  # the notes are only written again next run
