"""Early warning: each alert fires on a real problem and stays quiet on noise and small numbers;
`sheets-sync report` finds the demo's planted problem and nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import Workspace
from typer.testing import CliRunner

from sheets_sync import load_config, run_sync
from sheets_sync.cli import app
from sheets_sync.commands.demo import TIMEZONE, make_demo
from sheets_sync.commands.report import make_report
from sheets_sync.config import Config, parse_config
from sheets_sync.core.alerts import (
    CLIENT_CAP,
    REASON_MIX,
    REFUND_RATE,
    SOURCE_DEFECTS,
    defect_returns_by_source,
    find_alerts,
)
from sheets_sync.core.model import APPROVED, REJECTED, Lead, LedgerEntry
from sheets_sync.core.weeks import week_ending
from sheets_sync.store.files import safe_file_names, write_if_changed
from sheets_sync.store.ledger import read_entries

runner = CliRunner()
UTC = ZoneInfo("UTC")
AS_OF = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
"""A Wednesday: with weeks ending on Sunday the recent weeks end 2024-03-03 and 2024-03-10."""
THIS_WEEK = date(2024, 3, 10)


def make_config(alerts: dict[str, Any] | None = None, clients: dict[str, Any] | None = None) -> Config:
    data: dict[str, Any] = {
        "timezone": "UTC",
        "leads": {"csv": "leads.csv"},
        "tracking": {"excel": "tracking.xlsx"},
        "policy": {"max_return_rate": 1},
        "clients": {name: {"returns": {"excel": f"{name}.xlsx"}, **({"policy": policy} if policy else {})}
                    for name, policy in (clients or {"Acme": None}).items()},
    }
    if alerts is not None:
        data["alerts"] = alerts
    return parse_config(data, Path("/workspace"))


@dataclass
class World:
    """Synthetic leads and ledger entries, placed by weeks before the report's week."""

    leads: list[Lead] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)

    def deliver(self, weeks_ago: int, count: int, *, returned: int = 0, reason: str = "wrong number",
                status: str = APPROVED, group: tuple[str, str] = ("Solar", "US"), client: str = "Acme",
                source: str = "Vendor A", day: date | None = None) -> None:
        """``count`` leads delivered on the Monday of that week (or on ``day``); the first
        ``returned`` of them are asked back with ``reason`` two days later, decided ``status``."""
        delivered_on = day or THIS_WEEK - timedelta(weeks=weeks_ago, days=6)
        for number in range(count):
            lead = Lead(f"L{len(self.leads):05d}", datetime.combine(delivered_on, time(9)), delivered_on, client,
                        group[0], group[1], Decimal("20.00"), Decimal("8.00"), source)
            self.leads.append(lead)
            if number < returned:
                self.request(lead, reason, status)

    def request(self, lead: Lead, reason: str, status: str = APPROVED, *, kind: str = "decision",
                seen: datetime | None = None) -> None:
        seen = seen or datetime.combine(lead.delivered_on + timedelta(days=1), time(10), UTC)
        self.entries.append(LedgerEntry(
            seq=len(self.entries) + 1, run_id="run", client=lead.client, lead_id=lead.lead_id, kind=kind,
            status=status, rule="policy", detail="", reason=reason,
            credit=lead.price if status == APPROVED else Decimal("0.00"), credit_type="wallet",
            first_seen=seen, decided_at=seen, delivered_at=lead.delivered_at.replace(tzinfo=UTC),
            vertical=lead.vertical, country=lead.country, source=lead.source, campaign=lead.campaign, price=lead.price,
            lead_week=week_ending(lead.delivered_on, 6), cash_week=week_ending(seen.date(), 6)))

    def alerts(self, config: Config | None = None, as_of: datetime = AS_OF):
        return find_alerts(self.leads, self.entries, config or make_config(), as_of)


def baseline(world: World, leads_per_week: int, returns_per_week: int, **kwargs: Any) -> None:
    for weeks_ago in range(2, 10):
        world.deliver(weeks_ago, leads_per_week, returned=returns_per_week, **kwargs)


# -- a group's refund rate ----------------------------------------------------------------------

