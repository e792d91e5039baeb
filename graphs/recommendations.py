"""The consensus recommendations graph (the nightly job).

detect → for every candidate, analyst ‖ skeptic ‖ advocate (Send fan-out) → tally (consensus score of the
round) → again, up to MAX_ROUNDS, for the candidates below THRESHOLD → synthesizer per candidate → finalize
(stored recommendations, each with a consensus block of all four roles). Offline, every role runs its
deterministic policy and the debate still happens (the skeptic trims a claim that does not reproduce, the
analyst revises, a double-counted or stale finding is dropped).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from agents import advocate, analyst, skeptic, synthesizer
from agents.base import Candidate, candidate_of, consensus_score
from agents.models import DEBATERS, Review, Verdict
from graphs.context import GraphContext
from graphs.state import RecommendationState
from graphs.store import store_results
from tools.detections import detect

MAX_ROUNDS = 3
THRESHOLD = 0.8


def detect_node(state: RecommendationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    with ctx.db.engine.connect() as conn:
        findings = detect(conn, org_id=ctx.org_id, start=ctx.start, end=ctx.end, dedupe=False)
    ctx.seed_detection(findings)  # the skeptic re-runs a detector only if the window changed since
    candidates = [candidate_of(f) for f in findings]
    return {"candidates": candidates, "round": 1, "open": [c["key"] for c in candidates]}


def _history(state: RecommendationState, key: str) -> list[dict[str, Any]]:
    return list((state.get("debates") or {}).get(key, []))


def fan_out(state: RecommendationState) -> list[Send] | str:
    """One Send per open candidate and debating role for this round; the synthesizers when all are closed."""
    by_key = {c["key"]: c for c in state.get("candidates", [])}
    if not by_key:
        return "finalize"
    reviews = state.get("reviews") or {}
    if state.get("open"):
        sends = []
        for key in state["open"]:
            payload = {"candidate": by_key[key], "round": state["round"], "history": _history(state, key),
                       "review": reviews.get(key)}  # fmt: skip
            for role in DEBATERS:
                extra = {"rivals": state["candidates"]} if role == "skeptic" and key not in reviews else {}
                sends.append(Send(role, {**payload, **extra}))
        return sends
    return [Send("synthesizer", {"candidate": c, "history": _history(state, c["key"]), "review": reviews[c["key"]]})
            for c in state["candidates"]]  # fmt: skip


def _verdict_update(payload: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    return {"verdicts": [{"key": payload["candidate"]["key"], **verdict.model_dump()}]}


def _review(payload: dict[str, Any]) -> Review | None:
    return Review.model_validate(payload["review"]) if payload.get("review") else None


def analyst_node(payload: dict[str, Any], runtime: Runtime[GraphContext]) -> dict[str, Any]:
    verdict = analyst.run(runtime.context, payload["candidate"], _review(payload), payload["history"],
                          payload["round"])  # fmt: skip
    return _verdict_update(payload, verdict)


def advocate_node(payload: dict[str, Any], runtime: Runtime[GraphContext]) -> dict[str, Any]:
    verdict = advocate.run(runtime.context, payload["candidate"], _review(payload), payload["history"],
                           payload["round"])  # fmt: skip
    return _verdict_update(payload, verdict)


def skeptic_node(payload: dict[str, Any], runtime: Runtime[GraphContext]) -> dict[str, Any]:
    candidate: Candidate = payload["candidate"]
    facts = _review(payload) or skeptic.review(runtime.context, candidate, payload["rivals"])
    verdict = skeptic.run(runtime.context, candidate, facts, payload["history"], payload["round"])
    return {**_verdict_update(payload, verdict), "reviews": {candidate["key"]: facts.model_dump()}}


def tally_node(state: RecommendationState) -> dict[str, Any]:
    """The round's consensus score per candidate; those below THRESHOLD debate again (up to MAX_ROUNDS)."""
    current = state["round"]
    debates: dict[str, Any] = {}
    still_open = []
    for key in state.get("open", []):
        mine = [Verdict.model_validate({k: v for k, v in item.items() if k != "key"})
                for item in state.get("verdicts", []) if item["key"] == key and item["round"] == current]  # fmt: skip
        score = consensus_score(mine)
        entry = {"round": current, "score": score, "verdicts": {v.role: v.model_dump() for v in mine}}
        debates[key] = [*_history(state, key), entry]
        if score < THRESHOLD and current < MAX_ROUNDS:
            still_open.append(key)
    return {"debates": debates, "open": still_open, "round": current + 1 if still_open else current}


def synthesizer_node(payload: dict[str, Any], runtime: Runtime[GraphContext]) -> dict[str, Any]:
    candidate: Candidate = payload["candidate"]
    history = payload["history"]
    last = [Verdict.model_validate(v) for v in history[-1]["verdicts"].values()]
    result = synthesizer.run(runtime.context, candidate, Review.model_validate(payload["review"]), history, last)
    return {"syntheses": {candidate["key"]: result.model_dump()}}


def finalize_node(state: RecommendationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    return {"output": store_results(runtime.context, state)}


def build_graph() -> StateGraph[RecommendationState, GraphContext, RecommendationState, RecommendationState]:
    graph = StateGraph(RecommendationState, context_schema=GraphContext)
    graph.add_node("detect", detect_node)
    graph.add_node("analyst", analyst_node)  # type: ignore[call-overload]
    graph.add_node("skeptic", skeptic_node)  # type: ignore[call-overload]
    graph.add_node("advocate", advocate_node)  # type: ignore[call-overload]
    graph.add_node("tally", tally_node)
    graph.add_node("synthesizer", synthesizer_node)  # type: ignore[arg-type]
    graph.add_node("finalize", finalize_node)
    graph.add_edge(START, "detect")
    targets = ["analyst", "skeptic", "advocate", "synthesizer", "finalize"]
    graph.add_conditional_edges("detect", fan_out, targets)
    for role in DEBATERS:
        graph.add_edge(role, "tally")
    graph.add_conditional_edges("tally", fan_out, targets)
    graph.add_edge("synthesizer", "finalize")
    graph.add_edge("finalize", END)
    return graph
