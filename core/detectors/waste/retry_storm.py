"""Retry storms: one trace_id resending the same call many times, every failed attempt billed.

A trace is a storm when it has at least `MIN_BILLED_FAILURES` billed failed attempts. The fix is a retry
policy of at most `KEPT_ATTEMPTS` attempts with backoff (and fixing the malformed request), so the savings
are the cost of the billed failed attempts after the second, at the prices they were billed at.
"""

from __future__ import annotations

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

KEPT_ATTEMPTS = 2
MIN_BILLED_FAILURES = 3
MIN_STORMS = 3

# Only traces with MIN_BILLED_FAILURES billed failures somewhere can be storms: found first from the failed calls
# alone (few), so the per-trace aggregate below never sorts every call of the window.
STORMS_SQL = f"""
WITH failing AS (
    SELECT e.trace_id
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.trace_id IS NOT NULL AND e.status <> 'success' AND e.cost > 0
    GROUP BY e.trace_id
    HAVING count(*) >= :min_failures
),
traces AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.trace_id,
           count(*) AS attempts,
           max(e.attempt) AS max_attempt,
           min(e.error_code) AS error_code,
           count(*) FILTER (WHERE e.status <> 'success' AND e.cost > 0) AS billed_failures,
           coalesce(sum(e.cost) FILTER (WHERE e.status <> 'success' AND e.cost > 0 AND e.attempt > :kept), 0)
               AS wasted_cost,
           count(*) FILTER (WHERE e.status <> 'success' AND e.cost > 0 AND e.attempt > :kept) AS wasted_attempts,
           (array_agg(e.request_id ORDER BY e.timestamp)
               FILTER (WHERE e.status <> 'success' AND e.attempt > :kept))[1] AS sample
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.trace_id IN (SELECT trace_id FROM failing)
    GROUP BY e.team, e.project, e.feature, e.provider, e.model, e.trace_id
)
SELECT team, project, feature, provider, model,
       count(*) AS storms, sum(attempts) AS attempts, max(max_attempt) AS max_attempt,
       min(error_code) AS error_code, sum(wasted_cost) AS wasted_cost, sum(wasted_attempts) AS wasted_attempts,
       (array_agg(sample ORDER BY wasted_cost DESC) FILTER (WHERE sample IS NOT NULL))[1:10] AS samples
FROM traces
WHERE billed_failures >= :min_failures
GROUP BY team, project, feature, provider, model
HAVING count(*) >= :min_storms
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        STORMS_SQL,
        "Traces with repeated billed failures, by feature and model",
        min_failures=MIN_BILLED_FAILURES,
        kept=KEPT_ATTEMPTS,
        min_storms=MIN_STORMS,
    )
    findings = []
    for row in result.rows:
        wasted = money(row["wasted_cost"])
        if wasted <= 0:
            continue
        feature = row["feature"] or "(no feature)"
        draft = Draft(
            type="retry_storm",
            title=f"{feature} retries failing calls up to {row['max_attempt']} times, paying for every attempt",
            description=(
                f"{row['storms']} traces of {feature} on {row['model']} failed and were resent "
                f"{row['attempts']} times in all (error {row['error_code']}); {row['wasted_attempts']} billed "
                f"failed attempts came after the second. Capping retries at {KEPT_ATTEMPTS} attempts with "
                "backoff, and fixing the failing request, removes their cost."
            ),
            scope=scope_of(row),
            target={"max_attempts": KEPT_ATTEMPTS, "backoff": "exponential", "error_code": row["error_code"]},
            window_savings=wasted,
            affected_requests=int(row["attempts"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.9,
            implementation_steps=[
                f"Cap retries of {feature} at {KEPT_ATTEMPTS} attempts with exponential backoff",
                f"Do not retry '{row['error_code']}' errors unchanged: fix or repair the request first",
                "Alert when one trace exceeds the retry cap",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
