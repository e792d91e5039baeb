"""The assistant's deterministic answers about findings: forecast, budgets, anomalies, recommendations, and the
plain "I can't answer that"."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from agents.draft import CAPABILITIES, Draft, dimension_name, when
from agents.intent import Intent
from agents.periods import Period, add_months, day_start, default_period
from core.db import Database
from tools.anomalies import stored_anomalies
from tools.base import iso
from tools.costs import costs
from tools.findings import budget_status, recommendations

RUN_RATE_DAYS = 7


def answer_forecast(db: Database, *, org_id: uuid.UUID, intent: Intent, now: datetime) -> Draft:
    """Month-end spend = month-to-date + the last 7 days' daily average x the days left (a stated run rate)."""
    month = day_start(now).replace(day=1)
    month_end = add_months(month, 1)
    draft = Draft(Period(month, month_end, "this month", "month"))
    mtd = draft.use(costs(db, org_id=org_id, start=month, end=now)).data["total_cost"] if now > month else 0.0
    recent = draft.use(costs(db, org_id=org_id, start=now - timedelta(days=RUN_RATE_DAYS), end=now)).data
    daily = recent["total_cost"] / RUN_RATE_DAYS
    days_left = (month_end - now) / timedelta(days=1)
    projected = mtd + daily * days_left
    draft.say(
        f"Month to date ({when(Period(month, now, 'this month'))}) you have spent "
        f"{draft.usd('month-to-date cost', mtd)}. At the last {draft.count('run-rate days', RUN_RATE_DAYS, 'days')} "
        f"days' average of {draft.usd('daily run rate', daily)} a day for the remaining "
        f"{draft.number('days left', days_left, 'days')} days, the month would end at about "
        f"{draft.usd('projected month-end cost', projected)}."
    )
    draft.queries.append(
        f"projected = month_to_date + daily_run_rate x days_left (run rate over the last {RUN_RATE_DAYS} days)"
    )
    return draft


def answer_budgets(db: Database, *, org_id: uuid.UUID, intent: Intent, now: datetime) -> Draft:
    result = budget_status(db, org_id=org_id, as_of=now)
    budgets = result.data["budgets"]
    month = day_start(now).replace(day=1)
    draft = Draft(Period(month, now, "this month", "month"))
    draft.use(result)
    if not budgets:
        draft.say(
            f"No budgets are set up for this organization (as of {iso(now)}). Create one with POST /api/v1/budgets."
        )
        return draft
    for item in budgets:
        name = item["name"]
        scope = "the whole org" if item["scope_type"] == "org" else f"{item['scope_type']} {item['scope_value']}"
        period = Period(
            datetime.fromisoformat(item["period_start"].replace("Z", "+00:00")),
            datetime.fromisoformat(item["spent_until"].replace("Z", "+00:00")),
            "",
        )
        text = (
            f"Budget {name!r} ({item['period']}, {scope}): {draft.usd(f'{name} spent', item['spent'])} of "
            f"{draft.usd(f'{name} amount', item['amount'])}"
        )
        if item["percent_used"] is not None:
            text += f" ({draft.pct(f'{name} used', item['percent_used'])} used)"
        text += f" in {when(period)}; {draft.usd(f'{name} remaining', item['remaining'])} left"
        draft.say(text + (", hard limit." if item["hard_limit"] else "."))
    return draft


def answer_anomalies(db: Database, *, org_id: uuid.UUID, intent: Intent, now: datetime) -> Draft:
    period = intent.periods[0] if intent.periods else default_period(now)
    draft = Draft(period)
    found = draft.use(stored_anomalies(db, org_id=org_id, start=period.start, end=period.end)).data["anomalies"]
    if not found:
        draft.say(f"No anomalies are stored for {when(period)}; `tokentra anomalies` runs detection.")
        return draft
    draft.say(f"{draft.count('anomalies', len(found), 'count')} anomalies in {when(period)}, largest first.")
    for anomaly in found[:3]:
        _describe_anomaly(draft, anomaly)
    draft.actions.append("Acknowledge the anomalies you have looked into: POST /api/v1/anomalies/{id}/acknowledge.")
    return draft


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _overlaps(anomaly: dict[str, Any], period: Period) -> bool:
    start, end = (datetime.fromisoformat(anomaly["window"][k].replace("Z", "+00:00")) for k in ("start", "end"))
    return start < period.end and end > period.start


def _describe_anomaly(draft: Draft, anomaly: dict[str, Any]) -> None:
    window = Period(_moment(anomaly["window"]["start"]), _moment(anomaly["window"]["end"]), "")
    scope = ", ".join(f"{dimension_name(k)} {v}" for k, v in (anomaly.get("scope") or {}).items()) or "the whole org"
    key = anomaly["id"][:8]
    metric = anomaly.get("metric", "cost")
    show = draft.usd if metric in ("cost", "spend") else (lambda label, v: draft.number(label, v, metric, 2))
    text = (
        f"A {anomaly['severity']} {anomaly['type'].replace('_', ' ')} in {scope} from {when(window)}: "
        f"{metric} {show(f'anomaly {key} actual', anomaly['current_value'])} against an expected "
        f"{show(f'anomaly {key} expected', anomaly['expected_value'])}"
    )
    drivers = [d for d in anomaly.get("drivers") or [] if d.get("contribution") is not None][:2]
    if drivers:
        text += "; drivers: " + ", ".join(
            draft.driver(d["dimension"], d.get("value"), float(d["contribution"]), d.get("share")) for d in drivers
        )
    draft.say(text + ".")


def answer_recommendations(db: Database, *, org_id: uuid.UUID, intent: Intent, now: datetime) -> Draft:
    draft = Draft(default_period(now))
    recs = draft.use(recommendations(db, org_id=org_id, limit=5)).data["recommendations"]
    if not recs:
        draft.say(
            "There are no pending savings recommendations. Run `tokentra recommend` to analyse the last month of usage."
        )
        return draft
    total = sum(r["estimated_monthly_savings"] for r in recs)
    parts = []
    for rec in recs:
        scope = ", ".join(f"{dimension_name(k)} {v}" for k, v in (rec.get("scope") or {}).items() if v)
        key = rec["id"][:8]
        parts.append(
            f"{rec['type'].replace('_', ' ')}{' for ' + scope if scope else ''} saves about "
            f"{draft.usd(f'recommendation {key} monthly savings', rec['estimated_monthly_savings'])} a month"
        )
    draft.say(
        "Pending recommendations, largest savings first: " + "; ".join(parts) + ". Together: "
        f"{draft.usd('total monthly savings', total)} a month."
    )
    draft.actions.append("Apply a recommendation with POST /api/v1/optimization/recommendations/{id}/apply.")
    return draft


def answer_unsupported(*, intent: Intent, now: datetime) -> Draft:
    draft = Draft(intent.periods[0] if intent.periods else default_period(now), answerable=False)
    draft.say(f"I can't answer that: {intent.reason or 'I did not understand the question'}. {CAPABILITIES}")
    return draft
