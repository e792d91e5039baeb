"""`find_anomalies`: detection per org and slice over the window, incidents with drivers and an explanation,
stored (deduplicated) and returned in the CONTRACT section 6 Anomaly shape.

Severity (clear rules, on the incident's main detection):
- spend (z of the whole run: summed excess over the root of summed variances): critical when z >= 12, the extra
  spend is >= 10% of a usual day's spend and the slice is >= 2x its expectation; warning when z >= 8 (a level
  shift: 4), >= 3% of a usual day and >= 1.5x; else info.
- error rate (seed rule): critical above 20%, warning above 10%, else info.
- latency: critical at >= 3x the usual average, warning at >= 2x, else info.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core.db import Database
from core.detectors.anomaly.detect import (
    Detection,
    Incident,
    incidents,
    org_daily_usd,
    rate_detections,
    spend_detections,
)
from core.detectors.anomaly.drivers import (
    Scoped,
    deviation,
    drivers,
    explain,
    hour_bounds,
    load_scoped,
    retries,
    scoped_deviation,
    what_changed,
)
from core.detectors.anomaly.hourly import Run
from core.detectors.anomaly.slices import DIMENSIONS, SliceData, floor_hour, load_slices, trim_leading_days
from core.detectors.anomaly.store import anomaly_json, fingerprint, save_anomalies, unstored_json
from core.detectors.drivers import specificity_score
from core.errors import InvalidInput

HISTORY_DAYS = 14  # loaded before the window so its first days have a baseline too
MIN_HISTORY_DAYS = 7
MAX_REPEATS = 3
EXPLAINED = 0.5  # share of an incident's excess that a larger incident's scope must hold to absorb it
ERROR_CRITICAL_SHARE = 0.02  # extra failed calls' cost as a share of a usual day's spend
ERROR_WARNING_SHARE = 0.005
_MEASURE = {"spend": "cost", "error_rate": "errors", "latency": "latency_sum"}
_TYPES = {"spend": "spending_spike", "error_rate": "error_rate", "latency": "latency"}


def find_anomalies(db: Database, *, org_id: uuid.UUID, as_of: datetime, window_days: int = 30,
                   store: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """Anomalies whose window starts in [as_of - window_days, as_of), most severe and largest first."""
    if not 1 <= window_days <= 366:
        raise InvalidInput("--window-days must be between 1 and 366")
    end = floor_hour(as_of)
    start = (end - timedelta(days=window_days + HISTORY_DAYS)).replace(hour=0)
    with db.session() as session:
        conn = session.connection()
        data = load_slices(conn, org_id=org_id, start=start, end=end)
        if not data.keys:
            return []
        dropped = trim_leading_days(data)
        window_first = int((end - timedelta(days=window_days) - start) / timedelta(hours=1)) - dropped
        first = max(window_first, MIN_HISTORY_DAYS * 24)  # no verdict before a week of history
        daily = org_daily_usd(data, first)
        found = _limit_repeats(_build_all(conn, org_id, data, _incidents(data, first, daily), daily))
        for item in found:
            item.pop("_excess")
        if store:
            rows = save_anomalies(session, org_id=org_id, anomalies=found)
            return [anomaly_json(row) for row in rows]
    return [unstored_json(org_id, item) for item in found]


_RANK = {"critical": 0, "warning": 1, "info": 2}


def _incidents(data: SliceData, first: int, daily: float) -> list[Incident]:
    detections = spend_detections(data, first=first, daily_usd=daily)
    for series in data.series:
        detections += rate_detections(data, series, first=first)
    return incidents(detections)


@dataclass
class _Built:
    anomaly: dict[str, Any]
    scoped: Scoped
    family: str
    first: int
    last: int


def _build_all(conn: Connection, org_id: uuid.UUID, data: SliceData, found: list[Incident], daily: float
               ) -> list[dict[str, Any]]:  # fmt: skip
    """An anomaly per incident, largest first; an incident whose slice lies inside a larger one's scope and is
    mostly explained by it (a user of the team whose spend stepped up) joins that one's related slices."""
    built: list[_Built] = []
    for incident in found:
        main = _main(data, incident)
        prior = _explained_by(data, main, incident, built)
        if prior is not None:
            prior.anomaly["related_slices"].append(main.series.scope | {"metric": main.metric})
            continue
        anomaly, scoped = _anomaly(conn, org_id, data, incident, main, daily)
        built.append(_Built(anomaly, scoped, incident.family, incident.first, incident.last))
    return [b.anomaly for b in built]


def _explained_by(data: SliceData, main: Detection, incident: Incident, built: list[_Built]) -> _Built | None:
    key = (main.series.dimension, main.series.value)
    if key[0] is None:
        return None
    measure = _MEASURE[incident.family]
    for prior in built:
        lo, hi = max(prior.first, incident.first), min(prior.last, incident.last)
        if prior.family != incident.family or lo > hi or key not in prior.scoped.values:
            continue
        inside = scoped_deviation(prior.scoped.values[key], measure, data, lo, hi).excess
        own = scoped_deviation(main.series.values, measure, data, lo, hi).excess
        if own > 0 and inside >= EXPLAINED * own:
            return prior
    return None


