"""Running the recommendations graph as a recorded agent run: the transcript, own LLM spend and outcome in
agent_runs, durable state in the LangGraph Postgres checkpointer (thread = the run), so an interrupted run
resumes where it stopped when started again with the same run key."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from agents.base import Services
from core.audit.models import AgentRun
from core.db import Database
from core.errors import InvalidInput
from core.orgs.models import Organization
from core.routing.llm import LLM, llm_name
from core.routing.usage import record_llm_calls
from graphs.recommendations import build_graph
from migrations.checkpoints import create_checkpoint_tables

KIND = "recommend"
_setup_done: set[str] = set()
_setup_lock = threading.Lock()


def checkpointer_ready(db: Database) -> None:
    """Make sure the checkpointer's tables exist (once per process and database). The schema upgrade creates
    them; a database upgraded before that gets them here, in a transaction of their own and without
    CONCURRENTLY, so this is safe while the caller holds another transaction open (setup() is not)."""
    with _setup_lock:
        if db.uri not in _setup_done:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('tokentra_checkpoints'))")
                create_checkpoint_tables(conn)
            _setup_done.add(db.uri)


def claim_run(db: Database, *, org_id: uuid.UUID, kind: str, run_key: str, payload: dict[str, Any],
              llm: str) -> tuple[uuid.UUID, str]:  # fmt: skip
    """The run row for (org, kind, run_key), created if new; returns (id, status)."""
    with db.session() as session:
        session.execute(insert(AgentRun).values(organization_id=org_id, kind=kind, run_key=run_key, input=payload,
                                                transcript=[], llm=llm)
                        .on_conflict_do_nothing(index_elements=["organization_id", "kind", "run_key"]))  # fmt: skip
        row = session.execute(select(AgentRun.id, AgentRun.status).where(
            AgentRun.organization_id == org_id, AgentRun.kind == kind, AgentRun.run_key == run_key)).one()  # fmt: skip
        return row.id, row.status


def _transcript(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": c["key"], "type": c["finding"]["type"], "claimed": c["finding"]["estimated_monthly_savings"],
             "review": (state.get("reviews") or {}).get(c["key"]), "rounds": (state.get("debates") or {}).get(c["key"]),
             "synthesis": (state.get("syntheses") or {}).get(c["key"])}
            for c in state.get("candidates", [])]  # fmt: skip


def run_recommendations(db: Database, *, org_id: uuid.UUID, as_of: datetime, window_days: int = 30,
                        llm: LLM | None = None, run_key: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) the consensus graph for one org and window; store the outcome in agent_runs."""
    if not 1 <= window_days <= 366:
        raise InvalidInput("--window-days must be between 1 and 366")
    start = as_of - timedelta(days=window_days)
    key = run_key or f"{as_of.isoformat()}/{window_days}d/{uuid.uuid4()}"
    payload = {"as_of": as_of.isoformat(), "window_days": window_days}
    run_id, _status = claim_run(db, org_id=org_id, kind=KIND, run_key=key, payload=payload, llm=llm_name(llm))
    with db.session() as session:
        settings = session.scalar(select(Organization.settings).where(Organization.id == org_id)) or {}
    services = Services(db=db, llm=llm, org_id=org_id, start=start, end=as_of,
                        constraints=dict(settings.get("constraints") or {}))  # fmt: skip
    mark = len(llm.calls) if llm is not None else 0
    checkpointer_ready(db)
    config: dict[str, Any] = {"configurable": {"thread_id": f"recommend:{run_id}"}, "recursion_limit": 50}
    with PostgresSaver.from_conn_string(db.uri) as saver:
        graph = build_graph().compile(checkpointer=saver)
        snapshot = graph.get_state(config)  # type: ignore[arg-type]
        resume = bool(snapshot.next)
        state = graph.invoke(None if resume else {}, config, context=services)  # type: ignore[call-overload]
    calls = llm.calls[mark:] if llm is not None else []
    usage = record_llm_calls(db, calls=calls, run_id=str(run_id), kind=KIND)
    output = {**state["output"], "llm": llm_name(llm), "run_id": str(run_id), "llm_usage": usage.to_dict(),
              "resumed": resume}  # fmt: skip
    with db.session() as session:
        row = session.get_one(AgentRun, run_id)
        row.status, row.output, row.transcript = "done", _summary(output), _transcript(state)
        row.thread_id = config["configurable"]["thread_id"]
        row.llm_input_tokens, row.llm_output_tokens, row.llm_cost = usage.input_tokens, usage.output_tokens, usage.cost
        row.finished_at = func.now()
    return output


def _summary(output: dict[str, Any]) -> dict[str, Any]:
    return {"recommendation_ids": [r["id"] for r in output["recommendations"]],
            "dropped": [{"key": d["key"], "reason": d["reason"]} for d in output["dropped"]],
            "llm": output["llm"], "llm_usage": output["llm_usage"]}  # fmt: skip
