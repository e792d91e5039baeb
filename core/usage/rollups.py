"""SQL for the hourly rollup: the upsert applied on ingest, and the rebuild used after repricing."""

from __future__ import annotations

from core.usage.models import ROLLUP_DIMENSIONS, TOKEN_COLUMNS

_DIMS = ", ".join(ROLLUP_DIMENSIONS)
_DIM_VALUES = ", ".join(f"coalesce({dim}, '')" for dim in ROLLUP_DIMENSIONS)
_TOKEN_SUMS = ", ".join(f"sum({col})" for col in TOKEN_COLUMNS)
_MEASURES = f"requests, {', '.join(TOKEN_COLUMNS)}, cost, unpriced_requests, latency_ms_sum, latency_count"
_MEASURE_VALUES = (
    f"count(*), {_TOKEN_SUMS}, coalesce(sum(cost), 0), count(*) FILTER (WHERE cost IS NULL), "
    "coalesce(sum(latency_ms), 0), count(latency_ms)"
)
_ADD_MEASURES = ", ".join(f"{m} = r.{m} + excluded.{m}" for m in _MEASURES.split(", "))


def rollup_upsert(source: str) -> str:
    """INSERT … SELECT that adds the events of `source` (a table or CTE with usage_events' columns) to
    the rollup. Rows are ordered by key so concurrent loads lock them in the same order (no deadlock)."""
    return f"""
    INSERT INTO usage_rollup_hourly AS r (organization_id, hour, {_DIMS}, {_MEASURES})
    SELECT organization_id, date_trunc('hour', timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', {_DIM_VALUES},
           {_MEASURE_VALUES}
    FROM {source}
    GROUP BY 1, 2, {", ".join(str(i) for i in range(3, 3 + len(ROLLUP_DIMENSIONS)))}
    ORDER BY 1, 2, {", ".join(str(i) for i in range(3, 3 + len(ROLLUP_DIMENSIONS)))}
    ON CONFLICT (organization_id, hour, {_DIMS}) DO UPDATE SET {_ADD_MEASURES}
    """


# Two statements on purpose: CTEs of one statement share a snapshot, so an upsert there would add to the
# very rows the DELETE removes.
DELETE_ROLLUP = """
DELETE FROM usage_rollup_hourly WHERE organization_id = %(org)s AND hour >= %(start)s AND hour < %(end)s
"""
REFILL_ROLLUP = f"""
WITH fresh AS (
    SELECT * FROM usage_events
    WHERE organization_id = %(org)s AND timestamp >= %(start)s AND timestamp < %(end)s
)
{rollup_upsert("fresh")}
"""
