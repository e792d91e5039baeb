"""Evaluators of the assistant suite: one answer against its independently computed truth and the groundedness of an
answer's text (anomaly driver accuracy: evals/assistant_explain.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agents.answer import Answer, numbers_in, ungrounded
from agents.draft import dimension_name
from core.db import Database
from core.synth import AnomalyItem, Manifest
from evals.assistant_truth import budget_period, by_dimension, cents, month_end_forecast, spend
from evals.evaluators import Score

CANT = "I can't answer that"
EXACT_SHAPES = ("total", "top", "compare", "why", "forecast", "budget")
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


# --- the same checks as evaluators (evals/evaluators.py) ------------------------------------------------------


@dataclass(frozen=True)
class AnswerEvaluator:
    """check_answer as an evaluator: inputs = the question, outputs = the answer, reference = the dataset row (its
    shape, period, filters, truth), the truth figures computed by plain SQL (evals/assistant_truth.py)."""

    db: Database
    org_id: uuid.UUID
    manifest: Manifest
    budgets: Sequence[tuple[Any, ...]]

    def __call__(self, *, inputs: Any, outputs: dict[str, Any], reference: dict[str, Any]) -> list[Score]:
        verdict = check_answer(self.db, org_id=self.org_id, question=reference, answer=outputs,
                               manifest=self.manifest, budgets=self.budgets)  # fmt: skip
        shape, ok, problems = reference["shape"], bool(verdict["correct"]), verdict["problems"]
        answer = "; ".join(p for p in problems if not p.startswith("driver "))
        driver = "; ".join(p for p in problems if p.startswith("driver "))
        period = "; ".join(p for p in problems if p.startswith("period "))
        return [
            Score.check("answer_accuracy", ok, answer) if shape in EXACT_SHAPES else Score.skip("answer_accuracy"),
            Score.check("cant_answer_accuracy", ok, answer) if shape == "cant" else Score.skip("cant_answer_accuracy"),
            Score(f"by_shape.{shape}", 1.0 if ok else 0.0),
            Score.check("period_accuracy", bool(verdict["period_ok"]), period) if reference.get("period")
            else Score.skip("period_accuracy"),
            Score.check("why_driver_accuracy", bool(verdict.get("driver_ok")), driver) if shape == "why"
            else Score.skip("why_driver_accuracy"),
        ]  # fmt: skip


def answer_groundedness(*, inputs: Any, outputs: dict[str, Any], reference: Any) -> Score:
    """Share of the numbers in the answer text found among its figures/drivers, weighted by the numbers checked."""
    numbers, loose = grounded_counts(outputs)
    value = (numbers - len(loose)) / numbers if numbers else 1.0
    return Score("groundedness", value, f"ungrounded {', '.join(loose)}" if loose else "", numbers, not loose)
