"""Excel saves in worker processes, beside the engine's planning (a speed trick: see
``sheets_sync/run/speed.py`` for when a run uses it)."""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from openpyxl import Workbook as OpenpyxlWorkbook

from sheets_sync.backends.excel.files import FileStamp, file_stamp
from sheets_sync.backends.excel.patch import patchable, patched_members, write_archive
from sheets_sync.backends.excel.workbook import ExcelWorkbook, apply_writes, openpyxl_load, save_book
from sheets_sync.core.cells import CellWrite, LineChart, TabRename, TabSpec
from sheets_sync.store.files import written_copy

_PR_SET_PDEATHSIG = 1


PreparedJob = tuple[ExcelWorkbook, Sequence[CellWrite], Sequence[str | TabSpec | TabRename], Sequence[LineChart]]
_JOBS_FOR_WORKERS: list[tuple[Path, FileStamp | None, list[CellWrite], list[str | TabSpec | TabRename], list[LineChart]]] = []


def prepare_saves(jobs: Sequence[PreparedJob]) -> ProcessPoolExecutor | None:
    """Start applying each job's writes to its workbook and saving the result to a temporary
    copy, in worker processes (one per core, on Linux; elsewhere ``None`` and nothing starts),
    for a later :meth:`ExcelWorkbook.write` of the very same cells to finish by renaming the
    copy over the workbook; that write still makes every check (open, read-only, saved
    meanwhile) right before the rename. Loading and saving are most of a write's time; this
    way they run beside the engine. The caller shuts the pool down once the writes are done.

    The workers are forked, all at the first job (what ``ProcessPoolExecutor`` does with a
    fork context): they start at once, with the engine imported and the jobs in memory,
    never pickled (a new tracking workbook's 80,000 cells took 0.8 s to pickle and unpickle).
    The kernel ends a worker the moment the run that started it ends, even a killed one.
    """
    jobs = [job for job in jobs if job[0].preparable(*job[1:])]
    if sys.platform != "linux" or not jobs:
        return None
    _JOBS_FOR_WORKERS[:] = [(workbook.path, workbook._stamp, list(writes), list(new_tabs), list(charts))
                            for workbook, writes, new_tabs, charts in jobs]
    pool = ProcessPoolExecutor(min(os.cpu_count() or 1, len(jobs)), mp_context=multiprocessing.get_context("fork"),
                               initializer=_end_with_parent, initargs=(os.getpid(),))
    for number, (workbook, *job) in enumerate(jobs):
        workbook._prepared = tuple(map(list, job)), pool.submit(_save_job_copy, number)
    return pool


def _save_job_copy(number: int) -> Path | None:
    """In a worker: job ``number`` of :func:`prepare_saves` (a worker forked before it was
    listed, which the pool does not do, fails it; the run then saves in-process)."""
    return save_prepared_copy(*_JOBS_FOR_WORKERS[number])


def _end_with_parent(parent: int) -> None:
    gc.disable()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before this worker got here
        os._exit(1)


def save_prepared_copy(path: Path, stamp: FileStamp, writes: list[CellWrite], new_tabs: list[str | TabSpec | TabRename],
                       charts: list[LineChart]) -> Path | None:
    """In a worker process (:func:`prepare_saves`): the workbook at ``path`` with
    ``writes`` applied (into its XML where excel/patch.py can), saved to a temporary file
    beside it; ``None`` if the file is no longer the one the run read (``stamp``). A copy
    left by a killed run is removed by the next run that opens the workbook."""
    if file_stamp(path) != stamp:
        return None
    if stamp is not None and not new_tabs and not charts and patchable(writes):
        with zipfile.ZipFile(path) as archive:
            members = patched_members(archive, writes)
            if members is not None:
                return written_copy(path, lambda target: write_archive(archive, members, target))
    if stamp is None:  # a workbook to create
        book = OpenpyxlWorkbook()
        book.remove(book.active)
    else:
        book = openpyxl_load(path)
    apply_writes(book, writes, new_tabs, charts)
    return written_copy(path, lambda target: save_book(book, target))
