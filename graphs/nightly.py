"""The nightly job: for every org (not the system org), recommendations (the consensus graph), anomalies and
budgets, once per org and day. Two runners never duplicate work: each org's run row (agent_runs, kind nightly,
run_key = the day) is locked with FOR UPDATE SKIP LOCKED while its work runs; a finished day is skipped."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from core.alerts.delivery import deliver_pending
from core.budgets.evaluate import evaluate_budgets
from core.db import Database
from core.detectors.anomaly.run import find_anomalies
from core.orgs.models import Organization
from core.routing.llm import LLM, llm_name
from graphs.runs import checkpointer_ready, claim_run, run_recommendations

KIND = "nightly"
_LOCK_SQL = "SELECT status, output FROM agent_runs WHERE id = :id FOR UPDATE SKIP LOCKED"
_DONE_SQL = "UPDATE agent_runs SET status = 'done', output = CAST(:output AS jsonb), finished_at = now() WHERE id = :id"


def _work(db: Database, org_id: uuid.UUID, as_of: datetime, window_days: int, llm: LLM | None,
          day: str) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    recs = run_recommendations(db, org_id=org_id, as_of=as_of, window_days=window_days, llm=llm,
                               run_key=f"nightly:{day}")  # fmt: skip
    anomalies = find_anomalies(db, org_id=org_id, as_of=as_of, window_days=window_days)
    budgets = evaluate_budgets(db, org_id=org_id, as_of=as_of)
    deliveries = deliver_pending(db, org_id=org_id)  # budget and anomaly alerts out to the org's channels
    return {
        "recommendations": len(recs["recommendations"]),
        "estimated_monthly_savings": round(sum(r["estimated_monthly_savings"] for r in recs["recommendations"]), 2),
        "recommendation_run_id": recs["run_id"],
        "anomalies": len(anomalies),
        "budgets": budgets,
        "alert_deliveries": asdict(deliveries),
        "llm_usage": recs["llm_usage"],
        "seconds": round(time.perf_counter() - started, 3),
    }


def run_org(db: Database, *, org_id: uuid.UUID, slug: str, as_of: datetime, window_days: int = 30,
            llm: LLM | None = None) -> dict[str, Any]:  # fmt: skip
    day = as_of.date().isoformat()
    checkpointer_ready(db)  # before the org's row lock is taken (cheap: once per process)
    run_id, _ = claim_run(db, org_id=org_id, kind=KIND, run_key=day, llm=llm_name(llm),
                          payload={"as_of": as_of.isoformat(), "window_days": window_days})  # fmt: skip
    base = {"org": slug, "run_id": str(run_id), "day": day}
    with db.engine.connect() as conn, conn.begin():
        locked = conn.execute(text(_LOCK_SQL), {"id": run_id}).mappings().first()
        if locked is None:
            return {**base, "status": "skipped", "reason": "another runner holds this org's run"}
        if locked["status"] == "done":
            return {**base, "status": "skipped", "reason": "already done today", **(locked["output"] or {})}
        summary = _work(db, org_id, as_of, window_days, llm, day)
        conn.execute(text(_DONE_SQL), {"id": run_id, "output": json.dumps(summary, default=str)})
    return {**base, "status": "done", **summary}


def run_nightly(db: Database, *, as_of: datetime, window_days: int = 30, llm: LLM | None = None) -> dict[str, Any]:
    with db.session() as session:
        orgs = session.execute(select(Organization.id, Organization.slug).where(
            Organization.is_system.is_(False)).order_by(Organization.slug)).all()  # fmt: skip
    results = [run_org(db, org_id=o.id, slug=o.slug, as_of=as_of, window_days=window_days, llm=llm) for o in orgs]
    return {"orgs": results, "llm": llm_name(llm), "as_of": as_of.isoformat()}
