"""The workspace configuration (SPEC §6): YAML in, frozen pydantic models out.

Every mistake an operator can make in the file ends as a :class:`ConfigError` whose message
is one sentence naming the key (``clients.Acme.policy.window_days``) or the file.
"""

from __future__ import annotations

import glob
import os
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from sheets_sync.core.reasons import DEFECT_REASONS, REASON_CODES, normalise_alias
from sheets_sync.core.weeks import Calendar
from sheets_sync.locations import (  # noqa: F401
    DEFAULT_LEAD_HEADERS,
    LEAD_FIELDS,
    STARTER_LEAD_HEADERS,
    LeadsConfig,
    Location,
    lead_log_files,
)
from sheets_sync.notify.settings import NotifyConfig
from sheets_sync.store.settings import LedgerConfig

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
GROUP_FIELDS = ("vertical", "country", "client", "source", "campaign")


class ConfigError(Exception):
    """The configuration is unusable; the message is one sentence for the operator."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrackingConfig(_Frozen):
    excel: Path | None = None
    google: str | None = None
    group_by: tuple[Literal["vertical", "country", "client", "source", "campaign"], ...] = ("vertical", "country")

    @model_validator(mode="after")
    def _exactly_one_target(self) -> "TrackingConfig":
        if (self.excel is None) == (self.google is None):
            raise ValueError("give exactly one of excel or google")
        if not self.group_by:
            raise ValueError("group_by needs at least one field")
        return self


class GoogleConfig(_Frozen):
    credentials: Path | None = None
    retry_budget_seconds: float = Field(60.0, gt=0)




def _percent_as_fraction(value: Any) -> Any:
    """``15%`` as an operator writes a rate, read as the fraction 0.15."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return Decimal(value.strip()[:-1].strip()) / 100
        except ArithmeticError:
            return value
    return value


Fraction = Annotated[Decimal, BeforeValidator(_percent_as_fraction), Field(ge=0, le=1)]


