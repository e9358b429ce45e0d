"""Files other people and programs have open: owner files and changes on disk.

Excel (Windows and Mac) marks a workbook it has open with an *owner file* ``~$name.xlsx``
beside it, holding the user's name; LibreOffice writes ``.~lock.name.xlsx#``. While one
exists, saving over the workbook is wrong whatever the platform: on Windows Excel holds the
file locked (the save fails), and on a Mac or a Linux share the person's own next save
silently overwrites ours. So a run leaves such a workbook alone and says so for that
source; the ledger already holds the decisions, and the first run after the person closes
the file writes them (sheets are projections).

A workbook saved by someone else between a run's read and its save is detected by its
:func:`file_stamp` (device, inode, size, modification and change times, taken before
loading): the run reloads, re-plans its cells on the fresh content and saves that, so the
person's change is kept and no status lands on a row that moved.
"""

from __future__ import annotations

import os
from pathlib import Path

FileStamp = tuple[int, int, int, int, int]


def file_stamp(path: Path) -> FileStamp | None:
    """What changes when any program saves ``path`` (in place or by renaming a new copy over
    it); ``None`` when it does not exist."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def owner_files(path: Path) -> list[Path]:
    """The owner/lock files that say a spreadsheet program has ``path`` open."""
    candidates = [path.with_name(f"~${path.name}"), path.with_name(f".~lock.{path.name}#")]
    return [candidate for candidate in candidates if candidate.exists()]


def _excel_owner(data: bytes) -> str:
    """The user name in an Excel owner file: a length-prefixed name in the ANSI code page,
    padded to 54 bytes, then the same name as a length-prefixed UTF-16 string."""
    if len(data) >= 56:
        length = int.from_bytes(data[54:56], "little")
        if 0 < length <= 54 and len(data) >= 56 + 2 * length:
            name = data[56:56 + 2 * length].decode("utf-16-le", "replace").strip()
            if name.isprintable():
                return name
    if data:
        return data[1:1 + data[0]].decode("cp1252", "replace").strip()
    return ""


def _libreoffice_owner(data: bytes) -> str:
    """``Full Name,user,host,date,profile;`` -- the full name, else the login."""
    fields = data.decode("utf-8", "replace").split(",")
    return next((field.strip() for field in fields[:2] if field.strip()), "")


def open_by(path: Path) -> tuple[str, Path] | None:
    """Who has ``path`` open in Excel or LibreOffice (as the owner file says), and that file."""
    for owner_file in owner_files(path):
        try:
            data = owner_file.read_bytes()[:512]
        except OSError:  # on Windows the owner file itself may be locked: someone has it open
            data = b""
        name = _excel_owner(data) if owner_file.name.startswith("~$") else _libreoffice_owner(data)
        program = "Excel" if owner_file.name.startswith("~$") else "LibreOffice"
        return (f"{name} in {program}" if name else program), owner_file
    return None


def in_use_message(label: str, who: str, owner_file: Path, what: str) -> str:
    return (f"{label} is open ({who}; owner file {owner_file.name}), so {what} were not written: saving over it "
            "now would be refused by Excel or lost on that person's next save. The ledger has every decision; "
            f"the first run after the file is closed writes them. If nobody has it open, delete {owner_file.name}.")
