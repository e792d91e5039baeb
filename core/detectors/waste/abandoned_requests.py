"""Abandoned requests: streams the user cancelled that the provider kept generating, and billing, in full.

How much of a cancelled stream the user saw is estimated from its latency: (latency − time to first token)
/ the feature's median time per output token on its completed streams. Stopping generation when the user
cancels bills only that much. Savings = Σ tt_cost(as billed) − Σ tt_cost(output = tokens streamed before the
cancel), at the prices billed.
"""

from __future__ import annotations

from decimal import Decimal

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

MIN_CANCELLED = 10
MIN_SAVINGS_SHARE = Decimal("0.5")  # of the cancelled calls' cost: below it the provider already stops on cancel

ABANDONED_SQL = f"""
WITH speed AS (
    SELECT e.feature, e.provider, e.model,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY (e.latency_ms - e.ttft_ms) / (e.output_tokens - e.reasoning_tokens)) AS ms_per_token
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.streaming AND e.status = 'success' AND e.ttft_ms IS NOT NULL
      AND e.latency_ms > e.ttft_ms AND e.output_tokens > e.reasoning_tokens
    GROUP BY e.feature, e.provider, e.model
),
cancelled AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.request_id, e.timestamp, e.output_tokens,
           e.input_tokens, e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens, e.batch, p AS price,
           least(e.output_tokens, greatest(0, ceil(
               (e.latency_ms - coalesce(e.ttft_ms, 0)) / nullif(s.ms_per_token, 0))))::bigint AS streamed
    FROM usage_events e
    JOIN speed s USING (feature, provider, model)
    JOIN price_catalogue p ON p.id = e.price_id
    WHERE {ORG_WINDOW} AND e.streaming AND e.status = 'cancelled' AND e.latency_ms IS NOT NULL
)
SELECT team, project, feature, provider, model,
       count(*) AS cancelled, sum(output_tokens) AS billed_output_tokens, sum(streamed) AS streamed_tokens,
       sum(tt_cost(price, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                   reasoning_tokens, batch)) AS billed_cost,
       sum(tt_cost(price, input_tokens, coalesce(streamed, output_tokens), cache_read_tokens, cache_write_tokens,
                   least(reasoning_tokens, coalesce(streamed, output_tokens)), batch)) AS streamed_cost,
       (array_agg(request_id ORDER BY timestamp))[1:10] AS samples
FROM cancelled
GROUP BY team, project, feature, provider, model
HAVING count(*) >= :min_cancelled
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        ABANDONED_SQL,
        "Cancelled streams repriced at the output streamed before the cancel",
        kind="cost_analysis",
        min_cancelled=MIN_CANCELLED,
    )
    findings = []
    for row in result.rows:
        billed = money(row["billed_cost"])
        savings = billed - money(row["streamed_cost"])
        if savings <= 0 or savings < billed * MIN_SAVINGS_SHARE:
            continue
        feature = row["feature"] or "(no feature)"
        draft = Draft(
            type="abandoned_requests",
            title=f"Cancelled {feature} streams keep generating and billing after the user leaves",
            description=(
                f"{row['cancelled']} streams of {feature} on {row['model']} were cancelled by the user after about "
                f"{int(row['streamed_tokens']):,} output tokens in all, but {int(row['billed_output_tokens']):,} "
                "were billed: the generation was not stopped. Aborting the provider request on cancel bills only "
                "what was streamed."
            ),
            scope=scope_of(row),
            target={"abort_on_cancel": True},
            window_savings=savings,
            affected_requests=int(row["cancelled"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.7,
            implementation_steps=[
                "Propagate the client's cancel to the provider request (abort the HTTP stream)",
                "Verify on the next day's usage that cancelled calls bill only streamed tokens",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
