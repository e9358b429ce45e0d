"""Every speed trick of a run, in one place: what each buys is measured in ``bench/README.md``.

- the garbage collector told to leave a run's millions of long-lived objects alone;
- the lead log parsed on a second thread while the returns tabs are read (python-calamine
  parses without holding the interpreter);
- Excel workbooks saved by forked worker processes while the run plans the next one
  (``backends/excel/saves.py``).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import TypeVar

from sheets_sync import faults
from sheets_sync.backends.base import Workbook
from sheets_sync.backends.excel.saves import prepare_saves
from sheets_sync.backends.excel.workbook import ExcelWorkbook
from sheets_sync.core.cells import CellWrite

_Result = TypeVar("_Result")


@contextmanager
def rare_garbage_collection() -> Iterator[None]:
    """A run makes millions of small objects that live until it ends (columns, grids, the
    ledger); Python's collector would scan them again and again. Objects made before the
    run are left out of its scans and young ones are collected less often, until it ends."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def started_beside(work: Callable[[], _Result] | None) -> Iterator[Callable[[], _Result] | None]:
    """``work`` started on a second thread; the context gives a function that waits for its
    result (``None`` when there is no work to start)."""
    if work is None:
        yield None
        return
    with ThreadPoolExecutor(1) as thread:
        yield thread.submit(work).result


def save_in_workers(saving: ExitStack, plans: Sequence[tuple[Workbook, list[CellWrite], list, list]]) -> None:
    """Let worker processes load and save the Excel workbooks among ``plans`` while this
    process goes on (``prepare_saves``): on a machine with several cores the saves, most of
    a run's time, then run side by side. ``saving`` shuts the workers down when the
    workbooks are written."""
    # A fault armed in a save must be reached in this process (faults.py).
    if (os.cpu_count() or 1) < 2 or faults.armed("excel.save.partial"):
        return
    pool = prepare_saves([plan for plan in plans if isinstance(plan[0], ExcelWorkbook)])
    if pool is not None:
        saving.enter_context(pool)
