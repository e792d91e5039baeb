"""Prompt caching: a large system prompt resent on every call to a model that could cache it, never cached.

A group is the calls sharing one system_prompt_hash on one provider/model whose price has a cache-read rate,
with a prefix of at least `MIN_PREFIX_TOKENS` and not a single cache read or write in the window. With
caching, a call within `CACHE_TTL` of the previous call of the same prompt (and environment: separate keys,
separate caches) reads the prefix at the cache-read rate; any other call writes it at the cache-write rate.
Savings = Σ tt_cost(as billed) − Σ tt_cost(with those reads and writes), at the prices the calls were billed at.
"""

from __future__ import annotations

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

MIN_PREFIX_TOKENS = 1_024  # providers cache prefixes of at least this many tokens
CACHE_TTL_SECONDS = 300  # a prompt cache entry lives ~5 minutes after its last hit
MIN_CALLS = 50

# The groups are MATERIALIZED (aggregated once, not again in every parallel worker scanning the calls), and the
# calls carry their price_id through the window's sort; the price row is joined after it.
CACHING_SQL = f"""
WITH groups AS MATERIALIZED (
    SELECT e.system_prompt_hash, e.provider, e.model
    FROM usage_events e
    JOIN price_catalogue p ON p.id = e.price_id
    WHERE {ORG_WINDOW} AND e.system_prompt_hash IS NOT NULL AND e.system_prompt_tokens >= :min_prefix
    GROUP BY e.system_prompt_hash, e.provider, e.model
    HAVING sum(e.cache_read_tokens) = 0 AND sum(e.cache_write_tokens) = 0 AND count(*) >= :min_calls
       AND bool_and(p.cache_read IS NOT NULL)
),
calls AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.system_prompt_hash, e.request_id,
           e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens,
           e.batch, e.system_prompt_tokens AS prefix, e.price_id,
           coalesce(e.timestamp - lag(e.timestamp) OVER (
               PARTITION BY e.system_prompt_hash, e.provider, e.model, e.environment ORDER BY e.timestamp
           ) <= make_interval(secs => :ttl), false) AS warm
    FROM usage_events e
    JOIN groups g USING (system_prompt_hash, provider, model)
    JOIN price_catalogue p ON p.id = e.price_id
    WHERE {ORG_WINDOW} AND e.status IN ('success', 'cancelled') AND e.input_tokens >= e.system_prompt_tokens
)
SELECT c.team, c.project, c.feature, c.provider, c.model, c.system_prompt_hash,
       max(c.prefix) AS prefix_tokens, count(*) AS calls, count(*) FILTER (WHERE c.warm) AS cache_hits,
       sum(tt_cost(p, c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,
                   c.reasoning_tokens, c.batch)) AS current_cost,
       sum(tt_cost(p, c.input_tokens, c.output_tokens, CASE WHEN c.warm THEN c.prefix ELSE 0 END,
                   CASE WHEN c.warm THEN 0 ELSE c.prefix END, c.reasoning_tokens, c.batch)) AS cached_cost,
       (array_agg(c.request_id ORDER BY c.request_id))[1:10] AS samples
FROM calls c
JOIN price_catalogue p ON p.id = c.price_id
GROUP BY c.team, c.project, c.feature, c.provider, c.model, c.system_prompt_hash
ORDER BY c.feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        CACHING_SQL,
        "Repeated large system prompts with no cache reads, repriced with prompt caching",
        kind="cost_analysis",
        min_prefix=MIN_PREFIX_TOKENS,
        min_calls=MIN_CALLS,
        ttl=CACHE_TTL_SECONDS,
    )
    findings = []
    for row in result.rows:
        savings = money(row["current_cost"]) - money(row["cached_cost"])
        if savings <= 0:
            continue
        feature = row["feature"] or "(no feature)"
        hit_share = row["cache_hits"] / max(row["calls"], 1)
        draft = Draft(
            type="prompt_caching",
            title=f"{feature} resends a {row['prefix_tokens']:,}-token system prompt on every call without "
            "prompt caching",
            description=(
                f"{row['calls']} calls of {feature} on {row['provider']}/{row['model']} share one system prompt "
                f"of {row['prefix_tokens']:,} tokens and read nothing from the prompt cache. With caching, "
                f"{hit_share:.0%} of them would read it at the cache-read rate (a call within "
                f"{CACHE_TTL_SECONDS} s of the previous one); the rest would write it at the cache-write rate."
            ),
            scope=scope_of(row),
            target={
                "prompt_caching": True,
                "system_prompt_hash": row["system_prompt_hash"],
                "cache_ttl_seconds": CACHE_TTL_SECONDS,
            },
            window_savings=savings,
            affected_requests=int(row["calls"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.85,
            implementation_steps=[
                "Put the static system prompt first and mark it cacheable (cache_control / prefix caching)",
                "Keep variable content (user input, retrieved context) after the cached prefix",
                "Check cache_read_tokens on the next day's usage to confirm hits",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
