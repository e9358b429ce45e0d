"""``sheets-sync demo``: a realistic sample workspace with messy client pastes.

Twelve weeks of leads for four clients in four verticals and two countries. Clients paste
returns twice: a first batch two weeks ago (synced then, as a backfill with ``--as-of``)
and a second batch now, so the tracking tabs show refunds restated into the weeks the leads
came from while the cash-view row shows the weeks they were approved in. One group, Solar
UK, goes bad in the last two weeks: its leads come back as disconnected numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook, load_workbook

from .config import load_config
from .sync import SyncReport, run_sync

TIMEZONE = "America/New_York"
WEEKS = 12
SEED = 20240303


@dataclass(frozen=True)
class DemoClient:
    name: str
    vertical: str
    countries: tuple[str, ...]
    price: tuple[int, int]
    daily_leads: int
    file: str


CLIENTS = (
    DemoClient("Acme Insurance", "Auto Insurance", ("US", "UK"), (28, 46), 14, "acme.xlsx"),
    DemoClient("Zenith Solar", "Solar", ("US", "UK"), (55, 92), 9, "zenith.xlsx"),
    DemoClient("Greenleaf Homes", "Home/Garden", ("US", "UK"), (18, 31), 8, "greenleaf.xlsx"),
    DemoClient("Summit Debt Relief", "Debt Relief", ("US",), (35, 61), 6, "summit.xlsx"),
)
SOURCES = ("Facebook Ads", "Google Search", "Vendor Apex", "Vendor Bluebird")
MESSY_REASONS = ("Wrong #", "bad phone", "Disconnected line", "duplicate", "fake info", "out of area",
                 "didn't buy", "no answer", "api broken", "Customer says they never asked", "")
CONFIG = """\
# The demo workspace's config: see the README for every key.
timezone: {timezone}
week_ends_on: sunday
currency: USD
leads:
  excel: leads.xlsx
  tab: Leads
tracking:
  excel: tracking.xlsx
  group_by: [vertical, country]
ledger:
  path: ledger.sqlite
policy:
  window_days: 7
  require_reason: true
  max_return_rate: 0.15
  cap_window_days: 30
  credit: wallet
  reason_aliases: {{"api broken": fake_info}}
clients:
  Acme Insurance:
    returns: {{excel: returns/acme.xlsx, tab: Returns}}
    policy: {{window_days: 10}}
  Zenith Solar:
    returns: {{excel: returns/zenith.xlsx, tab: Returns}}
    policy: {{max_return_rate: 0.25}}
  Greenleaf Homes:
    returns: {{excel: returns/greenleaf.xlsx, tab: Returns}}
    policy: {{credit: replacement}}
  Summit Debt Relief:
    returns: {{excel: returns/summit.xlsx, tab: Returns}}
"""


@dataclass(frozen=True)
class DemoLead:
    lead_id: str
    delivered_at: datetime
    client: DemoClient
    country: str
    price: Decimal
    cost: Decimal
    source: str


def _leads(today: date, rng: random.Random) -> list[DemoLead]:
    leads = []
    first_day = today - timedelta(weeks=WEEKS) + timedelta(days=1)
    number = 40000
    for offset in range((today - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        for client in CLIENTS:
            for _ in range(rng.randint(client.daily_leads // 2, client.daily_leads * 3 // 2)):
                number += rng.randint(1, 3)
                price = Decimal(rng.randint(client.price[0] * 100, client.price[1] * 100)).scaleb(-2)
                cost = (price * Decimal(rng.randint(35, 60)) / 100).quantize(Decimal("0.01"))
                moment = datetime.combine(day, time(rng.randint(7, 22), rng.randint(0, 59)))
                leads.append(DemoLead(f"{number:08d}", moment, client, rng.choice(client.countries), price, cost,
                                      rng.choice(SOURCES)))
    return leads


def _write_leads(path: Path, leads: list[DemoLead]) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append(["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price", "Cost", "Source", "Campaign"])
    for lead in leads:
        sheet.append([lead.lead_id, lead.delivered_at, lead.client.name, lead.client.vertical, lead.country,
                      lead.price, lead.cost, lead.source, f"{lead.client.vertical[:4].upper()}-{lead.country}"])
    book.save(path)


def _messy(lead: DemoLead, rng: random.Random) -> object:
    """How a client's spreadsheet mangles an ID: spaces, lost zeros, a formula prefix."""
    style = rng.random()
    if style < 0.15:
        return int(lead.lead_id)  # pasted into a number cell: leading zeros gone
    if style < 0.25:
        return f"  {lead.lead_id}  "
    if style < 0.30:
        return f'="{lead.lead_id}"'
    return lead.lead_id


