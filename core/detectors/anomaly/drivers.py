"""Drivers of an anomaly, within its own scope: the deviation of its window split across team, project, feature,
model, provider and user (and error code for error-rate anomalies), from ONE grouped query per incident over the
scope's raw events in the window and in the reference hours; and the deterministic explanation.

A value's deviation = its actual amount in the window minus its expected amount (per hour, the median of the same
hour on the REF_DAYS earlier days of the same kind, before the window: `window_expected`). Contributions are USD:
- spend anomalies: the extra spend;
- error-rate anomalies: the extra failed calls valued at the value's cost per call in the window (`extra_errors`
  gives the count);
- latency anomalies have no USD deviation: their contribution is the extra latency summed over the window's calls
  in milliseconds (`unit: "ms"`).
`share` is the contribution over the scope's deviation. The scope itself (when the anomaly has one) is the first
driver (share 1). The single slice that explains most (`top`) is the best `specificity_score` at org level (share
of the org's deviation, discounted by the slice's share of the org's expected amount) among the scope and the
values inside it; a value inside the scope must beat the scope by TOP_MARGIN.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from core.detectors.anomaly.hourly import Array, ref_days, window_expected
from core.detectors.anomaly.slices import DIMENSIONS, HOUR, Series, SliceData

MIN_SHARE = 0.05  # drivers explaining less than this share of the deviation are left out
PER_DIMENSION = 3
WHOLE_ORG = 0.9  # a value that is usually this share of the org's spend (e.g. the only project) explains nothing
TOP_MARGIN = 0.02
SCOPED_MEASURES = ("cost", "requests", "tokens", "errors", "latency_sum", "latency_n", "retries")
UNIT = {"cost": "USD", "errors": "USD", "latency_sum": "ms"}


@dataclass(frozen=True)
class Deviation:
    actual: float
    expected: float

    @property
    def excess(self) -> float:
        return self.actual - self.expected


def deviation(series: Series, measure: str, data: SliceData, first: int, last: int) -> Deviation:
    values = series.values[measure]
    expected = window_expected(values, weekend=data.weekend, first=first, last=last)
    return Deviation(float(values[first : last + 1].sum()), float(np.nansum(expected)))


@dataclass
class Scoped:
    """The scope's hourly measures (`total`, row 0 of each matrix) and each dimension value's inside it (row i of
    `keys`), over the window and the reference hours (zeros elsewhere), from one query."""

    keys: list[tuple[str, str | None]]
    matrix: dict[str, Array]  # measure -> (1 + len(keys), hours)
    query: dict[str, Any]

    @property
    def total(self) -> dict[str, Array]:
        return {m: v[0] for m, v in self.matrix.items()}

    @property
    def values(self) -> dict[tuple[str, str | None], dict[str, Array]]:
        return {k: {m: v[i + 1] for m, v in self.matrix.items()} for i, k in enumerate(self.keys)}


def _scope_sql(scope: dict[str, str], dimensions: tuple[str, ...], ranges: int) -> str:
    dims = ", ".join(dimensions)
    where = " AND ".join(f"coalesce({d}, '') = :scope_{d}" for d in scope) or "TRUE"
    times = " OR ".join(f"(timestamp >= :from_{i} AND timestamp < :to_{i})" for i in range(ranges))
    sets = ", ".join(["(hour)", *(f"(hour, {d})" for d in dimensions)])
    return f"""
SELECT hour, GROUPING({dims}) AS grouping_id, {dims},
       coalesce(sum(cost), 0)::float8 AS cost, count(*)::float8 AS requests,
       sum(input_tokens + output_tokens)::float8 AS tokens,
       (count(*) FILTER (WHERE status <> 'success'))::float8 AS errors,
       coalesce(sum(latency_ms) FILTER (WHERE status = 'success'), 0)::float8 AS latency_sum,
       (count(latency_ms) FILTER (WHERE status = 'success'))::float8 AS latency_n,
       (count(*) FILTER (WHERE attempt > 1))::float8 AS retries
