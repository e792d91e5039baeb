"""Quality-cost Pareto: a premium model on tasks that do not need premium quality.

For calls on a premium-tier model whose task category is not reasoning or coding, the alternatives are the
mid-tier models of the same maker scoring within `PARETO_TOLERANCE` points on that category: at that
distance the registry cannot tell them apart, so the cheaper model dominates (the current model is off the
quality-cost frontier). Every call is repriced with tt_cost() at each alternative's list price (same
provider, same tokens); the alternative saving most is proposed (ties: the higher score, then the newer
name). Savings = Σ cost as billed − Σ tt_cost(alternative).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.detectors.waste import quality
from core.detectors.waste.base import DetectorContext, Draft, Evidence, Finding, finish, money, scope_of
from core.detectors.waste.repricing import pair_params, reprice_sql

PARETO_TOLERANCE = 5
PREMIUM_ONLY = ("reasoning", "coding")  # task categories where premium quality is worth paying for
MIN_CALLS = 20
MIN_SAVINGS_SHARE = Decimal("0.1")

PARETO_SQL = reprice_sql("true")


def candidates() -> list[tuple[str | None, str, str]]:
    """(task_type, premium model, mid-tier alternative within the tolerance on the task's category)."""
    out: list[tuple[str | None, str, str]] = []
    premium = sorted(m for m, (tier, _) in quality.REGISTRY.items() if tier == "premium")
    mid = sorted(m for m, (tier, _) in quality.REGISTRY.items() if tier == "mid")
    for model in premium:
        for task, category in sorted(quality.TASK_CATEGORY.items()):
            if category in PREMIUM_ONLY:
                continue
            for alternative in mid:
                drop = quality.quality_drop(model, alternative, category)
                same_family = quality.family(alternative) == quality.family(model)
                if same_family and drop is not None and drop <= PARETO_TOLERANCE:
                    out.append((task, model, alternative))
    return out


def _best(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per slice, the fully repriced alternative saving most (ties: higher quality, then newer name)."""
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        row["savings"] = money(row["current_cost"]) - money(row["target_cost"])
        if row["repriced_calls"] < row["eligible_calls"] or row["savings"] <= 0:
            continue
        key = (row["team"], row["project"], row["feature"], row["provider"], row["model"])
        rank = (row["savings"], _quality(row), row["target"])
        if key not in best or rank > (best[key]["savings"], _quality(best[key]), best[key]["target"]):
            best[key] = row
    return list(best.values())


def _quality(row: dict[str, Any]) -> int:
    """The alternative's lowest score over the slice's task categories."""
    scores = [quality.score(row["target"], quality.TASK_CATEGORY[t]) or 0 for t in row["task_types"] or []]
    return min(scores, default=0)


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        PARETO_SQL,
        "Premium-model calls on non-reasoning, non-coding tasks repriced at near-equal mid-tier models",
        kind="quality_comparison",
        min_calls=MIN_CALLS,
        **pair_params(candidates()),
    )
    findings = []
    for row in _best(result.rows):
        if row["savings"] >= money(row["current_cost"]) * MIN_SAVINGS_SHARE:
            findings.append(finish(ctx, _draft(row, result.evidence)))
    return findings


def _draft(row: dict[str, Any], evidence: Evidence) -> Draft:
    feature = row["feature"] or "(no feature)"
    tasks = sorted(row["task_types"] or [])
    categories = sorted({quality.TASK_CATEGORY[t] for t in tasks})
    scores = {c: [quality.score(row["model"], c), quality.score(row["target"], c)] for c in categories}
    return Draft(
        type="quality_cost_pareto",
        title=f"{feature} uses premium {row['model']} for {', '.join(tasks)}; {row['target']} is as good for less",
        description=(
            f"{row['eligible_calls']} calls of {feature} run {', '.join(categories)} tasks on the premium model "
            f"{row['model']}. {row['target']} scores within {PARETO_TOLERANCE} points on those categories "
            f"(current vs alternative: {scores}) and costs less for the same tokens at list prices."
        ),
        scope=scope_of(row),
        target={"provider": row["provider"], "model": row["target"], "quality_scores": scores},
        window_savings=row["savings"],
        affected_requests=int(row["eligible_calls"]),
        sample_request_ids=list(row["samples"] or []),
        evidence=[evidence],
        confidence=0.75,
        implementation_steps=[
            f"Run {feature}'s evaluation set on {row['target']} and compare with {row['model']}",
            f"Route {feature} to {row['target']} behind an A/B test",
            "Monitor quality ratings and cost for two weeks before moving all traffic",
        ],
        suggested_routing_rule={
            "conditions": {"feature": row["feature"], "model": row["model"], "task_type": tasks},
            "action": {"route_to": {"provider": row["provider"], "model": row["target"]}, "fallback_on_error": True},
        },
    )
