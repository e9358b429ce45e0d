"""A corpus of bad inputs, each built as real files on disk (xlsx, csv, YAML, SQLite).

Every :class:`BadInput` starts from the same small, healthy workspace (two clients, Acme and
Zenith, an Excel lead log, Excel returns workbooks, an Excel tracking workbook) and breaks
one thing the way people and programs break it in practice. ``tests/test_bad_inputs.py``
runs the CLI on each as a subprocess and checks the outcome: a per-row ``Status``/``Detail``
or a one-sentence error with SPEC §5's exit code, never a traceback, and no change to data
the engine should not touch.

Nothing here needs a binary fixture: even the password-protected workbook is generated (an
OLE compound file holding ``EncryptionInfo`` and ``EncryptedPackage`` streams, which is
what Excel writes when a workbook has a password to open).
"""

from __future__ import annotations

import csv
import io
import os
import random
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from conftest import LEAD_HEADERS, Workspace, write_xlsx
from openpyxl import Workbook, load_workbook

AS_OF = "2024-03-03T10:00"
"""Every case runs as of this moment (a Sunday; the workspace's weeks end on Sundays)."""

EXCEL_CELL_LIMIT = 32_767
"""Characters an Excel cell holds (Google Sheets holds 50,000)."""

APPROVED, REJECTED, REVIEW, UNKNOWN, MIXED, DUPLICATE = (
    "Approved", "Rejected", "Needs review", "Unknown lead ID", "Mixed", "Duplicate request")


@dataclass(frozen=True)
class BadInput:
    """One kind of bad input and what the engine must make of it."""

    name: str
    what: str
    """What is wrong, in one line."""
    build: Callable[[Workspace], None]
    """Writes the workspace (config included) under ``Workspace.root``."""
    exit_code: int = 0
    """SPEC §5: 0 success, 1 a source failed (the others still synced), 2 bad config."""
    failing: tuple[str, ...] = ()
    """For exit code 1: how each failed source's name starts (``"Acme returns"``)."""
    message: str = ""
    """Words the one-sentence error (exit 2) or each failure message (exit 1) contains."""
    statuses: dict[str, list[str | None]] = field(default_factory=dict)
    """Per client, the ``Status`` column of its returns tab after the run (row order)."""
    untouched: tuple[str, ...] = ()
    """Files (relative to the workspace) that must keep their bytes, modification time and
    mode: the broken input itself, when the engine must not write it."""


CASES: dict[str, BadInput] = {}


