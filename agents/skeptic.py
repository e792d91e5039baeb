"""The skeptic: re-runs every evidence query, recomputes the savings with simulate_savings, and challenges
sample size, recency, quality risk and double counting. Its figures are the verified ones."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from agents.base import Candidate, Services, ask_model, finding_of, latest, monthly, tool_figures
from agents.grounding import require_grounded
from agents.models import Review, Verdict, VerdictReply
from core.detectors.waste.dedupe import conflicts, rank
from core.routing.llm import OutputRejected, choose_tier
from prompts.skeptic import SKEPTIC
from tools.savings import simulate_savings

TIER = "workhorse"
MIN_SAMPLE = 30  # affected calls below this: a small sample, lower confidence
RECENT_DAYS = 7
SLICE_KEYS = ("team", "project", "feature", "provider", "model")
# Types whose savings come from repricing their calls elsewhere: simulate_savings bounds them.
REPRICED = {"model_downgrade", "quality_cost_pareto", "embedding_optimization", "model_version_upgrade",
            "provider_arbitrage", "batch_api"}  # fmt: skip

RECENT_SQL = """
SELECT coalesce(sum(cost), 0) AS cost FROM usage_rollup_daily
WHERE organization_id = :org AND day >= :since AND day < :end
  AND team = :team AND project = :project AND feature = :feature AND provider = :provider AND model = :model
