"""The advocate: weighs effort, risk to users and the org's constraints (settings["constraints"]:
excluded_types, excluded_providers, excluded_models, min_monthly_savings)."""

from __future__ import annotations

from typing import Any

from agents.base import Candidate, Services, ask_model, latest, monthly, tool_figures
from agents.grounding import require_grounded
from agents.models import Review, Verdict, VerdictReply
from core.routing.llm import choose_tier
from prompts.advocate import ADVOCATE

TIER = "utility"
DEFAULT_MIN_MONTHLY_SAVINGS = 1.0  # below this a change is not worth an engineer's time


def ruled_out(candidate: Candidate, constraints: dict[str, Any]) -> str | None:
    finding = candidate["finding"]
    target = finding.get("target") or {}
    if finding["type"] in constraints.get("excluded_types", []):
        return f"The organisation has ruled out {finding['type']} changes."
    if target.get("provider") and target["provider"] in constraints.get("excluded_providers", []):
        return f"The organisation does not use {target['provider']}."
    if target.get("model") and target["model"] in constraints.get("excluded_models", []):
        return f"The organisation does not allow {target['model']}."
    return None


def policy(candidate: Candidate, constraints: dict[str, Any], history: list[dict[str, Any]],
           round_no: int) -> Verdict:  # fmt: skip
    finding = candidate["finding"]
    skeptic = latest(history, "skeptic")
    figure = monthly(candidate) if skeptic is None else skeptic.monthly_savings
    reason = ruled_out(candidate, constraints)
    minimum = float(constraints.get("min_monthly_savings", DEFAULT_MIN_MONTHLY_SAVINGS))
    if reason is None and skeptic is not None and skeptic.decision == "drop":
        reason = "The skeptic's check shows nothing real to save: " + (skeptic.points[0] if skeptic.points else "")
    if reason is None and figure < minimum and finding["effort"] != "minutes":
        reason = f"Not worth {finding['effort']} of engineering work for the savings."
    if reason is not None:
        return Verdict(role="advocate", round=round_no, decision="drop", monthly_savings=0.0,
                       confidence=float(finding["confidence"]), points=[reason])  # fmt: skip
    points = [f"Effort: {finding['effort']}; risk to users: {finding['risk_level']}."]
    if finding["risk_level"] == "high":
        points.append("Users could notice worse answers: ship it behind an A/B test with a quality check.")
    return Verdict(role="advocate", round=round_no, decision="keep", monthly_savings=figure,
                   confidence=float(finding["confidence"]), points=points)  # fmt: skip


def run(services: Services, candidate: Candidate, facts: Review | None, history: list[dict[str, Any]],
        round_no: int) -> Verdict:  # fmt: skip
    fallback = policy(candidate, services.constraints, history, round_no)
    figures = tool_figures(candidate, facts.model_dump() if facts else {}, history, services.constraints)
    tier = choose_tier(TIER, savings=monthly(candidate), confidence=float(candidate["finding"]["confidence"]))

    def check(reply: VerdictReply) -> None:
        require_grounded(reply.points, figures, figure=reply.monthly_savings)

    payload: dict[str, Any] = {"tool_results": candidate["finding"], "constraints": services.constraints,
                               "rounds": history}  # fmt: skip
    if facts is not None:
        payload["review"] = facts.model_dump()
    reply, why = ask_model(services, tier=tier, agent="advocate", system=ADVOCATE, payload=payload,
                           schema=VerdictReply, check=check)  # fmt: skip
    if reply is None:
        return fallback.model_copy(update={"fallback_reason": why})
    return Verdict(**reply.model_dump(), role="advocate", round=round_no, source="llm", tier=tier)
