"""Hourly and daily rollups: the upserts applied on ingest and the rebuild used after repricing.

Both levels hold the same sums per org, time bucket and ROLLUP_DIMENSIONS; missing dimensions are ''.
Every statement orders its rows by key so that concurrent loads lock rollup rows in the same order.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection

from core.usage.models import ROLLUP_DIMENSIONS, TOKEN_COLUMNS

MEASURES = ("requests", *TOKEN_COLUMNS, "cost", "unpriced_requests", "latency_ms_sum", "latency_count")
_DIMS = ", ".join(ROLLUP_DIMENSIONS)
_KEY_POSITIONS = ", ".join(str(i) for i in range(1, 3 + len(ROLLUP_DIMENSIONS)))
_SUMS = ", ".join(f"sum({m})" for m in MEASURES)
_ADD = ", ".join(f"{m} = r.{m} + excluded.{m}" for m in MEASURES)
_DAY = "date_trunc('day', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_HOUR = "date_trunc('hour', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_RAW_DIMS = ", ".join(f"coalesce({d}, '')" for d in ROLLUP_DIMENSIONS)
_RAW_MEASURES = (
    f"count(*), {', '.join(f'sum({c})' for c in TOKEN_COLUMNS)}, coalesce(sum(cost), 0), "
    "count(*) FILTER (WHERE cost IS NULL), coalesce(sum(latency_ms), 0), count(latency_ms)"
)


def _upsert(table: str, bucket: str, select: str) -> str:
    return f"""
    INSERT INTO {table} AS r (organization_id, {bucket}, {_DIMS}, {", ".join(MEASURES)})
    {select}
    ORDER BY {_KEY_POSITIONS}
    ON CONFLICT (organization_id, {bucket}, {_DIMS}) DO UPDATE SET {_ADD}
    """


# On ingest: the batch's hourly sums are in temp table tt_rollup (hour, dimensions, measures).
UPSERT_HOURLY_FROM_BATCH = _upsert(
    "usage_rollup_hourly", "hour", f"SELECT %(org)s, hour, {_DIMS}, {', '.join(MEASURES)} FROM tt_rollup"
)
UPSERT_DAILY_FROM_BATCH = _upsert(
    "usage_rollup_daily",
    "day",
    f"SELECT %(org)s, {_DAY.format(col='hour')}, {_DIMS}, {_SUMS} FROM tt_rollup GROUP BY {_KEY_POSITIONS}",
)

# Rebuild, per org and [start, end) of whole days: hourly from raw events, then daily from hourly.
_DELETE = "DELETE FROM {table} WHERE organization_id = %(org)s AND {bucket} >= %(start)s AND {bucket} < %(end)s"
_REFILL_HOURLY = _upsert(
    "usage_rollup_hourly",
    "hour",
    f"""SELECT organization_id, {_HOUR.format(col="timestamp")}, {_RAW_DIMS}, {_RAW_MEASURES}
    FROM usage_events WHERE organization_id = %(org)s AND timestamp >= %(start)s AND timestamp < %(end)s
    GROUP BY {_KEY_POSITIONS}""",
)
_REFILL_DAILY = _upsert(
    "usage_rollup_daily",
    "day",
    f"""SELECT organization_id, {_DAY.format(col="hour")}, {_DIMS}, {_SUMS} FROM usage_rollup_hourly
    WHERE organization_id = %(org)s AND hour >= %(start)s AND hour < %(end)s GROUP BY {_KEY_POSITIONS}""",
)


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def rebuild_rollups(conn: Connection, org_id: uuid.UUID, start: datetime, end: datetime) -> None:
    """Recompute both rollups of one org from raw events for the whole UTC days covering [start, end].

    Separate statements on purpose: the CTEs of one statement share a snapshot, so an upsert there would
    add to the very rows the DELETE removes.
    """
    first = _floor_day(start)
    last = _floor_day(end) + timedelta(days=1)
    params = {"org": org_id, "start": first, "end": last}
    conn.exec_driver_sql(_DELETE.format(table="usage_rollup_hourly", bucket="hour"), params)
    conn.exec_driver_sql(_REFILL_HOURLY, params)
    conn.exec_driver_sql(_DELETE.format(table="usage_rollup_daily", bucket="day"), params)
    conn.exec_driver_sql(_REFILL_DAILY, params)
