"""Request deduplication: identical requests (same prompt_hash, model and user) sent within seconds of each
other from different traces: double submits, not retries.

Savings = Σ cost of the copies (every identical call after the first within `MAX_GAP_SECONDS`).
"""

from __future__ import annotations

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

MAX_GAP_SECONDS = 5.0
MIN_COPIES = 10

# The request key (prompt_hash, provider, model, user_id) as one 64-bit number.
KEY_HASH = "hashtextextended(concat_ws('/', e.prompt_hash, e.provider, e.model, e.user_id), 0)"

# Only requests sent at least twice can have a copy: their keys are found first, so the window below sorts their
# calls only, not every call of the window. They are aggregated by KEY_HASH (a hash table of 8-byte keys, not of
# the four texts) and MATERIALIZED (once, not again in every parallel worker scanning the calls). A hash collision
# only lets through a call whose key is not repeated: alone in its partition, it has no previous call, no copy.
DUPLICATES_SQL = f"""
WITH repeated AS MATERIALIZED (
    SELECT {KEY_HASH} AS key
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.prompt_hash IS NOT NULL AND e.status = 'success'
    GROUP BY 1
    HAVING count(*) >= 2
),
calls AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.request_id, e.trace_id, e.timestamp, e.cost,
           lag(e.timestamp) OVER w AS previous_at, lag(e.trace_id) OVER w AS previous_trace
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.prompt_hash IS NOT NULL AND e.status = 'success'
      AND {KEY_HASH} IN (SELECT key FROM repeated)
    WINDOW w AS (PARTITION BY e.prompt_hash, e.provider, e.model, e.user_id ORDER BY e.timestamp, e.request_id)
)
SELECT team, project, feature, provider, model,
       count(*) AS copies, coalesce(sum(cost), 0) AS copies_cost,
       max(extract(epoch FROM timestamp - previous_at)) AS max_gap_seconds,
       (array_agg(request_id ORDER BY timestamp))[1:10] AS samples
FROM calls
WHERE timestamp - previous_at < make_interval(secs => :max_gap)
  AND (trace_id IS NULL OR trace_id IS DISTINCT FROM previous_trace)
GROUP BY team, project, feature, provider, model
HAVING count(*) >= :min_copies
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        DUPLICATES_SQL,
        "Identical successful calls from different traces within seconds of each other",
        kind="cost_analysis",
        max_gap=MAX_GAP_SECONDS,
        min_copies=MIN_COPIES,
    )
    findings = []
    for row in result.rows:
        savings = money(row["copies_cost"])
        if savings <= 0:
            continue
        feature = row["feature"] or "(no feature)"
        draft = Draft(
            type="deduplication",
            title=f"{feature} sends identical requests within {MAX_GAP_SECONDS:g} s of each other",
            description=(
                f"{row['copies']} successful calls of {feature} on {row['model']} repeat the same prompt, model "
                f"and user less than {MAX_GAP_SECONDS:g} s after an identical call from another trace "
                "(double submits). Coalescing in-flight duplicates removes their cost."
            ),
            scope=scope_of(row),
            target={"deduplicate_in_flight": True, "window_seconds": MAX_GAP_SECONDS},
            window_savings=savings,
            affected_requests=int(row["copies"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.85,
            implementation_steps=[
                "Disable the submit button / debounce the client while a request is in flight",
                "Coalesce identical in-flight requests (same prompt hash, model, user) server-side",
                "Monitor the duplicate rate",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
