"""Cost per outcome: calls whose result the business threw away (metadata.outcome).

Clients label calls with `metadata.outcome`; WASTED_OUTCOMES are results nobody used (a draft discarded, a
suggestion rejected). A slice is reported when at least `MIN_LABELLED` calls are labelled and at least
`MIN_WASTED_SHARE` of them are wasted: generating fewer candidates (one draft, ranked before generation)
avoids them. Savings = Σ cost of the billed wasted calls (each at its list price as billed); the finding
also states the cost per useful outcome.
"""

from __future__ import annotations

from decimal import Decimal

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

WASTED_OUTCOMES = ("discarded", "rejected", "unused", "ignored", "abandoned")
MIN_LABELLED = 20
MIN_WASTED_SHARE = Decimal("0.5")

OUTCOME_SQL = f"""
WITH labelled AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.request_id, e.timestamp, e.cost,
           e.metadata->>'outcome' = ANY(CAST(:wasted AS text[])) AS wasted
    FROM usage_events e
    WHERE {ORG_WINDOW} AND e.metadata->>'outcome' IS NOT NULL AND e.cost IS NOT NULL
)
SELECT team, project, feature, provider, model,
       count(*) AS labelled, count(*) FILTER (WHERE wasted) AS wasted, count(*) FILTER (WHERE NOT wasted) AS useful,
       coalesce(sum(cost), 0) AS labelled_cost,
       coalesce(sum(cost) FILTER (WHERE wasted AND cost > 0), 0) AS wasted_cost,
       count(*) FILTER (WHERE wasted AND cost > 0) AS wasted_billed,
       (array_agg(request_id ORDER BY timestamp) FILTER (WHERE wasted AND cost > 0))[1:10] AS samples
FROM labelled
GROUP BY team, project, feature, provider, model
HAVING count(*) >= :min_labelled
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        OUTCOME_SQL,
        "Calls labelled with metadata.outcome: cost of the wasted results and per useful outcome",
        kind="cost_analysis",
        wasted=list(WASTED_OUTCOMES),
        min_labelled=MIN_LABELLED,
    )
    findings = []
    for row in result.rows:
        savings = money(row["wasted_cost"])
        share = Decimal(row["wasted"]) / Decimal(row["labelled"])
        if savings <= 0 or share < MIN_WASTED_SHARE:
            continue
        feature = row["feature"] or "(no feature)"
        labelled_cost = money(row["labelled_cost"])
        per_useful = labelled_cost / row["useful"] if row["useful"] else labelled_cost
        per_call = labelled_cost / row["labelled"]
        draft = Draft(
            type="cost_per_outcome",
            title=f"{share:.0%} of {feature}'s results are thrown away: each useful one costs "
            f"{per_useful / per_call:.1f}x a call",
            description=(
                f"Of {row['labelled']} labelled calls of {feature} on {row['model']}, {row['wasted']} produced a "
                f"result marked {'/'.join(WASTED_OUTCOMES[:2])} and {row['useful']} one that was used: "
                f"${per_useful:.4f} per useful outcome against ${per_call:.4f} per call. Generating one candidate "
                "(or ranking before generating) avoids the discarded calls."
            ),
            scope=scope_of(row),
            target={
                "candidates_per_outcome": 1,
                "cost_per_useful_outcome": str(per_useful.quantize(Decimal("0.000001"))),
                "cost_per_call": str(per_call.quantize(Decimal("0.000001"))),
            },
            window_savings=savings,
            affected_requests=int(row["wasted_billed"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.7,
            implementation_steps=[
                f"Generate one {feature} result per request instead of several variants",
                "If variants are needed, rank cheap outlines first and generate only the chosen one",
                "Keep labelling metadata.outcome to track cost per useful outcome",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
