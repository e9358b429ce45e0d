"""sheets-sync: decide lead returns by policy, keep a ledger, restate the weeks the leads came from.

The library API a scheduler or a notebook calls; the CLI is a thin layer over it::

    from sheets_sync import load_config, run_sync
    report = run_sync(load_config("config.yaml"), dry_run=True)
    print(report.as_json())

The names are loaded when first used, so that importing a part of the package (the pure
``sheets_sync.core``, say) does not load the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sheets_sync.config import Config, ConfigError, load_config
    from sheets_sync.run.summary import SyncReport
    from sheets_sync.run.sync import run_sync
    from sheets_sync.store.lock import RunLockedError

_HOMES = {"Config": "sheets_sync.config", "ConfigError": "sheets_sync.config", "load_config": "sheets_sync.config",
          "SyncReport": "sheets_sync.run.summary", "run_sync": "sheets_sync.run.sync",
          "RunLockedError": "sheets_sync.store.lock"}
__all__ = ["Config", "ConfigError", "RunLockedError", "SyncReport", "load_config", "run_sync"]


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'sheets_sync' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
