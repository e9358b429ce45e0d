"""Failure injection: named checkpoints in the real code, armed by a documented setting.

Like dlt's dummy destination, this is a setting of the real component, not a monkeypatch:
a sync run passes named checkpoints (one-line calls in ``run/sync.py``, ``store/ledger_sqlite.py``, the
Excel backend and the audit writer), and two environment variables arm them:

``SHEETS_SYNC_KILL_AT=<point>[#n]``
    The process kills itself with SIGKILL the n-th time (default: the first) it reaches
    ``<point>``: no ``finally`` block, no ``atexit``, no flush -- a crash, a power cut as far
    as this process is concerned, or ``kill -9`` from a scheduler's timeout.
``SHEETS_SYNC_PAUSE_AT=<point>[#n][=<seconds>]``
    The process sleeps there (default 5 seconds), holding whatever it holds, after writing
    ``sheets-sync: paused at <point>#<n> for <seconds>s`` on stderr, so a test (or a person)
    can race a second run, or change a workbook, at exactly that moment.

Both take several settings separated by commas. An unknown point name is refused with the
list of known ones, so a typo cannot silently test nothing. Unset, a checkpoint costs one
dictionary look-up.

In-process callers (tests) can hook a checkpoint instead::

    with faults.at("excel.before_replace", lambda path: change(path)):
        run_sync(config)

The checkpoints, in the order a run reaches them, are :data:`POINTS`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

KILL_ENV = "SHEETS_SYNC_KILL_AT"
PAUSE_ENV = "SHEETS_SYNC_PAUSE_AT"
DEFAULT_PAUSE_SECONDS = 5.0

POINTS: dict[str, str] = {
    "run.locked": "the run holds the workspace lock (nothing read yet)",
    "read.leads": "the lead log was read",
    "excel.loaded": "an Excel workbook was loaded (each workbook, in reading order)",
    "read.tracking": "the tracking workbook was read",
    "read.returns": "a client's returns tab was read (each client, in config order)",
    "decided": "every request is decided; nothing is recorded yet",
    "ledger.before_commit": "the run's ledger entries are inserted; the transaction is not committed",
    "ledger.committed": "the ledger commit is durable (the run's commit point)",
    "write.workbook": "a workbook with changes is about to be written (returns workbooks in config order, "
                      "then the tracking workbook)",
    "excel.save.partial": "part of a workbook's temporary copy is on disk (mid-save)",
    "excel.before_replace": "a workbook's temporary copy is complete and fsynced, not yet renamed over it",
    "excel.replaced": "a workbook was replaced by its new copy; the directory is not yet synced",
    "audit.before_append": "audit.csv is about to be appended to",
    "audit.partial": "half of the new audit.csv bytes are written",
    "audit.appended": "audit.csv is appended and fsynced",
    "run.done": "everything is written; the locks are not yet released",
    "statement.written": "`statement` replaced one client's statement file (each client, in config order)",
}


class FaultSettingError(ValueError):
    """``SHEETS_SYNC_KILL_AT`` or ``SHEETS_SYNC_PAUSE_AT`` is malformed; the message says how."""


@dataclass(frozen=True)
class _Setting:
    action: str  # "kill" or "pause"
    point: str
    occurrence: int
    seconds: float = 0.0


def _parse(variable: str, action: str, text: str) -> list[_Setting]:
    settings = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        spec, _, seconds = item.partition("=") if action == "pause" else (item, "", "")
        point, _, number = spec.partition("#")
        if point not in POINTS:
            raise FaultSettingError(f"{variable}={text!r} names no checkpoint {point!r}; "
                             f"known checkpoints: {', '.join(POINTS)}.")
        try:
            occurrence = int(number) if number else 1
            pause = float(seconds) if seconds else DEFAULT_PAUSE_SECONDS
        except ValueError:
            raise FaultSettingError(f"{variable}={text!r}: write <point>[#n]{'[=seconds]' if action == 'pause' else ''}, "
                             "e.g. ledger.committed#1.") from None
        if occurrence < 1:
            raise FaultSettingError(f"{variable}={text!r}: occurrences count from 1.")
        settings.append(_Setting(action, point, occurrence, pause))
    return settings


class _Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: dict[str, list[_Setting]] | None = None
        self._hooks: dict[str, list[Callable[..., None]]] = {}
        self.counts: Counter[str] = Counter()

    def _armed(self) -> dict[str, list[_Setting]]:
        if self._settings is None:
            settings = (_parse(KILL_ENV, "kill", os.environ.get(KILL_ENV, ""))
                        + _parse(PAUSE_ENV, "pause", os.environ.get(PAUSE_ENV, "")))
            armed: dict[str, list[_Setting]] = {}
            for setting in settings:
                armed.setdefault(setting.point, []).append(setting)
            self._settings = armed
        return self._settings

    def armed(self, point: str) -> bool:
        return point in self._armed() or point in self._hooks

    def checkpoint(self, point: str, **context: Any) -> None:
        settings = self._armed()
        if point not in settings and point not in self._hooks:
            return
        with self._lock:
            self.counts[point] += 1
            reached = self.counts[point]
            hooks = list(self._hooks.get(point, ()))
        for hook in hooks:
            hook(**context)
        for setting in settings.get(point, ()):
            if setting.occurrence != reached:
                continue
            if setting.action == "pause":
                sys.stderr.write(f"sheets-sync: paused at {point}#{reached} for {setting.seconds:g}s\n")
                sys.stderr.flush()
                time.sleep(setting.seconds)
            else:
                os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def at(self, point: str, hook: Callable[..., None]) -> Iterator[None]:
        if point not in POINTS:
            raise ValueError(f"no checkpoint {point!r}; known checkpoints: {', '.join(POINTS)}.")
        with self._lock:
            self._hooks.setdefault(point, []).append(hook)
        try:
            yield
        finally:
            with self._lock:
                self._hooks[point].remove(hook)
                if not self._hooks[point]:
                    del self._hooks[point]

    def reset(self) -> None:
        """Forget counts and re-read the environment (for tests that change it)."""
        with self._lock:
            self._settings = None
            self.counts.clear()


_FAULTS = _Faults()


def checkpoint(point: str, **context: Any) -> None:
    """Mark that a run reached ``point`` (one of :data:`POINTS`); a no-op unless armed.

    ``context`` (e.g. ``path=``) is handed to in-process hooks registered with :func:`at`.
    """
    _FAULTS.checkpoint(point, **context)


def armed(point: str) -> bool:
    """Whether ``point`` is armed (by the environment or a hook)."""
    return _FAULTS.armed(point)


def at(point: str, hook: Callable[..., None]):
    """Context manager: call ``hook(**context)`` each time a run reaches ``point`` in this process."""
    return _FAULTS.at(point, hook)


def reset() -> None:
    _FAULTS.reset()


class PartialWriteWatch:
    """A binary file wrapper that reaches ``point`` once, after the first ``after`` bytes.

    Used for saves that the injected fault should interrupt mid-way; only wrapped when armed.
    """

    def __init__(self, handle, point: str, after: int = 2048, **context: Any) -> None:
        self._handle = handle
        self._point = point
        self._after = after
        self._context = context
        self._written = 0
        self._reached = False

    def write(self, data) -> int:
        count = self._handle.write(data)
        self._written += len(data)
        if not self._reached and self._written >= self._after:
            self._reached = True
            self._handle.flush()
            os.fsync(self._handle.fileno())
            checkpoint(self._point, **self._context)
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)
