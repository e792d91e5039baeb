"""Agent configurations compared on the same synthetic orgs (planted waste, ground-truth manifest, a control org):

- `single`: the analyst alone (every detector finding at its own figure, no review, no de-duplication);
- `offline`: the full consensus graph with deterministic policies;
- `consensus`: the full graph with the model of `--set llm_config=FILE` (skipped without one).

Metrics per configuration: recall/precision of planted waste kinds, false positives on the control org,
savings error vs the manifest (at list prices), double-counted dollars, groundedness (share of numbers in the
outputs that match a tool result), own LLM tokens and dollars, wall time. `--set nightly_events=1000000`
adds the wall time of a nightly run for an org of that many events (evals/nightly_perf.py).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.synth.manifest import TOKEN_FIELDS
from evals.agents_evaluators import (
    ORG_EVALUATORS,
    control_quiet,
    found_planted,
    planted_examples,
    savings_error,
)
from evals.evaluators import Example, Results
from evals.evaluators import evaluate as run_evaluators
from evals.harness import Metrics, suite
from evals.synth_orgs import load_org


def _load(db: Any, seed: int, end: datetime, scale: float, healthy: bool) -> tuple[uuid.UUID, Any]:
    from core.synth import generate_org

    org = generate_org(seed=seed, end=end, scale=scale, healthy=healthy)
    return load_org(db, org, slug=f"eval-agents-{uuid.uuid4().hex[:10]}"), org


def _single(db: Any, org_id: uuid.UUID, org: Any) -> dict[str, Any]:
    from tools.detections import detect

    window = org.manifest.window
    with db.engine.connect() as conn:
        found = detect(conn, org_id=org_id, start=window.start, end=window.end, dedupe=False)
    return single_result(found)


def single_result(found: list[Any]) -> dict[str, Any]:
    """The analyst alone: every detector finding (no de-duplication) at its own figure."""
    from agents.base import candidate_of

    recs = [{**candidate_of(f)["finding"], "claims": [dict(c) for c in f.claims]} for f in found]
    return {"recommendations": recs, "llm_usage": {"input_tokens": 0, "output_tokens": 0, "cost": 0.0}}


def _graph(db: Any, org_id: uuid.UUID, org: Any, llm: Any) -> dict[str, Any]:
    from graphs.runs import run_recommendations

    window = org.manifest.window
    return run_recommendations(db, org_id=org_id, as_of=window.end, window_days=window.days, llm=llm)


def list_price_function(db: Any) -> Any:
    """A manifest PriceFn: one event dict at list prices, exactly as tt_cost() bills it (the PriceBook's rates)."""
    from core.pricing.book import PriceBook
    from core.pricing.rates import pico_decimal

    with db.session() as session:
        book = PriceBook.load(session)

    def price(event: dict[str, Any]) -> Decimal | None:
        price_id = book.resolve(None, event["provider"], event["model"], event["timestamp"])
        if price_id is None:
            return None
        t = [int(event.get(name, 0) or 0) for name in TOKEN_FIELDS]
        return pico_decimal(book.rates[price_id].cost_pico(t[0], t[1], t[2], t[3], t[4], bool(event.get("batch"))))

    return price


def _savings(results: Results) -> dict[str, Any]:
    errors = {s.example: s.score.value for s in results.of("savings_error")}
    worst = results.worst("savings_error")
    return {
        "savings_error_mean": results.mean("savings_error", 4, default=0.0),
        "savings_error_max": worst.score.value if worst else 0.0,
        "savings_error_worst_kind": worst.example if worst else "",
        "savings_error_abs_monthly": round(results.total("savings_error_abs"), 2),
        "savings_error_by_kind": errors,
    }


def score_run(recs: list[dict[str, Any]], org: Any, control: list[dict[str, Any]], price: Any) -> Results:
    """The evaluators of evals/agents_evaluators.py on the planted items, the wasteful org and the control org."""
    results = run_evaluators(planted_examples(recs, org, price), (found_planted, savings_error))
    results.extend(run_evaluators([Example("org", org, recs, org.manifest)], ORG_EVALUATORS))
    return results.extend(run_evaluators([Example("control", None, control, None)], (control_quiet,)))


def _score(result: dict[str, Any], org: Any, control: dict[str, Any], seconds: float, price: Any) -> Metrics:
    recs = [r for r in result["recommendations"] if float(r["estimated_monthly_savings"]) > 0]
    results = score_run(recs, org, control["recommendations"], price)
    usage = result.get("llm_usage") or {}
    return {
        "recall": results.mean("recall", 4, default=1.0),
        "precision": results.mean("precision", 4),
        "control_false_positives": int(results.total("control_false_positives")),
        "monthly_savings_claimed": round(results.total("monthly_savings_claimed"), 2),
        "double_counted_monthly": round(results.total("double_counted_monthly"), 2),
        **_savings(results),
        "groundedness": results.mean("groundedness", 4, default=1.0),
        "llm_input_tokens": usage.get("input_tokens", 0),
        "llm_output_tokens": usage.get("output_tokens", 0),
        "llm_cost": usage.get("cost", 0.0),
        "seconds": round(seconds, 2),
        "failures": results.failures(limit=10),
    }


@suite("agents", about="agent configurations on synthetic orgs with planted waste", seed=7, scale=0.2,
       end="2026-03-01T00:00:00+00:00", llm_config="", nightly_events=0)  # fmt: skip
def agents_suite(config: dict[str, Any]) -> Metrics:
    from core.config import Settings
    from core.db import get_database
    from core.routing.llm import build_llm
    from core.schema import ensure_schema

    db = get_database()
    ensure_schema(db)
    end = datetime.fromisoformat(str(config["end"]))
    org_id, org = _load(db, int(config["seed"]), end, float(config["scale"]), healthy=False)
    control_id, control = _load(db, int(config["seed"]), end, float(config["scale"]), healthy=True)
    runners: dict[str, Any] = {"single": lambda o, s: _single(db, o, s), "offline": lambda o, s: _graph(db, o, s, None)}
    if config.get("llm_config"):
        llm = build_llm(Settings(llm_config=Path(str(config["llm_config"]))))
        runners["consensus"] = lambda o, s: _graph(db, o, s, llm)
    metrics = evaluate(db, runners, (org_id, org), (control_id, control))
    if int(config.get("nightly_events") or 0) > 0:
        from evals.nightly_perf import nightly_seconds

        metrics.update(nightly_seconds(db, events=int(config["nightly_events"]), seed=int(config["seed"]), end=end))
    return metrics


def evaluate(db: Any, runners: dict[str, Any], wasteful: tuple[uuid.UUID, Any],
             control: tuple[uuid.UUID, Any]) -> Metrics:  # fmt: skip
    """Every runner (name → run(org_id, synthetic org) -> result) on the wasteful and the control org, scored."""
    price = list_price_function(db)
    metrics: Metrics = {}
    for name, run in runners.items():
        began = time.perf_counter()
        result = run(*wasteful)
        seconds = time.perf_counter() - began
        for key, value in _score(result, wasteful[1], run(*control), seconds, price).items():
            metrics[f"{name}.{key}"] = value
    return metrics
