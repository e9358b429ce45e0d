"""The books under change, as a property (SPEC §3.1): random months of history -- log rows
deleted, re-added, re-exported with IDs in another form, delivery dates, groups, prices and
clients corrected, review approvals, reversals and answers to corrected prices, undo,
``week_ends_on``, ``timezone`` and ``group_by`` changes (the tracking workbook laid out
again in place), closes of past weeks -- and after every run:

* the credits of every sale stay within [0, its price] wherever money moves;
* no sale has two live decisions;
* every week's ``Refunds``, ``Refunded leads`` and ``Replaced leads`` of the current layout's tabs equal the
  oracle's placement of the ledger's entries (by each entry's own sale facts, in the
  timezone of the day), and the cash view the signed credits by booking week; money booked
  after its week's close is in ``Refunds after close`` instead (and in the cash view); tabs
  of an old layout are left as they were;
* a re-run writes nothing and decides nothing.

The oracle reads the ledger straight from SQLite and places entries with its own week
arithmetic; it shares no code with the engine. The workbooks are in memory
(``MemoryWorkbook``): what is under test is the books, not a file format.
"""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from collections import Counter, defaultdict
from contextlib import closing
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_returns_engine import ledger_rows

from sheets_sync import load_config, run_sync
from sheets_sync.backends.memory import MemoryWorkbook, memory_opener
from sheets_sync.commands.close import close_through
from sheets_sync.commands.undo import UndoError, undo_run
from sheets_sync.core.cells import cell_as_date
from sheets_sync.store.ledger import LedgerError

ZONES = ("America/New_York", "America/Los_Angeles")
START = datetime(2024, 3, 4, 9, 0)  # a Monday; the history crosses the March DST change
CLIENTS = ("Acme", "Zenith")
CREDITS = ("wallet", "replacement")
"""Zenith is owed replacement leads: refunded leads, never money."""
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HISTORIES = 200
"""Random histories tried on every run of the suite (new ones each time)."""

leads_strategy = st.lists(st.tuples(st.sampled_from(CLIENTS), st.sampled_from(("Solar", "Roofing")),
                                    st.integers(0, 6 * 24), st.integers(100, 9999)),
                          min_size=2, max_size=12)
paste = st.tuples(st.just("paste"), st.integers(0, 11), st.sampled_from(("wrong number", "he hung up")))
review = st.tuples(st.just("review"), st.sampled_from(("Approve", "Approve", "Reject", "")))
change = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 11)),
    st.tuples(st.just("restore"), st.integers(0, 11)),
    st.tuples(st.just("zeros"), st.booleans()),
    st.tuples(st.just("move"), st.integers(0, 11), st.integers(-10, 10)),
    st.tuples(st.just("regroup"), st.integers(0, 11)),
    review,
    review,
    st.tuples(st.just("undo"), st.integers(0, 3)),
    st.tuples(st.just("weekday"), st.sampled_from(WEEKDAYS)),
    st.tuples(st.just("price"), st.integers(0, 11), st.integers(100, 9999)),
    st.tuples(st.just("refile"), st.integers(0, 11)),
    st.tuples(st.just("zone"), st.sampled_from(ZONES)),
    st.tuples(st.just("group_by"), st.booleans()),
    st.tuples(st.just("close"), st.integers(0, 2)),
)
round_strategy = st.tuples(st.lists(paste, max_size=3), st.integers(1, 72), st.lists(change, max_size=2))
"""One round of a history: the clients paste, a run, then the operator changes something."""

