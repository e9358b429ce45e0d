"""The ledger contract (SPEC §4.2, §3.1), run over every store: a SQLite file and a
PostgreSQL database (a throwaway server, tests/pg_cluster.py).

Both stores are opened as every caller opens them (``open_ledger(config)``) and must behave
alike: the same schema and version, entries read back exactly as recorded, the books'
rules refused by the database itself whoever writes, a run's entries all or nothing, one
writer at a time, upgrades in place, and one sentence for a ledger of another version.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sheets_sync import faults
from sheets_sync.config import Config, parse_config
from sheets_sync.core.model import NewEntry
from sheets_sync.core.project.tracking import WeekFigures
from sheets_sync.store.ledger import LedgerError, open_ledger, read_entries
from sheets_sync.store.ledger_schema import SCHEMA_VERSION, TABLES

NEW_YORK = ZoneInfo("America/New_York")
DELIVERED = datetime(2024, 2, 14, 10, 0, tzinfo=timezone.utc)
BOOKED = datetime(2024, 2, 20, 9, 30, tzinfo=NEW_YORK)
STORES = ("sqlite", "postgresql")


@dataclass
class Store:
    """One store under test: the config that names it, and raw SQL on it (as another
    program, or a person with a database console, would reach it)."""

    name: str
    config: Config
    url: str | None = None

    def sql(self, statement: str) -> list[tuple]:
        if self.url is None:
            with closing(sqlite3.connect(self.config.ledger.path, isolation_level=None)) as db:
                return db.execute(statement).fetchall()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            cursor = db.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def set_version(self, version: int) -> None:
        self.sql(f"PRAGMA user_version={version}" if self.url is None else f"UPDATE sheets_sync_schema SET version = {version}")

    def columns(self, table: str) -> list[str]:
        if self.url is None:
            return [row[1] for row in self.sql(f"PRAGMA table_info({table})")]
        return [row[0] for row in self.sql("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                           f"'{table}' AND column_name <> 'rowid' ORDER BY ordinal_position")]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    url = request.getfixturevalue("ledger_url") if request.param == "postgresql" else None
    ledger = {"url": url} if url else {"path": "ledger.sqlite"}
    config = parse_config({"timezone": "America/New_York", "leads": {"excel": "leads.xlsx"},
                           "tracking": {"excel": "tracking.xlsx"}, "ledger": ledger}, tmp_path)
    return Store(request.param, config, url)


def entry(lead_id: str = "L1", kind: str = "decision", status: str = "Approved", credit: str = "10.00",
          price: str = "10.00", refers_to: int | None = None, client: str = "Acme") -> NewEntry:
    return NewEntry(client=client, lead_id=lead_id, kind=kind, status=status, rule="in_window", detail="ok",
                    reason="wrong number", credit=Decimal(credit), credit_type="wallet", first_seen=BOOKED,
                    decided_at=BOOKED, delivered_at=DELIVERED, vertical="Solar", country="US", source="Vendor A",
                    campaign="", price=Decimal(price), lead_week=date(2024, 2, 18), cash_week=date(2024, 2, 25),
                    refers_to=refers_to)


def record(store: Store, run_id: str, *entries: NewEntry, sightings=(), undoes: str | None = None) -> None:
    with open_ledger(store.config) as ledger:
        ledger.record_run(run_id, BOOKED, BOOKED, list(entries), sightings, undoes=undoes)


def test_a_new_ledger_has_every_table_of_the_current_schema_and_nothing_in_them(store: Store) -> None:
    with open_ledger(store.config, mode="read") as reader:  # a reader of a ledger not there yet makes none
        assert reader.absent and reader.entries() == [] and reader.runs() == []
    assert store.url is not None or not store.config.ledger.path.exists()
    with open_ledger(store.config) as ledger:
        assert not ledger.absent
        assert (ledger.entries(), ledger.runs(), ledger.closes(), ledger.sightings(), ledger.undone_runs(),
                ledger.zones_of_runs()) == ([], [], [], {}, set(), {})
    assert store.sql("PRAGMA user_version" if store.url is None else "SELECT version FROM sheets_sync_schema") == \
        [(SCHEMA_VERSION,)]


def test_both_stores_have_the_same_tables_and_columns(store: Store) -> None:
    open_ledger(store.config).close()
    assert {table: store.columns(table) for table in TABLES} == {
        "runs": ["run_id", "started_at", "as_of", "timezone"],
        "entries": ["seq", "run_id", "client", "lead_id", "kind", "status", "rule", "detail", "reason",
                    "credit_cents", "credit_type", "first_seen", "decided_at", "delivered_at", "vertical",
                    "country", "source", "campaign", "price_cents", "refers_to"],
        "sightings": ["client", "pasted_key", "first_seen", "run_id"],
        "undone_runs": ["run_id"],
        "closes": ["through", "closed_at", "last_seq", "layout", "figures"],
    }


def test_a_run_reads_back_exactly_as_it_was_recorded(store: Store) -> None:
    seen = datetime(2024, 2, 19, 23, 59, 59, 123456, tzinfo=NEW_YORK)
    record(store, "run-1", entry("L1"), entry("L2", status="Rejected", credit="0.00", price="12.34"),
           sightings=[("Acme", "l1", seen), ("Acme", "l2", seen)])
    record(store, "run-2", entry("L1", kind="reversal", status="Reversed", credit="-10.00", refers_to=1))
    entries = read_entries(store.config)
    assert [(e.seq, e.run_id, e.lead_id, e.kind, e.status, e.credit, e.price, e.refers_to) for e in entries] == [
        (1, "run-1", "L1", "decision", "Approved", Decimal("10.00"), Decimal("10.00"), None),
        (2, "run-1", "L2", "decision", "Rejected", Decimal("0.00"), Decimal("12.34"), None),
        (3, "run-2", "L1", "reversal", "Reversed", Decimal("-10.00"), Decimal("10.00"), 1),
    ]
    first = entries[0]
    assert (first.decided_at, first.delivered_at, first.first_seen) == (BOOKED, DELIVERED, BOOKED)
    assert first.decided_at.utcoffset() == timedelta(hours=-5)  # the moment as booked, in its zone
    assert (first.lead_week, first.cash_week) == (date(2024, 2, 18), date(2024, 2, 25))  # weeks worked out on reading
    with open_ledger(store.config) as ledger:
        assert ledger.runs() == ["run-1", "run-2"]
        assert ledger.sightings() == {("Acme", "l1"): seen, ("Acme", "l2"): seen}
        assert ledger.zones_of_runs() == {"run-1": NEW_YORK, "run-2": NEW_YORK}


@pytest.mark.parametrize("refused, words", [
    ((entry("L1", status="Rejected", credit="0.00"),), "one live decision"),  # decided twice
    ((entry("L1", kind="override", credit="1.00"),), "between 0 and its price"),  # credited past its price
    ((entry("L2", kind="reversal", status="Reversed", credit="-1.00", refers_to=1),), "between 0 and its price"),
    ((entry("L3", status="Rejected", credit="5.00"),), "check"),             # a credit on a rejection
    ((entry("L3", kind="reversal", status="Reversed", credit="0.00"),), "check"),  # a reversal of nothing
    ((entry("L3", status="Rejected", credit="0.00"),) * 2, "one live decision"),  # twice within one run
])
def test_the_books_rules_are_the_databases_and_a_refused_run_records_nothing(
        store: Store, refused: tuple[NewEntry, ...], words: str) -> None:
    record(store, "run-1", entry("L1"), entry("L2", status="Rejected", credit="0.00"), sightings=[("Acme", "k", BOOKED)])
    before = (read_entries(store.config), store.sql("SELECT run_id FROM runs"), store.sql("SELECT * FROM sightings"))
    with pytest.raises(LedgerError) as refusal:
        record(store, "run-2", entry("L9"), *refused, sightings=[("Acme", "other", BOOKED)])
    message = str(refusal.value)
    assert message.startswith(f"Ledger {store.config.ledger.label} refused this run's entries (")
    assert message.endswith("; nothing was recorded.") and words in message.lower(), message
    assert (read_entries(store.config), store.sql("SELECT run_id FROM runs"),
            store.sql("SELECT * FROM sightings")) == before


def test_the_rules_hold_for_any_program_that_writes_to_the_database(store: Store) -> None:
    record(store, "run-1", entry("L1"))
    columns = ("seq, run_id, client, lead_id, kind, status, rule, detail, reason, credit_cents, credit_type, first_seen,"
               " decided_at, delivered_at, vertical, country, source, campaign, price_cents")
    second = ("2, 'run-1', 'Acme', 'L1', 'override', 'Approved', 'x', 'x', 'x', 500, 'wallet', 'x', 'x', 'x', 'x', 'x',"
              " 'x', 'x', 1000")
    with pytest.raises(Exception, match="between 0 and its price"):
        store.sql(f"INSERT INTO entries ({columns}) VALUES ({second})")
    assert len(read_entries(store.config)) == 1


def test_an_undo_voids_a_decision_and_its_first_seen_stamps(store: Store) -> None:
    record(store, "run-1", entry("L1"), sightings=[("Acme", "l1", BOOKED)])
    later = BOOKED + timedelta(days=1)
    record(store, "run-2", sightings=[("Acme", "l1", later)])  # a stamp is never moved
    with open_ledger(store.config) as ledger:
        assert ledger.sightings() == {("Acme", "l1"): BOOKED}
    record(store, "undo-1", entry("L1", kind="undo", status="Undone", credit="-10.00", refers_to=1), undoes="run-1")
    record(store, "undo-2", undoes="run-1")  # undoing twice records the undone run once
    with open_ledger(store.config) as ledger:
        assert ledger.undone_runs() == {"run-1"} and ledger.sightings() == {}
    record(store, "run-3", entry("L1"), sightings=[("Acme", "l1", later)])  # decided afresh
    with open_ledger(store.config) as ledger:
        assert ledger.sightings() == {("Acme", "l1"): later}
        assert [e.kind for e in ledger.entries()] == ["decision", "undo", "decision"]


def test_closes_keep_their_order_and_never_go_back(store: Store) -> None:
    figures = {("Solar", "US"): {date(2024, 2, 18): WeekFigures(delivered=3, refunds=Decimal("10.00"))}}
    record(store, "run-1", entry("L1"))
    with open_ledger(store.config) as ledger:
        ledger.record_close(date(2024, 2, 18), BOOKED, "vertical,country", figures)
        ledger.record_close(date(2024, 2, 25), BOOKED, "vertical,country", {})
        with pytest.raises(LedgerError, match="closed already; a close cannot go back to 2024-02-11"):
            ledger.record_close(date(2024, 2, 11), BOOKED, "vertical,country", {})
        closes = ledger.closes()
    assert [(c.through, c.closed_at, c.last_seq, c.layout, c.figures) for c in closes] == [
        (date(2024, 2, 18), BOOKED, 1, "vertical,country", figures),
        (date(2024, 2, 25), BOOKED, 1, "vertical,country", {}),
    ]


def test_a_failure_before_the_commit_leaves_the_ledger_as_it_was(store: Store) -> None:
    record(store, "run-1", entry("L1"))

    def power_cut() -> None:
        raise KeyboardInterrupt  # anything at all, between the inserts and the commit

    with faults.at("ledger.before_commit", power_cut), pytest.raises(KeyboardInterrupt):
        record(store, "run-2", entry("L2"), sightings=[("Acme", "l2", BOOKED)])
    with open_ledger(store.config) as ledger:
        assert ledger.runs() == ["run-1"] and ledger.sightings() == {}
        assert [e.lead_id for e in ledger.entries()] == ["L1"]
    record(store, "run-3", entry("L2"))  # numbered on with no gap, as the books numbered it
    assert [(e.seq, e.lead_id) for e in read_entries(store.config)] == [(1, "L1"), (2, "L2")]


def test_two_writers_go_one_after_the_other_and_the_second_sees_the_first(store: Store) -> None:
    open_ledger(store.config).close()
    outcome: dict[str, object] = {}

    def second_writer() -> None:
        try:
            record(store, "run-b", entry("L1", status="Rejected", credit="0.00"))
            outcome["b"] = "recorded"
        except LedgerError as error:
            outcome["b"] = str(error)

    second = threading.Thread(target=second_writer)

    def while_the_first_is_uncommitted() -> None:
        if second.ident is None:
            second.start()
            time.sleep(1.0)
            outcome["b waited"] = second.is_alive()

    with faults.at("ledger.before_commit", while_the_first_is_uncommitted):
        record(store, "run-a", entry("L1"))
        second.join(30)
    assert outcome["b waited"] is True
    assert "one live decision" in str(outcome["b"])
    assert [(e.run_id, e.lead_id) for e in read_entries(store.config)] == [("run-a", "L1")]


def _schema_2(store: Store) -> None:
    """The ledger as sheets-sync's schema 2 left it: no closes, no timezone of the runs."""
    record(store, "run-1", entry("L1"))
    store.sql("DROP TABLE closes")
    store.sql("ALTER TABLE runs DROP COLUMN timezone")
    store.set_version(2)


def test_a_ledger_of_schema_2_is_upgraded_in_place_by_a_run_and_read_as_upgraded_before(store: Store) -> None:
    _schema_2(store)
    if store.url is None:  # a reader of a file reads an upgraded copy; a database is upgraded by a run first
        assert [e.lead_id for e in read_entries(store.config)] == ["L1"]
    else:
        with pytest.raises(LedgerError, match="has schema 2; the next run upgrades it"):
            read_entries(store.config)
    with open_ledger(store.config) as ledger:
        assert ledger.zones_of_runs() == {"run-1": NEW_YORK} and ledger.closes() == []
        assert [e.lead_id for e in ledger.entries()] == ["L1"]
    assert store.columns("runs")[-1] == "timezone"


@pytest.mark.parametrize("mode", ["write", "dry_run", "read"])
def test_a_ledger_of_a_newer_schema_is_refused_in_one_sentence_and_left_alone(store: Store, mode: str) -> None:
    record(store, "run-1", entry("L1"))
    store.set_version(SCHEMA_VERSION + 1)
    with pytest.raises(LedgerError) as refusal:
        open_ledger(store.config, mode=mode)
    key = "ledger.path" if store.url is None else "ledger.url"
    assert str(refusal.value) == (f"Ledger {store.config.ledger.label} (key '{key}') was written by a newer "
                                  f"sheets-sync (schema {SCHEMA_VERSION + 1}); upgrade.")
    store.set_version(SCHEMA_VERSION)
    assert [e.lead_id for e in read_entries(store.config)] == ["L1"]


def test_a_dry_run_and_a_reader_change_nothing(store: Store) -> None:
    record(store, "run-1", entry("L1"))
    before = store.sql("SELECT * FROM entries ORDER BY seq")
    for mode in ("dry_run", "read"):
        with open_ledger(store.config, mode=mode) as ledger:
            assert [e.lead_id for e in ledger.entries()] == ["L1"]
    assert store.sql("SELECT * FROM entries ORDER BY seq") == before
    assert store.sql("SELECT run_id FROM runs") == [("run-1",)]


def test_many_entries_go_in_and_come_back_in_order(store: Store) -> None:
    entries = [entry(f"L{number:05d}", status="Rejected", credit="0.00") for number in range(3000)]
    record(store, "run-1", *entries, sightings=[("Acme", f"l{number}", BOOKED) for number in range(3000)])
    read = read_entries(store.config)
    assert [e.lead_id for e in read] == [e.lead_id for e in entries] and [e.seq for e in read] == list(range(1, 3001))
