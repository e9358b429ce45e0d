"""One run at a time per workspace: a lock file beside the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class RunLockedError(Exception):
    """Another run holds the workspace."""


@contextmanager
def workspace_lock(ledger: Path) -> Iterator[None]:
    """Held for a whole run; a second run waits five seconds, then stops with one sentence."""
    lock = FileLock(ledger.with_name(f".{ledger.name}.sheets-sync.lock"), timeout=5)
    try:
        ledger.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise RunLockedError(f"Another sheets-sync run is using ledger {ledger}; this run did nothing. "
                             "Try again when it ends.") from None
    try:
        yield
    finally:
        lock.release()
