"""Anomaly driver accuracy of the assistant suite: for each planted anomaly of the synth manifest, the detected
anomaly it overlaps (core/detectors/anomaly/run.py), its top driver and the explanation graph's answer, scored by
`explained_anomaly` (evals/evaluators.py signature: inputs = the org, outputs = what was detected and explained,
reference = the planted anomaly)."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import datetime
from typing import Any

from core.db import Database
from core.routing.llm import LLM
from core.synth import AnomalyItem, Manifest
from evals.assistant_checks import planted_drivers
from evals.evaluators import Example, Score, evaluate


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _overlaps(anomaly: dict[str, Any], item: AnomalyItem) -> bool:
    start, end = _moment(str(anomaly["window"]["start"])), _moment(str(anomaly["window"]["end"]))
    return start < item.window.end and item.window.start < end


def match_anomaly(found: list[dict[str, Any]], item: AnomalyItem) -> dict[str, Any] | None:
    """The detected anomaly of the planted one: same family, overlapping; the same type first, then by rank."""
    family = ("error_rate",) if item.metric == "error_rate" else ("cost", "tokens", "requests")
    hits = [a for a in found if a["metric"] in family and _overlaps(a, item)]
    hits.sort(key=lambda a: a["type"] != item.type)  # stable: keeps find_anomalies' severity/size order
    return hits[0] if hits else None


def top_driver(anomaly: dict[str, Any]) -> tuple[str, str] | None:
    top = anomaly.get("top_driver") or next(iter(anomaly.get("drivers") or []), None)
    return None if not top else (str(top["dimension"]), str(top["value"]))


def judge(outputs: dict[str, Any], item: AnomalyItem) -> dict[str, Any]:
    """The detected anomaly's top driver and the explanation, against the planted drivers."""
    from agents.explainer import Fact, Facts, Slice, ungrounded_numbers

    top, result = top_driver(outputs["anomaly"]), outputs["result"]
    facts = Facts(Slice(result["slice"]["dimension"], result["slice"]["value"]), outputs["end"], outputs["end"])
    facts.facts = [Fact.model_validate(f) for f in result["facts"]]
    sl = (result["slice"]["dimension"], result["slice"]["value"])
    return {"top_driver": top, "top1": top == tuple(item.expected_top_driver.values()),
            "in_set": top in planted_drivers(item),
            "explained": sl in planted_drivers(item) and str(sl[1]) in result["explanation"],
            "ungrounded": ungrounded_numbers(result["explanation"], facts),
            "explanation": result["explanation"]}  # fmt: skip


def explained_anomaly(*, inputs: Any, outputs: dict[str, Any], reference: AnomalyItem) -> list[Score]:
    if outputs["anomaly"] is None:
        missed = f"no detected anomaly overlaps the planted {reference.type}"
        return [Score.check(n, False, missed if n == "detection_recall" else "not detected")
                for n in ("detection_recall", "driver_top1_accuracy", "driver_accuracy", "explanation_accuracy")
                ] + [Score.skip("explanation_grounded")]  # fmt: skip
    j = judge(outputs, reference)
    expected = tuple(reference.expected_top_driver.values())
    return [
        Score.check("detection_recall", True),
        Score.check("driver_top1_accuracy", j["top1"], f"top driver {j['top_driver']}, expected {expected}"),
        Score.check("driver_accuracy", j["in_set"], f"top driver {j['top_driver']} is not a planted driver"),
        Score.check("explanation_accuracy", j["explained"], f"explained {outputs['result']['slice']}"),
        Score.check("explanation_grounded", not j["ungrounded"], f"ungrounded {j['ungrounded']}"),
    ]


def _run(db: Database, org_id: uuid.UUID, found: list[dict[str, Any]], item: AnomalyItem, end: datetime,
         llm: LLM | None) -> tuple[dict[str, Any], float | None]:  # fmt: skip
    """The system's outputs for one planted anomaly: the detected anomaly and its explanation; seconds to explain."""
    from graphs.explain_anomaly import explain_anomaly

    anomaly = match_anomaly(found, item)
    if anomaly is None:
        return {"anomaly": None}, None
    started = time.perf_counter()
    result = explain_anomaly(db, org_id=org_id, anomaly=anomaly, llm=llm)
    return {"anomaly": anomaly, "result": result, "end": end}, time.perf_counter() - started


def _case(example: Example) -> dict[str, Any]:
    item: AnomalyItem = example.reference
    row: dict[str, Any] = {"planted": item.type, "expected": item.expected_top_driver,
                           "detected": example.outputs["anomaly"] is not None}  # fmt: skip
    return row | judge(example.outputs, item) if row["detected"] else row


RATES = ("detection_recall", "driver_top1_accuracy", "driver_accuracy", "explanation_accuracy")


def explain_metrics(db: Database, *, org_id: uuid.UUID, manifest: Manifest, end: datetime, llm: LLM | None = None,
                    window_days: int = 30) -> dict[str, Any]:  # fmt: skip
    try:
        from core.detectors.anomaly.run import find_anomalies
    except ModuleNotFoundError:
        return {"skipped": "core.detectors.anomaly.run is not available"}

    started = time.perf_counter()
    found = find_anomalies(db, org_id=org_id, as_of=end, window_days=window_days, store=False)
    detect_seconds = time.perf_counter() - started
    examples, seconds = [], []
    for item in manifest.anomalies:
        outputs, took = _run(db, org_id, found, item, end, llm)
        examples.append(Example(item.type, org_id, outputs, item))
        seconds += [] if took is None else [took]
    results = evaluate(examples, (explained_anomaly,))
    return {"planted": len(examples), "detected_anomalies": len(found), "detect_seconds": round(detect_seconds, 2),
            **{name: results.mean(name, 4, default=0.0) for name in RATES},
            "explanation_grounded": results.all_passed("explanation_grounded"),
            "explain_p50_s": round(statistics.median(seconds), 3) if seconds else None,
            "cases": [_case(e) for e in examples], "failures": results.failures()}  # fmt: skip
