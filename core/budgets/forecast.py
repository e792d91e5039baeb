"""Month-end spend forecast with an interval (dashboard, budgets, the assistant).

Method (deterministic, named in the result): month-to-date actual spend, plus for every remaining day (and the
rest of today) the average spend of the same weekday over the last 28 days, scaled by the recent level (last
7 days against the 28-day average, bounded to [0.5, 2]). The interval is +/- 1.96 robust sigmas of the daily
residuals (median/MAD against the weekday averages) times sqrt(remaining days); the low end never goes below
the month-to-date actual. Both figures come from `tokentra costs`' SQL (rollups), returned as `query`.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Connection

from core.usage.queries import CostQuery, cost_breakdown

HISTORY_DAYS = 28
Z_95 = 1.96
DAY = timedelta(days=1)


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _daily(conn: Connection, org_id: uuid.UUID, end: datetime) -> tuple[dict[str, float], str]:
    start = end - timedelta(days=HISTORY_DAYS)
    result = cost_breakdown(conn, CostQuery(org_id=org_id, start=start, end=end, granularity="day"))
    return {row["day"]: float(row["cost"] or 0.0) for row in result["data"]}, str(result["meta"]["query"])


def _weekday_means(daily: dict[str, float], today: datetime) -> tuple[list[float], float, float]:
    """(mean per weekday, recent level factor, robust sigma of a day's residual) over the full past days."""
    days = [today - DAY * k for k in range(HISTORY_DAYS, 0, -1)]
    values = np.array([daily.get(f"{d:%Y-%m-%d}", 0.0) for d in days])
    weekdays = np.array([d.weekday() for d in days])
    spent = np.flatnonzero(values)
    if spent.size:  # days before the org's first spend are no history, not days of $0
        values, weekdays = values[spent[0] :], weekdays[spent[0] :]
    overall = float(values.mean()) if values.size else 0.0
    means = [float(values[weekdays == w].mean()) if np.any(weekdays == w) else overall for w in range(7)]
    fitted = np.array([means[w] for w in weekdays])
    residuals = values - fitted
    sigma = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals)))) if values.size else 0.0
    recent = float(values[-7:].mean()) if values.size else 0.0
    level = min(max(recent / overall, 0.5), 2.0) if overall > 0 else 1.0
    return means, level, sigma


def forecast_month_end(conn: Connection, *, org_id: uuid.UUID, as_of: datetime) -> dict[str, Any]:
    """{"month", "as_of", "month_to_date", "projected", "low", "high", "remaining_days", "method", "query"}"""
    as_of = as_of.astimezone(UTC)
    month_start, month_end = month_bounds(as_of)
    today = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    mtd_result = cost_breakdown(conn, CostQuery(org_id=org_id, start=month_start, end=as_of)) if as_of > month_start \
        else None  # fmt: skip
    mtd = float(Decimal(str(mtd_result["meta"]["total_cost"]))) if mtd_result else 0.0
    daily, history_sql = _daily(conn, org_id, today)
    means, level, sigma = _weekday_means(daily, today)
    remaining = 0.0
    expected = 0.0
    day = today
    while day < month_end:
        fraction = ((day + DAY) - max(day, as_of)) / DAY if day == today else 1.0
        expected += fraction * means[day.weekday()] * level
        remaining += fraction
        day += DAY
    spread = Z_95 * sigma * math.sqrt(remaining) if remaining > 0 else 0.0
    projected = mtd + expected
    return {
        "month": f"{month_start:%Y-%m}",
        "as_of": as_of.isoformat().replace("+00:00", "Z"),
        "month_to_date": round(mtd, 2),
        "projected": round(projected, 2),
        "low": round(max(mtd, projected - spread), 2),
        "high": round(projected + spread, 2),
        "remaining_days": round(remaining, 3),
        "daily_run_rate": round(expected / remaining, 2) if remaining > 0 else None,
        "level_factor": round(level, 3),
        "method": "month-to-date + weekday averages of the last 28 days x recent level (7 d / 28 d); "
        "interval +/- 1.96 robust sigma (MAD) of daily residuals x sqrt(remaining days)",
        "query": mtd_result["meta"]["query"] if mtd_result else None,
        "queries": {"month_to_date": mtd_result["meta"]["query"] if mtd_result else None, "history": history_sql},
    }
