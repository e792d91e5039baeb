"""Provider arbitrage: the same model name listed cheaper at another provider that sells that model.

For each (feature, provider, model), every call is repriced at each equivalent provider's list price in
force at the call; the cheapest provider that prices every call wins. Savings = Σ cost as billed −
Σ tt_cost(that provider's list price, same tokens).
"""

from __future__ import annotations

from decimal import Decimal

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

# Providers that sell the model makers' own models under the same name: a price difference between them is
# a routing choice, not a different product. (Resellers and aggregators are left out on purpose.)
EQUIVALENT_PROVIDERS = ("openai", "azure", "azure_ai", "anthropic", "vertex_ai", "gemini", "mistral", "bedrock")
MIN_CALLS = 20
MIN_SAVINGS_SHARE = Decimal("0.05")  # of the calls' cost: smaller differences are noise in list prices

# One pass over the window: every call of an equivalent provider is paired with each other equivalent provider
# that lists its model (sellers), and repriced at that provider's list price in force at the call (a LEFT JOIN:
# a call with no price then makes `calls` fall short of `group_calls`, and that provider does not qualify).
# The price row is joined by id: tt_cost() of a table's row reads its columns directly, where a composite column
# (list_prices.price) would be unpacked again for every rate of every call.
ARBITRAGE_SQL = f"""
WITH {LIST_PRICES_CTE},
offers AS MATERIALIZED (
    SELECT lp.id, lp.provider, lp.model, lp.valid_from, lp.valid_to
    FROM list_prices lp
    WHERE lp.provider = ANY(CAST(:providers AS text[]))
),
sellers AS MATERIALIZED (
    SELECT DISTINCT o.model, o.provider AS alternative FROM offers o
),
alternatives AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, s.alternative,
           count(*) AS group_calls, sum(e.cost) AS group_cost, count(lp.id) AS calls,
           sum(tt_cost(p, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                       e.reasoning_tokens, e.batch)) AS alternative_cost
    FROM usage_events e
    JOIN sellers s ON s.model = e.model AND s.alternative <> e.provider
    LEFT JOIN offers lp ON lp.provider = s.alternative AND lp.model = e.model
         AND e.timestamp >= lp.valid_from AND e.timestamp < lp.valid_to
    LEFT JOIN price_catalogue p ON p.id = lp.id
    WHERE {ORG_WINDOW} AND e.cost IS NOT NULL AND e.provider = ANY(CAST(:providers AS text[]))
    GROUP BY e.team, e.project, e.feature, e.provider, e.model, s.alternative
),
best AS (
    SELECT DISTINCT ON (a.team, a.project, a.feature, a.provider, a.model)
           a.team, a.project, a.feature, a.provider, a.model, a.alternative, a.calls, a.group_calls,
           a.group_cost AS current_cost, a.alternative_cost
    FROM alternatives a
    WHERE a.calls = a.group_calls AND a.calls >= :min_calls AND a.alternative_cost < a.group_cost
    ORDER BY a.team, a.project, a.feature, a.provider, a.model, a.alternative_cost
)
SELECT b.*, ARRAY(
    SELECT e.request_id FROM usage_events e
    WHERE {ORG_WINDOW} AND e.cost IS NOT NULL AND e.provider = b.provider AND e.model = b.model
      AND e.team IS NOT DISTINCT FROM b.team AND e.project IS NOT DISTINCT FROM b.project
      AND e.feature IS NOT DISTINCT FROM b.feature
    ORDER BY e.timestamp, e.request_id LIMIT 10
) AS samples
FROM best b
ORDER BY b.team, b.project, b.feature, b.provider, b.model
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        ARBITRAGE_SQL,
        "Calls repriced at the same model's list price at equivalent providers (cheapest shown)",
        kind="cost_analysis",
        providers=list(EQUIVALENT_PROVIDERS),
        min_calls=MIN_CALLS,
    )
    findings = []
    for row in result.rows:
        current = money(row["current_cost"])
        savings = current - money(row["alternative_cost"])
        if savings <= 0 or savings < current * MIN_SAVINGS_SHARE:
            continue
        feature = row["feature"] or "(no feature)"
        draft = Draft(
            type="provider_arbitrage",
            title=f"{row['model']} is bought through {row['provider']}; {row['alternative']} lists it cheaper",
            description=(
                f"{row['calls']} calls of {feature} use {row['model']} via {row['provider']}. The same model at "
                f"{row['alternative']}'s list price would have cost {savings / current:.0%} less for the same "
                "tokens."
            ),
            scope=scope_of(row),
            target={"provider": row["alternative"], "model": row["model"]},
            window_savings=savings,
            affected_requests=int(row["calls"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.9,
            implementation_steps=[
                f"Configure a {row['alternative']} connection (keys, quotas, data-processing terms)",
                f"Route {feature}'s {row['model']} calls to {row['alternative']}, keeping "
                f"{row['provider']} as failover",
                "Compare latency and error rates for a week",
            ],
            suggested_routing_rule={
                "conditions": {"feature": row["feature"], "provider": row["provider"], "model": row["model"]},
                "action": {"route_to": {"provider": row["alternative"], "model": row["model"]}},
            },
        )
        findings.append(finish(ctx, draft))
    return findings
