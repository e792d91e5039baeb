"""The analyst: proposes the finding at the detector's figure, and revises it when the skeptic's re-run
does not reproduce it (or concedes when a check shows the finding is stale or double counted)."""

from __future__ import annotations

from typing import Any

from agents.base import Candidate, Services, ask_model, latest, monthly, tool_figures
from agents.grounding import require_grounded
from agents.models import Review, Verdict, VerdictReply
from core.routing.llm import choose_tier
from prompts.analyst import ANALYST

TIER = "workhorse"


def policy(candidate: Candidate, history: list[dict[str, Any]], round_no: int) -> Verdict:
    finding = candidate["finding"]
    confidence = float(finding["confidence"])
    skeptic = latest(history, "skeptic")
    if skeptic is None:  # the first round: the detector's finding as it stands
        return Verdict(role="analyst", round=round_no, decision="keep", monthly_savings=monthly(candidate),
                       confidence=confidence, points=[finding["title"]])  # fmt: skip
    if skeptic.decision == "drop":
        conceded = "I concede the skeptic's check: " + (skeptic.points[0] if skeptic.points else "")
        return Verdict(role="analyst", round=round_no, decision="drop", monthly_savings=0.0, confidence=confidence,
                       points=[conceded])  # fmt: skip
    mine = latest(history, "analyst")
    points = [finding["title"]]
    if mine is None or round(mine.monthly_savings, 2) != round(skeptic.monthly_savings, 2):
        points.append("Revised to the skeptic's re-run figure: the re-run is what the data supports now.")
    return Verdict(role="analyst", round=round_no, decision="keep", monthly_savings=skeptic.monthly_savings,
                   confidence=min(confidence, skeptic.confidence), points=points)  # fmt: skip


def run(services: Services, candidate: Candidate, facts: Review | None, history: list[dict[str, Any]],
        round_no: int) -> Verdict:  # fmt: skip
    """Round 1 runs before the skeptic's review exists (facts None); later rounds see it."""
    fallback = policy(candidate, history, round_no)
    figures = tool_figures(candidate, facts.model_dump() if facts else {}, history)
    tier = choose_tier(TIER, savings=monthly(candidate), confidence=float(candidate["finding"]["confidence"]))

    def check(reply: VerdictReply) -> None:
        require_grounded(reply.points, figures, figure=reply.monthly_savings)

    payload: dict[str, Any] = {"tool_results": candidate["finding"], "rounds": history}
    if facts is not None:
        payload["review"] = facts.model_dump()
    reply, why = ask_model(services, tier=tier, agent="analyst", system=ANALYST, payload=payload,
                           schema=VerdictReply, check=check)  # fmt: skip
    if reply is None:
        return fallback.model_copy(update={"fallback_reason": why})
    return Verdict(**reply.model_dump(), role="analyst", round=round_no, source="llm", tier=tier)
