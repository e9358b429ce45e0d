"""Early warning: what in the lead log and the ledger needs a look (``sheets-sync report``).

Pure: leads, ledger entries, the config and a moment in; alerts and the rows of the
per-source returns files out. Reading inputs and writing files is :mod:`.report`'s job.

Four rules, each thresholded by ``alerts`` in the config:

* a group (``tracking.group_by``) whose refund rate in the recent weeks climbs well above
  its own baseline weeks (accrual: returns count in the week their lead was delivered, as on
  the tracking tabs);
* a lead source whose approved defect returns are out of proportion to its leads;
* a client at or near its ``max_return_rate`` over its ``cap_window_days``;
* a reason whose share of return requests climbs well above its baseline share.

Every rule needs minimum counts (``min_leads``, ``min_returns``) before it speaks, so the
noise of a handful of leads never raises an alert.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sheets_sync.core.model import APPROVED, Lead, LedgerEntry
from sheets_sync.core.project.tracking import GroupKey, group_key
from sheets_sync.core.reasons import DEFECT_REASONS, reason_code
from sheets_sync.core.weeks import week_ending

if TYPE_CHECKING:  # the config is read by the I/O layer and handed in
    from sheets_sync.config import Config

REFUND_RATE, SOURCE_DEFECTS, CLIENT_CAP, REASON_MIX = "refund_rate", "source_defects", "client_cap", "reason_mix"
SOURCE_RETURN_COLUMNS = ("Lead ID", "Delivered At", "Client", "Reason", "Credit", "Week restated")
RECENT, BASELINE = "recent", "baseline"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something that needs a look: one plain sentence, and the numbers behind it."""

    kind: str
    """``refund_rate``, ``source_defects``, ``client_cap`` or ``reason_mix``."""
    subject: str
    """The group, source, client or reason code the alert is about."""
    message: str
    figures: dict[str, Any]
    """JSON-ready numbers: counts as ints, rates as fractions rounded to 4 places."""

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message, "figures": self.figures}


@dataclass(slots=True)
class Tally:
    leads: int = 0
    returns: int = 0

    @property
    def rate(self) -> Fraction:
        return Fraction(self.returns, self.leads) if self.leads else Fraction(0)


@dataclass(frozen=True, slots=True)
class Approval:
    entry: LedgerEntry
    code: str | None


class History:
    """Leads and ledger entries as they stood at ``as_of``, with the weeks they fall in."""

    def __init__(self, leads: Iterable[Lead], entries: Iterable[LedgerEntry], config: Config,
                 as_of: datetime) -> None:
        zone = config.zone
        self.config = config
        self.as_of = _in_zone(as_of, zone)
        self.today = self.as_of.date()
        self.leads = [lead for lead in leads if lead.delivered_on <= self.today]
        settings = config.alerts
        this_week = week_ending(self.today, config.week_end_weekday)
        self.recent_weeks = [this_week - timedelta(weeks=back) for back in range(settings.recent_weeks)][::-1]
        self.baseline_weeks = [this_week - timedelta(weeks=back) for back in
                               range(settings.recent_weeks, settings.recent_weeks + settings.baseline_weeks)][::-1]
        self._period_of_week = {**{week: BASELINE for week in self.baseline_weeks},
                                **{week: RECENT for week in self.recent_weeks}}

        lead_by_id = {lead.lead_id: lead for lead in self.leads}
        aliases: dict[str, dict[str, str]] = {}

        def code_of(entry: LedgerEntry) -> str | None:
            if entry.client not in aliases:
                aliases[entry.client] = config.policy_for(entry.client).aliases
            return reason_code(entry.reason, aliases[entry.client]) if entry.reason else None

        self.approved: dict[str, Approval] = {}
        # A client's request is its policy decision entry; only reasons with a code can be mixed.
        self.requests: list[tuple[Lead, str]] = []
        for entry in entries:
            lead = lead_by_id.get(entry.lead_id)
            if lead is None:
                continue
            if entry.status == APPROVED and _in_zone(entry.decided_at, zone) <= self.as_of:
                self.approved[lead.lead_id] = Approval(entry, code_of(entry))
            if entry.kind == "decision" and _in_zone(entry.first_seen, zone) <= self.as_of:
                code = code_of(entry)
                if code is not None:
                    self.requests.append((lead, code))

    def period(self, lead: Lead) -> str | None:
        """``recent``, ``baseline`` or ``None`` for a lead by the week it was delivered in."""
        return self._period_of_week.get(week_ending(lead.delivered_on, self.config.week_end_weekday))

    def is_defect_return(self, lead: Lead) -> bool:
        approval = self.approved.get(lead.lead_id)
        return approval is not None and approval.code in DEFECT_REASONS


