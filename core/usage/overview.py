"""The dashboard overview (GET /api/internal/dashboard/overview): month-to-date spend and how it compares,
spend by day and provider, top consumers, pending recommendations, active alerts and the month-end forecast.

Every figure comes from a query listed in `queries` (the spend figures from core/usage/queries.py, exact
NUMERIC sums). The comparison is like-for-like: this month up to `as_of` against the previous month over the
same elapsed time (clamped to that month's length).
"""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from core.usage.queries import CostQuery, cost_breakdown, money

TREND_DAYS = 30
TOP = 5

PENDING_SQL = """
SELECT id, type, title, priority, estimated_monthly_savings
FROM recommendations WHERE organization_id = :org AND status = 'pending'
ORDER BY estimated_monthly_savings DESC, id LIMIT :top
"""
PENDING_TOTALS_SQL = """
SELECT count(*) AS n, coalesce(sum(estimated_monthly_savings), 0) AS savings
FROM recommendations WHERE organization_id = :org AND status = 'pending'
"""
ALERTS_SQL = """
SELECT id, type, severity, title, message, created_at FROM alert_events
WHERE organization_id = :org AND status = 'active' ORDER BY created_at DESC, id LIMIT :top
"""
ALERT_COUNT_SQL = "SELECT count(*) FROM alert_events WHERE organization_id = :org AND status = 'active'"


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def previous_period(start: datetime, as_of: datetime) -> tuple[datetime, datetime]:
    """The previous month from its first day over the same elapsed time as [start, as_of), within that month."""
    prev_start = month_start(start - timedelta(days=1))
    return prev_start, min(prev_start + (as_of - start), start)


def _spend(conn: Connection, org_id: uuid.UUID, start: datetime, end: datetime, **kw: Any) -> dict[str, Any]:
    if end <= start:  # e.g. as_of exactly at the start of a month: nothing elapsed yet
        return {"data": [], "meta": {"total_cost": 0.0, "total_requests": 0, "unpriced_requests": 0, "query": ""}}
    return cost_breakdown(conn, CostQuery(org_id=org_id, start=start, end=end, **kw))


def _percent(part: float, whole: float) -> float | None:
    return None if whole == 0 else round(part / whole * 100, 2)


def spend_section(conn: Connection, *, org_id: uuid.UUID, as_of: datetime) -> dict[str, Any]:
    start = month_start(as_of)
    prev_start, prev_end = previous_period(start, as_of)
    mtd = _spend(conn, org_id, start, as_of)
    prev = _spend(conn, org_id, prev_start, prev_end)
    trend_start = (as_of - timedelta(days=TREND_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    by_day = _spend(conn, org_id, trend_start, as_of, granularity="day")
    by_provider = _spend(conn, org_id, start, as_of, group_by=("provider",))
    by_team = _spend(conn, org_id, start, as_of, group_by=("team",))
    total, previous = mtd["meta"]["total_cost"], prev["meta"]["total_cost"]

    def share(row: dict[str, Any]) -> float | None:
        return _percent(row["cost"] or 0.0, total)

    return {
        "period": {"start": start, "end": as_of, "previous_start": prev_start, "previous_end": prev_end},
        "summary": {
            "total_spend_mtd": total,
            "previous_period_spend": previous,
            "spend_change_percent": None if previous == 0 else round((total - previous) / previous * 100, 2),
            "total_requests_mtd": mtd["meta"]["total_requests"],
            "unpriced_requests_mtd": mtd["meta"]["unpriced_requests"],
            "active_providers": sum(1 for row in by_provider["data"] if row["requests"] > 0),
        },
        "spend_by_day": [{"date": r["day"], "cost": r["cost"], "requests": r["requests"]} for r in by_day["data"]],
        "spend_by_provider": [
            {"provider": r["provider"], "cost": r["cost"], "requests": r["requests"], "percentage": share(r)}
            for r in by_provider["data"]
        ],
        "top_consumers": [
            {"type": "team", "name": r["team"], "cost": r["cost"], "requests": r["requests"]}
            for r in by_team["data"][:TOP]
        ],
        "queries": [p["meta"]["query"] for p in (mtd, prev, by_day, by_provider, by_team) if p["meta"]["query"]],
    }


def recommendations_section(conn: Connection, *, org_id: uuid.UUID) -> dict[str, Any]:
    totals = conn.execute(text(PENDING_TOTALS_SQL), {"org": org_id}).mappings().one()
    rows = conn.execute(text(PENDING_SQL), {"org": org_id, "top": TOP}).mappings().all()
    return {
        "count": int(totals["n"]),
        "potential_monthly_savings": money(Decimal(totals["savings"])),
        "top": [
            {**dict(r), "id": str(r["id"]), "estimated_monthly_savings": money(r["estimated_monthly_savings"])}
            for r in rows
        ],
        "queries": [PENDING_TOTALS_SQL.strip(), PENDING_SQL.strip()],
    }


def alerts_section(conn: Connection, *, org_id: uuid.UUID) -> dict[str, Any]:
    count = conn.execute(text(ALERT_COUNT_SQL), {"org": org_id}).scalar_one()
    rows = conn.execute(text(ALERTS_SQL), {"org": org_id, "top": TOP}).mappings().all()
    return {
        "count": int(count),
        "recent": [{**dict(r), "id": str(r["id"])} for r in rows],
        "queries": [ALERT_COUNT_SQL, ALERTS_SQL.strip()],
    }


def forecast_section(conn: Connection, *, org_id: uuid.UUID, as_of: datetime) -> dict[str, Any] | None:
    """core.budgets.forecast.forecast_month_end as a JSON-able dict; None while that module is not there."""
    try:
        module = importlib.import_module("core.budgets.forecast")
    except ModuleNotFoundError as exc:
        if exc.name != "core.budgets.forecast":
            raise
        return None
    result = module.forecast_month_end(conn, org_id=org_id, as_of=as_of)
    if result is None or isinstance(result, dict):
        return result
    if hasattr(result, "model_dump"):
        dumped: dict[str, Any] = result.model_dump(mode="json")
        return dumped
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    raise TypeError(f"forecast_month_end returned {type(result).__name__}, not a dict, model or dataclass")
