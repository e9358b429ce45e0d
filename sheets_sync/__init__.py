"""sheets-sync: decide lead returns by policy, keep a ledger, restate the weeks the leads came from.

The library API a scheduler or a notebook calls; the CLI is a thin layer over it::

    from sheets_sync import load_config, run_sync
    report = run_sync(load_config("config.yaml"), dry_run=True)
    print(report.as_json())
"""

from sheets_sync.config import Config, ConfigError, load_config
from sheets_sync.run.summary import SyncReport
from sheets_sync.run.sync import run_sync
from sheets_sync.store.lock import RunLockedError

__all__ = ["Config", "ConfigError", "RunLockedError", "SyncReport", "load_config", "run_sync"]