"""


def _slice(claim: dict[str, Any]) -> dict[str, str | None]:
    return {key: claim.get(key) for key in SLICE_KEYS}


def _simulated(services: Services, candidate: Candidate) -> tuple[float | None, list[dict[str, Any]]]:
    finding = candidate["finding"]
    target = finding.get("target") or {}
    if finding["type"] not in REPRICED:
        return None, []
    total, queries = Decimal(0), []
    with services.db.engine.connect() as conn:
        for claim in finding["claims"]:
            sim = simulate_savings(conn, org_id=services.org_id, start=services.start, end=services.end,
                                   scope=_slice(claim), target_model=target.get("model"),
                                   target_provider=target.get("provider"), batch=bool(target.get("batch")))  # fmt: skip
            total += sim.monthly_savings
            queries.append({"tool": "simulate_savings", **sim.query, "monthly_savings": str(sim.monthly_savings)})
    return float(total), queries


def _recent_cost(services: Services, candidate: Candidate) -> tuple[float, dict[str, Any]]:
    since = services.end - timedelta(days=RECENT_DAYS)
    total = Decimal(0)
    with services.db.engine.connect() as conn:
        for claim in candidate["finding"]["claims"]:
            params = {"org": services.org_id, "since": since, "end": services.end,
                      **{k: claim.get(k) or "" for k in SLICE_KEYS}}  # fmt: skip
            total += Decimal(conn.execute(text(RECENT_SQL), params).scalar_one())
    return float(total), {"sql": RECENT_SQL.strip(), "since": since.isoformat(), "cost": str(total)}


def double_counted(candidate: Candidate, rivals: list[Candidate]) -> str | None:
    """The better-ranked candidate whose claimed calls overlap this one's (dedupe.py's greedy rule), if any."""
    kept: list[Any] = []
    mine = finding_of(candidate)
    for rival in sorted([finding_of(r) for r in rivals], key=rank):
        if any(conflicts(k, rival) for k in kept):
            continue
        if rival.fingerprint == candidate["key"]:
            return None
        if conflicts(rival, mine):
            return rival.fingerprint
        kept.append(rival)
    return None


def review(services: Services, candidate: Candidate, rivals: list[Candidate]) -> Review:
    """Every check, with the tool calls behind it."""
    finding = candidate["finding"]
    again = services.redetect(finding["type"]).get(candidate["key"])
    reproduced_savings = float(again.estimated_monthly_savings) if again is not None else 0.0
    evidence_same = again is not None and [e.to_dict() for e in again.evidence] == finding["evidence"]
    simulated, queries = _simulated(services, candidate)
    recent, recent_query = _recent_cost(services, candidate)
    verified = reproduced_savings if simulated is None else min(reproduced_savings, simulated)
    return Review(
        claimed_monthly_savings=monthly(candidate),
        reproduced=again is not None,
        evidence_reproduced=evidence_same,
        reproduced_monthly_savings=reproduced_savings,
        simulated_monthly_savings=simulated,
        verified_monthly_savings=round(max(verified, 0.0), 2),
        affected_requests=int(finding["affected_requests"]),
        recent_cost=recent,
        double_counted_with=double_counted(candidate, rivals),
        quality_risk=finding["risk_level"] == "high",
        small_sample=int(finding["affected_requests"]) < MIN_SAMPLE,
        queries=[
            {"tool": "list_findings", "types": [finding["type"]], "evidence_rerun": len(finding["evidence"])},
            services.redetection_basis(),
            *queries,
            {"tool": "recent_cost", **recent_query},
        ],
    )


def policy(candidate: Candidate, facts: Review, round_no: int) -> Verdict:
    points: list[str] = []
    drop = True
    if not facts.reproduced:
        points.append("The detector re-run over the same window no longer finds this waste.")
    elif facts.double_counted_with:
        points.append(f"It claims the same calls as {facts.double_counted_with}, which ranks better.")
    elif facts.recent_cost <= 0:
        points.append("The scope has no spend in the last days of the window: the waste has stopped.")
    elif facts.verified_monthly_savings <= 0:
        points.append("Nothing is left to save once the savings are recomputed.")
    else:
        drop = False
        if facts.verified_monthly_savings != round(facts.claimed_monthly_savings, 2):
            points.append("The claimed savings do not reproduce; the re-run figure replaces them.")
        if not facts.evidence_reproduced:
            points.append("Some evidence queries return different rows than stored; the re-run rows are used.")
        if facts.small_sample:
            points.append("Few calls are affected: the figure rests on a small sample.")
        if facts.quality_risk:
            points.append("Answer quality may drop: roll out behind an A/B test.")
        points = points or ["The evidence queries and the savings reproduce."]
    confidence = float(candidate["finding"]["confidence"]) * (0.8 if facts.small_sample else 1.0)
    return Verdict(role="skeptic", round=round_no, decision="drop" if drop else "keep", points=points,
                   monthly_savings=0.0 if drop else facts.verified_monthly_savings,
                   confidence=round(confidence, 3))  # fmt: skip


def run(services: Services, candidate: Candidate, facts: Review, history: list[dict[str, Any]],
        round_no: int) -> Verdict:  # fmt: skip
    fallback = policy(candidate, facts, round_no)
    figures = tool_figures(candidate, facts.model_dump())
    conflicting = len({v["decision"] for v in history[-1]["verdicts"].values()}) > 1 if history else False
    tier = choose_tier(TIER, savings=monthly(candidate), conflicting=conflicting,
                       confidence=float(candidate["finding"]["confidence"]))  # fmt: skip

    def check(reply: VerdictReply) -> None:
        require_grounded(reply.points, figures, figure=reply.monthly_savings)
        expected = facts.verified_monthly_savings if reply.decision == "keep" else 0.0
        if round(reply.monthly_savings, 2) != expected:
            raise OutputRejected(f"monthly_savings must be the verified figure {expected} when you {reply.decision}")

    payload = {"tool_results": candidate["finding"], "review": facts.model_dump(), "rounds": history}
    reply, why = ask_model(services, tier=tier, agent="skeptic", system=SKEPTIC, payload=payload,
                           schema=VerdictReply, check=check)  # fmt: skip
    if reply is None:
        return fallback.model_copy(update={"fallback_reason": why})
    return Verdict(**reply.model_dump(), role="skeptic", round=round_no, source="llm", tier=tier)


__all__ = ["latest", "policy", "review", "run"]
