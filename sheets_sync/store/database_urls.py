"""A database URL's secrets, for the ledger (``ledger.url``) and a lead log in a database
(``leads.sql``) alike: how the URL is shown, every password a driver may log in with, and a
driver's error in one line without any of them."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl, unquote


def masked_url(url: str) -> str:
    """``url`` with its password masked (``postgresql://sync:***@db/sheets_sync``, a
    ``password=`` parameter too)."""
    masked = re.sub(r"^([^:/]+://[^:@/]*):[^@/]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", masked, flags=re.IGNORECASE)


def url_secrets(url: str) -> list[str]:
    """Every password libpq may use with ``url``: the URL's (as written and decoded), a
    ``password`` parameter, ``PGPASSWORD``, and each line of the ``.pgpass`` file."""
    found: list[str] = []
    login = re.match(r"^[^:/]+://([^@/]*)@", url)
    if login and ":" in login.group(1):
        found.append(login.group(1).partition(":")[2])
    found += [value for name, value in parse_qsl(url.partition("?")[2]) if name.lower() == "password"]
    found.append(os.environ.get("PGPASSWORD", ""))
    pgpass = Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        lines = pgpass.read_text(encoding="utf-8", errors="replace").splitlines() if pgpass.is_file() else []
    except OSError:
        lines = []
    for line in lines:
        fields = re.split(r"(?<!\\):", line)
        if len(fields) >= 5 and not line.lstrip().startswith("#"):
            found.append(":".join(fields[4:]).replace("\\:", ":").replace("\\\\", "\\"))
    secrets = {variant for secret in found for variant in (secret, unquote(secret)) if len(variant) >= 3}
    return sorted(secrets, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def driver_reason(error: BaseException, secrets: Sequence[str]) -> str:
    """The first line of what the driver said (under SQLAlchemy's wrapper and its
    ``(module.Error)`` tag, if any), in one line, without a secret in it."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    first = re.sub(r"^\([\w.]+\)\s*", "", lines[0] if lines else type(cause).__name__)
    return scrub(re.sub(r"\s+", " ", first).removeprefix("connection failed: ").rstrip("."), secrets)