def _requests(leads: list[DemoLead], client: DemoClient, since: date, until: date, rng: random.Random,
              bad_share: float) -> list[list[object]]:
    mine = [lead for lead in leads if lead.client == client and since <= lead.delivered_at.date() <= until]
    rows = []
    for lead in mine:
        planted = lead.client.vertical == "Solar" and lead.country == "UK" and until - lead.delivered_at.date() < timedelta(days=14)
        if planted and rng.random() < 0.45:
            rows.append([_messy(lead, rng), rng.choice(["Disconnected line", "disconnected", "Number not in service"]), ""])
        elif rng.random() < bad_share:
            rows.append([_messy(lead, rng), rng.choice(MESSY_REASONS), rng.choice(["", "", "called 3x", "per our call"])])
    rng.shuffle(rows)
    return rows


def _write_returns(path: Path, rows: list[list[object]]) -> None:
    if path.exists():
        book = load_workbook(path)
        sheet = book["Returns"]
    else:
        book = Workbook()
        sheet = book.active
        sheet.title = "Returns"
        sheet.append(["Lead ID", "Reason", "Note"])
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows(min_row=2):
        if isinstance(row[0].value, str) and row[0].value.startswith("="):
            row[0].data_type = "s"
    book.save(path)


def _extra_pastes(leads: list[DemoLead], client: DemoClient, rng: random.Random) -> list[list[object]]:
    """The pastes every operator sees: several IDs in one cell, a repeat, a stranger's lead."""
    mine = [lead for lead in leads if lead.client == client][-40:]
    other = next(lead for lead in reversed(leads) if lead.client != client)
    pair = rng.sample(mine, 2)
    return [
        [f"{pair[0].lead_id}, {pair[1].lead_id}", "wrong number", "two in one cell"],
        [pair[0].lead_id, "wrong number", "asked again"],
        [other.lead_id, "fake", ""],
        ["N/A", "fake", ""],
    ]


def make_demo(directory: Path, *, today: date | None = None) -> Path:
    """Write the sample workspace, sync the first batch of returns as of two weeks ago, and
    paste the second batch; returns the config path (the caller runs the final sync)."""
    zone = ZoneInfo(TIMEZONE)
    today = today or datetime.now(zone).date()
    rng = random.Random(SEED)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "returns").mkdir(exist_ok=True)
    for stale in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "tracking.xlsx", "audit.csv",
                  *(f"returns/{client.file}" for client in CLIENTS)):
        (directory / stale).unlink(missing_ok=True)
    leads = _leads(today, rng)
    _write_leads(directory / "leads.xlsx", leads)
    config_path = directory / "config.yaml"
    config_path.write_text(CONFIG.format(timezone=TIMEZONE), encoding="utf-8")

    earlier = today - timedelta(days=14)
    for client in CLIENTS:
        rows = _requests(leads, client, earlier - timedelta(days=12), earlier, rng, 0.07)
        _write_returns(directory / "returns" / client.file, rows)
    run_sync(load_config(config_path), as_of=datetime.combine(earlier, time(17, 0), zone))
    for client in CLIENTS:
        rows = _requests(leads, client, earlier + timedelta(days=1), today, rng, 0.07)
        _write_returns(directory / "returns" / client.file, rows + _extra_pastes(leads, client, rng))
    return config_path


def explain(directory: Path, report: SyncReport) -> str:
    lines = [
        "",
        "Where to look:",
        f"  {directory / 'tracking.xlsx'}  one tab per vertical and country; each week column is the week the "
        "leads were delivered. 'Refunded leads' and 'Refunds' restate those weeks (accrual); "
        "'Refunds reported (cash view)' shows the week each refund was approved. The 'Review' tab lists what "
        "waits for you: type Approve or Reject in Decision and run again.",
        f"  {directory / 'returns'}/*.xlsx  the clients' returns tabs, with Status, Detail, Credit, "
        "Week restated and First seen filled in beside what they pasted.",
        f"  {directory / 'audit.csv'}  one row per decision; {directory / 'ledger.sqlite'} the ledger itself.",
        f"Run it again: sheets-sync run --config {directory / 'config.yaml'}  (a second run changes nothing).",
    ]
    return "\n".join(lines)
