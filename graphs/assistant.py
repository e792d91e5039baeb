"""The assistant graph (`tokentra ask`, POST /api/internal/assistant/query).

    understand ─┬─ (LLM configured) → llm ─┬─ (valid, grounded) → verify → END
                │                          └─ (no valid answer) → offline
                └─ (offline) ─────────────────────────────────────→ offline → verify → END

`verify` re-checks the one rule on whatever is about to be shown: every number in the text is among the answer's
figures or drivers. An answer that fails is never shown; the plain "I can't answer that" is, with the reason kept.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.answer import Answer, ungrounded
from agents.assistant import llm_answer, offline_answer, understand
from agents.intent import Intent
from agents.offline_findings import answer_unsupported
from core.db import Database
from core.errors import ModelOutputInvalid, ModelUnavailable
from core.routing.llm import LLM, llm_name
from tools.base import ToolError

log = logging.getLogger(__name__)


@dataclass
class AssistantContext:
    db: Database
    org_id: uuid.UUID
    now: datetime
    llm: LLM | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)


class AssistantState(TypedDict, total=False):
    question: str
    intent: Intent
    answer: Answer
    fallback_reason: str


def _understand(state: AssistantState, runtime: Runtime[AssistantContext]) -> dict[str, Any]:
    ctx = runtime.context
    return {"intent": understand(ctx.db, org_id=ctx.org_id, question=state["question"], now=ctx.now)}


def _llm(state: AssistantState, runtime: Runtime[AssistantContext]) -> dict[str, Any]:
    ctx = runtime.context
    assert ctx.llm is not None
    try:
        answer = llm_answer(
            ctx.llm, ctx.db, org_id=ctx.org_id, question=state["question"], now=ctx.now, transcript=ctx.transcript
        )
    except (ModelOutputInvalid, ModelUnavailable, ToolError) as exc:
        log.warning("assistant: the model gave no valid answer (%s); answering offline", exc)
        ctx.transcript.append({"step": "fallback", "reason": str(exc)})
        return {"fallback_reason": str(exc)}
    return {"answer": answer}


def _offline(state: AssistantState, runtime: Runtime[AssistantContext]) -> dict[str, Any]:
    ctx = runtime.context
    return {"answer": offline_answer(ctx.db, org_id=ctx.org_id, intent=state["intent"], now=ctx.now)}


def _verify(state: AssistantState, runtime: Runtime[AssistantContext]) -> dict[str, Any]:
    answer = state["answer"]
    loose = ungrounded(answer)
    if not loose:
        return {}
    runtime.context.transcript.append({"step": "refused", "numbers": loose, "text": answer.answer})
    intent = Intent("unsupported", state["question"], reason="I could not back every number with a query")
    return {"answer": answer_unsupported(intent=intent, now=runtime.context.now).answer(llm=answer.llm)}


def _after_understand(state: AssistantState, runtime: Runtime[AssistantContext]) -> str:
    return "llm" if runtime.context.llm is not None else "offline"


def _after_llm(state: AssistantState) -> str:
    return "verify" if "answer" in state else "offline"


def build_graph() -> Any:
    builder = StateGraph(AssistantState, context_schema=AssistantContext)
    builder.add_node("understand", _understand)
    builder.add_node("llm", _llm)
    builder.add_node("offline", _offline)
    builder.add_node("verify", _verify)
    builder.add_edge(START, "understand")
    builder.add_conditional_edges("understand", _after_understand, ["llm", "offline"])
    builder.add_conditional_edges("llm", _after_llm, ["verify", "offline"])
    builder.add_edge("offline", "verify")
    builder.add_edge("verify", END)
    return builder.compile()


_GRAPH: Any = None


def ask(db: Database, *, org_id: uuid.UUID, question: str, now: datetime, llm: LLM | None = None) -> dict[str, Any]:
    """The Answer (CONTRACT 6) to one question, as a JSON-ready dict (plus `transcript` and `seconds`)."""
    global _GRAPH
    if _GRAPH is None:
        _GRAPH = build_graph()
    started = time.perf_counter()
    context = AssistantContext(db=db, org_id=org_id, now=now, llm=llm)
    state = _GRAPH.invoke({"question": question}, context=context)
    answer: Answer = state["answer"]
    result = answer.model_dump()
    if state.get("fallback_reason"):
        result["fallback"] = {"from": llm_name(llm), "reason": state["fallback_reason"]}
    result["transcript"] = context.transcript
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result
