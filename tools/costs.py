"""Spend breakdowns for the agents: core.usage.queries.cost_breakdown (exact sums, any dimension), reported with a
re-runnable SQL over the assistant views (tools/sql.py) that returns the same numbers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from core.db import Database
from core.errors import InvalidInput
from core.usage.queries import DIMENSIONS, CostQuery, cost_breakdown
from tools.base import ToolError, ToolResult, iso, quote

LOOKUP_DIMENSIONS = ("model", "team", "feature", "project", "provider", "environment", "task_type")
_TIME_SQL = {"day": "to_char(timestamp, 'YYYY-MM-DD')", "hour": 'to_char(timestamp, \'YYYY-MM-DD"T"HH24:00:00"Z"\')'}


def view_sql(
    *, start: datetime, end: datetime, group_by: Sequence[str] = (), filters: Mapping[str, str] | None = None
) -> str:
    """The same breakdown as plain SQL over the org-scoped `usage_events` view (run it with run_sql)."""
    dims = [f"{_TIME_SQL[d]} AS {d}" if d in _TIME_SQL else d for d in group_by]
    select = [
        *dims,
        "sum(cost) AS cost",
        "count(*) AS requests",
        "sum(input_tokens) AS input_tokens",
        "sum(output_tokens) AS output_tokens",
    ]
    where = [f"timestamp >= {quote(iso(start))}", f"timestamp < {quote(iso(end))}"]
    where += [f"{name} = {quote(value)}" for name, value in (filters or {}).items()]
    sql = f"SELECT {', '.join(select)} FROM usage_events WHERE {' AND '.join(where)}"
    if group_by:
        positions = ", ".join(str(i) for i in range(1, len(group_by) + 1))
        time_first = [d for d in group_by if d in _TIME_SQL]
        order = ", ".join([*time_first, "cost DESC"])
        sql += f" GROUP BY {positions} ORDER BY {order}"
    return sql


def costs(
    db: Database,
    *,
    org_id: uuid.UUID,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    limit: int | None = None,
) -> ToolResult:
    """Spend (cost, requests, tokens) over [start, end), optionally grouped and filtered by dimensions."""
    args: dict[str, Any] = {
        "start": iso(start),
        "end": iso(end),
        "group_by": list(group_by),
        "filters": dict(filters or {}),
    }
    try:
        query = CostQuery(org_id=org_id, start=start, end=end, group_by=tuple(group_by), filters=dict(filters or {}))
    except InvalidInput as exc:
        raise ToolError(f"costs: {exc}") from exc
    with db.engine.connect() as conn:
        result = cost_breakdown(conn, query)
    rows = result["data"][:limit] if limit else result["data"]
    data = {
        "rows": rows,
        "total_cost": result["meta"]["total_cost"],
        "total_requests": result["meta"]["total_requests"],
        "unpriced_requests": result["meta"]["unpriced_requests"],
        "row_count": len(result["data"]),
        "start": args["start"],
        "end": args["end"],
    }
    return ToolResult("costs", args, data, [view_sql(start=start, end=end, group_by=group_by, filters=filters)])


def dimension_values(db: Database, *, org_id: uuid.UUID, with_users: bool = False) -> dict[str, list[str]]:
    """The org's actual values of each dimension (to match names in a question against)."""
    found: dict[str, list[str]] = {}
    with db.engine.connect() as conn:
        for dim in LOOKUP_DIMENSIONS:
            rows = conn.execute(
                text(f"SELECT DISTINCT {dim} FROM usage_rollup_daily WHERE organization_id = :o AND {dim} <> ''"),
                {"o": org_id},
            ).scalars()
            found[dim] = sorted(str(v) for v in rows)
        if with_users:
            rows = conn.execute(
                text(
                    "SELECT DISTINCT user_id FROM usage_events WHERE organization_id = :o AND "
                    "user_id IS NOT NULL AND user_id <> ''"
                ),
                {"o": org_id},
            ).scalars()
            found["user_id"] = sorted(str(v) for v in rows)
    return found


assert set(LOOKUP_DIMENSIONS) <= set(DIMENSIONS)