def _limit_repeats(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe and largest first; at most MAX_REPEATS incidents of one type, metric and scope (a slice that
    keeps deviating is better described by its largest incidents than by a list of them)."""
    found.sort(key=lambda a: (_RANK[a["severity"]], -abs(a["_excess"])))
    seen: dict[str, int] = {}
    kept = []
    for item in found:
        key = f"{item['type']}:{item['metric']}:{sorted(item['scope'].items())}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= MAX_REPEATS:
            kept.append(item)
    return kept


def _primary(data: SliceData, incident: Incident) -> Detection:
    """The detection whose slice explains most of the incident (specificity), cost metric first."""
    org = deviation(data.org(), "cost", data, incident.first, incident.last)

    def score(d: Detection) -> tuple[int, float]:
        share = d.excess_usd / org.excess if org.excess > 0 else 0.0
        expected = deviation(d.series, "cost", data, d.run.first, d.run.last).expected
        base = expected / org.expected if org.expected > 0 else 0.0
        return (d.metric in ("cost", "error_rate", "latency"), specificity_score(min(share, 1.0), base) + 1e-3 * d.z)

    return max(incident.detections, key=score)


def _severity(d: Detection, daily_usd: float) -> str:
    ratio = d.actual / d.expected if d.expected > 0 else float("inf")
    if d.family == "latency":  # no USD deviation: at most a warning
        return "warning" if ratio >= 2 else "info"
    days = (d.run.last - d.run.first + 1) / 24 if d.run.method == "change_point" else 1.0  # a shift: per day
    day_share = d.excess_usd / days / daily_usd if daily_usd > 0 else 1.0
    if d.family == "error_rate":  # the seed's rate rule, capped by what the extra failures cost
        by_rate = 2 if d.actual > 0.20 else 1 if d.actual > 0.10 else 0
        by_usd = 2 if day_share >= ERROR_CRITICAL_SHARE else 1 if day_share >= ERROR_WARNING_SHARE else 0
        return ("info", "warning", "critical")[min(by_rate, by_usd)]
    if d.z >= 12 and day_share >= 0.10 and ratio >= 2:
        return "critical"
    if d.z >= (4 if d.run.method == "change_point" else 8) and day_share >= 0.03 and ratio >= 1.5:
        return "warning"
    return "info"


def _main(data: SliceData, incident: Incident) -> Detection:
    """The primary detection, its values recomputed over the whole incident (merged runs)."""
    main = _primary(data, incident)
    a, b = incident.first, incident.last
    if (a, b) == (main.run.first, main.run.last):
        return main
    run = Run(a, b, max(d.z for d in incident.detections if d.series is main.series), main.run.method)
    v = main.series.values
    if main.family == "spend":
        dev = deviation(main.series, main.metric, data, a, b)
        cost = deviation(main.series, "cost", data, a, b)
        return replace(main, run=run, actual=dev.actual, expected=dev.expected, z=run.peak_z, excess_usd=cost.excess)
    if main.family == "error_rate":
        calls = float(v["requests"][a : b + 1].sum())
        actual = float(v["errors"][a : b + 1].sum()) / max(calls, 1.0)
        usd = (actual - main.expected) * float(v["cost"][a : b + 1].sum())
        return replace(main, run=run, actual=actual, z=run.peak_z, excess_usd=usd)
    actual = float(v["latency_sum"][a : b + 1].sum()) / max(float(v["latency_n"][a : b + 1].sum()), 1.0)
    return replace(main, run=run, actual=actual, z=run.peak_z)


def _anomaly(conn: Connection, org_id: uuid.UUID, data: SliceData, incident: Incident, main: Detection,
             daily_usd: float) -> tuple[dict[str, Any], Scoped]:  # fmt: skip
    a, b = incident.first, incident.last
    start, end = hour_bounds(data, a, b)
    measure = _MEASURE[incident.family]
    dimensions = (*DIMENSIONS, "error_code") if incident.family == "error_rate" else DIMENSIONS
    scoped = load_scoped(conn, org_id=org_id, data=data, scope=main.series.scope, first=a, last=b,
                         dimensions=dimensions)  # fmt: skip
    items, top = drivers(data, scoped, main.series, a, b, measure)
    changed = what_changed(main.series, data, a, b)
    retry = retries(scoped, data, a, b)
    change_point = any(d.run.method == "change_point" for d in incident.detections)
    kind = "level_shift" if change_point and incident.family == "spend" else _TYPES[incident.family]
    method = "change_point" if change_point else main.run.method
    deviation_pct = (main.actual / main.expected - 1) * 100 if main.expected > 0 else 100.0
    text = explain(metric=main.metric, scope_label=main.series.label, start=start, end=end, actual=main.actual,
                   expected=main.expected, top=top, changed=changed, retry=retry,
                   model_drivers=[i for i in items if i["dimension"] == "model"])  # fmt: skip
    title = f"{kind.replace('_', ' ').capitalize()}: {main.metric} of {main.series.label} {deviation_pct:+.0f}%"
    evidence: list[dict[str, Any]] = [
        {"type": "time_series", "title": "Hourly series per slice", "query": q, "data": []} for q in data.queries
    ]
    evidence.append({"type": "drivers", "title": "Drivers and retries within the scope (window and reference "
                     "hours)", "query": scoped.query, "data": [retry]})  # fmt: skip
    anomaly = {
        "type": kind, "severity": _severity(main, daily_usd), "title": title, "description": text,
        "detection_method": method, "metric": main.metric, "scope": main.series.scope,
        "window": {"start": start, "end": end}, "current_value": round(main.actual, 6),
        "expected_value": round(main.expected, 6), "deviation_percent": round(deviation_pct, 1),
        "z_score": round(main.z, 2), "impact_usd": round(main.excess_usd, 2), "drivers": items,
        "top_driver": top, "explanation": text, "what_changed": {**changed, **retry}, "evidence": evidence,
        "related_slices": [d.series.scope | {"metric": d.metric} for d in incident.detections[:20]],
        "_excess": main.excess_usd,
    }  # fmt: skip
    anomaly["fingerprint"] = fingerprint(anomaly)
    return anomaly, scoped


__all__ = ["find_anomalies"]
