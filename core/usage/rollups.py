"""Hourly and daily rollups: their compaction, and the rebuild used after repricing.

Both levels hold the same sums per org, time bucket and ROLLUP_DIMENSIONS; missing dimensions are ''.
The tables are append-only (migration 0010): each stored batch COPYs its own sums (core/usage/store.py),
so a group may have several rows, and every reader sums them. `compact_rollups` merges a group's rows
into one, exactly: it adds up precisely the rows it deletes, in one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Connection

from core.usage.models import ROLLUP_DIMENSIONS, TOKEN_COLUMNS

MEASURES = ("requests", *TOKEN_COLUMNS, "cost", "unpriced_requests", "latency_ms_sum", "latency_count")
_DIMS = ", ".join(ROLLUP_DIMENSIONS)
_KEY_POSITIONS = ", ".join(str(i) for i in range(1, 3 + len(ROLLUP_DIMENSIONS)))
_SUMS = ", ".join(f"sum({m})" for m in MEASURES)
_DAY = "date_trunc('day', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_HOUR = "date_trunc('hour', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_RAW_DIMS = ", ".join(f"coalesce({d}, '')" for d in ROLLUP_DIMENSIONS)
_RAW_MEASURES = (
    f"count(*), {', '.join(f'sum({c})' for c in TOKEN_COLUMNS)}, coalesce(sum(cost), 0), "
    "count(*) FILTER (WHERE cost IS NULL), coalesce(sum(latency_ms), 0), count(latency_ms)"
)


def _insert(table: str, bucket: str, select: str) -> str:
    return f"INSERT INTO {table} (organization_id, {bucket}, {_DIMS}, {', '.join(MEASURES)})\n{select}"


def _compact(table: str, bucket: str) -> str:
    """Merge the rows of each group of one org and the given buckets that has more than one. Rows a concurrent
    writer commits meanwhile are not in this statement's snapshot and stay as they are; a row a concurrent
    compaction deleted first is skipped by this DELETE, so it is never added twice."""

    def chosen(alias: str) -> str:
        return f"{alias}organization_id = %(org)s AND {alias}{bucket} = ANY(%(buckets)s)"

    same_group = " AND ".join(f"r.{column} = s.{column}" for column in (bucket, *ROLLUP_DIMENSIONS))
    return f"""
    WITH split AS (
        SELECT {bucket}, {_DIMS} FROM {table} WHERE {chosen("")}
        GROUP BY {bucket}, {_DIMS} HAVING count(*) > 1
    ), gone AS (
        DELETE FROM {table} AS r USING split AS s WHERE {chosen("r.")} AND {same_group} RETURNING r.*
    )
    {_insert(table, bucket, f"SELECT %(org)s, {bucket}, {_DIMS}, {_SUMS} FROM gone GROUP BY {bucket}, {_DIMS}")}
    """


_COMPACT_HOURLY = _compact("usage_rollup_hourly", "hour")
_COMPACT_DAILY = _compact("usage_rollup_daily", "day")

# Rebuild, per org and [start, end) of whole days: hourly from raw events, then daily from hourly.
_DELETE = "DELETE FROM {table} WHERE organization_id = %(org)s AND {bucket} >= %(start)s AND {bucket} < %(end)s"
_REFILL_HOURLY = _insert(
    "usage_rollup_hourly",
    "hour",
    f"""SELECT organization_id, {_HOUR.format(col="timestamp")}, {_RAW_DIMS}, {_RAW_MEASURES}
    FROM usage_events WHERE organization_id = %(org)s AND timestamp >= %(start)s AND timestamp < %(end)s
    GROUP BY {_KEY_POSITIONS}""",
)
_REFILL_DAILY = _insert(
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


def compact_rollups(conn: psycopg.Connection[Any], org_id: uuid.UUID, hours: Collection[datetime]) -> None:
    """Merge the split groups of one org in the given UTC hours of the hourly rollup and their days in the
    daily one; commits. A reader sees a group's rows before or after, never half-merged."""
    if not hours:
        return
    days = sorted({_floor_day(hour) for hour in hours})
    # Right after a load the planner has no statistics on the new rows and may nest a loop over all the
    # chosen rows for every split group: a hash join is right at any size.
    conn.execute("SET LOCAL enable_nestloop = off")
    conn.execute(_COMPACT_HOURLY, {"org": org_id, "buckets": sorted(hours)})
    conn.execute(_COMPACT_DAILY, {"org": org_id, "buckets": days})
    conn.commit()


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours from start's to end's, both included."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours
