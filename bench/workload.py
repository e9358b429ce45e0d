"""A seeded, realistic agency workspace for the bench: lead log, returns workbooks, config.

The workload of the performance issue at full size: 1,000,000 delivered leads over 104
weeks, 10 verticals x 4 countries (40 tracking tabs), 200 clients, 50,000 return requests
spread over the clients' returns tabs with the messy pastes of SPEC §2.2, and 500 more
requests pasted before a second run. Every size is the same recipe scaled.

Generating a million-row workbook is itself slow, so :func:`ensure_workspace` caches the
generated workspace under ``bench/.cache/`` keyed by the parameters (and
:data:`GENERATOR_VERSION`); a bench run copies it into a scratch folder and syncs the copy.

The lead log is written by :func:`write_fast_xlsx`, a minimal streaming xlsx writer (shared
strings, a date-time style, deflate) about ten times faster than openpyxl's write-only mode;
what it writes reads back identically through python-calamine and openpyxl. The returns
workbooks are small and written with openpyxl, so text that starts with ``=`` stays text.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from sheets_sync.config import STARTER_LEAD_HEADERS
from sheets_sync.core.cells import column_letter

GENERATOR_VERSION = 1
CACHE_DIR = Path(__file__).resolve().parent / ".cache"

END = date(2025, 12, 28)
"""The last day of the lead log: a Sunday, so the 104 weeks end on a week-ending date."""
AS_OF_FIRST = datetime(2025, 12, 29, 9, 0)
AS_OF_INCREMENTAL = datetime(2025, 12, 30, 9, 0)
AS_OF_NOOP = datetime(2025, 12, 31, 9, 0)
TIMEZONE = "America/New_York"

VERTICALS = (
    ("Auto Insurance", (18, 46)), ("Home Insurance", (22, 55)), ("Solar", (55, 120)), ("Debt Relief", (35, 80)),
    ("Medicare", (25, 60)), ("Home Security", (15, 40)), ("Roofing", (40, 95)), ("HVAC", (30, 70)),
    ("Legal", (60, 150)), ("Mortgage", (30, 85)),
)
COUNTRIES = ("US", "CA", "UK", "AU")
# (source, share of leads, ID scheme): the agency numbers its own leads with zero-padded
# digits; one vendor sends 16-digit numbers (which spreadsheets shorten), another short
# letter codes (which clients retype in lower case).
SOURCES = (
    ("Facebook Ads", 0.30, "agency"), ("Google Search", 0.25, "agency"), ("TikTok Ads", 0.08, "agency"),
    ("Affiliate Net", 0.07, "agency"), ("Vendor Apex", 0.15, "apex"), ("Vendor Bluebird", 0.15, "bluebird"),
)
FIRST_NAMES = ("Acme", "Zenith", "Summit", "Greenleaf", "Bluewater", "Ironclad", "Northstar", "Redwood", "Silverline",
               "Harbor", "Keystone", "Pinnacle", "Evergreen", "Lakeside", "Crescent", "Atlas", "Beacon", "Cedar",
               "Frontier", "Granite")
LAST_NAMES = ("Insurance", "Solar", "Homes", "Partners", "Media", "Group", "Direct", "Leads", "Holdings", "Agency")
HOUSE_ACCOUNT = "Walk-in Buyer"
"""A buyer in the lead log that is not a configured client (its leads still count on tracking tabs)."""

DEFECT_TEXT = ("Wrong #", "wrong number", "bad phone", "Bad Phone ", "WRONG_NUMBER", "Disconnected line",
               "disconnected", "Number not in service", "not in service", "dupe", "duplicate", "Duplicate lead",
               "fake", "Fake info", "junk", "spam", "out of area", "wrong zip", "incomplete", "missing info",
               "no consent", "never opted in", "Customer says they never asked", "wrong product")
OUTCOME_TEXT = ("didn't buy", "no answer", "not interested", "voicemail", "changed their mind", "no sale")
UNKNOWN_TEXT = ("customer yelled at us", "lead was rude", "see email thread", "bad lead??", "not good",
                "already has a provider", "talked to wife")
ALIAS_TEXT = ("api broken", "bot submission")
NOTES = ("", "", "", "", "called 3x", "per our call", "asked twice", "=see ticket 4471", "+1 555 0100",
         "-- spoke to Mike", "@ops please check")
GARBAGE = ("N/A", "see email", "#N/A", "?", "lead from tuesday", "TBD", "n/a")
SEPARATORS = (", ", ",", "; ", ";", " ", "\n", " ,  ")


@dataclass(frozen=True)
class Params:
    leads: int
    returns: int
    clients: int
    new_requests: int = 500
    weeks: int = 104
    seed: int = 20240303

    @property
    def key(self) -> str:
        return (f"l{self.leads}-r{self.returns}-c{self.clients}-n{self.new_requests}-w{self.weeks}"
                f"-s{self.seed}-v{GENERATOR_VERSION}")


SIZES = {
    "small": Params(10_000, 500, 200),
    "medium": Params(100_000, 5_000, 200),
    "large": Params(1_000_000, 50_000, 200),
}


# -- a minimal, fast xlsx writer -----------------------------------------------------------------

_EXCEL_EPOCH = datetime(1899, 12, 30)
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = _HEAD + (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>')
_ROOT_RELS = _HEAD + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = _HEAD + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL_NS}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
    '</Relationships>')
# Style 0 general, 1 a date-time ("yyyy-mm-dd hh:mm"), 2 money ("#,##0.00", built-in 4).
_STYLES = _HEAD + (
    f'<styleSheet xmlns="{_NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_fast_xlsx(path: Path, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]], row_count: int,
                    money_columns: Sequence[int] = ()) -> None:
    """One-tab workbook, streamed: text as shared strings (as Excel writes it), floats and
    ints as numbers (columns in ``money_columns``, 0-based, get ``#,##0.00``), datetimes
    as serials with a date-time format. ``row_count`` is the number of data rows."""
    width = len(header)
    refs = [column_letter(index + 1) for index in range(width)]
    money = set(money_columns)
    strings: dict[str, int] = {}

    def text_cell(ref: str, value: str) -> str:
        index = strings.get(value)
        if index is None:
            index = strings[value] = len(strings)
        return f'<c r="{ref}" t="s"><v>{index}</v></c>'

    def cell(column: int, number: int, value: Any) -> str:
        ref = f"{refs[column]}{number}"
        if value is None:
            return ""
        if isinstance(value, str):
            return text_cell(ref, value)
        if isinstance(value, bool):
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, datetime):
            delta = value - _EXCEL_EPOCH
            return f'<c r="{ref}" s="1"><v>{delta.days + delta.seconds / 86400!r}</v></c>'
        if isinstance(value, (int, float)):
            style = ' s="2"' if column in money else ""
            return f'<c r="{ref}"{style}><v>{value!r}</v></c>'
        raise TypeError(f"cannot write {value!r}")

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _HEAD + (
            f'<workbook xmlns="{_NS}" xmlns:r="{_REL_NS}"><sheets>'
            f'<sheet name="{_escape(title)}" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write((_HEAD + f'<worksheet xmlns="{_NS}" xmlns:r="{_REL_NS}">'
                         f'<dimension ref="A1:{refs[-1]}{row_count + 1}"/><sheetData>').encode())
            chunk = ['<row r="1">' + "".join(cell(c, 1, v) for c, v in enumerate(header)) + "</row>"]
            for number, values in enumerate(rows, start=2):
                chunk.append(f'<row r="{number}">' + "".join(cell(c, number, v) for c, v in enumerate(values))
                             + "</row>")
                if len(chunk) >= 5000:
                    sheet.write("".join(chunk).encode())
                    chunk.clear()
            sheet.write(("".join(chunk) + "</sheetData></worksheet>").encode())
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as shared:
            shared.write((_HEAD + f'<sst xmlns="{_NS}" count="{len(strings)}" uniqueCount="{len(strings)}">').encode())
            chunk = []
            for text in strings:
                chunk.append(f'<si><t xml:space="preserve">{_escape(text)}</t></si>')
                if len(chunk) >= 20000:
                    shared.write("".join(chunk).encode())
                    chunk.clear()
            shared.write(("".join(chunk) + "</sst>").encode())
    os.replace(temporary, path)


# -- the agency ---------------------------------------------------------------------------------


@dataclass
class Client:
    index: int
    name: str
    vertical: int
    countries: tuple[str, ...]
    file: str
    weight: float


def _clients(count: int, rng: random.Random) -> list[Client]:
    clients = []
    taken: set[str] = set()
    for index in range(count):
        name = f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {LAST_NAMES[index // len(FIRST_NAMES) % len(LAST_NAMES)]}"
        if name in taken:
            name = f"{name} {index // (len(FIRST_NAMES) * len(LAST_NAMES)) + 1}"
        taken.add(name)
        primary = COUNTRIES[(index // len(VERTICALS)) % len(COUNTRIES)]
        countries = (primary,)
        if rng.random() < 0.3:
            countries += (rng.choice([c for c in COUNTRIES if c != primary]),)
        clients.append(Client(index, name, index % len(VERTICALS), countries, f"returns/c{index:03d}.xlsx",
                              rng.lognormvariate(0, 0.8)))
    return clients


@dataclass
class LeadRef:
    """What the returns generator needs to know about one lead."""

    lead_id: str
    scheme: str
    day: int
    """Days since the first day of the log."""


def _leads(params: Params, clients: list[Client], rng: random.Random
           ) -> tuple[list[list[Any]], dict[int, list[LeadRef]]]:
    """The lead log rows (chronological) and, per client index, its leads."""
    days = params.weeks * 7
    first_day = END - timedelta(days=days - 1)
    buyers = rng.choices(range(len(clients) + 1), k=params.leads,
                         cum_weights=list(_cumulative([c.weight for c in clients] + [0.02])))
    source_picks = rng.choices(range(len(SOURCES)), k=params.leads,
                               cum_weights=list(_cumulative([share for _, share, _ in SOURCES])))
    rows: list[list[Any]] = []
    by_client: dict[int, list[LeadRef]] = {client.index: [] for client in clients}
    taken: set[str] = set()
    agency_number = 100_000
    # Busier towards the end (a growing agency): day d gets a share ~ (1 + d / days).
    cumulative_days = list(_cumulative([1 + d / days for d in range(days)]))
    total_share = cumulative_days[-1]
    day_of = [0] * params.leads
    day = 0
    for position in range(params.leads):
        target = (position + 0.5) / params.leads * total_share
        while cumulative_days[day] < target:
            day += 1
        day_of[position] = day
    moments = sorted((day_of[position], rng.randrange(7 * 3600, 23 * 3600)) for position in range(params.leads))
    for position, (day, seconds) in enumerate(moments):
        buyer = buyers[position]
        source, _, scheme = SOURCES[source_picks[position]]
        if scheme == "agency":
            agency_number += rng.randint(1, 3)
            lead_id = f"{agency_number:09d}"
        elif scheme == "apex":
            lead_id = str(rng.randrange(10**15, 10**16))
        else:
            lead_id = "BB-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(7))
        while lead_id in taken:
            lead_id = lead_id + "X" if scheme == "bluebird" else str(rng.randrange(10**15, 10**16))
        taken.add(lead_id)
        if buyer == len(clients):
            name, vertical, country = HOUSE_ACCOUNT, rng.randrange(len(VERTICALS)), rng.choice(COUNTRIES)
        else:
            client = clients[buyer]
            name, vertical, country = client.name, client.vertical, rng.choice(client.countries)
            if rng.random() < 0.01:
                name = name.upper()  # the lead log spells a few rows differently
            by_client[buyer].append(LeadRef(lead_id, scheme, day))
        vertical_name, (low, high) = VERTICALS[vertical]
        price = round(rng.uniform(low, high), 2)
        cost = round(price * rng.uniform(0.35, 0.6), 2)
        moment = datetime.combine(first_day + timedelta(days=day), clock()) + timedelta(seconds=seconds)
        rows.append([lead_id, moment, name, vertical_name, country, price, cost, source,
                     f"{vertical_name[:4].upper()}-{country}-{day // 28 + 1:02d}"])
    return rows, by_client


def _cumulative(weights: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _messy(lead: LeadRef, rng: random.Random) -> Any:
    """The cell a client's spreadsheet ends up with when it pastes this lead's ID."""
    style = rng.random()
    lead_id = lead.lead_id
    if style < 0.01:
        return rng.choice("=+-@") + lead_id  # text that looks like a formula stays text
    if lead.scheme == "agency":
        if style < 0.16:
            return int(lead_id)  # a number cell: leading zeros gone
        if style < 0.26:
            return f"  {lead_id} "
        if style < 0.31:
            return f'="{lead_id}"'
        if style < 0.34:
            return f"'{lead_id}"
        if style < 0.36:
            return f"\u200b{lead_id}\n"
    elif lead.scheme == "apex":
        if style < 0.16:
            return float(lead_id[:15] + "0")  # a number cell: Excel keeps 15 digits
        if style < 0.23:
            return f"{int(lead_id):.5E}"  # what the sheet shows: 4.12346E+15
        if style < 0.30:
            return f" {lead_id}"
    else:
        if style < 0.16:
            return lead_id.lower()
        if style < 0.24:
            return f" {lead_id.lower().capitalize()} "
    return lead_id


def _as_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    return str(value).strip() if isinstance(value, str) else str(value)


def _reason(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.70:
        return rng.choice(DEFECT_TEXT)
    if pick < 0.82:
        return rng.choice(OUTCOME_TEXT)
    if pick < 0.88:
        return ""
    if pick < 0.95:
        return rng.choice(UNKNOWN_TEXT)
    return rng.choice(ALIAS_TEXT)


def _split_counts(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder)."""
    whole = sum(weights)
    exact = [total * weight / whole for weight in weights]
    counts = [math.floor(value) for value in exact]
    for index in sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[index] += 1
    return counts


def _request_rows(budget: int, mine: list[LeadRef], others: list[LeadRef], recent_from: int,
                  rng: random.Random, requested: set[str], earlier: list[Any], recent_share: float = 0.15
                  ) -> list[list[Any]]:
    """Rows of ``[Lead ID cell, Reason, Note]`` asking for ``budget`` lead IDs in all: mostly
    this client's leads (85 % from the whole log, 15 % from the recent days), with multi-ID
    cells, repeats, another client's lead and plain garbage mixed in."""
    rows: list[list[Any]] = []
    recent = [lead for lead in mine if lead.day >= recent_from] or mine

    def pick() -> LeadRef | None:
        pool = recent if rng.random() < recent_share else mine
        for _ in range(20):
            lead = rng.choice(pool)
            if lead.lead_id not in requested:
                requested.add(lead.lead_id)
                return lead
        return None

    while budget > 0 and mine:
        roll = rng.random()
        if roll < 0.02 and earlier:
            rows.append([rng.choice(earlier), rng.choice(DEFECT_TEXT), "asked again"])
            budget -= 1
        elif roll < 0.03 and others:
            rows.append([rng.choice(others).lead_id, rng.choice(DEFECT_TEXT), ""])
            budget -= 1
        elif roll < 0.04:
            rows.append([rng.choice(GARBAGE), _reason(rng), rng.choice(NOTES)])
            budget -= 1
        elif roll < 0.08 and budget >= 2:
            count = min(budget, rng.choice((2, 2, 3)))
            leads = [lead for lead in (pick() for _ in range(count)) if lead is not None]
            if not leads:
                break
            separator = rng.choice(SEPARATORS)
            rows.append([separator.join(_as_text(_messy(lead, rng)) for lead in leads), _reason(rng),
                         rng.choice(NOTES)])
            earlier.extend(lead.lead_id for lead in leads)
            budget -= len(leads)
        else:
            lead = pick()
            if lead is None:
                break
            rows.append([_messy(lead, rng), _reason(rng), rng.choice(NOTES)])
            earlier.append(lead.lead_id)
            budget -= 1
        if rng.random() < 0.01:
            rows.append([None, None, None])  # a blank row the client left
    return rows


_FIELD_OF_HEADER = {"lead id": 0, "reason": 1, "note": 2, "date": 3}


def _write_returns(path: Path, header: Sequence[str], rows: list[list[Any]]) -> None:
    """A client's returns workbook; ``rows`` are ``[Lead ID, Reason, Note(, Date)]``."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Returns"
    order = [_FIELD_OF_HEADER[name.strip().casefold()] for name in header]
    sheet.append(list(header))
    for row in rows:
        sheet.append([row[index] if index < len(row) else None for index in order])
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    book.create_sheet("How to return leads").append(
        ["Paste the Lead IDs of bad leads in column Lead ID and say why in Reason. Do not edit Status."])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def append_returns(path: Path, rows: list[list[Any]]) -> None:
    """What a client does between runs: paste rows at the bottom of its returns tab."""
    from openpyxl import load_workbook

    book = load_workbook(path, rich_text=True)
    sheet = book["Returns"]
    header = [str(cell.value).strip().casefold() if cell.value is not None else "" for cell in sheet[1]]
    width = len(header)
    last = sheet.max_row
    while last > 1 and all(sheet.cell(last, column).value in (None, "") for column in range(1, width + 1)):
        last -= 1
    for offset, (lead_cell, reason, note) in enumerate(rows, start=1):
        for name, value in (("lead id", lead_cell), ("reason", reason), ("note", note)):
            if name in header:
                cell = sheet.cell(last + offset, header.index(name) + 1, value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"
    temporary = path.with_name(f".{path.name}.paste.tmp")
    book.save(temporary)
    os.replace(temporary, path)


HEADERS = (
    ("Lead ID", "Reason", "Note"),
    ("Lead ID", "Reason", "Note"),
    ("Lead ID", "Reason", "Note"),
    ("Lead ID", "Reason", "Note"),
    ("Note", "Lead ID", "Reason"),  # the client moved its columns
    ("Lead ID", "Date", "Reason", "Note"),  # and one typed its own date column
    (" lead id ", "REASON", "Note"),
)


def _policy_overrides(client: Client, rng: random.Random) -> dict[str, Any] | None:
    roll = rng.random()
    if roll < 0.08:
        return {"window_days": 7}
    if roll < 0.10:
        return {"returns_enabled": False}
    if roll < 0.18:
        return {"credit": "invoice"}
    if roll < 0.22:
        return {"credit": "replacement", "max_return_rate": 0.05}
    if roll < 0.25:
        return {"returnable_reasons": ["wrong_number", "disconnected", "fake_info"]}
    return None


def generate(params: Params, directory: Path) -> dict[str, Any]:
    """Write the workspace for ``params`` into ``directory`` (which must be empty)."""
    rng = random.Random(params.seed)
    started = time.perf_counter()
    clients = _clients(params.clients, rng)
    rows, by_client = _leads(params, clients, rng)
    write_fast_xlsx(directory / "leads.xlsx", "Leads", STARTER_LEAD_HEADERS, rows, len(rows), money_columns=(5, 6))
    del rows
    leads_seconds = time.perf_counter() - started

    days = params.weeks * 7
    counts = _split_counts(params.returns, [len(by_client[c.index]) or 0.0001 for c in clients])
    new_counts = _split_counts(params.new_requests, [len(by_client[c.index]) or 0.0001 for c in clients])
    incremental: dict[str, list[list[Any]]] = {}
    config_clients: dict[str, Any] = {}
    all_refs = [(client.index, lead) for client in clients for lead in by_client[client.index][:50]]
    request_cells = 0
    for client, count, new_count in zip(clients, counts, new_counts):
        mine = by_client[client.index]
        others = [lead for owner, lead in rng.sample(all_refs, min(20, len(all_refs))) if owner != client.index]
        requested: set[str] = set()
        earlier: list[Any] = []
        first_rows = _request_rows(count, mine, others, days - 56, rng, requested, earlier)
        header = HEADERS[client.index % len(HEADERS)] if client.index >= 3 else HEADERS[0]
        if "Date" in header:
            first_rows = [row + [None if row[0] is None else
                                 datetime.combine(END - timedelta(days=rng.randrange(0, 60)), clock())]
                          for row in first_rows]
        _write_returns(directory / client.file, header, first_rows)
        request_cells += sum(1 for row in first_rows if row[0] is not None)
        if new_count:
            # Second run: requests for the leads of the last two weeks, a few repeats.
            incremental[client.file] = [row[:3] for row in
                                        _request_rows(new_count, mine, others, days - 14, rng, requested, earlier, 1.0)]
        entry: dict[str, Any] = {"returns": {"excel": client.file, "tab": "Returns"}}
        overrides = _policy_overrides(client, rng)
        if overrides:
            entry["policy"] = overrides
        config_clients[client.name] = entry

    config = {
        "timezone": TIMEZONE,
        "week_ends_on": "sunday",
        "currency": "USD",
        "leads": {"excel": "leads.xlsx", "tab": "Leads"},
        "tracking": {"excel": "tracking.xlsx", "group_by": ["vertical", "country"]},
        "ledger": {"path": "ledger.sqlite"},
        # The first sync onboards two years of requests at once, so the default window covers
        # the whole log: most requests are approved and restate weeks across both years. The
        # 90-day cap window keeps the cap meaningful for small clients at small bench sizes.
        "policy": {"window_days": 800, "require_reason": True, "max_return_rate": 0.15, "cap_window_days": 90,
                   "credit": "wallet", "reason_aliases": {"api broken": "fake_info", "bot submission": "fake_info"}},
        "clients": config_clients,
    }
    (directory / "config.yaml").write_text(
        "# Generated by bench/workload.py for " + params.key + "\n" + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8")
    (directory / "incremental.json").write_text(json.dumps(incremental), encoding="utf-8")
    meta = {
        "params": asdict(params),
        "key": params.key,
        "leads_written": params.leads,
        "returns_rows": request_cells,
        "new_rows": sum(len(rows) for rows in incremental.values()),
        "leads_xlsx_bytes": (directory / "leads.xlsx").stat().st_size,
        "generate_leads_seconds": round(leads_seconds, 2),
        "generate_seconds": round(time.perf_counter() - started, 2),
        "as_of": {"first": AS_OF_FIRST.isoformat(), "incremental": AS_OF_INCREMENTAL.isoformat(),
                  "noop": AS_OF_NOOP.isoformat()},
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def ensure_workspace(params: Params, cache: Path = CACHE_DIR, log=print) -> Path:
    """The cached generated workspace for ``params``, generating it if missing."""
    target = cache / params.key
    if (target / "meta.json").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = cache / f".{params.key}.{os.getpid()}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    log(f"generating workspace {params.key} (cached in {target}) ...")
    meta = generate(params, scratch)
    log(f"  generated in {meta['generate_seconds']} s (lead log {meta['generate_leads_seconds']} s, "
        f"{meta['leads_xlsx_bytes'] / 1e6:.1f} MB)")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(scratch, target)
    return target


def copy_workspace(source: Path, destination: Path) -> None:
    """A scratch copy to sync: inputs only (the lead log is hard-linked: runs never write it)."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        target = destination / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative == Path("leads.xlsx"):
            try:
                os.link(path, target)
                continue
            except OSError:
                pass
        shutil.copy2(path, target)


def paste_incremental(workspace: Path) -> int:
    """Paste the second run's requests into the scratch workspace; returns the rows pasted."""
    pastes: dict[str, list[list[Any]]] = json.loads((workspace / "incremental.json").read_text(encoding="utf-8"))
    for file, rows in pastes.items():
        append_returns(workspace / file, rows)
    return sum(len(rows) for rows in pastes.values())
