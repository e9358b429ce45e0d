"""Where the workspace's tabs and its lead log live (``leads:`` and ``clients.*.returns`` in
the config, SPEC §6), and the lead log's default headers (SPEC §2.1)."""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sheets_sync.store.database_urls import masked_url

LEAD_FIELDS = ("lead_id", "delivered_at", "client", "vertical", "country", "price", "cost", "source", "campaign", "phone", "email")
DEFAULT_LEAD_HEADERS = {
    "lead_id": "Lead ID",
    "delivered_at": "Delivered At",
    "client": "Client",
    "vertical": "Vertical",
    "country": "Country",
    "price": "Price",
    "cost": "Cost",
    "source": "Source",
    "campaign": "Campaign",
    "phone": "Phone",
    "email": "Email",
}
STARTER_LEAD_HEADERS = tuple(DEFAULT_LEAD_HEADERS[field] for field in LEAD_FIELDS[:9])
"""The lead-log columns a new workspace starts with (``Phone`` and ``Email`` are optional extras)."""


class Location(BaseModel):
    """Where a tab lives: exactly one of ``excel``, ``csv``, ``google``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: ClassVar[tuple[str, ...]] = ("excel", "csv", "google")
    excel: Path | None = None
    csv: Path | None = None
    google: str | None = None
    tab: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Location:
        given = [name for name in self.sources if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(self.sources[:-1])} or {self.sources[-1]}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in self.sources if getattr(self, name) is not None)

    def describe(self) -> str:
        target = self.excel or self.csv or self.google
        return f"{target}" + (f" (tab {self.tab})" if self.tab and self.kind != "csv" else "")


class LeadsConfig(Location):
    """The lead log (SPEC §2.1): besides a tab, a glob of CSV or Parquet files, or a table or
    query of a SQL database (``sql``, a SQLAlchemy URL: a secret, as messages show
    :attr:`sql_label`)."""

    sources: ClassVar[tuple[str, ...]] = ("excel", "csv", "parquet", "sql", "google")
    parquet: Path | None = None
    sql: SecretStr | None = None
    table: str | None = None
    query: str | None = None
    tab: str | None = "Leads"
    columns: dict[str, str] = Field(default_factory=dict)
    date_order: Literal["day_first", "month_first"] | None = None
    """How to read a text date like 12/05/2026 that could be either (leadlog.dates)."""

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        for field in columns:
            if field not in LEAD_FIELDS:
                raise ValueError(f"unknown column field {field!r}; known: {', '.join(LEAD_FIELDS)}")
        return columns

    @model_validator(mode="after")
    def _table_or_query_with_sql(self) -> LeadsConfig:
        # Checked on the whole mapping, so a message never echoes the URL (nor its password).
        if self.sql is None:
            if self.table is not None or self.query is not None:
                raise ValueError("leads.table and leads.query name what to read of a SQL database: give leads.sql too")
            return self
        if (self.table is None) == (self.query is None):
            raise ValueError("with leads.sql give exactly one of leads.table (a table or view) or leads.query "
                             "(a select)")
        if not re.match(r"^[A-Za-z][A-Za-z0-9+._-]*://", self.sql.get_secret_value()):
            raise ValueError("leads.sql must be a database URL such as postgresql://reports@db/leadgen")
        return self

    @property
    def files(self) -> Path | None:
        """The CSV or Parquet file, or glob of files, the log is read from."""
        return self.csv or self.parquet

    @property
    def sql_label(self) -> str:
        """The database URL with its password masked (``postgresql://reports:***@db/leadgen``)."""
        return masked_url(self.sql.get_secret_value()) if self.sql is not None else ""

    def describe(self) -> str:
        if self.sql is not None:
            return f"{self.sql_label} " + (f"table {self.table}" if self.table else "query")
        return str(self.parquet) if self.parquet else super().describe()

    @property
    def headers(self) -> dict[str, str]:
        """Lead field -> header in the log, defaults overlaid with ``columns``."""
        return {**DEFAULT_LEAD_HEADERS, **self.columns}


def lead_log_files(pattern: Path) -> list[Path]:
    """The files a ``leads.csv`` or ``leads.parquet`` path or glob names, in file-name order
    (one export a day is read oldest first)."""
    return sorted((Path(name) for name in glob.glob(str(pattern)) if Path(name).is_file()),
                  key=lambda path: (path.name, str(path)))