def test_a_group_whose_refund_rate_climbs_is_flagged_with_its_numbers() -> None:
    world = World()
    baseline(world, 50, 2)
    baseline(world, 50, 2, group=("Solar", "UK"))
    for weeks_ago in (0, 1):
        world.deliver(weeks_ago, 40, returned=3, group=("Solar", "US"))
        world.deliver(weeks_ago, 40, returned=12, reason="Disconnected line", group=("Solar", "UK"))
    [alert] = world.alerts()
    assert alert.kind == REFUND_RATE and alert.subject == "Solar UK"
    assert alert.message == ("Solar UK: refund rate 30.0% in the last 2 weeks (24 of 80 leads) vs 4.0% over the "
                             "8 weeks before (16 of 400); top reason disconnected (24 of 24).")
    assert alert.figures["group"] == {"vertical": "Solar", "country": "UK"}
    assert alert.figures["recent_weeks"] == ["2024-03-03", "2024-03-10"]
    assert (alert.figures["recent_refunds"], alert.figures["baseline_leads"]) == (24, 400)
    assert json.dumps(alert.as_json())


@pytest.mark.parametrize("recent_leads, recent_returns", [
    pytest.param(12, 5, id="too few leads (24 of the 30 needed), though 42% come back"),
    pytest.param(40, 4, id="too few returns (8 of the 10 needed), though 10% against 4%"),
    pytest.param(100, 7, id="noise: 7% against 4% is not twice the baseline"),
])
def test_small_numbers_and_noise_never_flag_a_group(recent_leads: int, recent_returns: int) -> None:
    world = World()
    baseline(world, 50, 2)
    for weeks_ago in (0, 1):
        world.deliver(weeks_ago, recent_leads, returned=recent_returns)
    assert world.alerts() == []


def test_a_tiny_rise_in_a_huge_group_and_a_group_with_no_baseline_are_not_flagged() -> None:
    world = World()
    baseline(world, 500, 5, group=("Solar", "US"))  # 1% becoming 3%: three times, but only 2 points
    baseline(world, 3, 0, group=("Solar", "UK"))  # 24 baseline leads: no baseline to climb above
    for weeks_ago in (0, 1):
        world.deliver(weeks_ago, 500, returned=15, group=("Solar", "US"))
        world.deliver(weeks_ago, 50, returned=20, group=("Solar", "UK"))
    assert world.alerts() == []


def test_refund_rate_thresholds_come_from_the_config() -> None:
    world = World()
    baseline(world, 50, 2)
    for weeks_ago in (0, 1):
        world.deliver(weeks_ago, 100, returned=7)
    assert world.alerts() == []
    [alert] = world.alerts(make_config({"refund_rate_ratio": 1.5, "refund_rate_rise": 0.02}))
    assert alert.message.startswith("Solar US: refund rate 7.0% in the last 2 weeks (14 of 200 leads) vs 4.0%")


def test_recent_and_baseline_weeks_come_from_the_config() -> None:
    world = World()
    world.deliver(2, 60, returned=30)  # a bad week long ago makes a high baseline for the default periods
    world.deliver(1, 60, returned=3)
    world.deliver(0, 60, returned=12)
    assert world.alerts() == []
    [alert] = world.alerts(make_config({"recent_weeks": 1, "baseline_weeks": 1}))
    assert "refund rate 20.0% in this week (12 of 60 leads) vs 5.0% over the week before (3 of 60)" in alert.message


def test_groups_follow_tracking_group_by() -> None:
    world = World()
    baseline(world, 50, 2, client="Acme", group=("Solar", "US"))
    baseline(world, 50, 2, client="Zenith", group=("Solar", "UK"))
    for weeks_ago in (0, 1):
        world.deliver(weeks_ago, 40, returned=12, client="Zenith", group=("Solar", "UK"))
        world.deliver(weeks_ago, 40, returned=1, client="Acme", group=("Solar", "US"))
    config = make_config(clients={"Acme": None, "Zenith": None})
    by_client = config.model_copy(update={"tracking": config.tracking.model_copy(update={"group_by": ("client",)})})
    assert [(alert.kind, alert.subject) for alert in world.alerts(by_client)] == [(REFUND_RATE, "Zenith")]


