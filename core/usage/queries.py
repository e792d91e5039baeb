"""Spend breakdowns (`tokentra costs`, GET /api/v1/costs). Whole hours come from the hourly rollup;
partial edge hours and dimensions the rollup lacks (user_id) come from raw events. Sums are exact
NUMERIC, so a breakdown equals a direct SUM over raw events to the last digit stored."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from core.errors import InvalidInput
from core.usage.models import ROLLUP_DIMENSIONS

TIME_DIMENSIONS = {"hour": 'YYYY-MM-DD"T"HH24:00:00"Z"', "day": "YYYY-MM-DD"}
DIMENSIONS = ("day", "hour", *ROLLUP_DIMENSIONS, "user_id")
GRANULARITIES = ("none", "hour", "day")
MEASURES = (
    "cost", "requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "unpriced_requests",
)  # fmt: skip
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CostQuery:
    org_id: uuid.UUID
    start: datetime
    end: datetime
    group_by: tuple[str, ...] = ()
    granularity: str = "none"
    filters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidInput("end must be after start (periods are [start, end))")
        if self.granularity not in GRANULARITIES:
            raise InvalidInput(f"granularity must be one of {', '.join(GRANULARITIES)}")
        for name in (*self.group_by, *self.filters):
            if name not in DIMENSIONS:
                raise InvalidInput(f"unknown dimension {name!r}; use one of {', '.join(DIMENSIONS)}")
        for name in self.filters:
            if name in TIME_DIMENSIONS:
                raise InvalidInput(f"filter by {name} with the period's start and end, not as {name}=value")

    @property
    def dimensions(self) -> tuple[str, ...]:
        extra = (self.granularity,) if self.granularity != "none" and self.granularity not in self.group_by else ()
        return extra + tuple(dict.fromkeys(self.group_by))


def _dim_expr(dim: str, time_column: str) -> str:
    if dim in TIME_DIMENSIONS:
        return f"to_char({time_column} AT TIME ZONE 'UTC', '{TIME_DIMENSIONS[dim]}')"
    return f"coalesce({dim}, '')"


# (table, time column) of each storage level, coarsest first.
LEVELS = {"daily": ("usage_rollup_daily", "day"), "hourly": ("usage_rollup_hourly", "hour"),
          "raw": ("usage_events", "timestamp")}  # fmt: skip


def _part(q: CostQuery, level: str, start: str, end: str) -> str:
    table, time_column = LEVELS[level]
    dims = [f"{_dim_expr(d, time_column)} AS {d}" for d in q.dimensions]
    measures = (
        "coalesce(cost, 0) AS cost, 1 AS requests, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, reasoning_tokens, (cost IS NULL)::int AS unpriced_requests"
        if level == "raw"
        else "cost, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
        "reasoning_tokens, unpriced_requests"
    )
    where = ["organization_id = :org", f"{time_column} >= :{start}", f"{time_column} < :{end}"]
    where += [f"coalesce({dim}, '') = :f_{dim}" for dim in q.filters]
    return f"SELECT {', '.join([*dims, measures])} FROM {table} WHERE {' AND '.join(where)}"


def _ceil(moment: datetime, unit: timedelta) -> datetime:
    floor = _floor(moment, unit)
    return floor if floor == moment else floor + unit


def _floor(moment: datetime, unit: timedelta) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor.replace(hour=0) if unit == _DAY else floor


def segments(start: datetime, end: datetime, levels: tuple[str, ...]) -> list[tuple[str, datetime, datetime]]:
    """[start, end) cut into (level, from, to) pieces: whole days from the daily rollup, whole hours from
    the hourly one, and only the partial hours at the edges from raw events."""
    level, *finer = levels
    if level == "raw":
        return [("raw", start, end)]
    unit = _DAY if level == "daily" else _HOUR
    inner_start, inner_end = _ceil(start, unit), _floor(end, unit)
    if inner_start >= inner_end:
        return segments(start, end, tuple(finer))
    pieces = segments(start, inner_start, tuple(finer)) if start < inner_start else []
    pieces.append((level, inner_start, inner_end))
    if inner_end < end:
        pieces += segments(inner_end, end, tuple(finer))
    return pieces


def _levels(q: CostQuery) -> tuple[str, ...]:
    if any(d == "user_id" for d in (*q.dimensions, *q.filters)):
        return ("raw",)  # user_id is not rolled up
    if "hour" in q.dimensions:
        return ("hourly", "raw")
    return ("daily", "hourly", "raw")


def build_sql(q: CostQuery) -> tuple[str, dict[str, Any]]:
    """The SQL that answers q, and its parameters."""
    params: dict[str, Any] = {"org": q.org_id}
    params.update({f"f_{dim}": value for dim, value in q.filters.items()})
    parts = []
    for index, (level, start, end) in enumerate(segments(q.start, q.end, _levels(q))):
        params[f"s{index}"], params[f"e{index}"] = start, end
        parts.append(_part(q, level, f"s{index}", f"e{index}"))
    dims = list(q.dimensions)
    sums = ", ".join(f"sum({m}) AS {m}" for m in MEASURES)
    group = f" GROUP BY {', '.join(dims)}" if dims else ""
    time_order = [d for d in dims if d in TIME_DIMENSIONS]
    order = ", ".join([*time_order, "cost DESC", *[d for d in dims if d not in TIME_DIMENSIONS]])
    union = "\nUNION ALL\n".join(parts)
    sql = f"SELECT {', '.join([*dims, sums])} FROM (\n{union}\n) AS u{group} ORDER BY {order}"
    return sql, params


def money(value: Decimal | None) -> float:
    """USD for JSON: exact to 1e-10 (well below a micro-dollar)."""
    return float(round(value or Decimal(0), 10))


def cost_breakdown(conn: Connection, q: CostQuery) -> dict[str, Any]:
    sql, params = build_sql(q)
    rows = conn.execute(text(sql), params).mappings().all()
    data = []
    for row in rows:
        item: dict[str, Any] = {dim: (row[dim] or None) for dim in q.dimensions}
        item.update({m: int(row[m] or 0) for m in MEASURES if m != "cost"})
        # A group whose requests are all unpriced has no cost (null), never a silent $0; no requests cost $0.
        all_unpriced = item["requests"] > 0 and item["unpriced_requests"] == item["requests"]
        item["cost"] = None if all_unpriced else money(row["cost"])
        data.append(item)
    unpriced = sum(item["unpriced_requests"] for item in data)
    total = sum((row["cost"] or Decimal(0) for row in rows), Decimal(0))
    meta = {
        "start": q.start.isoformat().replace("+00:00", "Z"),
        "end": q.end.isoformat().replace("+00:00", "Z"),
        "currency": "USD",
        "unpriced_requests": unpriced,
        "total_cost": money(total),
        "total_requests": sum(item["requests"] for item in data),
        "group_by": list(q.dimensions),
        "filters": q.filters,
        "query": sql,
    }
    return {"data": data, "meta": meta}