def find_alerts(leads: Iterable[Lead], entries: Iterable[LedgerEntry], config: Config,
                as_of: datetime) -> list[Alert]:
    """Everything that needs a look as of ``as_of`` (naive means workspace time), by kind."""
    history = History(leads, entries, config, as_of)
    group_alerts = refund_rate_alerts(history)
    return [*group_alerts.values(), *source_alerts(history), *client_cap_alerts(history),
            *reason_mix_alerts(history, set(group_alerts))]


def refund_rate_alerts(history: History) -> dict[GroupKey, Alert]:
    """Groups whose refund rate in the recent weeks climbed well above their baseline."""
    config, settings = history.config, history.config.alerts
    group_by = config.tracking.group_by
    tallies: dict[GroupKey, dict[str, Tally]] = defaultdict(lambda: {RECENT: Tally(), BASELINE: Tally()})
    recent_reasons: dict[GroupKey, Counter] = defaultdict(Counter)
    for lead in history.leads:
        period = history.period(lead)
        if period is None:
            continue
        key = group_key(lead, group_by)
        tally = tallies[key][period]
        tally.leads += 1
        approval = history.approved.get(lead.lead_id)
        if approval is not None:
            tally.returns += 1
            if period == RECENT:
                recent_reasons[key][approval.code or "other"] += 1
    alerts = {}
    for key, periods in sorted(tallies.items()):
        recent, baseline = periods[RECENT], periods[BASELINE]
        if recent.leads < settings.min_leads or baseline.leads < settings.min_leads \
                or recent.returns < settings.min_returns:
            continue
        if not _climbs(recent.rate, baseline.rate, settings.refund_rate_ratio, settings.refund_rate_rise):
            continue
        subject = _group_name(key)
        top_reason, top_count = sorted(recent_reasons[key].items(), key=lambda item: (-item[1], item[0]))[0]
        alerts[key] = Alert(REFUND_RATE, subject, (
            f"{subject}: refund rate {_percent(recent.rate)} in {_last(settings.recent_weeks)} "
            f"({recent.returns} of {recent.leads} leads) vs {_percent(baseline.rate)} over "
            f"{_before(settings.baseline_weeks)} ({baseline.returns} of {baseline.leads}); "
            f"top reason {top_reason} ({top_count} of {recent.returns})."), {
            "group": dict(zip(group_by, key)),
            "recent_weeks": [week.isoformat() for week in history.recent_weeks],
            "recent_leads": recent.leads, "recent_refunds": recent.returns, "recent_rate": _rounded(recent.rate),
            "baseline_weeks": [week.isoformat() for week in history.baseline_weeks],
            "baseline_leads": baseline.leads, "baseline_refunds": baseline.returns,
            "baseline_rate": _rounded(baseline.rate),
            "top_reason": top_reason, "top_reason_refunds": top_count,
        })
    return alerts


