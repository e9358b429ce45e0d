"""sheets-sync: decide lead returns by policy, keep a ledger, restate the weeks the leads came from.

The library API a scheduler or a notebook calls; the CLI is a thin layer over it::

    from sheets_sync import load_config, run_sync
    report = run_sync(load_config("config.yaml"), dry_run=True)
    print(report.as_json())
"""

from .config import Config, ConfigError, load_config
from .sync import RunLockedError, SyncReport, run_sync

__all__ = ["Config", "ConfigError", "RunLockedError", "SyncReport", "load_config", "run_sync"]
