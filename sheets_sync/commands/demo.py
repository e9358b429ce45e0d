"""``sheets-sync demo``: a realistic sample workspace with messy client pastes.

Twelve weeks of leads for four clients in four verticals and two countries, from four lead
sources of the same quality. Every week clients paste returns for that week's leads (synced
then, as backfills with ``--as-of``; one paste in ten comes a week late), and the last batch
is pasted now, so the tracking tabs show refunds restated into the weeks the leads came from
while the cash-view row shows the weeks they were approved in. One group, Solar UK, goes bad
in the last two weeks: its leads come back as disconnected numbers. That is the one thing
``sheets-sync report`` finds.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook, load_workbook

from sheets_sync.backends.excel.style import take_line_style
from sheets_sync.commands.init import write_returns_workbook
from sheets_sync.config import STARTER_LEAD_HEADERS, Policy, load_config
from sheets_sync.core.weeks import week_ending
from sheets_sync.run.sync import run_sync

TIMEZONE = "America/New_York"
DEMO_AS_OF = datetime(2019, 3, 3, 18, 0)
"""The demo's today: Sunday March 3 of a year whose weeks end on Sundays Feb 17, Feb 24 and
Mar 3, the dates of the story in SPEC §1, so the README, its pictures and the tests agree."""
DEMO_MARK = ".sheets-sync-demo"
"""Marks a folder the demo made: only such a folder (or an empty one) is made again."""
WEEKS = 12
SEED = 20240303
SUNDAY = 6
BAD_SHARE = 0.07
"""Of every group's leads, the share clients paste back (for all kinds of reasons)."""
LATE_SHARE = 0.1
PLANTED_SHARE = 0.45
"""Of Solar UK's leads in the last two weeks, the share that come back disconnected."""


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
DEFECT_TEXTS = ("Wrong #", "bad phone", "Disconnected line", "duplicate", "fake info", "out of area")
MESSY_REASONS = (*DEFECT_TEXTS, "didn't buy", "no answer", "api broken", "Customer says they never asked", "")
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
    sheet.append(list(STARTER_LEAD_HEADERS))
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


def _planted(lead: DemoLead, today: date) -> bool:
    """Solar UK leads of this week and last (the weeks ``report`` calls recent) are the bad ones."""
    return (lead.client.vertical, lead.country) == ("Solar", "UK") and \
        week_ending(lead.delivered_at.date(), SUNDAY) >= week_ending(today, SUNDAY) - timedelta(weeks=1)


Paste = tuple[DemoLead, str, str]
"""A lead a client pastes back, with its reason and note."""


