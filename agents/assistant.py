"""The analyst assistant: deterministic answers to the common question shapes (offline), and an LLM path that plans,
calls tools (run_sql included) and answers in the Answer shape, every number checked against tool results.

A reply whose answer holds a number that is not among its figures, or a figure no tool returned, is refused and
retried (with the reason); when the model gives no valid answer the offline answer is shown instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.answer import Answer, Driver, Figure, PeriodOut, ungrounded, unsupported_figures
from agents.draft import Draft
from agents.intent import Intent, parse_question
from agents.offline import answer_breakdown, answer_total, answer_why
from agents.offline_findings import (
    answer_anomalies,
    answer_budgets,
    answer_forecast,
    answer_recommendations,
    answer_unsupported,
)
from core.db import Database
from core.errors import InvalidInput
from core.routing.llm import LLM, OutputRejected
from prompts.assistant import ASSISTANT
from tools.anomalies import stored_anomalies
from tools.base import ToolError, ToolResult
from tools.costs import costs, dimension_values
from tools.findings import budget_status, recommendations
from tools.periods import compare
from tools.sql import describe_views, run_sql

MAX_STEPS = 6
TOOL_RESULT_CHARS = 12_000
Composer = Callable[..., Draft]
COMPOSERS: dict[str, Composer] = {
    "total": answer_total,
    "breakdown": answer_breakdown,
    "why": answer_why,
    "forecast": answer_forecast,
    "budgets": answer_budgets,
    "anomalies": answer_anomalies,
    "recommendations": answer_recommendations,
}


def understand(db: Database, *, org_id: uuid.UUID, question: str, now: datetime) -> Intent:
    """The question's intent, with names matched against the org's actual dimension values."""
    with_users = "user" in question.lower()
    vocab = dimension_values(db, org_id=org_id, with_users=with_users)
    return parse_question(question, now=now, vocab=vocab)


def offline_answer(db: Database, *, org_id: uuid.UUID, intent: Intent, now: datetime) -> Answer:
    if intent.kind == "unsupported":
        return answer_unsupported(intent=intent, now=now).answer()
    return COMPOSERS[intent.kind](db, org_id=org_id, intent=intent, now=now).answer()


# --- the LLM path -----------------------------------------------------------------------------------------


class ToolCall(BaseModel):
    tool: Literal["costs", "compare_periods", "run_sql", "list_anomalies", "list_recommendations", "budget_status"]
    args: dict[str, Any] = Field(default_factory=dict)


class FinalAnswer(BaseModel):
    answer: str
    period_start: str
    period_end: str
    figures: list[Figure] = Field(default_factory=list)
    drivers: list[Driver] = Field(default_factory=list)
    suggested_actions: list[str] = Field(default_factory=list)


class AssistantStep(BaseModel):
    tool_calls: list[ToolCall] = Field(default_factory=list)
    final: FinalAnswer | None = None


def _time(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ToolError(f"{name}: {value!r} is not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise ToolError(f"{name}: give a UTC offset (…Z)")
    return moment


def _pair(value: Any, name: str) -> tuple[datetime, datetime]:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ToolError(f"{name}: expected [start, end]")
    return _time(value[0], f"{name}[0]"), _time(value[1], f"{name}[1]")


def run_tool(db: Database, *, org_id: uuid.UUID, now: datetime, call: ToolCall) -> ToolResult:
    """One tool call of the model; ToolError (shown back to the model) when it cannot run."""
    a = call.args
    if call.tool == "costs":
        return costs(
            db,
            org_id=org_id,
            start=_time(a.get("start"), "start"),
            end=_time(a.get("end"), "end"),
            group_by=list(a.get("group_by") or []),
            filters=dict(a.get("filters") or {}),
            limit=50,
        )
    if call.tool == "compare_periods":
        return compare(
            db, org_id=org_id, current=_pair(a.get("current"), "current"), baseline=_pair(a.get("baseline"), "baseline")
        )
    if call.tool == "run_sql":
        result = run_sql(db, org_id=org_id, sql=str(a.get("sql") or ""), agent="assistant", row_limit=200)
        return ToolResult("run_sql", {"sql": result.sql}, result.as_dict(), [result.sql])
    if call.tool == "list_anomalies":
        return stored_anomalies(db, org_id=org_id, start=_time(a.get("start"), "start"), end=_time(a.get("end"), "end"))
    if call.tool == "list_recommendations":
        return recommendations(db, org_id=org_id)
    return budget_status(db, org_id=org_id, as_of=now)


def to_answer(final: FinalAnswer, *, queries: list[str], llm: str) -> Answer:
    return Answer(
        answer=final.answer,
        period=PeriodOut(start=final.period_start, end=final.period_end),
        figures=final.figures,
        drivers=final.drivers or None,
        queries=queries,
        suggested_actions=final.suggested_actions,
        llm=llm,
    )


def make_check(results: list[Any]) -> Callable[[Any], None]:
    """The check every model reply passes: a final answer only with numbers that tools returned."""

    def check(step: Any) -> None:
        final = step.final if isinstance(step, AssistantStep) else None
        if final is None:
            if not step.tool_calls:
                raise OutputRejected("give tool_calls or a final answer")
            return
        _time(final.period_start, "period_start")
        _time(final.period_end, "period_end")
        answer = to_answer(final, queries=[], llm="check")
        loose = ungrounded(answer)
        if loose:
            raise OutputRejected(f"numbers in the answer that are not among its figures: {', '.join(loose)}")
        unbacked = unsupported_figures(answer, results)
        if unbacked:
            raise OutputRejected(f"figures that no tool returned: {', '.join(unbacked)}")

    return check


def _results_message(outcomes: Sequence[Mapping[str, Any]]) -> str:
    text = json.dumps(outcomes, default=str)
    if len(text) > TOOL_RESULT_CHARS:
        text = text[:TOOL_RESULT_CHARS] + " …(truncated: ask for fewer rows)"
    return f"<tool_results>{text}</tool_results>"


def llm_answer(
    llm: LLM, db: Database, *, org_id: uuid.UUID, question: str, now: datetime, transcript: list[dict[str, Any]]
) -> Answer:
    """Plan, call tools, answer. Raises ModelOutputInvalid / ModelUnavailable when the model gives no valid answer."""
    system = ASSISTANT.replace("{views}", describe_views())
    messages = [{"role": "user", "content": f"<now>{now.isoformat()}</now>\n<question>{question}</question>"}]
    results: list[Any] = []
    used: list[ToolResult] = []
    for _ in range(MAX_STEPS):
        step = llm.structured(
            tier="workhorse",
            agent="assistant",
            system=system,
            messages=messages,
            schema=AssistantStep,
            check=make_check(results),
        )
        messages.append({"role": "assistant", "content": step.model_dump_json()})
        if step.final is not None:
            queries = [q for r in used for q in r.queries]
            transcript.append({"step": "final", "answer": step.final.model_dump()})
            return to_answer(step.final, queries=list(dict.fromkeys(queries)), llm=llm.name)
        outcomes = []
        for call in step.tool_calls:
            try:
                result = run_tool(db, org_id=org_id, now=now, call=call)
            except InvalidInput as exc:  # ToolError, SqlRejected, a bad dimension …: shown to the model
                outcomes.append({"tool": call.tool, "args": call.args, "error": str(exc)})
                continue
            used.append(result)
            results.append(result.data)
            outcomes.append(result.as_dict())
        transcript.append(
            {
                "step": "tools",
                "calls": [c.model_dump() for c in step.tool_calls],
                "errors": [o["error"] for o in outcomes if "error" in o],
            }
        )
        messages.append({"role": "user", "content": _results_message(outcomes)})
    raise ToolError(f"no answer after {MAX_STEPS} steps")