def source_alerts(history: History) -> list[Alert]:
    """Lead sources whose leads come back as defects far more often than everyone else's,
    over the recent and baseline weeks together."""
    settings = history.config.alerts
    weeks = settings.recent_weeks + settings.baseline_weeks
    every_lead = Tally()
    by_source: dict[str, Tally] = defaultdict(Tally)
    for lead in history.leads:
        if history.period(lead) is None:
            continue
        defect = history.is_defect_return(lead)
        for tally in (every_lead, by_source[lead.source]) if lead.source else (every_lead,):
            tally.leads += 1
            tally.returns += defect
    alerts = []
    for source, tally in sorted(by_source.items()):
        others = Tally(every_lead.leads - tally.leads, every_lead.returns - tally.returns)
        if min(tally.leads, others.leads) < settings.min_leads or tally.returns < settings.min_returns:
            continue
        if tally.rate < others.rate * Fraction(settings.source_defect_ratio):
            continue
        return_share = Fraction(tally.returns, every_lead.returns)
        lead_share = Fraction(tally.leads, every_lead.leads)
        alerts.append(Alert(SOURCE_DEFECTS, source, (
            f"Lead source {source}: {_percent(return_share, 0)} of defect returns ({tally.returns} of "
            f"{every_lead.returns}) from {_percent(lead_share, 0)} of leads ({tally.leads} of {every_lead.leads}) "
            f"in {_last(weeks)}; {_percent(tally.rate)} of its leads came back as defects vs "
            f"{_percent(others.rate)} of all other leads."), {
            "weeks": [week.isoformat() for week in (*history.baseline_weeks, *history.recent_weeks)],
            "source_leads": tally.leads, "source_defect_returns": tally.returns,
            "source_defect_rate": _rounded(tally.rate),
            "all_leads": every_lead.leads, "all_defect_returns": every_lead.returns,
            "share_of_leads": _rounded(lead_share), "share_of_defect_returns": _rounded(return_share),
            "other_defect_rate": _rounded(others.rate),
        }))
    return alerts


def client_cap_alerts(history: History) -> list[Alert]:
    """Clients whose return rate over their cap window is near or over ``max_return_rate``,
    counted as the policy's cap counts it: approved returns among the leads delivered in the
    trailing ``cap_window_days``."""
    config, settings = history.config, history.config.alerts
    names = config.client_names
    policies = {name: config.policy_for(name) for name in config.clients}
    tallies: dict[str, Tally] = defaultdict(Tally)
    for lead in history.leads:
        client = names.get(lead.client.casefold())
        if client is None:
            continue
        period_start = history.today - timedelta(days=policies[client].cap_window_days - 1)
        if lead.delivered_on >= period_start:
            tallies[client].leads += 1
            tallies[client].returns += lead.lead_id in history.approved
    alerts = []
    for client, tally in sorted(tallies.items()):
        policy = policies[client]
        cap = Fraction(policy.max_return_rate)
        if tally.leads < settings.min_leads or tally.returns < settings.min_returns:
            continue
        if tally.rate < cap * Fraction(settings.near_cap):
            continue
        over = tally.rate > cap
        where = f"over its {_cap(policy.max_return_rate)} cap" if over else \
            f"{_percent(tally.rate / cap, 0)} of its {_cap(policy.max_return_rate)} cap"
        alerts.append(Alert(CLIENT_CAP, client, (
            f"Client {client}: return rate {_percent(tally.rate)} over the last {policy.cap_window_days} days "
            f"({tally.returns} of {tally.leads} leads), {where}."), {
            "days": policy.cap_window_days, "leads": tally.leads, "approved_returns": tally.returns,
            "rate": _rounded(tally.rate), "max_return_rate": float(policy.max_return_rate), "over_cap": over,
        }))
    return alerts