def _pastes(leads: list[DemoLead], today: date, rng: random.Random) -> dict[date, dict[str, list[Paste]]]:
    """What each client pastes on each weekly paste day (``today`` and every 7 days before):
    returns of the leads delivered in the week up to that day; one in ten a week late, and so
    mostly out of the return window. A late paste due after ``today`` is not pasted yet."""
    pastes: dict[date, dict[str, list[Paste]]] = defaultdict(lambda: defaultdict(list))
    for lead in leads:
        age = (today - lead.delivered_at.date()).days
        paste_day = today - timedelta(days=age // 7 * 7)
        if _planted(lead, today):
            if rng.random() < PLANTED_SHARE:
                reason = rng.choice(["Disconnected line", "disconnected", "Number not in service"])
                pastes[paste_day][lead.client.name].append((lead, reason, ""))
        elif rng.random() < BAD_SHARE:
            if rng.random() < LATE_SHARE:
                paste_day += timedelta(weeks=1)
            paste = (lead, rng.choice(MESSY_REASONS), rng.choice(["", "", "called 3x", "per our call"]))
            if paste_day <= today:
                pastes[paste_day][lead.client.name].append(paste)
    for by_client in pastes.values():
        for client_pastes in by_client.values():
            rng.shuffle(client_pastes)
    return pastes


def _write_returns(path: Path, rows: list[list[object]], policy: Policy, currency: str) -> None:
    """The client pastes ``rows`` under its returns tab, which starts as the template every
    client gets (``sheets-sync init``'s returns.xlsx, with this client's policy)."""
    if not path.exists():
        write_returns_workbook(path, policy, currency)
    book = load_workbook(path)
    sheet = book["Returns"]
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows(min_row=2, max_col=3):
        for cell in row:  # typed in Excel, these cells would take their column's style (unlocked, IDs as text)
            if not cell.has_style:
                take_line_style(sheet, cell)
        if isinstance(row[0].value, str) and row[0].value.startswith("="):
            row[0].data_type = "s"
    book.save(path)


def _extra_pastes(leads: list[DemoLead], client: DemoClient, pasted: set[str],
                  rng: random.Random) -> list[list[object]]:
    """The pastes every operator sees: two IDs in one cell (one too old to return, so the row
    is Mixed), a repeat, a stranger's lead, and text that is no ID at all."""
    mine = [lead for lead in leads if lead.client == client and lead.lead_id not in pasted]
    fresh, too_old = mine[-1], mine[len(mine) // 2]
    other = next(lead for lead in reversed(leads) if lead.client != client)
    reason = rng.choice(DEFECT_TEXTS)  # drawn like any other, so these rows do not shift the reason mix
    return [
        [f"{fresh.lead_id}, {too_old.lead_id}", reason, "two in one cell"],
        [fresh.lead_id, reason, "asked again"],
        [other.lead_id, "fake", ""],
        ["N/A", "fake", ""],
    ]


def make_demo(directory: Path, *, as_of: datetime = DEMO_AS_OF) -> Path:
    """Write the sample workspace, sync every weekly batch of returns but the last as of its
    day, and paste the last; returns the config path (the caller runs the final sync, as of
    ``as_of``, wall-clock time in the demo's timezone)."""
    zone = ZoneInfo(TIMEZONE)
    today = as_of.date()
    rng = random.Random(SEED)
    if directory.is_dir() and any(directory.iterdir()) and not (directory / DEMO_MARK).exists():
        raise FileExistsError(0, "not a demo", str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / DEMO_MARK).write_text("Made by sheets-sync demo, which may make it again here.\n", encoding="utf-8")
    (directory / "returns").mkdir(exist_ok=True)
    for stale in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "tracking.xlsx", "audit.csv",
                  *(f"returns/{client.file}" for client in CLIENTS)):
        (directory / stale).unlink(missing_ok=True)
    # Today's leads up to the run's time only: a delivery after it is no delivery yet (SPEC §2.1).
    leads = [lead for lead in _leads(today, rng) if lead.delivered_at <= as_of.replace(tzinfo=None)]
    _write_leads(directory / "leads.xlsx", leads)
    config_path = directory / "config.yaml"
    config_path.write_text(CONFIG.format(timezone=TIMEZONE), encoding="utf-8")
    config = load_config(config_path)

    pastes = _pastes(leads, today, rng)
    for weeks_ago in range(WEEKS - 1, -1, -1):
        paste_day = today - timedelta(weeks=weeks_ago)
        for client in CLIENTS:
            rows = [[_messy(lead, rng), reason, note] for lead, reason, note in pastes[paste_day][client.name]]
            if paste_day == today:
                pasted = {lead.lead_id for by_client in pastes.values() for lead, _, _ in by_client[client.name]}
                rows += _extra_pastes(leads, client, pasted, rng)
            _write_returns(directory / "returns" / client.file, rows, config.policy_for(client.name),
                           config.currency)
        if paste_day < today:
            run_sync(load_config(config_path), as_of=datetime.combine(paste_day, time(23, 30), zone))
    return config_path


def explain(directory: Path, command: str = "sheets-sync") -> str:
    """Where to look, and the commands to try next as ``command`` runs them here."""
    as_of = f"--as-of {DEMO_AS_OF:%Y-%m-%dT%H:%M}"
    lines = [
        "",
        "Where to look:",
        f"  {directory / 'tracking.xlsx'}  one tab per vertical and country; each week column is the week the "
        "leads were delivered. 'Refunded leads' and 'Refunds' restate those weeks (accrual); "
        "'Refunds reported (cash view)' shows the week each refund was approved; a gold refund cell was restated "
        "after its week ended (its note says when and by how much). The 'Review' tab lists what "
        "waits for you: type Approve or Reject in Decision and run again. The 'Dashboard' tab charts the refund "
        "rate by week per group and lists totals, clients near their cap, top reasons and returns by source.",
        f"  {directory / 'returns'}/*.xlsx  the clients' returns tabs, with Status, Detail, Credit, "
        "Week restated and First seen filled in beside what they pasted (the grey columns are read-only; the "
        "client's return policy is the note on the Lead ID header); each client credited has a read-only "
        "'Credits' tab, every credit with a total per month (sheets-sync statement writes it as CSV).",
        f"  {directory / 'audit.csv'}  one row per decision; {directory / 'ledger.sqlite'} the ledger itself.",
        f"The demo is dated {DEMO_AS_OF:%A %B %-d, %Y, %H:%M} (the dates of the README's story): commands on it "
        f"take {as_of}.",
        f"Run it again: {command} run --config {directory / 'config.yaml'} {as_of}  (a second run changes nothing).",
        f"See what needs a look: {command} report --config {directory / 'config.yaml'} {as_of}  (one group went "
        "bad in the last two weeks; it also writes each lead source's defect returns to returns-by-source/).",
    ]
    return "\n".join(lines)