class History:
    """One workspace going through a history: the log as the operator keeps it, the
    clients' pastes, the memory workbooks, and the checks after each run."""

    def __init__(self, root: Path, leads: list[tuple[str, str, int, int]]) -> None:
        self.root = root
        self.leads = [{"id": f"{number + 1:05d}", "client": client, "vertical": vertical,
                       "at": START + timedelta(hours=hours), "price": Decimal(cents).scaleb(-2)}
                      for number, (client, vertical, hours, cents) in enumerate(leads)]
        self.dropped: set[int] = set()
        self.zeros_lost = False
        self.week_ends_on = "sunday"
        self.zone = ZONES[0]
        self.by_country = True
        self.now = START + timedelta(days=7)
        self.workbooks = {self.root / f"{client.lower()}.xlsx": MemoryWorkbook(client, {"Returns": [
            ["Lead ID", "Reason", "Note"]]}) for client in CLIENTS}
        self.runs: list[str] = []
        self.write()

    def write(self) -> None:
        with (self.root / "leads.csv").open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["Lead ID", "Delivered At", "Client", "Vertical", "Country", "Price"])
            for number, lead in enumerate(self.leads):
                if number not in self.dropped:
                    lead_id = lead["id"].lstrip("0") if self.zeros_lost else lead["id"]
                    out.writerow([lead_id, lead["at"].isoformat(" "), lead["client"], lead["vertical"], "US",
                                  str(lead["price"])])
        group_by = ["vertical", "country"] if self.by_country else ["vertical"]
        config = {"timezone": self.zone, "week_ends_on": self.week_ends_on,
                  "leads": {"csv": "leads.csv"}, "tracking": {"excel": "tracking.xlsx", "group_by": group_by},
                  "ledger": {"path": "ledger.sqlite"},
                  "policy": {"window_days": 30, "max_return_rate": 1},
                  "clients": {client: {"returns": {"excel": f"{client.lower()}.xlsx", "tab": "Returns"},
                                       "policy": {"credit": credit}}
                              for client, credit in zip(CLIENTS, CREDITS)}}
        (self.root / "config.yaml").write_text(yaml.safe_dump(config))

    def step(self, step: tuple) -> None:
        kind, *args = step
        if kind == "paste":
            lead = self.leads[args[0] % len(self.leads)]
            self.workbooks[self.root / f"{lead['client'].lower()}.xlsx"].tabs["Returns"].append(
                [lead["id"], args[1], ""])
        elif kind == "run":
            self.now += timedelta(hours=args[0])
            self.run()
        elif kind == "drop":
            self.dropped.add(args[0] % len(self.leads))
        elif kind == "restore":
            self.dropped.discard(args[0] % len(self.leads))
        elif kind == "zeros":
            self.zeros_lost = args[0]
        elif kind == "move":
            lead = self.leads[args[0] % len(self.leads)]
            lead["at"] = min(lead["at"] + timedelta(days=args[1]), self.now)
        elif kind == "regroup":
            lead = self.leads[args[0] % len(self.leads)]
            lead["vertical"] = "Roofing" if lead["vertical"] == "Solar" else "Solar"
        elif kind == "review":
            review = self.tracking().tabs.get("Review", [])
            for row in review[1:]:
                row.extend([None] * (6 - len(row)))
                row[5] = args[0] or None
        elif kind == "undo" and self.runs:
            try:  # the latest run with entries, or one before it
                undo_run(load_config(self.root / "config.yaml"), self.runs.pop(-1 - args[0] % len(self.runs)),
                         now=self.now.replace(tzinfo=ZoneInfo(self.zone)))
            except UndoError:
                pass
        elif kind == "weekday":
            self.week_ends_on = args[0]
        elif kind == "price":
            self.leads[args[0] % len(self.leads)]["price"] = Decimal(args[1]).scaleb(-2)
        elif kind == "refile":
            lead = self.leads[args[0] % len(self.leads)]
            lead["client"] = CLIENTS[1 - CLIENTS.index(lead["client"])]
        elif kind == "zone":
            self.zone = args[0]
        elif kind == "group_by":
            self.by_country = args[0]
        elif kind == "close":  # the weeks up to one, two or three weeks ago
            day = self.now.date()
            through = day + timedelta(days=(WEEKDAYS.index(self.week_ends_on) - day.weekday()) % 7 - 7 * (1 + args[0]))
            try:
                close_through(load_config(self.root / "config.yaml"), through,
                              now=self.now.replace(tzinfo=ZoneInfo(self.zone)))
                event("a period was closed")
            except LedgerError:
                pass  # earlier than a close before it: refused
        self.write()

    def tracking(self) -> MemoryWorkbook:
        return self.workbooks.setdefault(self.root / "tracking.xlsx", MemoryWorkbook("tracking"))

    def run(self) -> None:
        config = load_config(self.root / "config.yaml")
        report = run_sync(config, as_of=self.now, opener=memory_opener(self.workbooks))
        assert report.exit_code == 0, report.failures
        if any("layout changed" in problem.message for problem in report.problems):
            event("the tracking workbook was laid out again")
        if report.new_entries:
            self.runs.append(report.run_id)
        self.check()
        again = run_sync(config, as_of=self.now + timedelta(minutes=1), opener=memory_opener(self.workbooks))
        assert again.new_entries == [] and again.changes == [], (again.new_entries, again.changes[:3])

    def check(self) -> None:
        entries = self.ledger()
        undone = {entry["refers_to"] for entry in entries if entry["kind"] == "undo"}
        credited: Counter = Counter()
        for entry in entries:
            credited[(entry["client"], entry["lead_id"])] += entry["credit_cents"]
            if entry["credit_cents"]:  # a price item only asks: the credit stays until it is answered
                assert 0 <= credited[(entry["client"], entry["lead_id"])] <= entry["price_cents"], entry
        live = Counter((entry["client"], entry["lead_id"]) for entry in entries
                       if entry["kind"] == "decision" and entry["seq"] not in undone)
        assert max(live.values(), default=0) <= 1
        for kind in {entry["kind"] for entry in entries if entry["credit_cents"]}:
            event(f"a {kind} moved money")  # how often each kind is exercised: --hypothesis-show-statistics
        weekday = WEEKDAYS.index(self.week_ends_on)
        refunds: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
        refunded: Counter = Counter()
        replaced: Counter = Counter()
        cash: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
        after_close: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
        for entry in entries:
            if not entry["credit_cents"]:
                continue
            tab = f"{entry['vertical']} US" if self.by_country else entry["vertical"]
            credit = Decimal(entry["credit_cents"]).scaleb(-2)
            lead_week = _week(entry["delivered_at"], weekday, self.zone)
            closed_with = next((last for through, last in self.closes() if lead_week <= through), None)
            if closed_with is not None and entry["seq"] > closed_with:  # booked after its week closed
                if entry["credit_type"] != "replacement":
                    after_close[(tab, lead_week)] += credit
                    cash[(tab, _week(entry["decided_at"], weekday, self.zone))] += credit
                continue
            leads = 0 if entry["rule"] == "operator_price_review" else 1 if credit > 0 else -1  # money, not leads
            refunded[(tab, lead_week)] += leads
            if entry["credit_type"] == "replacement":
                replaced[(tab, lead_week)] += leads
                continue
            refunds[(tab, lead_week)] += credit
            cash[(tab, _week(entry["decided_at"], weekday, self.zone))] += credit
        for client in CLIENTS:  # a client's Credits tab adds up to its money in the ledger
            money = sum((Decimal(entry["credit_cents"]).scaleb(-2) for entry in entries
                         if entry["client"] == client and entry["credit_type"] != "replacement"), Decimal(0))
            tab = self.workbooks[self.root / f"{client.lower()}.xlsx"].tabs.get("Credits", [])
            assert sum((Decimal(str(row[4])) for row in tab[1:] if row[3:4] == ["total"]), Decimal(0)) == money
        shown = self.tracking_figures()
        for label, expected in (("Refunds", refunds), ("Refunded leads", refunded), ("Replaced leads", replaced),
                                ("Refunds reported (cash view)", cash), ("Refunds after close", after_close)):
            for (tab, week), value in expected.items():
                assert Decimal(str(shown[tab][label].get(week, 0))) == value, (label, tab, week, entries)
            for tab, rows in shown.items():
                for week, value in rows.get(label, {}).items():
                    assert Decimal(str(value or 0)) == expected.get((tab, week), 0), (label, tab, week)

    def tracking_figures(self) -> dict[str, dict[str, dict[date, object]]]:
        figures = {}
        for title, grid in self.tracking().tabs.items():
            if not grid or grid[0][:1] != ["Metric"] or " (old" in title:  # an old layout's, left as it was
                continue
            weeks = [cell_as_date(cell) for cell in grid[0][1:]]
            figures[title] = {row[0]: dict(zip(weeks, row[1:])) for row in grid[1:] if row and row[0]}
        return figures

    def closes(self) -> list[tuple[date, int]]:
        """(through, the newest entry then) of every close, by date."""
        if not (self.root / "ledger.sqlite").exists():
            return []
        with closing(sqlite3.connect(self.root / "ledger.sqlite")) as db:
            return [(date.fromisoformat(through), last) for through, last in
                    db.execute("SELECT through, last_seq FROM closes ORDER BY through")]

    def ledger(self) -> list[dict]:
        return ledger_rows(self) if (self.root / "ledger.sqlite").exists() else []


def _week(moment: str, weekday: int, zone: str) -> date:
    day = datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).date()
    return day + timedelta(days=(weekday - day.weekday()) % 7)


@settings(max_examples=HISTORIES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads=leads_strategy, rounds=st.lists(round_strategy, min_size=1, max_size=6))
def test_the_books_stay_true_through_random_histories_of_change(leads, rounds) -> None:
    with tempfile.TemporaryDirectory() as folder:
        history = History(Path(folder), leads)
        for pastes, hours, changes in rounds:
            for step in [*pastes, ("run", hours), *changes]:
                history.step(step)
        history.step(("run", 1))
