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
from collections.abc import Iterator
from contextlib import contextmanager


def calamine_panicked(error: BaseException) -> bool:
    """Whether ``error`` is a python-calamine panic."""
    return type(error).__name__ == "PanicException"


@contextmanager
def panics_unprinted() -> Iterator[None]:
    """Run python-calamine with what Rust prints of a panic held back (see the module)."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as held:
        terminal = os.dup(2)
        os.dup2(held.fileno(), 2)
        panicked = False
        try:
            yield
        except BaseException as error:
            panicked = calamine_panicked(error)
            raise
        finally:
            os.dup2(terminal, 2)
            os.close(terminal)
            if not panicked and held.tell():
                held.seek(0)
                os.write(2, held.read())
