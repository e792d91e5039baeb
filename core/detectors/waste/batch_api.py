"""Batch API: non-interactive traffic (a 'batch' environment, or a scheduled job: no user, all of it in the
night hours) sent to the synchronous API although the model has a batch price.

Savings = Σ tt_cost(as billed) − Σ tt_cost(the same tokens with batch = true), at the prices billed.
"""

from __future__ import annotations

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

BATCH_ENVIRONMENT = "batch"
NIGHT_HOURS_UTC = (0, 6)  # [start, end) of the hours a scheduled job runs in
MIN_SHARE = 0.95  # of a feature's calls that must look non-interactive
MIN_CALLS = 50

# The candidate features are MATERIALIZED: aggregated once, not again in every parallel worker scanning the calls.
BATCHABLE_SQL = f"""
WITH candidates AS MATERIALIZED (
    SELECT e.feature, e.provider, e.model
    FROM usage_events e
    WHERE {ORG_WINDOW} AND NOT e.batch AND e.feature IS NOT NULL
    GROUP BY e.feature, e.provider, e.model
    HAVING count(*) >= :min_calls
       AND (avg((e.environment = :environment)::int) >= :min_share
            OR (bool_and(e.user_id IS NULL)
                AND avg((extract(hour FROM e.timestamp AT TIME ZONE 'UTC') >= :night_start
                         AND extract(hour FROM e.timestamp AT TIME ZONE 'UTC') < :night_end)::int) >= :min_share))
)
SELECT e.team, e.project, e.feature, e.provider, e.model,
       count(*) AS calls, min(e.environment) AS environment,
       min(extract(hour FROM e.timestamp AT TIME ZONE 'UTC')) AS first_hour,
       max(extract(hour FROM e.timestamp AT TIME ZONE 'UTC')) AS last_hour,
       sum(tt_cost(p, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                   e.reasoning_tokens, false)) AS current_cost,
       sum(tt_cost(p, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                   e.reasoning_tokens, true)) AS batch_cost,
       (array_agg(e.request_id ORDER BY e.timestamp))[1:10] AS samples
FROM usage_events e
JOIN candidates c USING (feature, provider, model)
JOIN price_catalogue p ON p.id = e.price_id
WHERE {ORG_WINDOW} AND NOT e.batch
GROUP BY e.team, e.project, e.feature, e.provider, e.model
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        BATCHABLE_SQL,
        "Non-interactive synchronous calls repriced at the batch API's rates",
        kind="cost_analysis",
        environment=BATCH_ENVIRONMENT,
        min_share=MIN_SHARE,
        min_calls=MIN_CALLS,
        night_start=NIGHT_HOURS_UTC[0],
        night_end=NIGHT_HOURS_UTC[1],
    )
    findings = []
    for row in result.rows:
        savings = money(row["current_cost"]) - money(row["batch_cost"])
        if savings <= 0:
            continue
        feature = row["feature"]
        hours = f"hours {int(row['first_hour']):02d} to {int(row['last_hour']):02d} UTC"
        draft = Draft(
            type="batch_api",
            title=f"{feature} (non-interactive, {hours}) calls the synchronous API; the batch API is cheaper",
            description=(
                f"{row['calls']} calls of {feature} on {row['provider']}/{row['model']} run with no user waiting "
                f"(environment {row['environment']!r}, {hours}) at synchronous prices. The provider's batch API "
                "prices the same tokens lower, with results within 24 h."
            ),
            scope=scope_of(row),
            target={"batch": True},
            window_savings=savings,
            affected_requests=int(row["calls"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.85,
            implementation_steps=[
                f"Submit {feature}'s requests through the provider's batch API",
                "Schedule the job so its results are ready before they are needed (up to 24 h turnaround)",
                "Compare the job's cost per run before and after",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
