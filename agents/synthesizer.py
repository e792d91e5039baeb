"""The synthesizer: the final recommendation from the debate: the majority decision, the skeptic's verified
figure, a confidence, the description and the key caveats; the roles that disagree are the dissent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from agents.base import Candidate, Services, ask_model, monthly, tool_figures
from agents.grounding import grounded_text, require_grounded
from agents.models import DEBATERS, Review, Synthesis, SynthesisReply, Verdict
from core.routing.llm import OutputRejected, choose_tier
from prompts.synthesizer import SYNTHESIZER

TIER = "workhorse"


def caveats_of(facts: Review) -> list[str]:
    caveats = []
    if facts.quality_risk:
        caveats.append("Answer quality may change: roll it out behind an A/B test and watch quality scores.")
    if facts.small_sample:
        caveats.append("The figure rests on few calls; confirm it on the next window.")
    if round(facts.claimed_monthly_savings, 2) != facts.verified_monthly_savings:
        caveats.append("The first claim did not reproduce; the savings are the skeptic's re-run figure.")
    if not facts.evidence_reproduced and facts.reproduced:
        caveats.append("The evidence rows changed since detection (late or repriced usage); they were re-run.")
    return caveats


def policy(candidate: Candidate, facts: Review, last: list[Verdict]) -> Synthesis:
    decision = Counter(v.decision for v in last).most_common(1)[0][0]
    keepers = [v for v in last if v.decision == "keep"]
    confidence = min((v.confidence for v in keepers), default=float(candidate["finding"]["confidence"]))
    figures = tool_figures(candidate, facts.model_dump())
    description = grounded_text(candidate["finding"]["description"], figures) or candidate["finding"]["title"]
    if decision == "drop":
        reasons = [v.points[0] for v in last if v.decision == "drop" and v.points]
        description = "Dropped after review: " + (reasons[0] if reasons else "the debate rejected it.")
    return Synthesis(decision=decision, monthly_savings=facts.verified_monthly_savings if decision == "keep" else 0.0,
                     confidence=round(confidence, 3), description=description, caveats=caveats_of(facts))  # fmt: skip


def _differs(verdict: Verdict, final: Synthesis) -> bool:
    if verdict.decision != final.decision:
        return True
    return verdict.decision == "keep" and round(verdict.monthly_savings, 2) != final.monthly_savings


def dissent(last: list[Verdict], final: Synthesis) -> list[dict[str, Any]]:
    return [{"role": v.role, "decision": v.decision, "monthly_savings": v.monthly_savings, "points": v.points}
            for v in last if _differs(v, final)]  # fmt: skip


def run(services: Services, candidate: Candidate, facts: Review, history: list[dict[str, Any]],
        last: list[Verdict]) -> Synthesis:  # fmt: skip
    fallback = policy(candidate, facts, last)
    figures = tool_figures(candidate, facts.model_dump(), history)
    disagree = len({v.decision for v in last}) > 1
    tier = choose_tier(TIER, savings=monthly(candidate), conflicting=disagree,
                       confidence=float(candidate["finding"]["confidence"]))  # fmt: skip

    def check(reply: SynthesisReply) -> None:
        require_grounded([reply.description, *reply.caveats], figures, figure=reply.monthly_savings)
        expected = facts.verified_monthly_savings if reply.decision == "keep" else 0.0
        if round(reply.monthly_savings, 2) != expected:
            raise OutputRejected(f"monthly_savings must be {expected} when the decision is {reply.decision}")

    payload = {"tool_results": candidate["finding"], "review": facts.model_dump(), "rounds": history}
    reply, why = ask_model(services, tier=tier, agent="synthesizer", system=SYNTHESIZER, payload=payload,
                           schema=SynthesisReply, check=check)  # fmt: skip
    if reply is None:
        return fallback.model_copy(update={"fallback_reason": why})
    return Synthesis(**reply.model_dump(), source="llm", tier=tier)


__all__ = ["DEBATERS", "dissent", "policy", "run"]
