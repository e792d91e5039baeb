"""Ground truth for the assistant eval, computed independently: plain SQL straight over `usage_events` (not the
assistant's tools, views or rollups), exact NUMERIC sums rounded to the cent here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import text

from core.db import Database

COLUMNS = {"team", "feature", "model", "project", "provider", "user_id", "environment", "task_type"}
CENT = Decimal("0.01")


def cents(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _where(filters: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    parts, params = [], {}
    for i, (column, value) in enumerate(sorted(filters.items())):
        if column not in COLUMNS:
            raise ValueError(f"unknown column {column!r}")
        parts.append(f" AND {column} = :f{i}")
        params[f"f{i}"] = value
    return "".join(parts), params


def spend(db: Database, org_id: uuid.UUID, start: datetime, end: datetime,
          filters: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Exact cost, requests and tokens over [start, end) for the filters."""
    where, params = _where(filters or {})
    sql = ("SELECT coalesce(sum(cost), 0) AS cost, count(*) AS requests, coalesce(sum(input_tokens), 0) AS input, "
           "coalesce(sum(output_tokens), 0) AS output FROM usage_events WHERE organization_id = :o "
           f"AND timestamp >= :s AND timestamp < :e{where}")  # fmt: skip
    with db.engine.connect() as conn:
        row = conn.execute(text(sql), {"o": org_id, "s": start, "e": end, **params}).mappings().one()
    return dict(row)


def by_dimension(db: Database, org_id: uuid.UUID, start: datetime, end: datetime, dimension: str,
                 filters: Mapping[str, str] | None = None) -> list[tuple[str, Decimal]]:  # fmt: skip
    """(value, exact cost) per value of `dimension` (or UTC day), largest first."""
    key = "to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if dimension == "day" else dimension
    if dimension != "day" and dimension not in COLUMNS:
        raise ValueError(f"unknown dimension {dimension!r}")
    where, params = _where(filters or {})
    sql = (f"SELECT {key} AS value, coalesce(sum(cost), 0) AS cost FROM usage_events WHERE organization_id = :o "
           f"AND timestamp >= :s AND timestamp < :e{where} GROUP BY 1 ORDER BY 2 DESC, 1")  # fmt: skip
    with db.engine.connect() as conn:
        rows = conn.execute(text(sql), {"o": org_id, "s": start, "e": end, **params}).all()
    return [(r.value if r.value not in (None, "") else "(not set)", Decimal(r.cost)) for r in rows]


def month_end_forecast(db: Database, org_id: uuid.UUID, now: datetime) -> Decimal:
    """Month-to-date spend + the last 7 days' daily average x the days left in the month (the stated method)."""
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (month + timedelta(days=32)).replace(day=1)
    mtd = Decimal(spend(db, org_id, month, now)["cost"]) if now > month else Decimal(0)
    recent = Decimal(spend(db, org_id, now - timedelta(days=7), now)["cost"])
    days_left = Decimal(str((next_month - now) / timedelta(days=1)))
    return mtd + recent / 7 * days_left


def budget_period(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[start of the budget's current period, now)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, now
    if period == "weekly":
        return day - timedelta(days=day.weekday()), now
    return day.replace(day=1), now
