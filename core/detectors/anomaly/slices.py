"""Hourly series per slice (the org, each team, project, feature, model, provider and user) from stored usage.

Two queries, both kept as evidence: the hourly rollup (GROUPING SETS over the rolled-up dimensions) and the raw
events for user_id (not rolled up), one GROUP BY. Every series has the same hours [start, end), zeros where nothing
ran. Latency is of successful calls only (a timed-out call is an error, not a slow answer). The series are
rows of one (slices x hours) matrix per measure, so the statistics run on all slices at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

ROLLUP_SLICES = ("team", "project", "feature", "model", "provider")
DIMENSIONS = (*ROLLUP_SLICES, "user_id")
MEASURES = ("cost", "requests", "tokens", "errors", "latency_sum", "latency_n")
MIN_USER_SHARE = 0.002  # users below this share of the window's spend are not analysed one by one
HOUR = timedelta(hours=1)
Array = npt.NDArray[np.float64]

_ARRAYS = ", ".join(f"array_agg({m}) AS {m}" for m in MEASURES)
_INDEX = "array_agg((extract(epoch FROM hour - :start) / 3600)::int) AS h"

ROLLUP_SQL = f"""
WITH hourly AS (
  SELECT hour, GROUPING({", ".join(ROLLUP_SLICES)}) AS grouping_id,
         {", ".join(ROLLUP_SLICES)},
         coalesce(sum(cost), 0)::float8 AS cost, sum(requests)::float8 AS requests,
         sum(input_tokens + output_tokens)::float8 AS tokens,
         coalesce(sum(requests) FILTER (WHERE status <> 'success'), 0)::float8 AS errors,
         coalesce(sum(latency_ms_sum) FILTER (WHERE status = 'success'), 0)::float8 AS latency_sum,
         coalesce(sum(latency_count) FILTER (WHERE status = 'success'), 0)::float8 AS latency_n
  FROM usage_rollup_hourly
  WHERE organization_id = :org AND hour >= :start AND hour < :end
  GROUP BY GROUPING SETS ((hour), {", ".join(f"(hour, {d})" for d in ROLLUP_SLICES)})
)
SELECT grouping_id, {", ".join(ROLLUP_SLICES)}, {_INDEX}, {_ARRAYS}
FROM hourly GROUP BY grouping_id, {", ".join(ROLLUP_SLICES)}
"""

USER_SQL = f"""
WITH hourly AS (
  SELECT user_id, date_trunc('hour', timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
         coalesce(sum(cost), 0)::float8 AS cost, count(*)::float8 AS requests,
         sum(input_tokens + output_tokens)::float8 AS tokens,
         (count(*) FILTER (WHERE status <> 'success'))::float8 AS errors,
         coalesce(sum(latency_ms) FILTER (WHERE status = 'success'), 0)::float8 AS latency_sum,
         (count(latency_ms) FILTER (WHERE status = 'success'))::float8 AS latency_n
  FROM usage_events
  WHERE organization_id = :org AND timestamp >= :start AND timestamp < :end AND user_id IS NOT NULL
  GROUP BY 1, 2
)
SELECT user_id, {_INDEX}, {_ARRAYS}
FROM hourly GROUP BY user_id HAVING sum(cost) >= :min_cost
"""

Key = tuple[str | None, str | None]


@dataclass
class Series:
    """One slice's hourly measures (row views of the SliceData matrices); `dimension` None is the whole org."""

    dimension: str | None
    value: str | None
    values: dict[str, Array]
    index: int = 0
    excess: dict[str, Array] = field(default_factory=dict)  # per hour: value - seasonal expectation

    @property
    def scope(self) -> dict[str, str]:
        return {} if self.dimension is None else {self.dimension: self.value or ""}

    @property
    def label(self) -> str:
        return "the org" if self.dimension is None else f"{self.dimension} {self.value or '(none)'}"


@dataclass
class SliceData:
    start: datetime
    hours: int
    keys: list[Key] = field(default_factory=list)  # row i of every matrix; row 0 is the org
    matrix: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)  # measure -> (slices, hours)
    queries: list[dict[str, Any]] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)

    def build_series(self) -> None:
        self.series = [Series(d, v, {m: self.matrix[m][i] for m in MEASURES}, i) for i, (d, v) in enumerate(self.keys)]

    def hour_at(self, index: int) -> datetime:
        return self.start + HOUR * index

    def org(self) -> Series:
        return self.series[0]

    def by_dimension(self, dimension: str) -> list[Series]:
        return [s for s in self.series if s.dimension == dimension]

    @cached_property
    def weekend(self) -> npt.NDArray[np.bool_]:
        """Per day from `start` (a UTC midnight): True on Saturday/Sunday."""
        days = -(-self.hours // 24)
        first = self.start.weekday()
        return np.asarray((first + np.arange(days)) % 7 >= 5, dtype=bool)


def trim_leading_days(data: SliceData) -> int:
    """Drop the whole days before the org's first call (an empty history is not a baseline of zero);
    returns the number of hours dropped."""
    nonzero = np.flatnonzero(data.matrix["requests"][0]) if data.keys else np.zeros(0, dtype=np.int64)
    drop = (int(nonzero[0]) // 24) * 24 if nonzero.size else 0
    if drop:
        data.matrix = {k: np.ascontiguousarray(v[:, drop:]) for k, v in data.matrix.items()}
        data.start += HOUR * drop
        data.hours -= drop
        data.__dict__.pop("weekend", None)
        data.build_series()
    return drop


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def load_slices(conn: Connection, *, org_id: uuid.UUID, start: datetime, end: datetime) -> SliceData:
    """Hourly series of every slice over [start, end) (whole hours); no slices when the org has no usage.
    Users below MIN_USER_SHARE of the org's spend over the period are left out (in SQL: HAVING)."""
    hours = int((end - start) / HOUR)
    data = SliceData(start, hours)
    params: dict[str, Any] = {"org": org_id, "start": start, "end": end}
    full = 2 ** len(ROLLUP_SLICES) - 1
    found: list[tuple[Key, Any]] = []
    for row in conn.execute(text(ROLLUP_SQL), params):
        gid = row.grouping_id
        dimension = None if gid == full else next(d for i, d in enumerate(ROLLUP_SLICES) if not gid >> (4 - i) & 1)
        found.append(((dimension, getattr(row, dimension) if dimension else None), row))
    found.sort(key=lambda item: item[0][0] is not None)  # the org first
    if not found or found[0][0] != (None, None):
        return data
    params["min_cost"] = MIN_USER_SHARE * sum(found[0][1].cost)
    found += [(("user_id", row.user_id), row) for row in conn.execute(text(USER_SQL), params)]
    data.keys = [key for key, _ in found]
    data.matrix = {m: np.zeros((len(found), hours)) for m in MEASURES}
    for i, (_, row) in enumerate(found):
        h = np.asarray(row.h, dtype=np.int64)
        inside = (h >= 0) & (h < hours)
        for measure in MEASURES:
            data.matrix[measure][i, h[inside]] = np.asarray(getattr(row, measure), dtype=np.float64)[inside]
    data.build_series()
    data.queries = [{"sql": ROLLUP_SQL.strip(), "params": _jsonable(params)},
                    {"sql": USER_SQL.strip(), "params": _jsonable(params)}]  # fmt: skip
    return data


def _jsonable(params: dict[str, Any]) -> dict[str, str]:
    return {k: v.isoformat() if isinstance(v, datetime) else str(v) for k, v in params.items()}
