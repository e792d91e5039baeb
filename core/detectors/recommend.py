"""The deterministic recommendation run: every waste detector over the window, stored and returned in the
CONTRACT's Recommendation shape. The agent graph (analyst, skeptic, advocate, synthesizer) will wrap this;
until then each recommendation's consensus block says the deterministic detector produced it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from core.db import Database
from core.detectors.waste import run_all
from core.detectors.waste.base import DetectorContext
from core.detectors.waste.store import recommendation_json, save_findings
from core.errors import InvalidInput


def recommend(db: Database, *, org_id: uuid.UUID, as_of: datetime, window_days: int = 30) -> dict[str, Any]:
    if not 1 <= window_days <= 366:
        raise InvalidInput("--window-days must be between 1 and 366")
    start = as_of - timedelta(days=window_days)
    run_id = uuid.uuid4()
    with db.session() as session:
        findings = run_all(DetectorContext(session.connection(), org_id, start, as_of))
        rows = save_findings(session, org_id=org_id, findings=findings, window_start=start, window_end=as_of,
                             run_id=run_id)  # fmt: skip
        recommendations = [recommendation_json(row) for row in rows]
    return {"recommendations": recommendations, "llm": "offline", "run_id": str(run_id)}