def reason_mix_alerts(history: History, flagged_groups: set[GroupKey]) -> list[Alert]:
    """Reasons whose share of return requests climbed well above their baseline share.

    Requests of groups already flagged for their refund rate are left out: that alert names
    its top reason, and one bad group would otherwise shift the whole mix and say it twice.
    """
    config, settings = history.config, history.config.alerts
    counts: dict[str, Counter] = {RECENT: Counter(), BASELINE: Counter()}
    for lead, code in history.requests:
        period = history.period(lead)
        if period is not None and group_key(lead, config.tracking.group_by) not in flagged_groups:
            counts[period][code] += 1
    recent_total, baseline_total = counts[RECENT].total(), counts[BASELINE].total()
    if baseline_total < settings.min_returns:
        return []
    left_out = sorted(_group_name(key) for key in flagged_groups)
    note = f" (not counting {', '.join(left_out)}, flagged above)" if left_out else ""
    alerts = []
    for code, recent in sorted(counts[RECENT].items()):
        baseline = counts[BASELINE][code]
        recent_share, baseline_share = Fraction(recent, recent_total), Fraction(baseline, baseline_total)
        if recent < settings.min_returns or not _climbs(recent_share, baseline_share, settings.reason_share_ratio,
                                                        settings.reason_share_rise):
            continue
        alerts.append(Alert(REASON_MIX, code, (
            f"Reason {code}: {_percent(recent_share, 0)} of return requests in {_last(settings.recent_weeks)} "
            f"({recent} of {recent_total}) vs {_percent(baseline_share, 0)} over {_before(settings.baseline_weeks)} "
            f"({baseline} of {baseline_total}){note}."), {
            "recent_weeks": [week.isoformat() for week in history.recent_weeks],
            "recent_requests": recent, "recent_total": recent_total, "recent_share": _rounded(recent_share),
            "baseline_weeks": [week.isoformat() for week in history.baseline_weeks],
            "baseline_requests": baseline, "baseline_total": baseline_total,
            "baseline_share": _rounded(baseline_share), "groups_left_out": left_out,
        }))
    return alerts


def defect_returns_by_source(leads: Iterable[Lead], entries: Iterable[LedgerEntry], config: Config,
                             as_of: datetime) -> dict[str, list[tuple[str, ...]]]:
    """Per lead source, its approved defect returns as rows of :data:`SOURCE_RETURN_COLUMNS`,
    oldest delivery first: what to send back to each supplier. Leads without a source are
    nobody's to send, so they are left out."""
    history = History(leads, entries, config, as_of)
    rows: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for lead in history.leads:
        if lead.source and history.is_defect_return(lead):
            approval = history.approved[lead.lead_id]
            delivered_at = _in_zone(lead.delivered_at, config.zone)
            rows[lead.source].append((lead.lead_id, f"{delivered_at:%Y-%m-%d %H:%M}", approval.entry.client,
                                      approval.code, str(approval.entry.credit), approval.entry.lead_week.isoformat()))
    return {source: sorted(source_rows, key=lambda row: (row[1], row[0])) for source, source_rows in rows.items()}


def _climbs(recent: Fraction, baseline: Fraction, ratio: Decimal, rise: Decimal) -> bool:
    """Well above needs both: a ratio alone fires on 1% becoming 2% (nothing to act on), a
    rise alone on 40% becoming 46% (noise at a high rate)."""
    return recent >= baseline * Fraction(ratio) and recent - baseline >= Fraction(rise)


def _in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _group_name(key: Sequence[str]) -> str:
    """As the group's tracking tab is titled (before it is made a valid tab title)."""
    return " ".join(part for part in key if part) or "(none)"


def _percent(rate: Fraction, places: int = 1) -> str:
    return f"{float(rate):.{places}%}"


def _cap(rate: Decimal) -> str:
    return f"{float(rate) * 100:g}%"


def _rounded(rate: Fraction) -> float:
    return round(float(rate), 4)


def _last(weeks: int) -> str:
    return "this week" if weeks == 1 else f"the last {weeks} weeks"


def _before(weeks: int) -> str:
    return "the week before" if weeks == 1 else f"the {weeks} weeks before"
