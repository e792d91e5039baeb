"""Embedding optimization: a large embedding model where the provider's small one serves the same retrieval.

Every embedding call on a large model (quality.EMBEDDING_DOWNGRADE) is repriced with tt_cost() at the small
model's list price in force at the call (same provider, same tokens). Reported for slices with at least
`MIN_CALLS` embedding calls. Savings = Σ cost as billed − Σ tt_cost(small model).
"""

from __future__ import annotations

from core.detectors.waste import quality
from core.detectors.waste.base import DetectorContext, Draft, Finding, finish, money, scope_of
from core.detectors.waste.repricing import pair_params, reprice_sql

MIN_CALLS = 100

EMBEDDING_SQL = reprice_sql("e.endpoint = 'embeddings'")


def detect(ctx: DetectorContext) -> list[Finding]:
    triples: list[tuple[str | None, str, str]] = [(None, m, t) for m, t in quality.EMBEDDING_DOWNGRADE.items()]
    result = ctx.query(
        EMBEDDING_SQL,
        "Embedding calls on large models repriced at the small model's list price",
        kind="cost_analysis",
        min_calls=MIN_CALLS,
        **pair_params(triples),
    )
    findings = []
    for row in result.rows:
        savings = money(row["current_cost"]) - money(row["target_cost"])
        if savings <= 0 or row["repriced_calls"] < row["eligible_calls"]:
            continue
        feature = row["feature"] or "(no feature)"
        current_q = quality.EMBEDDING_QUALITY.get(row["model"])
        target_q = quality.EMBEDDING_QUALITY.get(row["target"])
        draft = Draft(
            type="embedding_optimization",
            title=f"{feature} embeds with {row['model']}; {row['target']} costs far less",
            description=(
                f"{row['eligible_calls']} embedding calls of {feature} use {row['model']} (retrieval quality "
                f"{current_q}). {row['target']} (quality {target_q}) is the provider's small model; at list "
                "prices the same tokens cost much less, and its smaller vectors cut index storage too."
            ),
            scope=scope_of(row),
            target={"provider": row["provider"], "model": row["target"]},
            window_savings=savings,
            affected_requests=int(row["eligible_calls"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.75,
            implementation_steps=[
                f"Evaluate retrieval recall of {row['target']} on a sample of {feature}'s queries",
                f"Re-embed the corpus with {row['target']} into a new index and switch reads over",
                f"Switch {feature}'s writes to {row['target']} and drop the old index",
            ],
            suggested_routing_rule={
                "conditions": {"feature": row["feature"], "model": row["model"], "endpoint": "embeddings"},
                "action": {"route_to": {"provider": row["provider"], "model": row["target"]}},
            },
        )
        findings.append(finish(ctx, draft))
    return findings
