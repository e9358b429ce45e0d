"""The one atomic write: a complete copy beside the file, made durable, renamed over it.

A reader (a person, Excel, the next run) sees the old file or the new one, never half of
one; a killed run leaves at most a temporary copy, which the next run of the same kind
deletes. Copies are created with the process umask (not ``mkstemp``'s private 0600): the
files they become are shared with suppliers, clients and spreadsheet programs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary copies that a killed run left beside ``path`` (call holding its lock)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            stale.unlink()
        except OSError:
            pass


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def written_copy(path: Path, fill: Callable[[BinaryIO], None]) -> Path:
    """A temporary file beside ``path``, filled by ``fill`` and made durable; the caller
    renames it over ``path`` (:func:`replace_atomically`) or deletes it."""
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def replace_atomically(path: Path, content: bytes) -> None:
    """``path`` holds ``content``, whole, or (on an error, raised) what it held before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = written_copy(path, lambda handle: handle.write(content))
    try:
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_directory(path.parent)


def write_if_changed(path: Path, content: bytes) -> bool:
    """:func:`replace_atomically`, unless ``path`` already holds ``content`` (then it is left
    alone, modification time and all); whether it was written."""
    if path.exists() and path.read_bytes() == content:
        return False
    replace_atomically(path, content)
    return True


_UNSAFE_FILE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def safe_file_names(names: Iterable[str], fallback: str, suffix: str = ".csv") -> dict[str, str]:
    """A file name per name (``fallback`` for one with nothing usable left), safe on every
    file system and unique even where names differ only in letter case (macOS and Windows
    would put both in one file)."""
    found: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names):
        base = _UNSAFE_FILE_CHARS.sub("-", name).strip().strip(".") or fallback
        file_name, number = f"{base}{suffix}", 2
        while file_name.casefold() in taken:
            file_name, number = f"{base} ({number}){suffix}", number + 1
        taken.add(file_name.casefold())
        found[name] = file_name
    return found