def test_what_happened_after_as_of_is_not_seen() -> None:
    world = World()
    baseline(world, 50, 2)
    world.deliver(1, 40, returned=2)
    world.deliver(0, 40, returned=12)  # delivered on Monday 2024-03-04, asked back on Tuesday at 10:00
    assert [alert.subject for alert in world.alerts()] == ["Solar US"]
    assert [alert.subject for alert in world.alerts(as_of=datetime(2024, 3, 6, 12))] == ["Solar US"]  # naive: UTC
    assert world.alerts(as_of=datetime(2024, 3, 5, 8, tzinfo=UTC)) == []


# -- a lead source ------------------------------------------------------------------------------

def test_a_source_whose_defect_returns_concentrate_is_flagged() -> None:
    world = World()
    for weeks_ago in range(10):
        world.deliver(weeks_ago, 30, returned=1, source="Vendor A")
        world.deliver(weeks_ago, 10, returned=2, source="Vendor B", reason="fake")
        world.deliver(weeks_ago, 30, source="")  # no source: counts among all leads, is nobody's alert
    [alert] = world.alerts()
    assert (alert.kind, alert.subject) == (SOURCE_DEFECTS, "Vendor B")
    assert alert.message == ("Lead source Vendor B: 67% of defect returns (20 of 30) from 14% of leads "
                             "(100 of 700) in the last 10 weeks; 20.0% of its leads came back as defects vs "
                             "1.7% of all other leads.")


def test_outcome_reasons_small_sources_and_proportional_sources_do_not_flag_a_source() -> None:
    world = World()
    for weeks_ago in range(10):
        world.deliver(weeks_ago, 30, returned=1, source="Vendor A")
        world.deliver(weeks_ago, 30, returned=1, source="Vendor B")  # same rate as A
        # approved by an operator, but a lead that did not convert is not a defect of the source
        world.deliver(weeks_ago, 10, returned=3, source="Vendor C", reason="didn't buy")
        world.deliver(weeks_ago, 2, returned=1, source="Vendor D")  # half come back, but 20 leads are too few
    small = World()
    small.deliver(3, 20, returned=8, source="Vendor E")  # too few leads to judge
    small.deliver(3, 200, returned=2, source="Vendor F")
    assert [alert for alert in world.alerts() if alert.kind == SOURCE_DEFECTS] == []
    assert small.alerts() == []


def test_source_ratio_comes_from_the_config() -> None:
    world = World()
    for weeks_ago in range(10):
        world.deliver(weeks_ago, 30, returned=2, source="Vendor A")
        world.deliver(weeks_ago, 30, returned=3, source="Vendor B")  # 10% against 6.7%
    assert world.alerts() == []
    assert [alert.subject for alert in world.alerts(make_config({"source_defect_ratio": 1.5}))] == ["Vendor B"]


# -- a client's cap -----------------------------------------------------------------------------

def cap_world(approved: int, delivered: int = 100) -> World:
    world = World()
    world.deliver(0, delivered, returned=approved, day=date(2024, 2, 20))
    world.deliver(0, 50, returned=50, day=date(2024, 1, 20))  # before the 30 days: not counted
    return world


def test_a_client_near_or_over_its_cap_is_flagged() -> None:
    config = make_config(clients={"Acme": {"max_return_rate": 0.15}})
    [near] = [alert for alert in cap_world(12).alerts(config) if alert.kind == CLIENT_CAP]
    assert near.message == ("Client Acme: return rate 12.0% over the last 30 days (12 of 100 leads), "
                            "80% of its 15% cap.")
    assert near.figures["over_cap"] is False
    [over] = [alert for alert in cap_world(16).alerts(config) if alert.kind == CLIENT_CAP]
    assert over.message.endswith("(16 of 100 leads), over its 15% cap.") and over.figures["over_cap"] is True


def test_a_client_well_under_its_cap_or_with_few_leads_is_not_flagged() -> None:
    config = make_config(clients={"Acme": {"max_return_rate": 0.15}})
    assert [alert for alert in cap_world(11).alerts(config) if alert.kind == CLIENT_CAP] == []
    assert cap_world(12, delivered=25).alerts(config) == []  # 48%, but 25 leads are too few to judge