def case(name: str, what: str, **expected: Any) -> Callable[[Callable[[Workspace], None]], Callable[[Workspace], None]]:
    def register(build: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
        assert name not in CASES, name
        CASES[name] = BadInput(name, what, build, **expected)
        return build
    return register


# -- the healthy workspace every case starts from -------------------------------------------------

ACME_ROWS: list[list[Any]] = [["A1", "wrong number", "call back"], ["A2", "disconnected", None]]
ZENITH_ROWS: list[list[Any]] = [["Z1", "fake"]]
HEALTHY = {"Acme": [APPROVED, APPROVED], "Zenith": [APPROVED]}


def standard_leads(ws: Workspace) -> None:
    ws.lead("A1", "2024-03-01 10:00", "Acme", "10.00")
    ws.lead("A2", "2024-03-02 10:00", "Acme", "20.00")
    ws.lead("000123", "2024-03-01 11:00", "Acme", "5.00")
    ws.lead("1234567890123456", "2024-03-01 12:00", "Acme", "7.00")
    ws.lead("Z1", "2024-03-01 10:00", "Zenith", "30.00", vertical="Roofing")
    ws.lead("Z2", "2024-03-01 10:00", "Zenith", "40.00", vertical="Roofing")


def standard(ws: Workspace, acme: list[list[Any]] | None = None, *, acme_header: list[str] | None = None,
             zenith: list[list[Any]] | None = None, write: bool = True) -> None:
    """The healthy workspace, with Acme's returns rows (and header) replaced if given."""
    standard_leads(ws)
    ws.client("Acme", ACME_ROWS if acme is None else acme, header=acme_header)
    ws.client("Zenith", ZENITH_ROWS if zenith is None else zenith)
    if write:
        ws.write()


def acme_path(ws: Workspace) -> Path:
    return ws.root / "returns" / "acme.xlsx"


def rewrite_config(ws: Workspace, change: Callable[[dict[str, Any]], None]) -> None:
    config = yaml.safe_load(ws.config_path.read_text(encoding="utf-8"))
    change(config)
    ws.config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def edit_workbook(path: Path, change: Callable[[Workbook], None]) -> None:
    book = load_workbook(path)
    change(book)
    book.save(path)


def patch_xlsx_text(path: Path, replacements: dict[str, str]) -> None:
    """Replace text inside the workbook's XML parts, for what openpyxl refuses to write."""
    with zipfile.ZipFile(path) as archive:
        parts = {info: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts.items():
            for old, new in replacements.items():
                data = data.replace(old.encode(), new.encode())
            archive.writestr(info, data)


def lead_rows(ws: Workspace) -> list[list[Any]]:
    return [LEAD_HEADERS, *ws.leads]


def write_csv_lead_log(ws: Workspace, rows: list[list[Any]], *, encoding: str = "utf-8",
                       bom: bool = False) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [["" if cell is None else cell for cell in row] for row in rows])
    data = buffer.getvalue().encode(encoding)
    (ws.root / "leads.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    (ws.root / "leads.xlsx").unlink()
    rewrite_config(ws, lambda config: config.update(leads={"csv": "leads.csv"}))


# -- an encrypted workbook, as Excel saves one with a password to open ------------------------------

_FREE, _END, _FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_SECTOR = 512


def ole_compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE compound file (MS-CFB version 3) holding ``streams`` at its root.

    Each stream must be at least 4096 bytes, so that it lives in regular sectors and no
    mini stream is needed. Sector 0 is the FAT, sector 1 the directory, data follows.
    """
    assert len(streams) <= 3 and all(len(data) >= 4096 for data in streams.values())
    fat = [_FAT, _END]
    chains = []
    for data in streams.values():
        sectors = -(-len(data) // _SECTOR)
        start = len(fat)
        fat.extend(range(start + 1, start + sectors))
        fat.append(_END)
        chains.append(start)
    assert len(fat) <= _SECTOR // 4
    fat += [_FREE] * (_SECTOR // 4 - len(fat))

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0"
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB3I", len(encoded), kind, 1, _FREE, right, child)
                + b"\0" * 16 + b"\0" * 4 + b"\0" * 16 + struct.pack("<IQ", start, size))

    # Directory siblings are ordered by name length, then by upper-cased name.
    names = sorted(streams, key=lambda name: (len(name), name.upper()))
    entries = [entry("Root Entry", 5, 1, _FREE, _END, 0)]
    for number, name in enumerate(names, start=1):
        right = number + 1 if number < len(names) else _FREE
        entries.append(entry(name, 2, _FREE, right, chains[list(streams).index(name)], len(streams[name])))
    unused = b"\0" * 64 + struct.pack("<HBB3I", 0, 0, 0, _FREE, _FREE, _FREE) + b"\0" * 48
    directory = b"".join(entries) + unused * (_SECTOR // 128 - len(entries))
    assert len(directory) == _SECTOR

    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16       # signature, class id
              + struct.pack("<HHHHH6s", 0x3E, 3, 0xFFFE, 9, 6, b"")          # versions, byte order, sector sizes
              + struct.pack("<9I", 0, 1, 1, 0, 4096, _END, 0, _END, 0)       # 1 FAT sector, directory at 1, no mini FAT
              + struct.pack("<109I", 0, *[_FREE] * 108))                     # the FAT is sector 0
    assert len(header) == _SECTOR
    body = b"".join(data.ljust(-(-len(data) // _SECTOR) * _SECTOR, b"\0") for data in streams.values())
    return header + struct.pack(f"<{_SECTOR // 4}I", *fat) + directory + body


def encrypted_workbook() -> bytes:
    """What Excel writes for an .xlsx with a password to open (agile encryption), with
    random bytes where the encrypted package would be."""
    rng = random.Random(7)
    descriptor = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
                  '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption">'
                  '<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
                  'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
                  '</encryption>').encode()
    info = struct.pack("<HHI", 4, 4, 0x40) + descriptor
    package = struct.pack("<Q", 6000) + bytes(rng.getrandbits(8) for _ in range(8184))
    return ole_compound_file({"EncryptionInfo": info.ljust(4096, b" "), "EncryptedPackage": package})


# -- returns tabs ---------------------------------------------------------------------------------


@case("returns_tab_empty", "Acme's Returns tab exists but has not a single cell",
      statuses={"Acme": [], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws)
    write_xlsx(acme_path(ws), {"Returns": []})


@case("returns_tab_deleted", "Acme deleted its Returns tab; another tab of notes is left",
      statuses={"Acme": [], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws)
    write_xlsx(acme_path(ws), {"My notes": [["Lead ID", "Reason"], ["A1", "remember to ask about this"]]})


@case("returns_tab_zero_rows", "Acme's Returns tab has its header and no rows",
      statuses={"Acme": [], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[])


@case("header_missing", "Acme pasted its rows from A1 down: there is no header row",
      exit_code=1, failing=("Acme returns",), message="'Lead ID'", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    write_xlsx(acme_path(ws), {"Returns": ACME_ROWS})


@case("header_misspelt", "Acme's header says 'Lead-ID' and 'Reasons'",
      exit_code=1, failing=("Acme returns",), message="'Lead ID'", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws, acme_header=["Lead-ID", "Reasons", "Note"])


@case("header_other_case_and_spaces", "Acme's headers are '  lead id ', 'REASON' and 'note'",
      statuses=HEALTHY)
def _(ws: Workspace) -> None:
    standard(ws, acme_header=["  lead id ", "REASON", "note"])


@case("header_duplicated", "Acme's header row names 'Lead ID' and 'Status' twice",
      statuses={"Acme": [APPROVED, APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["A1", "wrong number", "old", "Z1", "my own status", "note"],
                       ["A2", "disconnected", None, "A1", None, None]],
             acme_header=["Lead ID", "Reason", "Status", "Lead ID", "Status", "Note"])


@case("merged_cells", "Acme merged cells: engine cells D2:E2, its Note over Status C3:D3, two ID cells A4:A5",
      statuses={"Acme": [APPROVED, APPROVED, APPROVED, None], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["A1", "wrong number", "n1", None, None], ["A2", "disconnected", "n2", None, None],
                       ["000123", "fake", "n3", None, None], [None, "fake", None, None, None]],
             acme_header=["Lead ID", "Reason", "Note", "Status", "Detail"])

    def merge(book: Workbook) -> None:
        sheet = book["Returns"]
        for cells in ("D2:E2", "C3:D3", "A4:A5"):
            sheet.merge_cells(cells)
    edit_workbook(acme_path(ws), merge)


@case("pasted_50000_rows", "Acme pasted 50,000 rows (its whole CRM export), one of them a real request",
      statuses={"Acme": [UNKNOWN] * 49_999 + [APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[[f"CRM-{number:06d}", "wrong number", "export"] for number in range(49_999)]
             + [["A1", "wrong number", None]])


@case("ten_thousand_ids_in_one_cell", "Acme pasted 10,000 IDs into one cell (about 60,000 characters, more "
                                      "than an Excel cell holds; one of the IDs is its own lead)",
      statuses={"Acme": [MIXED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["TEN-THOUSAND-IDS", "wrong number"]])
    ids = ",".join([f"X{number:04d}" for number in range(9_999)] + ["A1"])
    patch_xlsx_text(acme_path(ws), {"TEN-THOUSAND-IDS": ids})  # as Google Sheets or a script can write it


@case("emoji", "emoji in IDs, reasons and notes",
      statuses={"Acme": [APPROVED, UNKNOWN, REVIEW, MIXED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["A1", "wrong number", "👍 thanks"], ["🙂", "fake"], ["A2", "📞❌"],
                       ["000123 👨‍👩‍👧", "fake", "🏳️‍🌈"]])


@case("right_to_left_text", "Arabic and Hebrew reasons, IDs wrapped in right-to-left marks",
      statuses={"Acme": [REVIEW, APPROVED, UNKNOWN], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["\u200fA1\u200f", "رقم خاطئ", "עברית"], ["\u202bA2\u202c", "wrong number"],
                       ["מספר-٣٤", "fake"]])


@case("control_characters", "control characters in IDs and reasons (Excel's _x0007_ escapes), tabs, "
                            "CR and LF inside cells",
      statuses={"Acme": [REVIEW, UNKNOWN, APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["A1", "REASON-WITH-CONTROLS", "n"], ["ID-WITH-CONTROLS", "fake"],
                       ["\tA2\r\n", "wrong\tnumber"]])
    patch_xlsx_text(acme_path(ws), {"REASON-WITH-CONTROLS": "bell_x0007_escape_x001B_[2Jnull_x0000_",
                                    "ID-WITH-CONTROLS": "A_x0001_9"})


@case("console_markup_in_pastes", "pasted text that a terminal library would read as markup: [/], [bold], "
                                  "[link=...]",
      statuses={"Acme": [UNKNOWN, UNKNOWN, REVIEW], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["[/]", "wrong number"], ["[bold]A2", "fake"],
                       ["A1", "[/red] [link=http://evil.example]click[/link]"]])


@case("numbers_as_scientific", "IDs the spreadsheet turned into numbers: 1.23457E+15 as text and as a "
                               "number cell, 123 for 000123",
      statuses={"Acme": [APPROVED, DUPLICATE, APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["1.23457E+15", "wrong number"], [1234567890123450.0, "wrong number"],
                       [123, "wrong number"]])


@case("booleans", "TRUE and FALSE cells in the ID, Reason and Note columns",
      statuses={"Acme": [UNKNOWN, UNKNOWN, REVIEW], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[[True, "wrong number"], [False, True, False], ["A1", False]])


@case("dates_in_id_column", "date and date-time cells in the ID column, a date as Reason",
      statuses={"Acme": [UNKNOWN, UNKNOWN, REVIEW], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[[date(2024, 3, 1), "wrong number"], [datetime(2024, 3, 1, 10, 30), "fake"],
                       ["A1", datetime(2024, 3, 2)]])


@case("formulas_and_hyperlinks", "live formulas in client cells: =HYPERLINK(...), =\"000123\", =1+1, a DDE "
                                 "payload, and a formula as Reason",
      statuses={"Acme": [UNKNOWN, APPROVED, UNKNOWN, UNKNOWN, REVIEW], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    rows = [['=HYPERLINK("http://evil.example/steal","A1")', "wrong number"], ['="000123"', "fake"],
            ["=1+1", "fake"], ["=cmd|' /C calc'!A0", "fake"], ["A2", '=HYPERLINK("http://x.example","fake")']]
    standard(ws, acme=rows)

    def make_formulas(book: Workbook) -> None:
        for cells in book["Returns"].iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "f"
    edit_workbook(acme_path(ws), make_formulas)


@case("whitespace_only_ids", "ID cells holding only spaces, tabs, no-break or zero-width spaces",
      statuses={"Acme": [None, None, None, UNKNOWN, APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["   ", "wrong number"], ["\u00a0\u2003", "fake"], ["\t\n", "fake"], ["\u200b\u2060", "fake"],
                       ["A1", "wrong number"]])


@case("enormous_reason", "a 100,000-character reason and note",
      statuses={"Acme": [REVIEW, APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["A1", "the lead was bad because " + "very " * 20_000, "n" * 100_000],
                       ["A2", "wrong number"]])


@case("clients_same_name_other_case", "the config has clients 'Acme' and 'ACME'",
      exit_code=2, message="clients")
def _(ws: Workspace) -> None:
    standard(ws, write=False)
    write_xlsx(ws.root / "returns" / "acme-upper.xlsx", {"Returns": [["Lead ID", "Reason"], ["A1", "wrong number"]]})
    ws.clients["ACME"] = {"returns": {"excel": "returns/acme-upper.xlsx", "tab": "Returns"}}
    ws.write()


@case("client_without_leads", "a client in the config with no leads pastes other clients' IDs",
      statuses={"Acme": [APPROVED, APPROVED], "Zenith": [APPROVED], "Newco": [UNKNOWN, UNKNOWN]})
def _(ws: Workspace) -> None:
    standard(ws, write=False)
    ws.client("Newco", [["A1", "wrong number"], ["Z1", "fake"]])
    ws.write()


@case("two_clients_one_workbook", "two clients' returns tabs in one workbook (each would see the other's)",
      exit_code=2, message="clients.Zenith.returns")
def _(ws: Workspace) -> None:
    standard(ws, write=False)
    ws.clients["Zenith"]["returns"] = {"excel": "returns/acme.xlsx", "tab": "Zenith"}
    ws.write()


@case("returns_in_tracking_workbook", "a client's returns tab is configured in the operator's tracking "
                                      "workbook (where the Review tab lives)",
      exit_code=2, message="clients.Acme.returns")
def _(ws: Workspace) -> None:
    standard(ws, write=False)
    ws.clients["Acme"]["returns"] = {"excel": "tracking.xlsx", "tab": "Acme returns"}
    ws.write()


# -- the lead log ---------------------------------------------------------------------------------


@case("lead_log_duplicate_ids", "the lead log lists Acme's A1 twice, the second time at 999.00 (one lead sold to "
      "two clients is two sales, SPEC §2.1; the same client twice is a duplicate)",
      statuses={"Acme": HEALTHY["Acme"], "Zenith": [APPROVED, UNKNOWN]})
def _(ws: Workspace) -> None:
    standard(ws, zenith=[["Z1", "fake"], ["A1", "fake"]], write=False)
    ws.lead("A1", "2024-03-01 10:05", "Acme", "999.00")
    ws.write()


@case("negative_or_missing_prices", "prices that are negative, blank, text, and one with $ and a comma",
      statuses={"Acme": [UNKNOWN, UNKNOWN, UNKNOWN, APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["NEG", "wrong number"], ["BLANK", "wrong number"], ["TEXT", "wrong number"],
                       ["DOLLARS", "wrong number"]], write=False)
    for lead_id, price in (("NEG", Decimal("-5.00")), ("BLANK", None), ("TEXT", "ten dollars"),
                           ("DOLLARS", "$1,234.50")):
        ws.leads.append([lead_id, "2024-03-01 10:00", "Acme", "Solar", "US", price, Decimal("1.00"), "Vendor A"])
    ws.write()


@case("huge_amounts", "prices of 1e26 and 1e308 (number cells), '1E+400' and 'NaN' as text, and a cost of 1e20",
      statuses={"Acme": [UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, APPROVED], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[[lead_id, "wrong number"] for lead_id in ("E26", "E308", "E400", "NAN", "COST", "A1")],
             write=False)
    for lead_id, price, cost in (("E26", 1e26, 1.0), ("E308", 1e308, 1.0), ("E400", "1E+400", 1.0),
                                 ("NAN", "NaN", 1.0), ("COST", 10.0, 1e20)):
        ws.leads.append([lead_id, "2024-03-01 10:00", "Acme", "Solar", "US", price, cost, "Vendor A"])
    ws.write()


@case("date_out_of_any_range_in_returns", "a client's own Date column holds -1E+15 formatted as a date "
      "(python-calamine panics on it)", statuses={"Acme": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["A1", "wrong number"]])

    def add_date(book: Workbook) -> None:
        sheet = book["Returns"]
        sheet.cell(1, sheet.max_column + 1, "Date")
        cell = sheet.cell(2, sheet.max_column, -10**15)
        cell.number_format = "yyyy-mm-dd"
    edit_workbook(acme_path(ws), add_date)


@case("lead_log_date_out_of_any_range", "a lead log row's Delivered At is -1E+15 formatted as a date",
      exit_code=1, failing=("leads.xlsx",), message="formatted as a date",
      statuses={"Acme": [None, None], "Zenith": [None]})
def _(ws: Workspace) -> None:
    standard(ws)

    def break_date(book: Workbook) -> None:
        cell = book["Leads"]["B3"]
        cell.value, cell.number_format = -10**15, "yyyy-mm-dd hh:mm"
    edit_workbook(ws.root / "leads.xlsx", break_date)


@case("lead_log_tab_missing", "the lead log workbook has no 'Leads' tab",
      exit_code=1, failing=("leads.xlsx",), message="'Leads'", statuses={"Acme": [None, None], "Zenith": [None]})
def _(ws: Workspace) -> None:
    standard(ws)
    write_xlsx(ws.root / "leads.xlsx", {"Sheet1": lead_rows(ws)})


@case("lead_log_no_rows", "the lead log has its header and no leads",
      statuses={"Acme": [UNKNOWN, UNKNOWN], "Zenith": [UNKNOWN]})
def _(ws: Workspace) -> None:
    standard(ws)
    write_xlsx(ws.root / "leads.xlsx", {"Leads": [LEAD_HEADERS]})


@case("lead_log_empty_tab", "the lead log's tab is empty: no header, no rows",
      exit_code=1, failing=("leads.xlsx",), message="empty", statuses={"Acme": [None, None], "Zenith": [None]})
def _(ws: Workspace) -> None:
    standard(ws)
    write_xlsx(ws.root / "leads.xlsx", {"Leads": []})


@case("lead_log_header_missing", "the lead log's header row was deleted: row 1 is a lead",
      exit_code=1, failing=("leads.xlsx",), message="'Lead ID'", statuses={"Acme": [None, None], "Zenith": [None]})
def _(ws: Workspace) -> None:
    standard(ws)
    write_xlsx(ws.root / "leads.xlsx", {"Leads": ws.leads})


@case("lead_log_not_a_workbook", "leads.xlsx is a text file",
      exit_code=1, failing=("leads.xlsx",), message="Excel workbook", statuses={"Acme": [None, None], "Zenith": [None]})
def _(ws: Workspace) -> None:
    standard(ws)
    (ws.root / "leads.xlsx").write_text("Lead ID,Delivered At\nA1,2024-03-01\n")


@case("csv_lead_log_with_bom", "a CSV lead log saved by Excel as 'CSV UTF-8' (with a byte-order mark)",
      statuses=HEALTHY)
def _(ws: Workspace) -> None:
    standard(ws)
    write_csv_lead_log(ws, [[cell for cell in row] for row in lead_rows(ws)], bom=True)


@case("csv_lead_log_wrong_encoding", "a CSV lead log in Windows-1252 ('Société Générale')",
      exit_code=1, failing=("leads.csv",), message="UTF-8", statuses={"Acme": [None, None], "Zenith": [None]})
def _(ws: Workspace) -> None:
    standard(ws)
    rows = lead_rows(ws)
    rows.append(["S1", "2024-03-01 10:00", "Société Générale", "Solar", "FR", "10.00", "1.00", "Vendor É"])
    write_csv_lead_log(ws, rows, encoding="cp1252")


@case("csv_lead_log_utf16", "a CSV lead log saved as 'Unicode text' (UTF-16)",
      exit_code=1, failing=("leads.csv",), message="UTF-8", statuses={"Acme": [None, None], "Zenith": [None]})
def _(ws: Workspace) -> None:
    standard(ws)
    write_csv_lead_log(ws, lead_rows(ws), encoding="utf-16")


@case("csv_lead_log_ragged_rows", "a CSV lead log whose rows are shorter or longer than its header",
      statuses={"Acme": [APPROVED, UNKNOWN], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws)
    rows = lead_rows(ws)
    rows[1] = [*rows[1], "extra", "cells", "beyond"]
    rows[2] = rows[2][:3]  # A2 loses its vertical, country and price
    write_csv_lead_log(ws, rows)


@case("csv_lead_log_control_characters", "a CSV lead log with control characters in an ID, a client name, "
                                         "a vertical and a country",
      statuses={"Acme": [APPROVED, APPROVED, UNKNOWN], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws, acme=[["A1", "wrong number"], ["A2", "disconnected"], ["CTRL", "wrong number"]])
    rows = lead_rows(ws)
    rows += [["C\x07TRL", "2024-03-01 10:00", "Acme", "Sol\x1bar", "U\x0bS", "3.00", "1.00", "Vendor\x08"],
             ["NUL", "2024-03-01 10:00", "Acme\x00", "Solar", "US", "3.00", "1.00", "Vendor A"]]
    write_csv_lead_log(ws, rows)


# -- files that are not what they claim -------------------------------------------------------------


@case("returns_workbook_is_text", "Acme's returns workbook is a text file named .xlsx",
      exit_code=1, failing=("Acme returns",), message="Excel workbook", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    acme_path(ws).write_text("Lead ID\tReason\nA1\twrong number\n")


@case("returns_workbook_zip_of_junk", "Acme's returns workbook is a zip archive of random files",
      exit_code=1, failing=("Acme returns",), message="Excel workbook", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    rng = random.Random(3)
    with zipfile.ZipFile(acme_path(ws), "w") as archive:
        archive.writestr("junk.bin", bytes(rng.getrandbits(8) for _ in range(2000)))
        archive.writestr("xl/workbook.xml", b"<not really>")


@case("returns_workbook_zero_bytes", "Acme's returns workbook is an empty (0-byte) file, as a sync client "
                                     "leaves a placeholder",
      exit_code=1, failing=("Acme returns",), message="Excel workbook", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    acme_path(ws).write_bytes(b"")


@case("returns_workbook_is_renamed_csv", "Acme's returns workbook is a CSV file renamed to .xlsx",
      exit_code=1, failing=("Acme returns",), message="Excel workbook", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    acme_path(ws).write_text("Lead ID,Reason,Note\r\nA1,wrong number,call back\r\n", encoding="utf-8")


@case("returns_workbook_password_protected", "Acme's returns workbook has a password to open",
      exit_code=1, failing=("Acme returns",), message="password", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    acme_path(ws).write_bytes(encrypted_workbook())


@case("returns_workbook_read_only", "Acme's returns workbook is read-only on disk",
      exit_code=1, failing=("Acme returns",), message="read-only", statuses={"Zenith": [APPROVED]},
      untouched=("returns/acme.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    acme_path(ws).chmod(0o444)


@case("tracking_workbook_read_only", "the tracking workbook is read-only on disk",
      exit_code=1, failing=("tracking",), message="read-only",
      statuses={"Acme": [APPROVED] * 3, "Zenith": [APPROVED]}, untouched=("tracking.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    ws.run(as_of="2024-03-02T12:00")  # a first run made the workbook
    ws.paste("Acme", [["000123", "fake"]])
    (ws.root / "tracking.xlsx").chmod(0o444)


@case("tracking_workbook_is_text", "tracking.xlsx is a text file",
      exit_code=1, failing=("tracking",), message="Excel workbook", statuses=HEALTHY,
      untouched=("tracking.xlsx",))
def _(ws: Workspace) -> None:
    standard(ws)
    (ws.root / "tracking.xlsx").write_text("not a workbook")


@case("tracking_week_header_mangled", "an operator typed text over the week date heading a tracking tab's "
                                      "column (and an Ad spend figure below it)",
      statuses=HEALTHY)
def _(ws: Workspace) -> None:
    standard(ws)
    ws.run(as_of="2024-03-02T12:00")  # makes 'Solar US' with the week ending 2024-03-03 in column B

    def mangle(book: Workbook) -> None:
        sheet = book["Solar US"]
        sheet.cell(1, 2, "week one")
        row = next(cells[0].row for cells in sheet.iter_rows() if cells[0].value == "Ad spend")
        sheet.cell(row, 2, 123.45)
    edit_workbook(ws.root / "tracking.xlsx", mangle)


@case("audit_csv_is_a_folder", "audit.csv beside the tracking workbook is a folder",
      exit_code=1, failing=("audit.csv",), statuses=HEALTHY)
def _(ws: Workspace) -> None:
    standard(ws)
    (ws.root / "audit.csv").mkdir()


@case("ledger_not_sqlite", "ledger.sqlite is a text file", exit_code=2, message="SQLite",
      untouched=("ledger.sqlite",))
def _(ws: Workspace) -> None:
    standard(ws)
    (ws.root / "ledger.sqlite").write_text("these are my notes, not a database\n" * 100)


@case("ledger_path_is_a_folder", "ledger.path names a folder", exit_code=2, message="ledger.path")
def _(ws: Workspace) -> None:
    standard(ws)
    (ws.root / "ledger.sqlite").mkdir()


# -- the config ---------------------------------------------------------------------------------------


@case("config_lead_log_is_a_folder", "leads.excel names a folder", exit_code=2, message="'leads'")
def _(ws: Workspace) -> None:
    standard(ws)
    (ws.root / "leads.xlsx").unlink()
    (ws.root / "leads.xlsx").mkdir()


@case("config_tracking_is_a_folder", "tracking.excel names a folder", exit_code=2, message="tracking.excel")
def _(ws: Workspace) -> None:
    standard(ws)
    (ws.root / "tracking.xlsx").mkdir()


@case("config_returns_is_a_folder", "a client's returns.excel names a folder", exit_code=1,
      failing=("Acme returns",), message="folder", statuses={"Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws)
    acme_path(ws).unlink()
    acme_path(ws).mkdir()


@case("config_not_yaml", "config.yaml is binary junk", exit_code=2, message="config.yaml",
      untouched=("config.yaml",))
def _(ws: Workspace) -> None:
    standard(ws)
    ws.config_path.write_bytes(bytes(range(256)) * 4)


@case("config_bad_value", "window_days is 'seven'", exit_code=2, message="policy.window_days")
def _(ws: Workspace) -> None:
    standard(ws)
    rewrite_config(ws, lambda config: config["policy"].update(window_days="seven"))


@case("returns_as_csv", "a client's returns are configured as a CSV file, which cannot show a status",
      exit_code=2, message="clients.Acme.returns")
def _(ws: Workspace) -> None:
    standard(ws, write=False)
    (ws.root / "returns" / "acme.csv").write_text("Lead ID,Reason\nA1,wrong number\n")
    ws.clients["Acme"]["returns"] = {"csv": "returns/acme.csv"}
    ws.write()


@case("returns_workbook_missing", "Acme's returns workbook does not exist yet: the run makes it",
      statuses={"Acme": [], "Zenith": [APPROVED]})
def _(ws: Workspace) -> None:
    standard(ws)
    acme_path(ws).unlink()


def build(name: str, root: Path) -> Workspace:
    """The workspace of case ``name`` under ``root``."""
    workspace = Workspace(root)
    CASES[name].build(workspace)
    return workspace


if __name__ == "__main__":  # python tests/bad_inputs.py DIR: write every case under DIR, to look at
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad-inputs")
    for name in CASES:
        build(name, target / name)
        print(f"{name}: {CASES[name].what}")
    os.sync()
