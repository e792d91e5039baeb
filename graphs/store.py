"""The end of the recommendations graph: kept findings at their verified figures, stored with the consensus
block of all four roles; dropped ones listed with why."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from agents.base import Candidate, Services, finding_of
from agents.models import DEBATERS, Synthesis, Verdict
from agents.synthesizer import dissent
from core.detectors.waste.base import CENT, Finding, priority_of
from core.detectors.waste.store import recommendation_json, save_findings
from graphs.state import RecommendationState

THRESHOLD = 0.8


def revised(finding: Finding, final: Synthesis) -> Finding:
    """The finding at the synthesizer's (verified) figure and confidence; monthly amounts stay consistent."""
    savings = min(Decimal(str(final.monthly_savings)).quantize(CENT), finding.current_monthly_cost)
    current = finding.current_monthly_cost
    percent = round(float(savings / current * 100), 1) if current > 0 else 0.0
    description = final.description + "".join(" " + c for c in final.caveats)
    return replace(finding, estimated_monthly_savings=savings, projected_monthly_cost=current - savings,
                   savings_percent=percent, confidence=final.confidence, description=description,
                   priority=priority_of(savings, final.confidence))  # fmt: skip


def consensus_block(debate: list[dict[str, Any]], final: Synthesis, review: dict[str, Any]) -> dict[str, Any]:
    last = [Verdict.model_validate(v) for v in debate[-1]["verdicts"].values()]
    verdicts: dict[str, Any] = {role: debate[-1]["verdicts"][role] for role in DEBATERS}
    verdicts["synthesizer"] = final.model_dump()
    return {
        "reached": debate[-1]["score"] >= THRESHOLD,
        "score": debate[-1]["score"],
        "rounds": len(debate),
        "verdicts": verdicts,
        "dissent": dissent(last, final),
        "history": [{"round": d["round"], "score": d["score"]} for d in debate],
        "review": review,
    }


def store_results(ctx: Services, state: RecommendationState) -> dict[str, Any]:
    kept: list[tuple[Candidate, Finding, dict[str, Any]]] = []
    dropped = []
    for candidate in state.get("candidates", []):
        key = candidate["key"]
        final = Synthesis.model_validate(state["syntheses"][key])
        block = consensus_block(state["debates"][key], final, state["reviews"][key])
        if final.decision == "keep" and final.monthly_savings > 0:
            kept.append((candidate, revised(finding_of(candidate), final), block))
        else:
            dropped.append({"key": key, "type": candidate["finding"]["type"], "reason": final.description,
                            "claimed_monthly_savings": candidate["finding"]["estimated_monthly_savings"],
                            "consensus": block})  # fmt: skip
    kept.sort(key=lambda item: item[1].estimated_monthly_savings, reverse=True)
    with ctx.db.session() as session:
        rows = save_findings(session, org_id=ctx.org_id, findings=[f for _, f, _ in kept], window_start=ctx.start,
                             window_end=ctx.end)  # fmt: skip
        for row, (_, _, block) in zip(rows, kept, strict=True):
            row.consensus = block
        session.flush()
        recommendations = [recommendation_json(row) for row in rows]
    return {"recommendations": recommendations, "dropped": dropped}
