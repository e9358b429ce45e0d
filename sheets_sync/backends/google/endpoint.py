"""Where the Sheets API lives, and which URLs the service account's token may be sent to."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from sheets_sync.backends.base import WorkbookError
from sheets_sync.config import ConfigError

API_URL_ENV = "SHEETS_SYNC_GOOGLE_API_URL"
GOOGLE_SHEETS_ROOT = "https://sheets.googleapis.com"


class GoogleApiUrlError(WorkbookError, ConfigError):
    """``SHEETS_SYNC_GOOGLE_API_URL`` is not a URL the service account's token may be sent to.

    A :class:`WorkbookError`, so that where a Google spreadsheet is opened it fails like any
    unreachable source, with its one sentence and no request sent; and a :class:`ConfigError`
    (a setting of the operator's, not a fault of the spreadsheet), for callers that check
    :func:`sheets_api_root` before a run.
    """


def _is_loopback(host: str) -> bool:
    """``localhost``, an address in ``127.0.0.0/8`` or ``::1``; no other name (a name is
    resolved by DNS, which can send it anywhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_carry_secrets(url: str) -> bool:
    """Whether a token or a signed login may be sent to ``url``: ``https://``, or ``http://``
    to a loopback host only."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    return scheme == "https" or scheme == "http" and _is_loopback(parts.hostname or "")


def sheets_api_root() -> str:
    """Where Sheets API calls go: ``https://sheets.googleapis.com``, or the base URL in
    ``SHEETS_SYNC_GOOGLE_API_URL`` (e.g. a local test server).

    Every call carries the service account's bearer token, so the URL must be ``https://``,
    or plain ``http://`` to a loopback host (``localhost``, ``127.0.0.0/8``, ``::1``); no
    user name or password, query or fragment. Raises :class:`GoogleApiUrlError` otherwise.
    The message names the variable and the host, never the whole URL (it might hold a secret).
    """
    text = os.environ.get(API_URL_ENV, "").strip()
    if not text:
        return GOOGLE_SHEETS_ROOT
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:  # that, or an unclosed [ of an IPv6 address
        parts = None
    scheme, host = (parts.scheme.lower(), parts.hostname or "") if parts else ("", "")
    if (parts is None or scheme not in ("http", "https") or not host or "@" in parts.netloc or parts.query
            or parts.fragment or any(char.isspace() or char == "\\" or not char.isprintable() for char in text)):
        raise GoogleApiUrlError(f"{API_URL_ENV} is not a base URL like https://sheets.example.com or "
                                "http://127.0.0.1:8123 (a scheme and a host; no user name, query or fragment).")
    if not may_carry_secrets(text):
        shown = f"[{host}]" if ":" in host else host
        raise GoogleApiUrlError(f"{API_URL_ENV} names http://{shown}, which would send the service account's token "
                                "unencrypted: use https://, or http:// only for localhost, 127.0.0.0/8 or ::1.")
    return text.rstrip("/")
