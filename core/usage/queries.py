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

    @property
    def dimensions(self) -> tuple[str, ...]:
        extra = (self.granularity,) if self.granularity != "none" and self.granularity not in self.group_by else ()
        return extra + tuple(dict.fromkeys(self.group_by))


def _dim_expr(dim: str, time_column: str) -> str:
    if dim in TIME_DIMENSIONS:
        return f"to_char({time_column} AT TIME ZONE 'UTC', '{TIME_DIMENSIONS[dim]}')"
    return f"coalesce({dim}, '')"


def _part(q: CostQuery, *, rollup: bool, start: str, end: str) -> str:
    time_column = "hour" if rollup else "timestamp"
    dims = [f"{_dim_expr(d, time_column)} AS {d}" for d in q.dimensions]
    measures = (
        "cost, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, "
        "unpriced_requests"
        if rollup
        else "coalesce(cost, 0) AS cost, 1 AS requests, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, reasoning_tokens, (cost IS NULL)::int AS unpriced_requests"
    )
    where = [f"organization_id = :org", f"{time_column} >= :{start}", f"{time_column} < :{end}"]
    where += [f"coalesce({dim}, '') = :f_{dim}" for dim in q.filters]
    table = "usage_rollup_hourly" if rollup else "usage_events"
    return f"SELECT {', '.join([*dims, measures])} FROM {table} WHERE {' AND '.join(where)}"


def _ceil_hour(moment: datetime) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + _HOUR


def build_sql(q: CostQuery) -> tuple[str, dict[str, Any]]:
    """The SQL that answers q, and its parameters."""
    params: dict[str, Any] = {"org": q.org_id, "start": q.start, "end": q.end}
    params.update({f"f_{dim}": value for dim, value in q.filters.items()})
    uses_raw_only = any(d == "user_id" for d in (*q.dimensions, *q.filters))
    inner_start, inner_end = _ceil_hour(q.start), q.end.replace(minute=0, second=0, microsecond=0)
    if uses_raw_only or inner_start >= inner_end:
        parts = [_part(q, rollup=False, start="start", end="end")]
    else:
        params.update({"inner_start": inner_start, "inner_end": inner_end})
        parts = [_part(q, rollup=True, start="inner_start", end="inner_end")]
        if q.start < inner_start:
            parts.append(_part(q, rollup=False, start="start", end="inner_start"))
        if inner_end < q.end:
            parts.append(_part(q, rollup=False, start="inner_end", end="end"))
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
        # A group with no priced request has no cost (null), never a silent $0.
        item["cost"] = None if item["unpriced_requests"] == item["requests"] else money(row["cost"])
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
