"""Lead logs past a spreadsheet (issue 16): CSV and Parquet globs through DuckDB, a table or
query of a SQL database through SQLAlchemy (SQLite here, PostgreSQL with the ``postgres``
fixture), their bad inputs, and a database password that never shows."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from pg_cluster import PASSWORD, ROLE, Cluster

from sheets_sync.backends.base import WorkbookError
from sheets_sync.config import ConfigError, missing_files, parse_config
from sheets_sync.leadlog import LeadLogCache, load_lead_log

ZONE = ZoneInfo("America/New_York")
HEADER = "Lead ID,Delivered At,Client,Vertical,Country,Price,Cost\n"


def config_of(tmp_path: Path, leads: dict):
    return parse_config({"timezone": ZONE.key, "leads": leads, "tracking": {"excel": "tracking.xlsx"}}, tmp_path)


def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "leads-2026-01-06.csv").write_text(
        "Client,Lead ID,Delivered At,Vertical,Country,Price\n"
        "Acme,000123,2026-01-06,Solar,US,10\n"
        "Zenith,000123,2026-01-06 23:59:59.5,Solar,US,10.005\n")
    (folder / "leads-2026-01-05.csv").write_text(
        HEADER + "000123,2026-01-05 10:00:00,Acme,Solar,US,10.50,4.00\n"
        "123,2026-01-05T10:00:00+02:00,Acme,Solar,US,\"1,000.10\",\n"
        "X1,05.01.2026,Zenith,HVAC,UK,$3,1\n"
        "X2,not a date,Zenith,HVAC,UK,3,1\n")
    return folder


def test_a_csv_glob_is_one_log_in_file_name_order_with_each_files_rows(tmp_path: Path) -> None:
    exports(tmp_path)
    log = load_lead_log(config_of(tmp_path, {"csv": "exports/leads-*.csv"}).leads, ZONE)
    leads = list(log)
    assert [(lead.lead_id, lead.client) for lead in leads] == [
        ("000123", "Acme"), ("123", "Acme"), ("X1", "Zenith"), ("000123", "Zenith")]
    assert leads[1].delivered_at == datetime(2026, 1, 5, 3, 0)  # +02:00 converted to New York
    assert [lead.price for lead in leads] == [Decimal("10.50"), Decimal("1000.10"), Decimal("3.00"), Decimal("10.01")]
    assert leads[3].delivered_at == datetime(2026, 1, 6, 23, 59, 59, 500000)
    assert [(problem.source, problem.row) for problem in log.problems] == [
        ("leads-2026-01-05.csv", 5), ("leads-2026-01-06.csv", 2)]
    assert "already on row 2 of leads-2026-01-05.csv" in log.problems[1].message


def test_parquet_files_keep_types_exact(tmp_path: Path) -> None:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    duckdb.sql(f"""COPY (SELECT * FROM (VALUES
        ('P1', TIMESTAMPTZ '2026-01-05 15:00:00+00', 'Acme', 'Solar', 'US', 12.345::DECIMAL(10, 3), 1.005::DOUBLE),
        ('P2', TIMESTAMPTZ '2026-01-05 15:00:00+00', 'Acme', 'Solar', 'US', -1, 0))
        AS t("Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price", "Cost"))
        TO '{folder / "part-1.parquet"}'""")
    log = load_lead_log(config_of(tmp_path, {"parquet": "warehouse/*.parquet"}).leads, ZONE)
    (lead,) = list(log)
    assert (lead.delivered_at, lead.price, lead.cost) == (datetime(2026, 1, 5, 10), Decimal("12.35"), Decimal("1.01"))
    assert [(problem.source, problem.row) for problem in log.problems] == [("part-1.parquet", 2)]


def test_the_cache_reads_a_new_daily_file(tmp_path: Path) -> None:
    folder = exports(tmp_path)
    leads = config_of(tmp_path, {"csv": "exports/leads-*.csv"}).leads
    cache = LeadLogCache(tmp_path / "cache", leads, ZONE)
    cache.save(load_lead_log(leads, ZONE))
    assert len(LeadLogCache(tmp_path / "cache", leads, ZONE).load()) == 4
    (folder / "leads-2026-01-07.csv").write_text(HEADER + "N1,2026-01-07,Acme,Solar,US,1,0\n")
    assert LeadLogCache(tmp_path / "cache", leads, ZONE).load() is None


def test_bad_files_are_one_sentence_naming_the_key(tmp_path: Path) -> None:
    assert missing_files(config_of(tmp_path, {"csv": "exports/*.csv"})) == [
        f"Lead log {tmp_path}/exports/*.csv (key 'leads.csv') matches no file."]
    (tmp_path / "a.parquet").write_text("Lead ID,Delivered At\n")
    with pytest.raises(WorkbookError, match=r"a.parquet \(key 'leads.parquet'\) cannot be read as Parquet"):
        load_lead_log(config_of(tmp_path, {"parquet": "*.parquet"}).leads, ZONE)
    (tmp_path / "a.csv").write_text("Lead,Delivered At,Client,Vertical,Country,Price\n")
    with pytest.raises(WorkbookError, match=r"no column headed 'Lead ID'.*leads.columns"):
        load_lead_log(config_of(tmp_path, {"csv": "a.csv"}).leads, ZONE)
    with pytest.raises(ConfigError, match="exactly one of leads.table"):
        config_of(tmp_path, {"sql": "sqlite:///x.db"})


def sqlite_log(tmp_path: Path) -> str:
    path = tmp_path / "leadgen.db"
    with sqlite3.connect(path) as database:
        database.execute('CREATE TABLE deliveries ("Lead ID" TEXT, "Delivered At" TEXT, "Client" TEXT, '
                         '"Vertical" TEXT, "Country" TEXT, "Price" NUMERIC)')
        database.executemany("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?)", [
            ("007", "2026-01-05 10:00:00", "Acme", "Solar", "US", "10.50"),
            ("008", "someday", "Acme", "Solar", "US", "1")])
    return f"sqlite:///{path}"


def test_a_sqlite_table_and_query(tmp_path: Path) -> None:
    url = sqlite_log(tmp_path)
    for leads in ({"sql": url, "table": "deliveries"}, {"sql": url, "query": "select * from deliveries"}):
        log = load_lead_log(config_of(tmp_path, leads).leads, ZONE)
        assert [(lead.lead_id, lead.price) for lead in log] == [("007", Decimal("10.50"))]
        assert [problem.row for problem in log.problems] == [3]
    with pytest.raises(WorkbookError, match=r"has no table or view 'nowhere' \(key 'leads.table'\)"):
        load_lead_log(config_of(tmp_path, {"sql": url, "table": "nowhere"}).leads, ZONE)
    with pytest.raises(WorkbookError, match=r"cannot answer leads.query \(no such column: x\)"):
        load_lead_log(config_of(tmp_path, {"sql": url, "query": "select x from deliveries"}).leads, ZONE)


@pytest.fixture
def leadgen(postgres: Cluster) -> str:
    """A PostgreSQL database with a deliveries table (timestamptz, numeric)."""
    database = postgres.database()
    postgres.admin('CREATE TABLE deliveries ("Lead ID" text, "Delivered At" timestamptz, "Client" text, '
                   '"Vertical" text, "Country" text, "Price" numeric(12, 2), "Cost" numeric(12, 2))', database)
    postgres.admin(f"ALTER TABLE deliveries OWNER TO {ROLE}", database)
    postgres.admin("INSERT INTO deliveries VALUES ('000123', '2026-01-05 15:00:00+00', 'Acme', 'Solar', 'US', 33.35, "
                   "NULL), ('000124', '2026-01-05 15:00:00+00', 'Acme', 'Solar', 'US', -1, 0)", database)
    return database


def test_a_postgresql_table(tmp_path: Path, postgres: Cluster, leadgen: str) -> None:
    leads = config_of(tmp_path, {"sql": postgres.url(leadgen), "table": "deliveries"}).leads
    assert leads.describe() == f"postgresql://{ROLE}:***@127.0.0.1:{postgres.port}/{leadgen} table deliveries"
    log = load_lead_log(leads, ZONE)
    assert [(lead.lead_id, lead.delivered_at, lead.price) for lead in log] == [
        ("000123", datetime(2026, 1, 5, 10), Decimal("33.35"))]
    assert [problem.row for problem in log.problems] == [3]


@pytest.mark.parametrize("trouble", ["wrong password", "server down", "no such table"])
def test_a_database_password_is_never_shown(tmp_path: Path, postgres: Cluster, leadgen: str, trouble: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    url = {"wrong password": postgres.url(leadgen, password=PASSWORD + "x"),
           "server down": postgres.url(leadgen, port=1),
           "no such table": postgres.url(leadgen)}[trouble]
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    leads = config_of(tmp_path, {"sql": url, "table": "nowhere" if trouble == "no such table" else "deliveries"}).leads
    with pytest.raises(WorkbookError) as raised:
        load_lead_log(leads, ZONE)
    message = str(raised.value)
    key = "leads.table" if trouble == "no such table" else "leads.sql"
    assert f"(key '{key}')" in message and message.count("\n") == 0
    assert PASSWORD not in message and PASSWORD not in leads.describe() and PASSWORD not in repr(leads)
    assert os.environ["PGPASSWORD"] == PASSWORD
