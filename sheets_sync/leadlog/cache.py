"""The parsed lead log kept beside the ledger, so a run over an unchanged log does not parse it again."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from sheets_sync.config import LeadsConfig, lead_log_files
from sheets_sync.leadlog.columns import LeadLog
from sheets_sync.store.files import replace_atomically

CACHE_FORMAT = 3
"""Bump when the cached columns change meaning; older caches are then ignored."""


class LeadLogCache:
    """A parsed Excel, CSV or Parquet lead log kept in a file, keyed by the log files' content
    and every parsing setting, so a run over an unchanged log does not parse it again.

    The file starts with its key: one that is unreadable, cut short, or of another log,
    setting or format version is ignored (and replaced by the next :meth:`save`). It is
    written to a temporary file and renamed, so it is always whole. A Google tab and a SQL
    database are never cached: their content cannot be known without reading it.
    """

    def __init__(self, path: Path, config: LeadsConfig, zone: ZoneInfo) -> None:
        self.path = path
        self._header = None if (key := _cache_key(config, zone)) is None else f"sheets-sync lead log {key}\n".encode()

    def load(self) -> LeadLog | None:
        if self._header is None:
            return None
        try:
            data = self.path.read_bytes()
            return LeadLog.from_bytes(data[len(self._header):]) if data.startswith(self._header) else None
        except (OSError, ValueError, EOFError, TypeError, KeyError):
            return None

    def save(self, log: LeadLog) -> None:
        if self._header is None:
            return
        try:
            replace_atomically(self.path, self._header + log.to_bytes())
        except OSError:
            pass  # the cache only saves time; the next run parses the log again


def _cache_key(config: LeadsConfig, zone: ZoneInfo) -> str | None:
    """What the parsed log depends on: every file's name, size, modification time and bytes
    (each file a glob matches: a new daily export is read), and every parsing setting."""
    if config.excel is not None:
        files = [config.excel]
    elif config.files is not None:
        files = lead_log_files(config.files)
    else:
        return None  # a Google tab or a SQL database: its content cannot be known without reading it
    digest = hashlib.sha1()
    try:
        for path in files:
            status = path.stat()
            digest.update(repr((path.name, status.st_size, status.st_mtime_ns)).encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    except OSError:
        return None  # reading the log itself says what is wrong
    settings = (CACHE_FORMAT, sys.byteorder, config.kind, (config.excel or config.files).name, config.tab,
                sorted(config.headers.items()), str(zone), config.date_order)
    digest.update(repr(settings).encode())
    return digest.hexdigest()
