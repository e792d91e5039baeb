"""Insights suite: anomaly detection on synthetic orgs against their manifests, and the big-org timing.

Metrics (per run over `seeds`, synthetic orgs of core/synth at `scale`):
- recall: planted anomalies (runaway-agent spike, level shift, error-rate outage) found (an anomaly of the right
  kind overlapping the planted window);
- top_driver_accuracy: of those found, the top driver is one of the planted drivers or the planted scope;
- spike_single / spike_window_error_hours: the spike comes back as one incident, and how far its window is off;
- false_alarms: anomalies above info that overlap nothing planted;
- control: the healthy org's anomalies above info (count) and its maximum severity;
- timing (when `timing_events` > 0): seconds of find_anomalies and of every waste detector
  (core.detectors.waste.run_all) on a synthetic org with about that many events in its 30-day window.

`tokentra eval --suite insights --set seeds=7,11,13 --set timing_events=1000000`
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.db import Database
from core.synth import AnomalyItem, generate_org
from evals.harness import Metrics, suite
from evals.synth_orgs import load_org

EVENTS_PER_SCALE = 235_000  # events of a 30-day synthetic org per unit of scale
_RANK = {"info": 0, "warning": 1, "critical": 2}


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _overlaps(anomaly: dict[str, Any], item: AnomalyItem) -> bool:
    start, end = _moment(anomaly["window"]["start"]), _moment(anomaly["window"]["end"])
    return start < item.window.end and item.window.start < end


def _matches(anomaly: dict[str, Any], item: AnomalyItem) -> bool:
    if not _overlaps(anomaly, item):
        return False
    if item.type == "spending_spike":
        return bool(anomaly["type"] == "spending_spike" and anomaly["metric"] in ("cost", "tokens", "requests"))
    if item.type == "level_shift":
        return bool(anomaly["detection_method"] == "change_point")
    return bool(anomaly["metric"] == item.metric)


def _score_org(found: list[dict[str, Any]], planted: Sequence[AnomalyItem]) -> dict[str, Any]:
    cases = []
    for item in planted:
        hits = sorted((a for a in found if _matches(a, item)), key=lambda a: -_RANK[a["severity"]])
        wanted = {(d["dimension"], d["value"]) for d in item.drivers} | set(item.scope.items())
        top = hits[0]["top_driver"] if hits and hits[0]["top_driver"] else None
        case: dict[str, Any] = {"type": item.type, "found": bool(hits), "incidents": len(hits),
                                "severity": hits[0]["severity"] if hits else None,
                                "top_driver": None if top is None else [top["dimension"], top["value"]],
                                "top_driver_ok": top is not None
                                and (top["dimension"], top["value"]) in wanted}  # fmt: skip
        if hits and item.type == "spending_spike":
            start, end = _moment(hits[0]["window"]["start"]), _moment(hits[0]["window"]["end"])
            error = max(abs(start - item.window.start), abs(end - item.window.end))
            case["window_error_hours"] = round(error / timedelta(hours=1), 2)
        cases.append(case)
    loud = [a for a in found if a["severity"] != "info" and not any(_overlaps(a, i) for i in planted)]
    return {"cases": cases, "false_alarms": len(loud)}


def run_insights_eval(db: Database, *, seeds: Sequence[int], scale: float, end: datetime,
                      control: bool = True) -> Metrics:  # fmt: skip
    """Recall, top-driver accuracy and false alarms over the seeds' wasteful orgs; the control org's quietness."""
    from core.detectors.anomaly.run import find_anomalies

    cases: list[dict[str, Any]] = []
    false_alarms = 0
    seconds: list[float] = []
    for seed in seeds:
        org = generate_org(seed=seed, end=end, scale=scale)
        org_id = load_org(db, org, slug=f"eval-insights-{seed}-{str(scale).replace('.', 'p')}")
        started = time.perf_counter()
        found = find_anomalies(db, org_id=org_id, as_of=end, store=False)
        seconds.append(time.perf_counter() - started)
        scored = _score_org(found, org.manifest.anomalies)
        cases += [{"seed": seed, **c} for c in scored["cases"]]
        false_alarms += scored["false_alarms"]
    hits = [c for c in cases if c["found"]]
    spikes = [c for c in cases if c["type"] == "spending_spike"]
    metrics: Metrics = {
        "planted": len(cases), "recall": round(len(hits) / len(cases), 3) if cases else None,
        "top_driver_accuracy": round(sum(c["top_driver_ok"] for c in hits) / len(hits), 3) if hits else None,
        "spike_single": all(c["incidents"] == 1 for c in spikes),
        "spike_window_error_hours": max((c.get("window_error_hours", 99.0) for c in spikes), default=None),
        "false_alarms": false_alarms, "detect_seconds_max": round(max(seconds, default=0.0), 2), "cases": cases,
    }  # fmt: skip
    if control:
        metrics.update(_control(db, seed=seeds[0], scale=scale, end=end))
    return metrics


def _control(db: Database, *, seed: int, scale: float, end: datetime) -> Metrics:
    from core.detectors.anomaly.run import find_anomalies

    org = generate_org(seed=seed, end=end, scale=scale, healthy=True)
    org_id = load_org(db, org, slug=f"eval-insights-control-{seed}-{str(scale).replace('.', 'p')}")
    found = find_anomalies(db, org_id=org_id, as_of=end, store=False)
    loud = [a for a in found if a["severity"] != "info"]
    worst = max((a["severity"] for a in found), key=_RANK.__getitem__, default="none")
    return {"control_anomalies": len(found), "control_above_info": len(loud), "control_max_severity": worst}


def run_timing(db: Database, *, events: int, end: datetime, seed: int = 7) -> Metrics:
    """Seconds of find_anomalies and of all waste detectors for an org with about `events` events in 30 days."""
    from core.detectors.anomaly.run import find_anomalies
    from core.detectors.waste import DetectorContext, run_all

    scale = events / EVENTS_PER_SCALE
    org = generate_org(seed=seed, end=end, scale=scale)
    org_id = load_org(db, org, slug=f"eval-insights-timing-{events}")
    started = time.perf_counter()
    find_anomalies(db, org_id=org_id, as_of=end, store=False)
    detect = time.perf_counter() - started
    started = time.perf_counter()
    with db.engine.connect() as conn:
        findings = run_all(DetectorContext(conn, org_id, end - timedelta(days=30), end))
    waste = time.perf_counter() - started
    return {"timing_events": len(org.events), "timing_detect_seconds": round(detect, 2),
            "timing_waste_seconds": round(waste, 2), "timing_total_seconds": round(detect + waste, 2),
            "timing_findings": len(findings)}  # fmt: skip


@suite("insights", about="anomaly recall and top-driver accuracy on synth orgs, control quietness, 1M-event timing",
       seeds="7,11,13", scale=0.2, end="2026-03-01T00:00:00Z", timing_events=0)  # fmt: skip
def insights_suite(config: dict[str, Any]) -> Metrics:
    from core.db import get_database
    from core.schema import ensure_schema

    db = get_database()
    ensure_schema(db)
    end = _moment(str(config["end"])).astimezone(UTC)
    seeds = [int(s) for s in str(config["seeds"]).split(",") if s.strip()]
    metrics = run_insights_eval(db, seeds=seeds, scale=float(config["scale"]), end=end)
    if int(config.get("timing_events") or 0) > 0:
        metrics.update(run_timing(db, events=int(config["timing_events"]), end=end))
    return metrics
