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

from agents.base import finding_of
from agents.grounding import figures_of, numbers_in, ungrounded
from core.detectors.waste.dedupe import conflicts
from core.synth.manifest import TOKEN_FIELDS
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


def _double_counted(recs: list[dict[str, Any]]) -> float:
    """Dollars/month claimed twice: for every pair of kept recommendations claiming the same calls, the smaller."""
    findings = [finding_of({"key": "", "finding": {**{k: v for k, v in r.items() if k in _FIELDS},
                                                   "window_savings": "0", "claims": r.get("claims") or [r["scope"]],
                                                   "estimated_monthly_savings": str(r["estimated_monthly_savings"]),
                                                   "current_monthly_cost": str(r["current_monthly_cost"]),
                                                   "projected_monthly_cost": str(r["projected_monthly_cost"])}})
                for r in recs]  # fmt: skip
    total = Decimal(0)
    for i, a in enumerate(findings):
        for b in findings[i + 1 :]:
            if conflicts(a, b):
                total += min(a.estimated_monthly_savings, b.estimated_monthly_savings)
    return float(total)


_FIELDS = ("type", "category", "title", "description", "scope", "target", "savings_percent", "confidence",
           "priority", "risk_level", "effort", "evidence", "affected_requests", "sample_request_ids",
           "implementation_steps", "suggested_routing_rule")  # fmt: skip


def _groundedness(recs: list[dict[str, Any]]) -> tuple[int, int]:
    numbers = bad = 0
    for rec in recs:
        figures = figures_of({k: v for k, v in rec.items() if k not in ("description", "title", "consensus")})
        if rec.get("consensus"):
            figures_of(rec["consensus"].get("review") or {}, figures)
        numbers += len(numbers_in(rec["description"]))
        bad += len(ungrounded(rec["description"], figures))
    return numbers, bad


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


def savings_error(recs: list[dict[str, Any]], org: Any, price: Any) -> dict[str, Any]:
    """Per planted kind that was found (a recommendation of that type about the planted feature): |claimed −
    expected| / expected, with the manifest's expected monthly savings at list prices as the truth."""
    from core.synth.manifest import expected_savings

    errors: dict[str, float] = {}
    absolute = Decimal(0)
    for item in org.manifest.waste:
        mine = [r for r in recs if r["type"] == item.kind and (r.get("scope") or {}).get("feature") == item.scope.get(
            "feature")]  # fmt: skip
        if not mine:
            continue
        expected = expected_savings(item, price)
        claimed = sum((Decimal(str(r["estimated_monthly_savings"])) for r in mine), Decimal(0))
        absolute += abs(claimed - expected)
        errors[item.kind] = round(float(abs(claimed - expected) / expected), 4) if expected else 0.0
    worst = max(errors, key=lambda k: errors[k]) if errors else None
    return {
        "savings_error_mean": round(sum(errors.values()) / len(errors), 4) if errors else 0.0,
        "savings_error_max": errors[worst] if worst else 0.0,
        "savings_error_worst_kind": worst or "",
        "savings_error_abs_monthly": round(float(absolute), 2),
        "savings_error_by_kind": errors,
    }


def _score(result: dict[str, Any], org: Any, control: dict[str, Any], seconds: float, price: Any) -> Metrics:
    recs = [r for r in result["recommendations"] if float(r["estimated_monthly_savings"]) > 0]
    planted = {item.kind for item in org.manifest.waste}
    found = {r["type"] for r in recs}
    numbers, bad = _groundedness(recs)
    usage = result.get("llm_usage") or {}
    return {
        "recall": round(len(found & planted) / len(planted), 4) if planted else 1.0,
        "precision": round(len(found & planted) / len(found), 4) if found else 1.0,
        "control_false_positives": sum(float(r["estimated_monthly_savings"]) > 0 for r in control["recommendations"]),
        "monthly_savings_claimed": round(sum(float(r["estimated_monthly_savings"]) for r in recs), 2),
        "double_counted_monthly": round(_double_counted(recs), 2),
        **savings_error(recs, org, price),
        "groundedness": round(1 - bad / numbers, 4) if numbers else 1.0,
        "llm_input_tokens": usage.get("input_tokens", 0),
        "llm_output_tokens": usage.get("output_tokens", 0),
        "llm_cost": usage.get("cost", 0.0),
        "seconds": round(seconds, 2),
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
