"""Sending a run's news through Apprise: once per item, never failing the run.

Which items were already told is kept in ``.sheets-sync.notified.json`` beside the config:
an item is told again only after it stopped being true (an alert that went away and came
back, a source that recovered and failed again). A message that reached no URL is not
remembered, so the next run sends it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from sheets_sync.config import Config
from sheets_sync.core.alerts import Alert
from sheets_sync.core.model import LedgerEntry, Problem
from sheets_sync.notify.messages import Notice, alert_items, failure_items, notice, review_items
from sheets_sync.notify.settings import service_of, shown_url
from sheets_sync.store.files import write_if_changed

SENT_FILE = ".sheets-sync.notified.json"
_APPRISE_TYPE = {"review": "info", "alerts": "warning", "failures": "failure"}

# Apprise logs why a delivery failed, naming hosts; the run reports failures in its own words.
logging.getLogger("apprise").addHandler(logging.NullHandler())
logging.getLogger("apprise").propagate = False


def tell(config: Config, *, waiting: Sequence[LedgerEntry] = (), alerts: Sequence[Alert] = (),
         failures: Sequence[Problem] = ()) -> list[Problem]:
    """Send what is new in each kind the config's ``notify.on`` names; the deliveries that
    failed, as problems for the run's report. Does nothing without ``notify:``."""
    if config.notify is None:
        return []
    current = {"review": review_items(waiting), "alerts": alert_items(alerts), "failures": failure_items(failures)}
    path = config.base_dir / SENT_FILE
    told = _read_told(path)
    problems: list[Problem] = []
    for kind in config.notify.on:
        already = set(told.get(kind, ()))
        new = [item for item in current[kind] if item.key not in already]
        still_true = [item.key for item in current[kind] if item.key in already]
        message = notice(kind, new, waiting=len(waiting), where=_tracking_label(config))
        missed = [] if message is None else _deliver(message, config.notify.urls)
        reached = message is not None and len(missed) < len(config.notify.urls)
        problems.extend(Problem("notify", f"The {kind} message could not be delivered to {shown_url(url)}"
                                          + ("." if reached else "; the next run sends it again.")) for url in missed)
        told[kind] = still_true + (list(message.keys) if reached else [])
    try:
        write_if_changed(path, json.dumps(told, indent=1, sort_keys=True).encode())
    except OSError as error:
        problems.append(Problem("notify", f"{path.name} cannot be written ({error.strerror}): "
                                          "the same news may be sent again next run."))
    return problems


def _deliver(message: Notice, urls: Sequence[str]) -> list[str]:
    """The URLs ``message`` could not be delivered to."""
    missed = []
    for url in urls:
        try:
            sent = service_of(url).notify(body=message.body, title=message.title,
                                          notify_type=_APPRISE_TYPE[message.kind])
        except Exception:  # noqa: BLE001 - a notification never fails the sync, whatever a plugin raises
            sent = False
        if not sent:
            missed.append(url)
    return missed


def _read_told(path: Path) -> dict[str, list[str]]:
    try:
        told = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # never told, or the file was damaged: at worst some news is told twice
    return {kind: [key for key in keys if isinstance(key, str)] for kind, keys in told.items()
            if isinstance(keys, list)} if isinstance(told, Mapping) else {}


def _tracking_label(config: Config) -> str:
    tracking = config.tracking
    return tracking.excel.name if tracking.excel is not None else f"the tracking spreadsheet {tracking.google}"
