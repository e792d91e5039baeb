"""Model version upgrade: a legacy model whose successor (same provider) is cheaper at list prices.

Savings = Σ cost as billed − Σ tt_cost(the successor's list price in force at each call, same tokens).
"""

from __future__ import annotations

from core.detectors.waste.base import (
    LIST_PRICES_CTE,
    ORG_WINDOW,
    DetectorContext,
    Draft,
    Finding,
    finish,
    money,
    scope_of,
)

# Legacy model -> its successor of the same family and provider: the model the provider's own deprecation
# notes / docs point to (not merely a cheaper model: quality must not drop). Kept explicit and small;
# extend it as providers retire models. A pair is only reported when the successor is cheaper for the calls.
SUCCESSORS: dict[str, str] = {
    "gpt-4": "gpt-4.1",
    "gpt-4-0613": "gpt-4.1",
    "gpt-4-32k": "gpt-4.1",
    "gpt-4-turbo": "gpt-4.1",
    "gpt-4-turbo-2024-04-09": "gpt-4.1",
    "gpt-4-1106-preview": "gpt-4.1",
    "gpt-4-0125-preview": "gpt-4.1",
    "gpt-3.5-turbo": "gpt-4.1-mini",
    "gpt-3.5-turbo-16k": "gpt-4.1-mini",
    "claude-3-opus-20240229": "claude-opus-4-5",
    "claude-3-opus-latest": "claude-opus-4-5",
    "claude-2.1": "claude-sonnet-4-5",
    "gemini-1.5-pro": "gemini-2.5-pro",
    "gemini-1.5-flash": "gemini-2.5-flash",
}
MIN_CALLS = 20

UPGRADE_SQL = f"""
WITH {LIST_PRICES_CTE},
successors AS (
    SELECT * FROM unnest(CAST(:legacy AS text[]), CAST(:successor AS text[])) AS s(model, successor)
)
SELECT e.team, e.project, e.feature, e.provider, e.model, s.successor,
       count(*) AS calls,
       count(lp.id) AS repriced_calls,
       coalesce(sum(e.cost), 0) AS current_cost,
       coalesce(sum(tt_cost(lp.price, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                            e.reasoning_tokens, e.batch)), 0) AS successor_cost,
       (array_agg(e.request_id ORDER BY e.timestamp))[1:10] AS samples
FROM usage_events e
JOIN successors s ON s.model = e.model
LEFT JOIN list_prices lp ON lp.provider = e.provider AND lp.model = s.successor
     AND e.timestamp >= lp.valid_from AND e.timestamp < lp.valid_to
WHERE {ORG_WINDOW} AND e.cost IS NOT NULL
GROUP BY e.team, e.project, e.feature, e.provider, e.model, s.successor
HAVING count(*) >= :min_calls
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        UPGRADE_SQL,
        "Calls on legacy models repriced at their successor's list price",
        kind="cost_analysis",
        legacy=list(SUCCESSORS),
        successor=list(SUCCESSORS.values()),
        min_calls=MIN_CALLS,
    )
    findings = []
    for row in result.rows:
        savings = money(row["current_cost"]) - money(row["successor_cost"])
        if savings <= 0 or row["repriced_calls"] < row["calls"]:
            continue  # not cheaper, or the successor has no list price for some calls
        feature = row["feature"] or "(no feature)"
        draft = Draft(
            type="model_version_upgrade",
            title=f"{feature} still calls legacy {row['model']}; its successor {row['successor']} is cheaper",
            description=(
                f"{row['calls']} calls of {feature} use {row['provider']}/{row['model']}, a legacy model. Its "
                f"successor {row['successor']} is newer and, at list prices, cheaper for the same tokens."
            ),
            scope=scope_of(row),
            target={"provider": row["provider"], "model": row["successor"]},
            window_savings=savings,
            affected_requests=int(row["calls"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.9,
            implementation_steps=[
                f"Switch {feature} from {row['model']} to {row['successor']}",
                "Run the feature's evaluation set on the successor before switching all traffic",
                "Monitor quality and cost for a week",
            ],
            suggested_routing_rule={
                "conditions": {"feature": row["feature"], "model": row["model"]},
                "action": {"route_to": {"provider": row["provider"], "model": row["successor"]}},
            },
        )
        findings.append(finish(ctx, draft))
    return findings