FROM (SELECT date_trunc('hour', timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, *
      FROM usage_events
      WHERE organization_id = :org AND {where} AND ({times})) AS e
GROUP BY GROUPING SETS ({sets})"""


def _hour_ranges(data: SliceData, first: int, last: int) -> list[tuple[int, int]]:
    """The window's hours and the same hours on its reference days, as merged [from, to) hour ranges."""
    days = sorted({t // 24 for t in range(first, last + 1)})
    refs = {r for kind in {bool(data.weekend[d]) for d in days}
            for r in ref_days(data.weekend, days[0] if bool(data.weekend[days[0]]) == kind
                              else next(d for d in days if bool(data.weekend[d]) == kind))}  # fmt: skip
    if len(days) == 1:  # one day: only the same hours of the reference days
        hours = {r * 24 + t % 24 for r in refs for t in range(first, last + 1)} | set(range(first, last + 1))
    else:
        hours = {r * 24 + h for r in refs for h in range(24)} | set(range(first, last + 1))
    ranges: list[tuple[int, int]] = []
    for t in sorted(hours):
        if ranges and ranges[-1][1] == t:
            ranges[-1] = (ranges[-1][0], t + 1)
        else:
            ranges.append((t, t + 1))
    return ranges


def load_scoped(conn: Connection, *, org_id: uuid.UUID, data: SliceData, scope: dict[str, str], first: int,
                last: int, dimensions: tuple[str, ...]) -> Scoped:  # fmt: skip
    dims = tuple(d for d in dimensions if d not in scope)
    ranges = _hour_ranges(data, first, last)
    sql = _scope_sql(scope, dims, len(ranges))
    params: dict[str, Any] = {"org": org_id, **{f"scope_{d}": v for d, v in scope.items()}}
    for i, (a, b) in enumerate(ranges):
        params[f"from_{i}"], params[f"to_{i}"] = data.hour_at(a), data.hour_at(b)
    full = 2 ** len(dims) - 1
    index: dict[tuple[str, str | None], int] = {}
    rows, hours, sums = [], [], []
    for row in conn.execute(text(sql), params):
        if row.grouping_id == full:
            rows.append(0)
        else:
            dimension = next(d for i, d in enumerate(dims) if not row.grouping_id >> (len(dims) - 1 - i) & 1)
            rows.append(index.setdefault((dimension, getattr(row, dimension)), len(index) + 1))
        hours.append(int((row.hour - data.start) / HOUR))
        sums.append([getattr(row, m) for m in SCOPED_MEASURES])
    at = np.asarray(hours, dtype=np.int64)
    inside = (at >= 0) & (at < data.hours)
    table = np.asarray(sums, dtype=np.float64).reshape(-1, len(SCOPED_MEASURES))[inside]
    matrix = {}
    for j, measure in enumerate(SCOPED_MEASURES):
        grid = np.zeros((len(index) + 1, data.hours))
        np.add.at(grid, (np.asarray(rows, dtype=np.int64)[inside], at[inside]), table[:, j])
        matrix[measure] = grid
    query = {"sql": sql.strip(), "params": {k: v.isoformat() if isinstance(v, datetime) else str(v)
                                            for k, v in params.items()}}  # fmt: skip
    return Scoped(list(index), matrix, query)


def deviations(matrix: dict[str, Array], measure: str, data: SliceData, first: int, last: int
               ) -> tuple[Array, Array]:  # fmt: skip
    """(actual, expected) per row over [first, last]; latency: the window's calls at the usual ms per call."""

    def window(m: str) -> tuple[Array, Array]:
        expected = window_expected(matrix[m], weekend=data.weekend, first=first, last=last)
        return matrix[m][:, first : last + 1].sum(axis=1), np.nansum(expected, axis=1)

    if measure != "latency_sum":
        return window(measure)
    ms, usual_ms = window("latency_sum")
    calls, usual_n = window("latency_n")
    return ms, calls * np.where(usual_n > 0, usual_ms / np.maximum(usual_n, 1e-12), 0.0)


def scoped_deviation(values: dict[str, Array], measure: str, data: SliceData, first: int, last: int) -> Deviation:
    actual, expected = deviations({m: v[None, :] for m, v in values.items() if m in (measure, "latency_n")},
                                  measure, data, first, last)  # fmt: skip
    return Deviation(float(actual[0]), float(expected[0]))


Drivers = tuple[list[dict[str, Any]], dict[str, Any] | None]
_ORDER = (*DIMENSIONS, "error_code")


def drivers(data: SliceData, scoped: Scoped, main: Series, first: int, last: int, measure: str) -> Drivers:
    """(drivers sorted by contribution, largest first; the single slice that explains most)."""
    org = scoped_deviation(data.org().values, measure, data, first, last)
    actual, expected = deviations(scoped.matrix, measure, data, first, last)
    excess = actual - expected
    if excess[0] <= 0:
        return [], None
    window = slice(first, last + 1)
    calls = scoped.matrix["requests"][:, window].sum(axis=1)
    per_call = np.where(calls > 0, scoped.matrix["cost"][:, window].sum(axis=1) / np.maximum(calls, 1.0), 0.0)
    usd = excess * per_call if measure == "errors" else excess  # extra failed calls at their cost per call
    with np.errstate(all="ignore"):
        share = excess / excess[0]
        org_share = np.minimum(excess / max(org.excess, float(excess[0])), 1.0)
        base = expected / org.expected if org.expected > 0 else np.zeros_like(excess)
    scores = org_share * (1.0 - np.clip(base, 0.0, 1.0))  # core.detectors.drivers.specificity_score
    whole_org = _whole_org(data, scoped.keys, measure, first, last)

    def item(i: int, dimension: str, value: str | None) -> dict[str, Any]:
        found = {"dimension": dimension, "value": value, "unit": UNIT[measure],
                 "contribution": round(float(usd[i]), 2 if measure != "latency_sum" else 0),
                 "share": round(min(float(share[i]), 1.0), 4), "actual": round(float(actual[i]), 2),
                 "expected": round(float(expected[i]), 2)}  # fmt: skip
        if measure == "errors":
            found["extra_errors"] = round(float(excess[i]), 1)
        return found

    items: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, Any]] | None = None  # (score to beat, row, item)
    scope_item = None
    if main.dimension is not None:
        scope_item = item(0, main.dimension, main.value)
        best = (float(scores[0]) + TOP_MARGIN, 0, scope_item)
    per_dimension: dict[str, list[dict[str, Any]]] = {}
    for i, (dimension, value) in enumerate(scoped.keys, start=1):
        if share[i] < MIN_SHARE or value is None or (dimension, value) in whole_org:
            continue
        per_dimension.setdefault(dimension, []).append(item(i, dimension, value))
        if best is None or scores[i] > best[0] + 1e-9:
            best = (float(scores[i]), i, per_dimension[dimension][-1])
    for found in per_dimension.values():
        items.extend(sorted(found, key=lambda x: -float(x["contribution"]))[:PER_DIMENSION])
    if scope_item is not None:
        items.append(scope_item)
    items.sort(key=lambda x: (-float(x["contribution"]), x is not scope_item, _ORDER.index(x["dimension"])))
    top = None if best is None else {**best[2], "score": round(float(scores[best[1]]), 4)}
    return items, top


def _whole_org(data: SliceData, keys: list[tuple[str, str | None]], measure: str, first: int, last: int
               ) -> set[tuple[str, str | None]]:  # fmt: skip
    """The values that are usually WHOLE_ORG of the org's amount (the only provider): they explain nothing."""
    if measure == "latency_sum":
        return set()
    index = {k: i for i, k in enumerate(data.keys)}
    rows = [index[k] for k in keys if k in index]
    if not rows:
        return set()
    matrix = data.matrix[measure][[0, *rows]]
    expected = np.nansum(window_expected(matrix, weekend=data.weekend, first=first, last=last), axis=1)
    if expected[0] <= 0:
        return set()
    return {(str(data.keys[r][0]), data.keys[r][1]) for r, e in zip(rows, expected[1:], strict=True)
            if e / expected[0] >= WHOLE_ORG}  # fmt: skip


def what_changed(series: Series, data: SliceData, first: int, last: int) -> dict[str, Any]:
    """Volume and tokens per call of a slice in the window against its expectation."""
    requests = deviation(series, "requests", data, first, last)
    tokens = deviation(series, "tokens", data, first, last)
    cost = deviation(series, "cost", data, first, last)
    per_call = tokens.actual / requests.actual if requests.actual else 0.0
    usual_per_call = tokens.expected / requests.expected if requests.expected else 0.0
    return {
        "requests": round(requests.actual), "expected_requests": round(requests.expected, 1),
        "volume_factor": _ratio(requests.actual, requests.expected),
        "tokens_per_call": round(per_call, 1), "expected_tokens_per_call": round(usual_per_call, 1),
        "tokens_per_call_factor": _ratio(per_call, usual_per_call),
        "cost_per_call": round(cost.actual / requests.actual, 6) if requests.actual else None,
    }  # fmt: skip


def _ratio(actual: float, expected: float) -> float | None:
    return round(actual / expected, 2) if expected > 0 else None


def retries(scoped: Scoped, data: SliceData, first: int, last: int) -> dict[str, Any]:
    """Share of retry attempts (attempt > 1) in the scope in the window vs. its reference hours."""
    window = slice(first, last + 1)
    before = np.arange(data.hours) < first
    calls, tries = scoped.total["requests"], scoped.total["retries"]
    share = float(tries[window].sum()) / max(float(calls[window].sum()), 1.0)
    base = float(tries[before].sum()) / max(float(calls[before].sum()), 1.0)
    return {"retry_share": round(share, 4), "usual_retry_share": round(base, 4)}


def explain(*, metric: str, scope_label: str, start: datetime, end: datetime, actual: float, expected: float,
            top: dict[str, Any] | None, changed: dict[str, Any], retry: dict[str, Any],
            model_drivers: list[dict[str, Any]]) -> str:  # fmt: skip
    """The template explanation: which slice, since when, what changed."""
    unit = "$" if metric == "cost" else ""
    pct = f"{(actual / expected - 1) * 100:+.0f}%" if expected > 0 else "from zero"
    if metric == "error_rate":
        actual, expected = actual * 100, expected * 100
        metric = "error rate (%)"
    elif metric == "latency":
        metric = "latency (ms per call)"
    parts = [f"{metric} of {scope_label} was {unit}{actual:,.2f} against an expected {unit}{expected:,.2f} ({pct}) "
             f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC."]  # fmt: skip
    if top is not None:
        parts.append(f"{top['dimension']} {top['value']} explains {top['share']:.0%} of the deviation "
                     "(the single slice that explains most).")  # fmt: skip
    causes = []
    if (changed.get("volume_factor") or 0) >= 1.3:
        causes.append(f"request volume x{changed['volume_factor']}")
    factor = changed.get("tokens_per_call_factor") or 0
    if factor >= 1.3 or 0 < factor <= 0.7:
        causes.append(f"tokens per call x{factor} ({changed['expected_tokens_per_call']:,.0f} -> "
                      f"{changed['tokens_per_call']:,.0f})")  # fmt: skip
    if model_drivers and model_drivers[0]["share"] >= 0.5:
        causes.append(f"model {model_drivers[0]['value']} carries {model_drivers[0]['share']:.0%} of it")
    if retry["retry_share"] >= max(0.05, 2 * retry["usual_retry_share"]):
        causes.append(f"retries {retry['usual_retry_share']:.0%} -> {retry['retry_share']:.0%} of calls")
    parts.append("What changed: " + ("; ".join(causes) if causes else "no single change in volume, tokens per "
                                     "call, model mix or retries stands out") + ".")  # fmt: skip
    return " ".join(parts)


def hour_bounds(data: SliceData, first: int, last: int) -> tuple[datetime, datetime]:
    return data.hour_at(first), data.hour_at(last) + HOUR
