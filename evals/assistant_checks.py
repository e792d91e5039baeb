"""Evaluators of the assistant suite: one answer against its independently computed truth, the groundedness of an
answer's text, and anomaly driver accuracy against the synth manifest."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from agents.answer import Answer, numbers_in, ungrounded
from agents.draft import dimension_name
from core.db import Database
from core.routing.llm import LLM
from core.synth import AnomalyItem, Manifest
from evals.assistant_truth import budget_period, by_dimension, cents, month_end_forecast, spend

CANT = "I can't answer that"
Span = tuple[datetime, datetime]
FORECAST_TOLERANCE = Decimal("0.01")  # a derived float product (run rate x days left): one cent either way


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _figure(answer: dict[str, Any], label: str) -> Decimal | None:
    value = next((f["value"] for f in answer.get("figures") or [] if f["label"] == label), None)
    return None if value is None else Decimal(str(value))


def _same(problems: list[str], label: str, shown: Decimal | None, truth: Any, tolerance: Decimal = Decimal(0)) -> None:
    expected = cents(truth)
    if shown is None:
        problems.append(f"no figure {label!r}")
    elif abs(cents(shown) - expected) > tolerance:
        problems.append(f"{label} {cents(shown)} != {expected}")


def _count(problems: list[str], label: str, shown: Decimal | None, truth: Any) -> None:
    if shown is None or int(shown) != int(truth):
        problems.append(f"{label} {shown} != {truth}")


def _total(db: Database, org_id: uuid.UUID, q: dict[str, Any], answer: dict[str, Any], span: Span,
           problems: list[str]) -> None:  # fmt: skip
    truth = spend(db, org_id, span[0], span[1], q.get("filters"))
    measure = q.get("measure", "cost")
    if measure == "requests":
        _count(problems, "requests", _figure(answer, "requests"), truth["requests"])
    elif measure == "tokens":
        _count(problems, "input tokens", _figure(answer, "input tokens"), truth["input"])
        _count(problems, "output tokens", _figure(answer, "output tokens"), truth["output"])
    if measure != "tokens" and _figure(answer, "requests") is not None:
        _count(problems, "requests", _figure(answer, "requests"), truth["requests"])
    _same(problems, "total cost", _figure(answer, "total cost"), truth["cost"])


def _top(db: Database, org_id: uuid.UUID, q: dict[str, Any], answer: dict[str, Any], span: Span,
         problems: list[str]) -> None:  # fmt: skip
    dim = q["dimension"]
    rows = by_dimension(db, org_id, span[0], span[1], dim, q.get("filters"))
    prefix = f"cost of {dimension_name(dim)} "
    listed = [(f["label"][len(prefix):], Decimal(str(f["value"]))) for f in answer.get("figures") or []
              if f["label"].startswith(prefix)]  # fmt: skip
    truth = dict(rows)
    if not listed:
        problems.append("no ranked figures")
        return
    if dim == "day":
        if sorted(v for v, _ in listed) != sorted(truth):
            problems.append("days listed differ from the days with spend")
    elif [v for v, _ in listed] != [v for v, _ in rows[: len(listed)]]:
        problems.append(f"ranking {[v for v, _ in listed]} != {[v for v, _ in rows[: len(listed)]]}")
    for value, shown in listed:
        _same(problems, f"cost of {value}", shown, truth.get(value, 0))


def _compare(db: Database, org_id: uuid.UUID, q: dict[str, Any], answer: dict[str, Any], span: Span,
             problems: list[str]) -> None:  # fmt: skip
    base = (_moment(q["baseline"][0]), _moment(q["baseline"][1]))
    _same(
        problems,
        "current cost",
        _figure(answer, "current cost"),
        spend(db, org_id, span[0], span[1], q.get("filters"))["cost"],
    )
    _same(
        problems,
        "baseline cost",
        _figure(answer, "baseline cost"),
        spend(db, org_id, base[0], base[1], q.get("filters"))["cost"],
    )


def _forecast(db: Database, org_id: uuid.UUID, q: dict[str, Any], answer: dict[str, Any], span: Span,
              problems: list[str]) -> None:  # fmt: skip
    truth = month_end_forecast(db, org_id, _moment(q["now"]))
    _same(problems, "projected month-end cost", _figure(answer, "projected month-end cost"), truth, FORECAST_TOLERANCE)


def planted_drivers(item: AnomalyItem) -> set[tuple[str, str]]:
    return {(d["dimension"], d["value"]) for d in item.drivers} | {(k, v) for k, v in item.scope.items()}


def _why_driver(answer: dict[str, Any], q: dict[str, Any], manifest: Manifest) -> tuple[bool, str]:
    item = next(a for a in manifest.anomalies if a.type == q["truth"])
    drivers = answer.get("drivers") or []
    if not drivers:
        return False, "driver: none named"
    first = (drivers[0]["dimension"], drivers[0]["value"])
    ok = first in planted_drivers(item) and str(first[1]) in answer["answer"]
    return ok, "" if ok else f"driver {first} is not a planted driver of {item.type}"


CHECKS = {"total": _total, "top": _top, "compare": _compare, "why": _compare, "forecast": _forecast}


def check_answer(db: Database, *, org_id: uuid.UUID, question: dict[str, Any], answer: dict[str, Any],
                 manifest: Manifest, budgets: Sequence[tuple[Any, ...]]) -> dict[str, Any]:  # fmt: skip
    """{"correct", "period_ok", "driver_ok"?, "problems"} for one answer."""
    q, problems = question, []
    shape = q["shape"]
    if shape == "cant":
        ok = answer["answer"].startswith(CANT) and not answer.get("figures") and not answer.get("answerable", True)
        return {"correct": ok, "period_ok": True, "problems": [] if ok else ["answered an out-of-scope question"]}
    span = (_moment(answer["period"]["start"]), _moment(answer["period"]["end"]))
    period_ok = not q.get("period") or span == (_moment(q["period"][0]), _moment(q["period"][1]))
    if not period_ok:
        problems.append(f"period {answer['period']} != {q['period']}")
    if answer["answer"].startswith(CANT):
        problems.append("refused")
    elif shape == "budget":
        now = _moment(q["now"])
        for name, scope, value, period, _ in budgets:
            filters = {"team": value} if scope == "team" else {}
            _same(problems, f"{name} spent", _figure(answer, f"{name} spent"),
                  spend(db, org_id, *budget_period(period, now), filters)["cost"])  # fmt: skip
    else:
        CHECKS[shape](db, org_id, q, answer, span, problems)
    result: dict[str, Any] = {"period_ok": period_ok}
    if shape == "why":
        result["driver_ok"], reason = _why_driver(answer, q, manifest)
        problems += [reason] if reason else []
    result["correct"] = not [p for p in problems if not p.startswith("driver ")]
    result["problems"] = problems
    return result


def grounded_counts(answer: dict[str, Any]) -> tuple[int, list[str]]:
    """(numbers in the answer text, those not among its figures/drivers)."""
    parsed = Answer.model_validate({k: v for k, v in answer.items() if k in Answer.model_fields})
    names = [d.value or "" for d in parsed.drivers or []]
    return len(numbers_in(parsed.answer, names=names)), ungrounded(parsed)


# --- anomaly drivers --------------------------------------------------------------------------------------------


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


def explain_metrics(db: Database, *, org_id: uuid.UUID, manifest: Manifest, end: datetime, llm: LLM | None = None,
                    window_days: int = 30) -> dict[str, Any]:  # fmt: skip
    try:
        from core.detectors.anomaly.run import find_anomalies
    except ModuleNotFoundError:
        return {"skipped": "core.detectors.anomaly.run is not available"}
    from agents.explainer import Fact, Facts, Slice, ungrounded_numbers
    from graphs.explain_anomaly import explain_anomaly

    started = time.perf_counter()
    found = find_anomalies(db, org_id=org_id, as_of=end, window_days=window_days, store=False)
    detect_seconds = time.perf_counter() - started
    rows, seconds = [], []
    for item in manifest.anomalies:
        anomaly = match_anomaly(found, item)
        row: dict[str, Any] = {"planted": item.type, "expected": item.expected_top_driver, "detected": bool(anomaly)}
        if anomaly is not None:
            top = top_driver(anomaly)
            row |= {"top_driver": top, "top1": top == tuple(item.expected_top_driver.values()),
                    "in_set": top in planted_drivers(item)}  # fmt: skip
            t0 = time.perf_counter()
            result = explain_anomaly(db, org_id=org_id, anomaly=anomaly, llm=llm)
            seconds.append(time.perf_counter() - t0)
            facts = Facts(Slice(result["slice"]["dimension"], result["slice"]["value"]), end, end)
            facts.facts = [Fact.model_validate(f) for f in result["facts"]]
            sl = (result["slice"]["dimension"], result["slice"]["value"])
            row |= {"explained": sl in planted_drivers(item) and str(sl[1]) in result["explanation"],
                    "ungrounded": ungrounded_numbers(result["explanation"], facts),
                    "explanation": result["explanation"]}  # fmt: skip
        rows.append(row)
    n = len(rows) or 1
    return {
        "planted": len(rows), "detected_anomalies": len(found), "detect_seconds": round(detect_seconds, 2),
        "detection_recall": round(sum(r["detected"] for r in rows) / n, 4),
        "driver_top1_accuracy": round(sum(bool(r.get("top1")) for r in rows) / n, 4),
        "driver_accuracy": round(sum(bool(r.get("in_set")) for r in rows) / n, 4),
        "explanation_accuracy": round(sum(bool(r.get("explained")) for r in rows) / n, 4),
        "explanation_grounded": all(not r.get("ungrounded") for r in rows),
        "explain_p50_s": round(statistics.median(seconds), 3) if seconds else None,
        "cases": rows,
    }  # fmt: skip