def test_cap_settings_come_from_each_client_and_the_alerts_config() -> None:
    longer_window = make_config(clients={"Acme": {"max_return_rate": 0.15, "cap_window_days": 60}})
    [alert] = [alert for alert in cap_world(0).alerts(longer_window) if alert.kind == CLIENT_CAP]
    assert "return rate 33.3% over the last 60 days (50 of 150 leads), over its 15% cap" in alert.message
    earlier = make_config({"near_cap": 0.5}, clients={"Acme": {"max_return_rate": 0.15}})
    assert [alert.kind for alert in cap_world(11).alerts(earlier)] == [CLIENT_CAP]


# -- the reason mix -----------------------------------------------------------------------------

MIX = ("wrong number", "disconnected", "duplicate", "fake", "out of area")


def mixed_requests(world: World, weeks_ago: int, per_reason: int, group: tuple[str, str] = ("Solar", "US")) -> None:
    for reason in MIX:
        world.deliver(weeks_ago, per_reason, returned=per_reason, reason=reason, status=REJECTED, group=group)


def test_a_reason_whose_share_jumps_is_flagged() -> None:
    world = World()
    for weeks_ago in range(2, 10):
        mixed_requests(world, weeks_ago, 2)
    for weeks_ago in (0, 1):
        mixed_requests(world, weeks_ago, 2)
        world.deliver(weeks_ago, 8, returned=8, reason="Fake lead", status=REJECTED)
    [alert] = world.alerts()
    assert (alert.kind, alert.subject) == (REASON_MIX, "fake_info")
    assert alert.message == ("Reason fake_info: 56% of return requests in the last 2 weeks (20 of 36) vs 20% "
                             "over the 8 weeks before (16 of 80).")


def test_a_steady_mix_or_a_handful_of_requests_does_not_flag_a_reason() -> None:
    steady, handful = World(), World()
    for weeks_ago in range(10):
        mixed_requests(steady, weeks_ago, 3)
    for weeks_ago in range(2, 10):
        mixed_requests(handful, weeks_ago, 2)
    handful.deliver(0, 6, returned=6, reason="fake", status=REJECTED)  # 6 of 6, but 6 is too few
    assert steady.alerts() == [] and handful.alerts() == []
    assert [alert.subject for alert in handful.alerts(make_config({"min_returns": 5}))] == ["fake_info"]


def test_requests_of_a_group_flagged_for_its_refund_rate_do_not_shift_the_mix_again() -> None:
    world = World()
    for weeks_ago in range(2, 10):
        mixed_requests(world, weeks_ago, 2, group=("Solar", "US"))
        mixed_requests(world, weeks_ago, 2, group=("Solar", "UK"))
        world.deliver(weeks_ago, 40, group=("Solar", "UK"))
    for weeks_ago in (0, 1):
        mixed_requests(world, weeks_ago, 2, group=("Solar", "US"))
        world.deliver(weeks_ago, 40, returned=20, reason="disconnected", group=("Solar", "UK"))
    assert [(alert.kind, alert.subject) for alert in world.alerts()] == [(REFUND_RATE, "Solar UK")]


# -- the per-source returns files ---------------------------------------------------------------

def test_each_source_gets_its_approved_defect_returns_oldest_first() -> None:
    world = World()
    world.deliver(1, 2, returned=2, source="Vendor B", reason="bad phone")
    world.deliver(3, 1, returned=1, source="Vendor B", reason="dupe")
    world.deliver(3, 1, returned=1, source="Vendor B", reason="didn't buy")  # an outcome, not a defect
    world.deliver(3, 1, returned=1, source="Vendor B", reason="fake", status=REJECTED)
    world.deliver(3, 1, returned=1, source="", reason="fake")  # no supplier to send it to
    rows = defect_returns_by_source(world.leads, world.entries, make_config(), AS_OF)
    assert rows == {"Vendor B": [
        ("L00002", "2024-02-12 09:00", "Acme", "duplicate", "20.00", "2024-02-18"),
        ("L00000", "2024-02-26 09:00", "Acme", "wrong_number", "20.00", "2024-03-03"),
        ("L00001", "2024-02-26 09:00", "Acme", "wrong_number", "20.00", "2024-03-03"),
    ]}


def test_file_names_are_safe_and_unique() -> None:
    assert safe_file_names(["Vendor: A/B", "vendor- a-b", "Apex", ".."], "source") == {
        "..": "source.csv", "Apex": "Apex.csv", "Vendor: A/B": "Vendor- A-B.csv", "vendor- a-b": "vendor- a-b (2).csv"}


