"""``ledger:`` in the config (SPEC §6): where the ledger is."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from sheets_sync.store.database_urls import masked_url


class LedgerConfig(BaseModel):
    """``path``, a SQLite file (the default), or ``url``, a PostgreSQL database shared by
    several machines -- one of them. With ``url``, ``path`` only places this machine's own
    files (the lead-log cache). The URL is a secret: messages show :attr:`label`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Path("ledger.sqlite")
    url: SecretStr | None = None

    @model_validator(mode="after")
    def _one_ledger(self) -> "LedgerConfig":
        # Refused here, on the whole mapping, so the message never echoes the URL (nor its password).
        if self.url is None:
            return self
        if "path" in self.model_fields_set:
            raise ValueError("give either ledger.path (a SQLite file) or ledger.url (a PostgreSQL database), "
                             "not both")
        if not re.match(r"(?i)postgres(ql)?(\+psycopg)?://", self.url.get_secret_value()):
            raise ValueError("ledger.url must be a PostgreSQL URL such as postgresql://sync@db/sheets_sync")
        return self

    @property
    def label(self) -> str:
        """The ledger as messages name it: the file, or the URL with its password masked
        (``postgresql://sync:***@db/sheets_sync``, a ``password=`` parameter too)."""
        if self.url is None:
            return str(self.path)
        return masked_url(self.url.get_secret_value())
