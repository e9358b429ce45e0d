"""How python-calamine fails on a cell it cannot convert, and keeping that off the terminal.

On some cells (a huge negative number formatted as a date) python-calamine's Rust code
panics: Python gets a ``PanicException``, a ``BaseException`` that cannot be imported, and
Rust has already printed the panic (with a backtrace under ``RUST_BACKTRACE``) straight to
file descriptor 2. The callers turn the panic into one sentence or read the file another
way, so that print is held back; anything else written meanwhile is passed on.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO


def calamine_panicked(error: BaseException) -> bool:
    """Whether ``error`` is a python-calamine panic."""
    return type(error).__name__ == "PanicException"


class _HeldBack:
    """File descriptor 2 pointed at a temporary file while any thread runs python-calamine
    (a run reads returns tabs while it parses the lead log): the first to start points it
    there, the last to finish points it back, and passes on what was written unless one of
    them panicked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._held: BinaryIO | None = None
        self._terminal = -1
        self._panicked = False

    def enter(self) -> None:
        with self._lock:
            if self._users == 0:
                sys.stderr.flush()
                self._held, self._panicked = tempfile.TemporaryFile(), False
                self._terminal = os.dup(2)
                os.dup2(self._held.fileno(), 2)
            self._users += 1

    def exit(self, panicked: bool) -> None:
        with self._lock:
            self._panicked |= panicked
            self._users -= 1
            if self._users == 0 and self._held is not None:
                os.dup2(self._terminal, 2)
                os.close(self._terminal)
                if not self._panicked and self._held.tell():
                    self._held.seek(0)
                    os.write(2, self._held.read())
                self._held.close()
                self._held = None


_HELD_BACK = _HeldBack()


@contextmanager
def panics_unprinted() -> Iterator[None]:
    """Run python-calamine with what Rust prints of a panic held back (see the module)."""
    _HELD_BACK.enter()
    panicked = False
    try:
        yield
    except BaseException as error:
        panicked = calamine_panicked(error)
        raise
    finally:
        _HELD_BACK.exit(panicked)
