"""One run at a time per workspace: a lock file beside a SQLite ledger, or, for a ledger in
PostgreSQL shared by several machines, a session advisory lock in that database, keyed on
the workspace's ledger (its database and schema)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

if TYPE_CHECKING:
    from sheets_sync.config import LedgerConfig

WAIT_SECONDS = 5


class RunLockedError(Exception):
    """Another run holds the workspace."""


def _busy(label: str) -> RunLockedError:
    return RunLockedError(f"Another sheets-sync run is using ledger {label}, so this run did nothing; "
                          "run again when it ends.")


@contextmanager
def workspace_lock(ledger: LedgerConfig) -> Iterator[None]:
    """Held for a whole run; a second run waits five seconds, then stops with one sentence.
    A PostgreSQL ledger that cannot be reached is a ledger error (exit 2)."""
    if ledger.url is not None:
        from sheets_sync.store.ledger_postgres import acquire_run_lock

        connection = acquire_run_lock(ledger, WAIT_SECONDS)
        if connection is None:
            raise _busy(ledger.label)
        try:
            yield
        finally:
            connection.close()  # the session ends: the server releases the lock
        return
    path = ledger.path
    lock = FileLock(path.with_name(f".{path.name}.sheets-sync.lock"), timeout=WAIT_SECONDS)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise _busy(str(path)) from None
    try:
        yield
    finally:
        lock.release()
