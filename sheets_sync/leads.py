"""Reading the operator's lead log (SPEC §2.1) from Excel, CSV or a Workbook tab."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .backends.base import CellValue, WorkbookError, cell_as_date, cell_text
from .config import LeadsConfig
from .model import Lead, Problem
from .money import ZERO, to_money
from .weeks import local_date

REQUIRED_FIELDS = ("lead_id", "delivered_at", "client", "vertical", "country", "price")


def _moment(value: CellValue) -> datetime | None:
    """A delivery time: a date-time cell, a date cell, a serial number or ISO text."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        day = cell_as_date(value)
        if day is None:
            return None
        seconds = round((float(value) % 1) * 86400)
        return datetime.combine(day, time()) + timedelta(seconds=seconds)
    return None


def parse_lead_rows(rows: Iterable[Sequence[CellValue]], headers: dict[str, str], zone: ZoneInfo,
                    source: str) -> tuple[list[Lead], list[Problem]]:
    """Header row then data rows -> leads and one problem per rejected row (1-based rows)."""
    iterator = iter(rows)
    header_row = next(iterator, None)
    if header_row is None:
        return [], [Problem(source, "the lead log is empty (no header row)")]
    position = {cell_text(cell).casefold(): index for index, cell in enumerate(header_row) if cell_text(cell)}
    columns: dict[str, int] = {}
    missing = []
    for field, header in headers.items():
        index = position.get(header.strip().casefold())
        if index is not None:
            columns[field] = index
        elif field in REQUIRED_FIELDS:
            missing.append(header)
    if missing:
        return [], [Problem(source, f"the lead log has no column headed {', '.join(repr(h) for h in missing)} "
                                    f"(set leads.columns in the config if it is named differently)")]
    leads: list[Lead] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    width = max(columns.values()) + 1
    for row_number, row in enumerate(iterator, start=2):
        cells = list(row) + [None] * (width - len(row))
        values = {field: cells[index] for field, index in columns.items()}
        if all(cell_text(value) == "" for value in values.values()):
            continue
        lead_id = cell_text(values["lead_id"])
        if not lead_id:
            problems.append(Problem(source, "no Lead ID; row left out", row_number))
            continue
        if lead_id in seen:
            problems.append(Problem(source, f"Lead ID {lead_id} already on row {seen[lead_id]}; row left out",
                                    row_number))
            continue
        delivered_at = _moment(values["delivered_at"])
        if delivered_at is None:
            problems.append(Problem(source, f"Delivered At {cell_text(values['delivered_at'])!r} is not a date; "
                                            "row left out", row_number))
            continue
        price = to_money(values["price"])
        if price is None or price < 0:
            problems.append(Problem(source, f"Price {cell_text(values['price'])!r} is not an amount; row left out",
                                    row_number))
            continue
        raw_cost = values.get("cost")
        cost = ZERO if cell_text(raw_cost) == "" else to_money(raw_cost)
        if cost is None or cost < 0:
            problems.append(Problem(source, f"Cost {cell_text(raw_cost)!r} is not an amount; row left out", row_number))
            continue
        client = cell_text(values["client"])
        if not client:
            problems.append(Problem(source, "no Client; row left out", row_number))
            continue
        seen[lead_id] = row_number
        leads.append(Lead(
            lead_id=lead_id,
            delivered_at=delivered_at,
            delivered_on=local_date(delivered_at, zone),
            client=client,
            vertical=cell_text(values["vertical"]) or "(none)",
            country=cell_text(values["country"]) or "(none)",
            price=price,
            cost=cost,
            source=cell_text(values.get("source")),
            campaign=cell_text(values.get("campaign")),
        ))
    return leads, problems


def read_excel_rows(path: Path, tab: str | None) -> list[list[CellValue]]:
    """All rows of one tab with python-calamine (the fast reader; see EXCEL-NOTES)."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own error types for every unreadable file
        raise WorkbookError(f"{path} cannot be read as an Excel workbook ({error.__class__.__name__}).") from None
    name = tab or workbook.sheet_names[0]
    if name not in workbook.sheet_names:
        raise WorkbookError(f"{path} has no tab named {name!r} (tabs: {', '.join(workbook.sheet_names)}).")
    return workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)


def read_csv_rows(path: Path) -> list[list[CellValue]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [list(row) for row in csv.reader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise WorkbookError(f"{path} cannot be read as UTF-8 CSV ({error.__class__.__name__}).") from None


def read_lead_log(config: LeadsConfig, zone: ZoneInfo, open_google=None) -> tuple[list[Lead], list[Problem]]:
    """The lead log named by the config. Raises :class:`WorkbookError` if it cannot be read."""
    if config.kind == "excel":
        rows, source = read_excel_rows(config.excel, config.tab), str(config.excel.name)
    elif config.kind == "csv":
        rows, source = read_csv_rows(config.csv), str(config.csv.name)
    else:
        workbook = open_google(config.google)
        grids = workbook.read([config.tab or "Leads"])
        if not grids:
            raise WorkbookError(f"Spreadsheet {workbook.label} has no tab named {config.tab!r}.")
        rows, source = next(iter(grids.values())), f"{workbook.label} {config.tab}"
    return parse_lead_rows(rows, config.headers, zone, source)