def test_files_are_replaced_whole_and_left_alone_when_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "out" / "Vendor A.csv"
    assert write_if_changed(path, b"one\n") is True
    stamp = path.stat().st_mtime_ns
    assert write_if_changed(path, b"one\n") is False and path.stat().st_mtime_ns == stamp
    assert write_if_changed(path, b"two\n") is True and path.read_bytes() == b"two\n"
    assert [item.name for item in path.parent.iterdir()] == ["Vendor A.csv"]


# -- the command ------------------------------------------------------------------------------

def test_report_reads_without_creating_a_ledger(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.client("Acme", [["1", "wrong number"]])
    workspace.write()
    result = runner.invoke(app, ["report", "--config", str(workspace.config_path), "--as-of", "2024-02-13"])
    assert result.exit_code == 0, result.output
    assert "Nothing needs a look" in result.output
    assert not (workspace.root / "ledger.sqlite").exists() and read_entries(load_config(workspace.config_path)) == []
    assert not (workspace.root / "returns-by-source").exists()


def test_report_config_errors_exit_2(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.client("Acme")
    workspace.settings["alerts"] = {"min_leads": 0}
    workspace.write()
    result = runner.invoke(app, ["report", "--config", str(workspace.config_path)])
    assert result.exit_code == 2 and "alerts.min_leads" in result.output
    bad_time = runner.invoke(app, ["report", "--config", str(workspace.config_path), "--as-of", "soon"])
    assert bad_time.exit_code == 2


def demo_at(directory: Path, today: date) -> Path:
    as_of = datetime.combine(today, time(10))
    config_path = make_demo(directory, as_of=as_of)
    run_sync(load_config(config_path), as_of=as_of.replace(tzinfo=ZoneInfo(TIMEZONE)))
    return config_path


def test_the_demo_report_finds_the_planted_problem_and_nothing_else(tmp_path: Path) -> None:
    config_path = demo_at(tmp_path / "demo", date(2024, 3, 6))
    command = ["report", "--config", str(config_path), "--as-of", "2024-03-06T10:00"]
    first = runner.invoke(app, [*command, "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    [alert] = summary["alerts"]
    assert (alert["kind"], alert["subject"]) == (REFUND_RATE, "Solar UK")
    assert alert["figures"]["top_reason"] == "disconnected"
    assert alert["figures"]["recent_rate"] > 5 * alert["figures"]["baseline_rate"]

    folder = tmp_path / "demo" / "returns-by-source"
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["Facebook Ads.csv", "Google Search.csv", "Vendor Apex.csv", "Vendor Bluebird.csv"]
    header = (folder / "Vendor Apex.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "Lead ID,Delivered At,Client,Reason,Credit,Week restated"
    before = {name: (folder / name).read_bytes() for name in names}

    again = runner.invoke(app, command)
    assert again.exit_code == 0 and "1 thing needs a look" in again.output and "(0 updated)" in again.output
    assert {name: (folder / name).read_bytes() for name in names} == before
    assert sorted(path.name for path in folder.iterdir()) == names


@pytest.mark.slow
@pytest.mark.parametrize("today", [date(2024, 3, 4) + timedelta(days=day) for day in (0, 1, 3, 4, 5, 6)],
                         ids=lambda day: f"{day:%A}")
def test_the_demo_finds_only_its_planted_problem_on_every_weekday(tmp_path: Path, today: date) -> None:
    config = load_config(demo_at(tmp_path / "demo", today))
    report = make_report(config, as_of=datetime.combine(today, time(10)), write_files=False)
    assert [(alert.kind, alert.subject) for alert in report.alerts] == [(REFUND_RATE, "Solar UK")]


def test_an_unusable_ledger_is_named_and_left_untouched(workspace: Workspace) -> None:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.client("Acme")
    workspace.write()
    (workspace.root / "ledger.sqlite").write_bytes(b"not a database")
    result = runner.invoke(app, ["report", "--config", str(workspace.config_path)])
    assert result.exit_code == 2 and "ledger.sqlite" in result.output and "Traceback" not in result.output
    assert (workspace.root / "ledger.sqlite").read_bytes() == b"not a database"
