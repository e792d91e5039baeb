"""Model downgrade (task-aware routing): simple tasks on an expensive model whose cheaper sibling is as good.

A call is simple when its task type is one the seed's classifier sends to the budget tier (SIMPLE_TASKS:
classification, extraction, FAQ …) and its prompt + output stay under `MAX_SIMPLE_TOKENS` (long contexts
need the stronger model). A (feature, model) is reported when the model is not budget-tier, its downgrade
(quality.DOWNGRADE, same provider) scores within `MAX_QUALITY_DROP` points on the task's category, and at
least `MIN_SIMPLE_SHARE` of its simple-task calls are simple. Savings = Σ cost as billed − Σ tt_cost(the
downgrade's list price in force at each call, same tokens) over the simple calls.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.detectors.waste import quality
from core.detectors.waste.base import DetectorContext, Draft, Evidence, Finding, finish, money, scope_of
from core.detectors.waste.repricing import pair_params, reprice_sql

MAX_QUALITY_DROP = 10
MAX_SIMPLE_TOKENS = 16_000
MIN_SIMPLE_SHARE = Decimal("0.3")
MIN_CALLS = 20

DOWNGRADE_SQL = reprice_sql("e.input_tokens + e.output_tokens < :max_tokens")


def candidates() -> list[tuple[str | None, str, str]]:
    """(task_type, model, downgrade) for every simple task where the downgrade is close enough in quality."""
    out: list[tuple[str | None, str, str]] = []
    for model, target in sorted(quality.DOWNGRADE.items()):
        if quality.tier(model) in (None, "budget"):
            continue
        for task in sorted(quality.SIMPLE_TASKS):
            drop = quality.quality_drop(model, target, quality.TASK_CATEGORY[task])
            if drop is not None and drop <= MAX_QUALITY_DROP:
                out.append((task, model, target))
    return out


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        DOWNGRADE_SQL,
        "Simple-task calls on expensive models repriced at the cheaper sibling's list price",
        kind="cost_analysis",
        max_tokens=MAX_SIMPLE_TOKENS,
        min_calls=MIN_CALLS,
        **pair_params(candidates()),
    )
    findings = []
    for row in result.rows:
        savings = money(row["current_cost"]) - money(row["target_cost"])
        simple_share = Decimal(row["eligible_calls"]) / Decimal(row["calls"])
        if savings <= 0 or simple_share < MIN_SIMPLE_SHARE or row["repriced_calls"] < row["eligible_calls"]:
            continue
        findings.append(finish(ctx, _draft(row, savings, result.evidence)))
    return findings


def _draft(row: dict[str, Any], savings: Decimal, evidence: Evidence) -> Draft:
    feature = row["feature"] or "(no feature)"
    drops = {
        task: quality.quality_drop(row["model"], row["target"], quality.TASK_CATEGORY[task])
        for task in row["task_types"] or []
    }
    tasks = ", ".join(sorted(drops))
    drop = max(d or 0 for d in drops.values())
    return Draft(
        type="model_downgrade",
        title=f"{feature} runs simple {tasks} calls on {row['model']}; {row['target']} suffices",
        description=(
            f"{row['eligible_calls']} calls of {feature} are simple {tasks} tasks (under {MAX_SIMPLE_TOKENS:,} "
            f"tokens) on {row['provider']}/{row['model']}. {row['target']} scores within {MAX_QUALITY_DROP} "
            f"points on the task category (drop {drop}) and, at list prices, "
            "costs less for the same tokens."
        ),
        scope=scope_of(row),
        target={
            "provider": row["provider"],
            "model": row["target"],
            "task_types": sorted(drops),
            "quality_drop_points": drop,
            "max_quality_drop_points": MAX_QUALITY_DROP,
        },
        window_savings=savings,
        affected_requests=int(row["eligible_calls"]),
        sample_request_ids=list(row["samples"] or []),
        evidence=[evidence],
        confidence=0.85,
        implementation_steps=[
            f"Route {feature}'s {tasks} calls under {MAX_SIMPLE_TOKENS:,} tokens to {row['target']}",
            "Set up an A/B test on the feature's evaluation set before moving all traffic",
            "Monitor quality (accuracy, user feedback) and cost for two weeks",
        ],
        suggested_routing_rule={
            "conditions": {
                "feature": row["feature"],
                "model": row["model"],
                "task_type": sorted(drops),
                "total_tokens_lt": MAX_SIMPLE_TOKENS,
            },
            "action": {"route_to": {"provider": row["provider"], "model": row["target"]}, "fallback_on_error": True},
        },
    )