class PolicyOverrides(_Frozen):
    """A policy where every key is optional: the defaults and each client's overrides."""

    returns_enabled: bool | None = None
    window_days: int | None = Field(None, ge=0)
    returnable_reasons: tuple[str, ...] | None = None
    require_reason: bool | None = None
    max_return_rate: Fraction | None = None
    cap_window_days: int | None = Field(None, ge=1)
    credit: Literal["wallet", "invoice", "replacement"] | None = None
    reason_aliases: dict[str, str] | None = None

    @field_validator("returnable_reasons")
    @classmethod
    def _known_reasons(cls, reasons: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for reason in reasons or ():
            if reason not in REASON_CODES:
                raise ValueError(f"unknown reason code {reason!r}; known: {', '.join(REASON_CODES)}")
        return reasons

    @field_validator("reason_aliases")
    @classmethod
    def _aliases_to_known_codes(cls, aliases: dict[str, str] | None) -> dict[str, str] | None:
        for alias, code in (aliases or {}).items():
            if code not in REASON_CODES:
                raise ValueError(f"alias {alias!r} maps to unknown reason code {code!r}")
        return aliases


class Policy(_Frozen):
    """The effective policy of one client (defaults merged with its overrides)."""

    returns_enabled: bool = True
    window_days: int = 7
    returnable_reasons: tuple[str, ...] = DEFECT_REASONS
    require_reason: bool = True
    max_return_rate: Decimal = Decimal("0.15")
    cap_window_days: int = 30
    credit: Literal["wallet", "invoice", "replacement"] = "wallet"
    reason_aliases: dict[str, str] = Field(default_factory=dict)

    def merged(self, overrides: PolicyOverrides | None) -> "Policy":
        if overrides is None:
            return self
        changes = overrides.model_dump(exclude_none=True)
        if "reason_aliases" in changes:
            changes["reason_aliases"] = {**self.reason_aliases, **changes["reason_aliases"]}
        return self.model_copy(update=changes)

    @property
    def aliases(self) -> dict[str, str]:
        """Configured aliases keyed the way reason text is looked up."""
        return dict(_normalised_aliases(tuple(self.reason_aliases.items())))


@lru_cache(maxsize=64)
def _normalised_aliases(aliases: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Normalised once per alias set: the policy looks aliases up for every request."""
    return tuple((normalise_alias(alias), code) for alias, code in aliases)


class AlertsConfig(_Frozen):
    """Thresholds of ``sheets-sync report``: when a group, source, client or reason needs a look."""

    recent_weeks: int = Field(2, ge=1, description=(
        "Weeks judged as recent: the week holding the report's moment (complete or not) and the ones before it. "
        "Leads count in the week they were delivered, returns in the week of their lead (accrual)."))
    baseline_weeks: int = Field(8, ge=1, description=(
        "Weeks right before the recent ones that a group's refund rate and the reason mix are compared with; "
        "recent and baseline weeks together are the period a source is judged over."))
    min_leads: int = Field(30, ge=1, description=(
        "Fewest leads a group, source or client needs in every period compared before it is judged at all, "
        "so that a handful of leads never alerts."))
    min_returns: int = Field(10, ge=1, description=(
        "Fewest returns behind any alert: a group's recent refunds, a source's defect returns, a client's "
        "approved returns, a reason's recent requests."))
    refund_rate_ratio: Decimal = Field(Decimal("2"), ge=1, description=(
        "A group is flagged when its recent refund rate is at least this many times its baseline rate and "
        "also refund_rate_rise above it."))
    refund_rate_rise: Fraction = Field(Decimal("0.05"), description=(
        "How far above its baseline rate a group's recent refund rate must also be to be flagged "
        "(0.05 = 5 percentage points)."))
    source_defect_ratio: Decimal = Field(Decimal("2"), ge=1, description=(
        "A lead source is flagged when the defect-return rate of its leads is at least this many times that of "
        "all other leads, i.e. its share of defect returns is well above its share of leads."))
    near_cap: Fraction = Field(Decimal("0.8"), description=(
        "A client is flagged when its return rate over its cap_window_days reaches this fraction of its "
        "max_return_rate (0.8 = 80% of the cap), and when it is over the cap."))
    reason_share_ratio: Decimal = Field(Decimal("2"), ge=1, description=(
        "A reason is flagged when its share of recent return requests is at least this many times its baseline "
        "share and also reason_share_rise above it."))
    reason_share_rise: Fraction = Field(Decimal("0.2"), description=(
        "How far above its baseline share a reason's share of recent return requests must also be to be "
        "flagged (0.2 = 20 percentage points)."))


class ClientConfig(_Frozen):
    returns: Location
    policy: PolicyOverrides | None = None
    formerly: list[str] = Field(default_factory=list)
    """Names this client had before: its history (ledger entries, lead-log rows) carries over."""

    @field_validator("returns")
    @classmethod
    def _a_workbook(cls, returns: Location) -> Location:
        if returns.csv is not None:
            raise ValueError("a returns tab must be in an Excel workbook (excel) or a Google spreadsheet (google): "
                             "the engine writes each request's status back next to it")
        return returns


class Config(_Frozen):
    timezone: str = "UTC"
    week_ends_on: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "sunday"
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    google: GoogleConfig = GoogleConfig()
    leads: LeadsConfig
    tracking: TrackingConfig
    ledger: LedgerConfig = LedgerConfig()
    policy: PolicyOverrides = PolicyOverrides()
    clients: dict[str, ClientConfig] = Field(default_factory=dict)
    alerts: AlertsConfig = AlertsConfig()
    notify: NotifyConfig | None = None
    base_dir: Path = Path(".")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r} (use an IANA name such as America/New_York)") from None
        return name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def week_end_weekday(self) -> int:
        return WEEKDAYS.index(self.week_ends_on)

    @property
    def calendar(self) -> Calendar:
        return Calendar(self.zone, self.week_end_weekday)

    @property
    def client_names(self) -> dict[str, str]:
        """Every name a client goes by, casefolded (its own and its ``formerly:`` names), to
        the configured name."""
        names = {former.strip().casefold(): name for name, client in self.clients.items() for former in client.formerly}
        names.update({name.casefold(): name for name in self.clients})
        return names

    @model_validator(mode="after")
    def _former_names_are_unambiguous(self) -> "Config":
        owner: dict[str, str] = {name.casefold(): name for name in self.clients}
        for name, client in self.clients.items():
            for former in client.formerly:
                taken = owner.setdefault(former.strip().casefold(), name)
                if taken != name:
                    raise ValueError(f"clients.{name}.formerly names {former!r}, which is already the name of "
                                     f"{taken}: a name can lead to one client only")
        return self

    def policy_for(self, client: str) -> Policy:
        base = Policy().merged(self.policy)
        client_config = self.clients.get(client)
        return base.merged(client_config.policy if client_config else None)

    @property
    def audit_csv(self) -> Path:
        """On Excel the audit log is a CSV beside the tracking workbook (SPEC §4.1)."""
        assert self.tracking.excel is not None
        return self.tracking.excel.with_name("audit.csv")

    @property
    def uses_google(self) -> bool:
        """Whether any source or the tracking workbook is a Google spreadsheet."""
        return (self.leads.kind == "google" or self.tracking.google is not None
                or any(client.returns.kind == "google" for client in self.clients.values()))

    @property
    def credentials_file(self) -> Path | None:
        if self.google.credentials is not None:
            return self.google.credentials
        from_env = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        return Path(from_env) if from_env else None


def _key_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location if not str(part).startswith(("function-", "union[")))


def _explain(error: ValidationError) -> str:
    first = error.errors()[0]
    key = _key_path(first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{key}' (check its spelling against the documented keys)"
    if kind == "missing":
        return f"missing required key '{key}'"
    if kind == "literal_error":
        allowed = first.get("ctx", {}).get("expected", "")
        return f"bad value for '{key}': {first['input']!r} is not one of {allowed}"
    message = re.sub(r"^(Value error|Assertion failed), ", "", first["msg"])
    shown = first.get("input")
    if isinstance(shown, (dict, list)):
        return f"bad value for '{key}': {message}"
    return f"bad value for '{key}' ({shown!r}): {message}"


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    expanded = path.expanduser()
    return expanded if expanded.is_absolute() else (base / expanded)


def _resolve_paths(config: Config, base: Path) -> Config:
    def located(location: Location) -> Location:
        return location.model_copy(update={"excel": _resolve(location.excel, base), "csv": _resolve(location.csv, base)})

    return config.model_copy(
        update={
            "base_dir": base,
            "leads": located(config.leads).model_copy(update={"parquet": _resolve(config.leads.parquet, base)}),
            "tracking": config.tracking.model_copy(update={"excel": _resolve(config.tracking.excel, base)}),
            "ledger": config.ledger.model_copy(update={"path": _resolve(config.ledger.path, base)}),
            "google": config.google.model_copy(update={"credentials": _resolve(config.google.credentials, base)}),
            "clients": {
                name: client.model_copy(update={"returns": located(client.returns)})
                for name, client in config.clients.items()
            },
        }
    )


def parse_config(data: Any, base_dir: Path, source: str = "config") -> Config:
    """Validate already-parsed YAML data; relative paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a YAML mapping of keys (timezone, leads, tracking, clients, ...)")
    try:
        config = Config.model_validate({key: value for key, value in data.items() if key != "base_dir"})
    except ValidationError as error:
        raise ConfigError(f"{source}: {_explain(error)}.") from None
    if "base_dir" in data:
        raise ConfigError(f"{source}: unknown key 'base_dir' (check its spelling against the documented keys).")
    resolved = _resolve_paths(config, base_dir)
    _check_clients_kept_apart(resolved, source)
    return resolved


_SPREADSHEET_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")


def _workbook_key(excel: Path | None, google: str | None) -> tuple[str, str] | None:
    """What identifies a workbook, however the config spells it (relative path, URL or id)."""
    if excel is not None:
        return "excel", os.path.normcase(str(excel.resolve()))
    if google is not None:
        found = _SPREADSHEET_URL_ID.search(google)
        return "google", found.group(1) if found else google.strip()
    return None


def _check_clients_kept_apart(config: Config, source: str) -> None:
    """Refuse a config under which one client could see or act on what is not its own.

    A client can read every tab of a workbook shared with it, so its returns tab must not
    share a workbook with another client's, with the lead log (every client's leads) or
    with the tracking workbook (the operator's Review tab, where returns are approved).
    Clients are matched to the lead log's Client column ignoring letter case, so two names
    that differ only so would share each other's leads.
    """
    seen_names: dict[str, str] = {}
    for name in config.clients:
        other = seen_names.setdefault(name.strip().casefold(), name)
        if other != name:
            raise ConfigError(f"{source}: clients {other!r} and {name!r} differ only in letter case or spaces "
                              f"(key 'clients.{name}'); the lead log's Client column cannot tell them apart, "
                              "so give each client a distinct name.")
    owners: dict[tuple[str, str], str] = {}
    if (key := _workbook_key(config.tracking.excel, config.tracking.google)) is not None:
        owners[key] = "the tracking workbook (key 'tracking'), where operators review returns"
    if (key := _workbook_key(config.leads.excel, config.leads.google)) is not None:
        owners.setdefault(key, "the lead log's workbook (key 'leads'), which lists every client's leads")
    for name, client in config.clients.items():
        key = _workbook_key(client.returns.excel, client.returns.google)
        if key is None:
            continue
        if key in owners:
            raise ConfigError(f"{source}: 'clients.{name}.returns' names the same workbook as {owners[key]}; a client "
                              "can read every tab of a workbook shared with it, so give each client a returns "
                              "workbook of its own.")
        owners[key] = f"'clients.{name}.returns'"


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and resolve a config file. Raises :class:`ConfigError` only."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"Config file {config_path} {_not_a_file(config_path)}.")
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"Config file {config_path} is not valid YAML{where}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Config file {config_path} cannot be read ({error.__class__.__name__}).") from None
    return parse_config(data, config_path.resolve().parent, source=str(config_path))


def _not_a_file(path: Path) -> str:
    return "is a folder, not a file" if path.is_dir() else "does not exist"


def missing_files(config: Config) -> list[str]:
    """Sentences for every input file the config names that does not exist (or is a folder),
    and for output files whose name is taken by a folder."""
    problems = []
    if config.leads.excel is not None and not config.leads.excel.is_file():
        problems.append(f"Lead log file {config.leads.excel} (key 'leads') {_not_a_file(config.leads.excel)}.")
    if (pattern := config.leads.files) is not None and not lead_log_files(pattern):
        what = "matches no file" if glob.has_magic(str(pattern)) else _not_a_file(pattern)
        problems.append(f"Lead log {pattern} (key 'leads.{config.leads.kind}') {what}.")
    if config.google.credentials is not None and not config.google.credentials.is_file():
        problems.append(f"Credentials file {config.google.credentials} (key 'google.credentials') "
                        f"{_not_a_file(config.google.credentials)}.")
    if config.tracking.excel is not None and config.tracking.excel.is_dir():
        problems.append(f"Tracking workbook {config.tracking.excel} (key 'tracking.excel') is a folder, not a file.")
    if config.ledger.url is None and config.ledger.path.is_dir():
        problems.append(f"Ledger {config.ledger.path} (key 'ledger.path') is a folder, not a file.")
    return problems  # a client's missing returns workbook is that client's failure, or made by the run
