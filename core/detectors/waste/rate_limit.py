"""Rate limits: bursts hit the provider's limit (429) and the client falls back to a pricier model.

A trace that got a rate-limit error on one model and then a billed call on another model of the same provider
is a fallback. Pacing the burst (a client-side queue / token bucket under the limit, or a higher quota) keeps
the call on the original model. Savings = Σ cost of the fallbacks as billed − Σ tt_cost(the original model's
list price in force at each call, same tokens). The scope is the original model's slice; its cost includes
the fallbacks.
"""

from __future__ import annotations

from typing import Any

from core.detectors.waste.base import (
    LIST_PRICES_CTE,
    ORG_WINDOW,
    DetectorContext,
    Draft,
    Finding,
    QueryResult,
    finish,
    money,
    scope_of,
)

RATE_LIMIT_CODES = ("rate_limited", "rate_limit", "rate_limit_exceeded", "429")
MIN_FALLBACKS = 10

# Only traces with a rate-limit error can hold a fallback: found first from the errors alone (few), so the
# per-trace window below never sorts every call of the window.
FALLBACK_SQL = f"""
WITH {LIST_PRICES_CTE},
limited_traces AS (
    SELECT DISTINCT e.trace_id
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.trace_id IS NOT NULL AND e.error_code = ANY(CAST(:codes AS text[]))
),
traced AS MATERIALIZED (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.request_id, e.timestamp, e.cost, e.error_code,
           e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens, e.batch,
           min(e.model) FILTER (WHERE e.error_code = ANY(CAST(:codes AS text[])))
               OVER (PARTITION BY e.trace_id, e.feature, e.provider) AS limited_model
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.trace_id IN (SELECT trace_id FROM limited_traces)
),
limited AS (
    SELECT team, project, feature, provider, model, count(*) AS limited_calls
    FROM traced
    WHERE error_code = ANY(CAST(:codes AS text[]))
    GROUP BY team, project, feature, provider, model
),
original_prices AS MATERIALIZED (
    SELECT * FROM list_prices WHERE model IN (SELECT model FROM limited)
),
fallbacks AS (
    SELECT t.team, t.project, t.feature, t.provider, t.limited_model AS model, t.model AS fallback_model,
           t.request_id, t.timestamp, t.cost, lp.id AS price_id,
           tt_cost(lp.price, t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_write_tokens,
                   t.reasoning_tokens, t.batch) AS original_cost
    FROM traced t
    LEFT JOIN original_prices lp ON lp.provider = t.provider AND lp.model = t.limited_model
         AND t.timestamp >= lp.valid_from AND t.timestamp < lp.valid_to
    WHERE t.limited_model IS NOT NULL AND t.model <> t.limited_model AND t.cost > 0
)
SELECT f.team, f.project, f.feature, f.provider, f.model,
       array_agg(DISTINCT f.fallback_model) AS fallback_models, max(l.limited_calls) AS limited_calls,
       count(*) AS fallbacks, count(f.price_id) AS repriced,
       sum(f.cost) AS fallback_cost, coalesce(sum(f.original_cost), 0) AS original_cost,
       (array_agg(f.request_id ORDER BY f.timestamp))[1:10] AS samples
FROM fallbacks f
LEFT JOIN limited l ON l.team IS NOT DISTINCT FROM f.team AND l.project IS NOT DISTINCT FROM f.project
     AND l.feature IS NOT DISTINCT FROM f.feature AND l.provider = f.provider AND l.model = f.model
GROUP BY f.team, f.project, f.feature, f.provider, f.model
HAVING count(*) >= :min_fallbacks
ORDER BY f.feature
"""

# The scope's cost: the original model's calls plus the fallbacks on other models.
SCOPE_WITH_FALLBACKS_SQL = f"""
SELECT count(*) AS requests, coalesce(sum(e.cost), 0) AS cost
FROM usage_events e
WHERE {ORG_WINDOW} AND e.feature IS NOT DISTINCT FROM :feature AND e.provider = :provider
  AND e.model = ANY(CAST(:models AS text[]))
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        FALLBACK_SQL,
        "Rate-limited traces that fell back to another model, repriced at the original model",
        kind="cost_analysis",
        codes=list(RATE_LIMIT_CODES),
        min_fallbacks=MIN_FALLBACKS,
    )
    findings = []
    for row in result.rows:
        savings = money(row["fallback_cost"]) - money(row["original_cost"])
        if savings <= 0 or row["repriced"] < row["fallbacks"]:
            continue
        cost = ctx.query(
            SCOPE_WITH_FALLBACKS_SQL,
            f"Window cost of {row['feature'] or '(no feature)'} on {row['model']} and its fallbacks",
            kind="cost_analysis",
            feature=row["feature"],
            provider=row["provider"],
            models=[row["model"], *row["fallback_models"]],
        )
        findings.append(finish(ctx, _draft(row, cost, result)))
    return findings


def _draft(row: dict[str, Any], cost: QueryResult, result: QueryResult) -> Draft:
    feature = row["feature"] or "(no feature)"
    fallbacks = ", ".join(row["fallback_models"])
    scope = scope_of(row)
    return Draft(
        type="rate_limit",
        title=f"{feature} hits rate limits on {row['model']} and falls back to pricier {fallbacks}",
        description=(
            f"{row['limited_calls']} calls of {feature} on {row['provider']}/{row['model']} were rate-limited; "
            f"{row['fallbacks']} were then sent to {fallbacks}, which costs more for the same tokens. Pacing the "
            "bursts under the limit (or raising the quota) keeps them on the original model."
        ),
        scope=scope,
        target={"provider": row["provider"], "model": row["model"], "action_on_exceed": "queue"},
        window_savings=money(row["fallback_cost"]) - money(row["original_cost"]),
        affected_requests=int(row["limited_calls"] or 0) + int(row["fallbacks"]),
        sample_request_ids=list(row["samples"] or []),
        evidence=[result.evidence],
        confidence=0.8,
        implementation_steps=[
            f"Queue {feature}'s requests client-side (token bucket) below the {row['model']} rate limit",
            "Retry 429s with exponential backoff on the same model instead of falling back",
            "Ask the provider for a higher quota if the queue delay is too long",
        ],
        suggested_routing_rule={
            "conditions": {"feature": row["feature"], "model": row["model"], "time_window": "1m"},
            "action": {"action_on_exceed": "queue", "fallback_model": None},
        },
        scope_cost=cost,
        claims=[scope, *({**scope, "model": m} for m in row["fallback_models"])],
    )
