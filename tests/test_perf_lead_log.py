"""The lead log as columns: the block and row parsers agree, the cache is exact and safe."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import LEAD_HEADERS, Workspace, write_xlsx
from hypothesis import given, settings
from hypothesis import strategies as st

from sheets_sync.config import LeadsConfig
from sheets_sync.core.project.tracking import Delivered
from sheets_sync.leadlog import LeadLog, LeadLogCache, load_lead_log, parse_lead_log, read_lead_log
from sheets_sync.leadlog import parse as leads_module

ZONE = ZoneInfo("America/New_York")
HEADERS = LeadsConfig(csv=Path("x.csv")).headers


def _snapshot(log: LeadLog) -> tuple:
    return ([(lead.lead_id, lead.delivered_at, lead.delivered_on, lead.client, lead.vertical, lead.country,
              lead.price, str(lead.price), lead.cost, str(lead.cost), lead.source, lead.campaign) for lead in log],
            [(problem.row, problem.message) for problem in log.problems])


cells = st.one_of(
    st.none(), st.just(""), st.just("  "), st.sampled_from(["A1", "A2", " A3 ", "a1", "000123", "123"]),
    st.floats(-1e15, 1e15), st.sampled_from([float("nan"), float("inf")]), st.integers(-5, 10**17), st.booleans(),
    st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 1, 1)),
    st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 1, 1), timezones=st.just(timezone.utc)),
    st.dates(min_value=date(2023, 1, 1), max_value=date(2025, 1, 1)),
    st.sampled_from(["12.50", "$1,234.56", "-3", "ten", "2024-02-12T10:00:00-05:00", "Acme", "ACME", "\x01Solar"]),
)
clean_rows = st.tuples(
    st.from_regex(r"[A-Z]{2}[0-9]{4}", fullmatch=True),
    st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 1, 1)),
    st.sampled_from(["Acme", "Zenith", " Acme "]), st.sampled_from(["Solar", "HVAC", ""]), st.sampled_from(["US", "UK"]),
    st.floats(0, 500, allow_nan=False).map(lambda value: round(value, 2)), st.sampled_from([1.5, 0.0, None, ""]),
    st.sampled_from(["Vendor A", ""]),
).map(list)
rows = st.lists(st.one_of(clean_rows, st.lists(cells, min_size=0, max_size=9)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(1, 8))
def test_blocks_of_clean_rows_give_the_log_that_row_by_row_parsing_gives(data: list, block_rows: int) -> None:
    header = ["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price", "Cost", "Source"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leads_module, "_BLOCK_ROWS", block_rows)
        by_blocks = parse_lead_log([header, *data], HEADERS, ZONE, "log")
        patch.setattr(leads_module.LogBuilder, "add_clean_block", lambda self, block, first: False)
        by_rows = parse_lead_log([header, *data], HEADERS, ZONE, "log")
    assert _snapshot(by_blocks) == _snapshot(by_rows)


def test_columns_survive_the_cache_format_exactly(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "leads.xlsx", {"Leads": [
        LEAD_HEADERS,
        ["000123", datetime(2024, 2, 12, 10, 0, 5, 250000), "Acme", "Solar", "US", 33.35, 10.1, "A"],
        ["123", "2024-02-12T23:30:00-05:00", "acme", "Solar", "US", "12.5", None, ""],
        ["X9", datetime(2024, 2, 13), "Zenith", "", "UK", 0, 0, "B"],
        ["", datetime(2024, 2, 13), "Zenith", "", "UK", 0, 0, "B"],
    ]})
    log = load_lead_log(LeadsConfig(excel=path, tab="Leads"), ZONE)
    again = LeadLog.from_bytes(log.to_bytes())
    assert _snapshot(again) == _snapshot(log)
    assert [lead.price for lead in again] == [Decimal("33.35"), Decimal("12.50"), Decimal("0.00")]
    second = again.lead_at(again.lead_ids.index("123"))
    assert second.delivered_at == datetime(2024, 2, 12, 23, 30)  # local wall-clock time
    assert second.delivered_on == date(2024, 2, 12)
    assert "nope" not in again.lead_ids
    assert [problem.row for problem in again.problems] == [5]


def test_figures_from_the_columns_match_the_leads(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Lead ID,Delivered At,Client,Vertical,Country,Price,Cost\n"
                    "A1,2024-02-12 10:00,Acme,Solar,US,10.10,1\n"
                    "A2,2024-02-18 23:59,ACME,Solar,US,0.20,\n"
                    "A3,2024-02-19 00:00,Zenith,Solar,US,5,2.5\n"
                    "A4,2024-02-19 00:00,Zenith,HVAC,,5,2.5\n", encoding="utf-8")
    log = load_lead_log(LeadsConfig(csv=path, tab=None), ZONE)
    assert log.delivered(("vertical", "country"), 6) == {
        ("Solar", "US"): {date(2024, 2, 18): Delivered(2, Decimal("10.30"), Decimal("1.00")),
                          date(2024, 2, 25): Delivered(1, Decimal("5.00"), Decimal("2.50"))},
        ("HVAC", "(none)"): {date(2024, 2, 25): Delivered(1, Decimal("5.00"), Decimal("2.50"))},
    }
    assert log.groups(("client",)) == {("Acme",), ("ACME",), ("Zenith",)}
    positions = log.positions_by_client({"acme": "Acme"})
    assert {client: log.ids_at(found) for client, found in positions.items()} == {
        "Acme": ["A1", "A2"], "Zenith": ["A3", "A4"]}
    assert log.delivery_dates_by_client({"acme": "Acme"}) == {
        "Acme": [date(2024, 2, 12), date(2024, 2, 18)], "Zenith": [date(2024, 2, 19), date(2024, 2, 19)]}


def test_weekly_sums_stay_exact_past_what_64_bit_cents_hold(tmp_path: Path) -> None:
    """10,000 leads at the largest price a sheet shows to the cent sum to 10^19 cents, past
    2^63: the sum is still exact."""
    path = tmp_path / "leads.csv"
    rows = "".join(f"L{number},2024-02-12 10:00,Acme,Solar,US,9999999999999.99,0.01\n" for number in range(10_000))
    path.write_text("Lead ID,Delivered At,Client,Vertical,Country,Price,Cost\n" + rows, encoding="utf-8")
    log = load_lead_log(LeadsConfig(csv=path, tab=None), ZONE)
    assert log.delivered(("vertical", "country"), 6) == {
        ("Solar", "US"): {date(2024, 2, 18): Delivered(10_000, Decimal("99999999999999900.00"), Decimal("100.00"))}}


def test_a_log_right_of_column_a_keeps_its_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "leads.xlsx", {"Leads": [
        [None, *LEAD_HEADERS],
        [None, "A1", datetime(2024, 2, 12, 10, 0), "Acme", "Solar", "US", 1, 0, "A"],
        [None, "A2", "soon", "Acme", "Solar", "US", 1, 0, "A"],
    ]})
    leads, problems = read_lead_log(LeadsConfig(excel=path, tab="Leads"), ZONE)
    assert [lead.lead_id for lead in leads] == ["A1"]
    assert [(problem.row, problem.message.split()[0]) for problem in problems] == [(3, "Delivered")]


# -- the cache ---------------------------------------------------------------------------


def _log_file(tmp_path: Path, price: str = "10.00") -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(f"Lead ID,Delivered At,Client,Vertical,Country,Price\nA1,2024-02-12 23:30,Acme,Solar,US,{price}\n",
                    encoding="utf-8")
    return path


def test_the_cache_serves_only_the_same_file_read_the_same_way(tmp_path: Path) -> None:
    path = _log_file(tmp_path)
    config, cache_path = LeadsConfig(csv=path, tab=None), tmp_path / ".cache"
    assert LeadLogCache(cache_path, config, ZONE).load() is None
    LeadLogCache(cache_path, config, ZONE).save(load_lead_log(config, ZONE))
    assert [lead.price for lead in LeadLogCache(cache_path, config, ZONE).load()] == [Decimal("10.00")]
    assert LeadLogCache(cache_path, config, ZoneInfo("UTC")).load() is None  # another timezone
    assert LeadLogCache(cache_path, LeadsConfig(csv=path, tab=None, columns={"price": "Cost"}), ZONE).load() is None
    _log_file(tmp_path, "11.00")
    assert LeadLogCache(cache_path, config, ZONE).load() is None  # the file changed


@pytest.mark.parametrize("damage", [lambda data: data[: len(data) // 2], lambda data: data[:60] + b"\x00" * 40,
                                    lambda data: b"", lambda data: data.replace(b"lead log", b"lead_log")])
def test_a_damaged_cache_is_ignored(tmp_path: Path, damage) -> None:
    config, cache_path = LeadsConfig(csv=_log_file(tmp_path), tab=None), tmp_path / ".cache"
    LeadLogCache(cache_path, config, ZONE).save(load_lead_log(config, ZONE))
    cache_path.write_bytes(damage(cache_path.read_bytes()))
    assert LeadLogCache(cache_path, config, ZONE).load() is None


def test_a_google_lead_log_is_never_cached(tmp_path: Path) -> None:
    cache = LeadLogCache(tmp_path / ".cache", LeadsConfig(google="1AbC", tab="Leads"), ZONE)
    assert cache.load() is None
    cache.save(parse_lead_log([["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price"]], HEADERS, ZONE,
                              "x"))
    assert not (tmp_path / ".cache").exists()


def test_runs_fill_the_cache_and_a_changed_log_is_read_again(workspace: Workspace) -> None:
    workspace.lead("A1", datetime(2024, 2, 12, 10, 0), "Acme", price="10.00")
    workspace.client("Acme", [["A1", "wrong number"]])
    workspace.write()
    cache = workspace.root / ".ledger.sqlite.lead-log-cache"
    workspace.run("2024-02-13T09:00", dry_run=True)
    assert not cache.exists()  # a dry run writes nothing at all
    workspace.run("2024-02-13T09:00")
    assert cache.exists()
    workspace.lead("A2", datetime(2024, 2, 12, 11, 0), "Acme", price="20.00")
    workspace.write()  # a new lead log: the cache of the old one must not be served
    workspace.paste("Acme", [["A2", "wrong number"]])
    report = workspace.run("2024-02-14T09:00")
    assert report.leads_read == 2 and [entry.lead_id for entry in report.new_entries] == ["A2"]
    assert report.credits == Decimal("20.00")
