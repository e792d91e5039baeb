"""The anomaly explanation graph (`tokentra anomalies`): an anomaly and its drivers → a short causal explanation
with the queries that support it.

    facts ── template ─┬─ (LLM configured) → write ─┬─ (grounded) → verify → END
                       │                            └─ (no valid reply) ──→ verify → END (the template)
                       └─ (offline) ───────────────────────────────────────→ verify → END

`facts` runs the SQL (agents/explainer.py); `template` writes the deterministic explanation; `write` asks the model
for prose whose every number is a fact (refused and retried otherwise); `verify` re-checks whatever is about to be
shown and falls back to the template when it does not hold.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.explainer import (
    ExplainerReply,
    Facts,
    gather_facts,
    make_check,
    prompt_payload,
    template,
    ungrounded_numbers,
)
from core.db import Database
from core.errors import ModelOutputInvalid, ModelUnavailable
from core.routing.llm import LLM
from prompts.explainer import EXPLAINER

log = logging.getLogger(__name__)
TIER = "utility"


@dataclass
class ExplainContext:
    db: Database
    org_id: uuid.UUID
    llm: LLM | None = None
    facts: Facts | None = None  # the queries' results (services-side: not JSON state)
    transcript: list[dict[str, Any]] = field(default_factory=list)


class ExplainState(TypedDict, total=False):
    anomaly: dict[str, Any]
    draft: str
    explanation: str
    llm: str
    fallback_reason: str


def _facts(state: ExplainState, runtime: Runtime[ExplainContext]) -> dict[str, Any]:
    ctx = runtime.context
    ctx.facts = gather_facts(ctx.db, org_id=ctx.org_id, anomaly=state["anomaly"])
    return {}


def _template(state: ExplainState, runtime: Runtime[ExplainContext]) -> dict[str, Any]:
    assert runtime.context.facts is not None
    draft = template(runtime.context.facts, metric=str(state["anomaly"].get("metric") or "cost"))
    return {"draft": draft, "explanation": draft, "llm": "offline"}


def _write(state: ExplainState, runtime: Runtime[ExplainContext]) -> dict[str, Any]:
    ctx = runtime.context
    assert ctx.llm is not None
    assert ctx.facts is not None
    content = prompt_payload(state["anomaly"], ctx.facts, state["draft"])
    try:
        reply = ctx.llm.structured(tier=TIER, agent="explainer", system=EXPLAINER, schema=ExplainerReply,
                                   messages=[{"role": "user", "content": content}],
                                   check=make_check(ctx.facts))  # fmt: skip
    except (ModelOutputInvalid, ModelUnavailable) as exc:
        log.warning("explainer: no valid explanation from the model (%s); using the template", exc)
        ctx.transcript.append({"step": "fallback", "reason": str(exc)})
        return {"fallback_reason": f"{type(exc).__name__}: {exc}"}
    return {"explanation": reply.explanation, "llm": ctx.llm.name}


def _verify(state: ExplainState, runtime: Runtime[ExplainContext]) -> dict[str, Any]:
    facts = runtime.context.facts
    assert facts is not None
    loose = ungrounded_numbers(state["explanation"], facts)
    if not loose:
        return {}
    runtime.context.transcript.append({"step": "refused", "numbers": loose, "text": state["explanation"]})
    return {"explanation": state["draft"], "llm": "offline", "fallback_reason": f"ungrounded numbers: {loose}"}


def _after_template(state: ExplainState, runtime: Runtime[ExplainContext]) -> str:
    return "write" if runtime.context.llm is not None else "verify"


def build_graph() -> Any:
    builder = StateGraph(ExplainState, context_schema=ExplainContext)
    builder.add_node("facts", _facts)
    builder.add_node("template", _template)
    builder.add_node("write", _write)
    builder.add_node("verify", _verify)
    builder.add_edge(START, "facts")
    builder.add_edge("facts", "template")
    builder.add_conditional_edges("template", _after_template, ["write", "verify"])
    builder.add_edge("write", "verify")
    builder.add_edge("verify", END)
    return builder.compile()


_GRAPH: Any = None


def explain_anomaly(db: Database, *, org_id: uuid.UUID, anomaly: dict[str, Any], llm: LLM | None = None
                    ) -> dict[str, Any]:  # fmt: skip
    """`{"explanation", "facts": [{"label","value","unit","query"}], "queries", "llm"}` (+ `slice`, `since`,
    `fallback` when the model's prose was refused)."""
    global _GRAPH
    if _GRAPH is None:
        _GRAPH = build_graph()
    context = ExplainContext(db=db, org_id=org_id, llm=llm)
    state = _GRAPH.invoke({"anomaly": anomaly}, context=context)
    facts = context.facts
    assert facts is not None
    result: dict[str, Any] = {
        "explanation": state["explanation"],
        "facts": [f.model_dump() for f in facts.facts],
        "queries": list(dict.fromkeys(facts.queries)),
        "llm": state["llm"],
        "slice": {"dimension": facts.slice.dimension, "value": facts.slice.value},
        "since": facts.value("first hour above baseline"),
    }
    if state.get("fallback_reason") and llm is not None:
        result["fallback"] = {"from": llm.name, "reason": state["fallback_reason"]}
    return result


def explain_all(db: Database, *, org_id: uuid.UUID, anomalies: list[dict[str, Any]], llm: LLM | None = None
                ) -> list[dict[str, Any]]:  # fmt: skip
    """Each anomaly with the graph's explanation (`explanation`; the detector's own text stays in `description`)
    and its `explanation_facts`, `explanation_queries` and `explanation_llm` (used by `tokentra anomalies`)."""
    for anomaly in anomalies:
        result = explain_anomaly(db, org_id=org_id, anomaly=anomaly, llm=llm)
        anomaly.update(explanation=result["explanation"], explanation_facts=result["facts"],
                       explanation_queries=result["queries"], explanation_llm=result["llm"])  # fmt: skip
    return anomalies
