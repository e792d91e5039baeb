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
from evals.evaluators import Example, Results, Score
from evals.evaluators import evaluate as run_evaluators
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


def _hits(found: list[dict[str, Any]], item: AnomalyItem) -> list[dict[str, Any]]:
    """The detector's incidents of one planted anomaly, most severe first."""
    return sorted((a for a in found if _matches(a, item)), key=lambda a: -_RANK[a["severity"]])


def _top(hits: list[dict[str, Any]]) -> tuple[str, str] | None:
    top = hits[0]["top_driver"] if hits and hits[0]["top_driver"] else None
    return None if top is None else (top["dimension"], top["value"])


def _wanted(item: AnomalyItem) -> set[tuple[str, str]]:
    return {(d["dimension"], d["value"]) for d in item.drivers} | set(item.scope.items())


def _window_error(hits: list[dict[str, Any]], item: AnomalyItem) -> float:
    start, end = _moment(hits[0]["window"]["start"]), _moment(hits[0]["window"]["end"])
    return round(max(abs(start - item.window.start), abs(end - item.window.end)) / timedelta(hours=1), 2)


def found_planted(*, inputs: Any, outputs: list[dict[str, Any]], reference: AnomalyItem) -> list[Score]:
    """Recall (an incident of the right kind overlaps the planted window) and, when found, top-driver accuracy."""
    if not outputs:
        return [Score.check("recall", False, f"no {reference.type} incident in {reference.window.start:%m-%d %H:%M}"
                            f"–{reference.window.end:%m-%d %H:%M}"), Score.skip("top_driver_accuracy")]  # fmt: skip
    top = _top(outputs)
    ok = top is not None and top in _wanted(reference)
    comment = "" if ok else f"top driver {top} not among {sorted(_wanted(reference))}"
    return [Score.check("recall", True), Score.check("top_driver_accuracy", ok, comment)]


def spike_window(*, inputs: Any, outputs: list[dict[str, Any]], reference: AnomalyItem) -> list[Score]:
    """A planted spike comes back as one incident; hours between its window and the planted one (99 if missed)."""
    if reference.type != "spending_spike":
        return [Score.skip("spike_single"), Score.skip("spike_window_error_hours")]
    hours = _window_error(outputs, reference) if outputs else 99.0
    single = Score.check("spike_single", len(outputs) == 1, f"{len(outputs)} incidents")
    return [single, Score("spike_window_error_hours", hours, f"window off by {hours} h")]


def false_alarms(*, inputs: Any, outputs: list[dict[str, Any]], reference: Sequence[AnomalyItem]) -> Score:
    """Anomalies above info that overlap nothing planted."""
    loud = [a for a in outputs if a["severity"] != "info" and not any(_overlaps(a, i) for i in reference)]
    comment = "; ".join(f"{a['type']} {a['metric']} {a['severity']} from {a['window']['start']}" for a in loud[:5])
    return Score("false_alarms", float(len(loud)), comment, passed=not loud)


def _case(item: AnomalyItem, hits: list[dict[str, Any]]) -> dict[str, Any]:
    top = _top(hits)
    case: dict[str, Any] = {"type": item.type, "found": bool(hits), "incidents": len(hits),
                            "severity": hits[0]["severity"] if hits else None,
                            "top_driver": None if top is None else list(top),
                            "top_driver_ok": top is not None and top in _wanted(item)}  # fmt: skip
    if hits and item.type == "spending_spike":
        case["window_error_hours"] = _window_error(hits, item)
    return case


def _score_org(seed: int, found: list[dict[str, Any]], planted: Sequence[AnomalyItem]) -> tuple[Results, list[Any]]:
    """The evaluators on one org's planted anomalies (outputs: each one's incidents) and on the org as a whole."""
    examples = [Example(f"seed {seed} {item.type}", seed, _hits(found, item), item) for item in planted]
    results = run_evaluators(examples, (found_planted, spike_window))
    results.extend(run_evaluators([Example(f"seed {seed}", seed, found, planted)], (false_alarms,)))
    return results, [{"seed": seed, **_case(e.reference, e.outputs)} for e in examples]


def run_insights_eval(db: Database, *, seeds: Sequence[int], scale: float, end: datetime,
                      control: bool = True) -> Metrics:  # fmt: skip
    """Recall, top-driver accuracy and false alarms over the seeds' wasteful orgs; the control org's quietness."""
    from core.detectors.anomaly.run import find_anomalies

    results, cases, seconds = Results(), [], []
    for seed in seeds:
        org = generate_org(seed=seed, end=end, scale=scale)
        org_id = load_org(db, org, slug=f"eval-insights-{seed}-{str(scale).replace('.', 'p')}")
        started = time.perf_counter()
        found = find_anomalies(db, org_id=org_id, as_of=end, store=False)
        seconds.append(time.perf_counter() - started)
        scored, org_cases = _score_org(seed, found, org.manifest.anomalies)
        results.extend(scored)
        cases += org_cases
    worst_window = results.worst("spike_window_error_hours")
    metrics: Metrics = {
        "planted": len(cases), "recall": results.mean("recall", 3),
        "top_driver_accuracy": results.mean("top_driver_accuracy", 3),
        "spike_single": results.all_passed("spike_single"),
        "spike_window_error_hours": worst_window.score.value if worst_window else None,
        "false_alarms": int(results.total("false_alarms")), "detect_seconds_max": round(max(seconds, default=0.0), 2),
        "cases": cases,
    }  # fmt: skip
    if control:
        metrics.update(_control(db, seed=seeds[0], scale=scale, end=end, results=results))
    metrics["failures"] = results.failures()
    return metrics


def control_quiet(*, inputs: Any, outputs: list[dict[str, Any]], reference: Any) -> list[Score]:
    """The healthy org: its anomalies, and those above info (each one a false alarm)."""
    loud = [a for a in outputs if a["severity"] != "info"]
    comment = "; ".join(f"{a['type']} {a['metric']} {a['severity']} from {a['window']['start']}" for a in loud[:5])
    return [Score("control_anomalies", float(len(outputs))),
            Score("control_above_info", float(len(loud)), comment, passed=not loud)]  # fmt: skip


def _control(db: Database, *, seed: int, scale: float, end: datetime, results: Results) -> Metrics:
    from core.detectors.anomaly.run import find_anomalies

    org = generate_org(seed=seed, end=end, scale=scale, healthy=True)
    org_id = load_org(db, org, slug=f"eval-insights-control-{seed}-{str(scale).replace('.', 'p')}")
    found = find_anomalies(db, org_id=org_id, as_of=end, store=False)
    control = results.extend(run_evaluators([Example("control", seed, found, None)], (control_quiet,)))
    worst = max((a["severity"] for a in found), key=_RANK.__getitem__, default="none")
    return {"control_anomalies": int(control.total("control_anomalies")),
            "control_above_info": int(control.total("control_above_info")), "control_max_severity": worst}  # fmt: skip


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
