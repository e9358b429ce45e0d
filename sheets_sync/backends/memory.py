"""A workbook held in memory: the engine's tests use it where a file or HTTP adds nothing
(as httpx ships ``MockTransport``). It keeps every contract of
:class:`~sheets_sync.backends.base.Workbook` that the engine relies on, and records each
write so that a test can see what a run sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sheets_sync.backends.base import Workbook, WorkbookError
from sheets_sync.core.cells import CellValue, CellWrite, Grid, LineChart, TabRename, TabSpec, split_tab_changes


class MemoryWorkbook:
    """Tabs as grids of values. ``writes`` lists each non-empty :meth:`write` call's cells."""

    def __init__(self, label: str = "memory", tabs: dict[str, Grid] | None = None) -> None:
        self.label = label
        self.tabs: dict[str, Grid] = {title: [list(row) for row in grid] for title, grid in (tabs or {}).items()}
        self.specs: dict[str, TabSpec] = {}
        self.charts: dict[str, list[LineChart]] = {}
        self.writes: list[list[CellWrite]] = []

    def tab_titles(self) -> list[str]:
        return list(self.tabs)

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        return {title: [list(row) for row in self.tabs[title]] for title in tabs if title in self.tabs}

    def write(self, writes: Sequence[CellWrite], new_tabs: Sequence[str | TabSpec | TabRename] = (),
              charts: Sequence[LineChart] = ()) -> None:
        if not writes and not new_tabs and not charts:
            return
        renames, specs = split_tab_changes(new_tabs)
        for rename in renames:
            if rename.old not in self.tabs or rename.new in self.tabs:
                continue  # done already, as the Excel and Google backends take it
            self.tabs = {rename.new if title == rename.old else title: grid for title, grid in self.tabs.items()}
            for held in (self.specs, self.charts):
                if rename.old in held:
                    held[rename.new] = held.pop(rename.old)
        for spec in specs:
            if spec.title not in self.tabs:
                self.tabs[spec.title] = []
                self.specs[spec.title] = spec
        missing = {write.tab for write in writes} - set(self.tabs)
        if missing:
            raise WorkbookError(f"{self.label} has no tab named {sorted(missing)[0]!r}.")
        for tab in {chart.tab for chart in charts}:
            self.charts[tab] = [chart for chart in charts if chart.tab == tab]
        for write in writes:
            self._set(self.tabs[write.tab], write.row, write.col, write.value)
        self.writes.append(list(writes))

    def cell(self, tab: str, row: int, col: int) -> CellValue:
        """The value at 1-based (row, col) of ``tab``; ``None`` outside what it holds."""
        grid = self.tabs[tab]
        return grid[row - 1][col - 1] if row <= len(grid) and col <= len(grid[row - 1]) else None

    @staticmethod
    def _set(grid: Grid, row: int, col: int, value: CellValue) -> None:
        while len(grid) < row:
            grid.append([])
        cells = grid[row - 1]
        cells.extend([None] * (col - len(cells)))
        cells[col - 1] = None if value == "" else value


def memory_opener(workbooks: dict[Path | str, MemoryWorkbook]) -> Callable[[Path | None, str | None, bool], Workbook]:
    """An opener for :func:`~sheets_sync.run.sync.run_sync` that hands out ``workbooks`` by
    the Excel path or Google ID the config names; a workbook to create that is not there
    yet is made empty, as a real backend would."""
    def open_memory(excel: Path | None, google: str | None, create: bool) -> Workbook:
        key = excel if excel is not None else google
        if key not in workbooks:
            if not create:
                raise WorkbookError(f"{key} does not exist.")
            workbooks[key] = MemoryWorkbook(str(key))
        return workbooks[key]
    return open_memory
