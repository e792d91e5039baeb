"""Timeout waste: calls the client gave up on (status 'timeout') after the provider had billed them.

The work was paid for and thrown away, and is then usually paid for again by a retry. Savings = Σ cost of the
billed timed-out calls (raising the client timeout or streaming keeps the answer that was paid for).
"""

from __future__ import annotations

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

MIN_TIMEOUTS = 5

TIMEOUTS_SQL = f"""
SELECT e.team, e.project, e.feature, e.provider, e.model,
       count(*) AS timeouts, coalesce(sum(e.cost), 0) AS timeout_cost,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY e.latency_ms) AS median_latency_ms,
       max(e.latency_ms) AS max_latency_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY e.output_tokens) AS median_output_tokens,
       (array_agg(e.request_id ORDER BY e.timestamp))[1:10] AS samples
FROM usage_events e
WHERE {ORG_WINDOW} AND e.status = 'timeout' AND e.cost > 0
GROUP BY e.team, e.project, e.feature, e.provider, e.model
HAVING count(*) >= :min_timeouts
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        TIMEOUTS_SQL, "Billed calls that timed out on the client", kind="cost_analysis", min_timeouts=MIN_TIMEOUTS
    )
    findings = []
    for row in result.rows:
        savings = money(row["timeout_cost"])
        if savings <= 0:
            continue
        feature = row["feature"] or "(no feature)"
        timeout_s = float(row["max_latency_ms"] or 0) / 1000
        draft = Draft(
            type="timeout_waste",
            title=f"{feature}'s ~{timeout_s:.0f} s client timeout throws away billed {row['model']} answers",
            description=(
                f"{row['timeouts']} calls of {feature} on {row['model']} timed out on the client (median "
                f"{float(row['median_latency_ms']):,.0f} ms) after the provider billed them (median "
                f"{float(row['median_output_tokens']):,.0f} output tokens). Their cost bought nothing."
            ),
            scope=scope_of(row),
            target={"client_timeout_ms": round(timeout_s * 2000), "streaming": True},
            window_savings=savings,
            affected_requests=int(row["timeouts"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.9,
            implementation_steps=[
                f"Raise {feature}'s client timeout above its long generations (or stream the response)",
                "Cap max_tokens to what the task needs so calls finish in time",
                "Do not retry a timed-out call before the first one is known to be lost",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
