"""Anomalies for the agents: the stored ones of a period, or a fresh detection run (core/detectors/anomaly/run.py)."""

from __future__ import annotations

import importlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

from core.db import Database
from tools.base import ToolError, ToolResult, iso, quote

_COLUMNS = (
    "id, type, severity, title, description, detection_method, metric, scope, window_start, window_end, "
    "current_value, expected_value, deviation_percent, z_score, drivers, explanation, acknowledged, resolved"
)


def _row(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["id"] = str(item["id"])
    item["window"] = {"start": iso(item.pop("window_start")), "end": iso(item.pop("window_end"))}
    return item


def stored_anomalies(db: Database, *, org_id: uuid.UUID, start: datetime, end: datetime) -> ToolResult:
    """Anomalies stored for the org whose window overlaps [start, end), largest deviation in USD first."""
    sql = (
        f"SELECT {_COLUMNS} FROM anomalies WHERE organization_id = :o AND window_start < :e AND window_end > :s "
        "ORDER BY abs(current_value - expected_value) DESC, window_start"
    )
    with db.engine.connect() as conn:
        rows = [_row(r) for r in conn.execute(text(sql), {"o": org_id, "s": start, "e": end}).mappings()]
    view = (
        f"SELECT {_COLUMNS} FROM anomalies WHERE window_start < {quote(iso(end))} AND window_end > "
        f"{quote(iso(start))} ORDER BY abs(current_value - expected_value) DESC"
    )
    return ToolResult("list_anomalies", {"start": iso(start), "end": iso(end)}, {"anomalies": rows}, [view])


def detect_anomalies(
    db: Database, *, org_id: uuid.UUID, as_of: datetime, window_days: int = 30, store: bool = False
) -> ToolResult:
    """Run anomaly detection over the window ending at as_of (core.detectors.anomaly.run.find_anomalies)."""
    try:
        run = importlib.import_module("core.detectors.anomaly.run")
    except ModuleNotFoundError as exc:
        raise ToolError("anomaly detection is not available in this build") from exc
    found: list[dict[str, Any]] = run.find_anomalies(
        db, org_id=org_id, as_of=as_of, window_days=window_days, store=store
    )
    args = {"as_of": iso(as_of), "window_days": window_days}
    queries = sorted({q for a in found for q in _evidence_queries(a)}) or [f"find_anomalies({args})"]
    return ToolResult("find_anomalies", args, {"anomalies": found}, queries)


def _evidence_queries(anomaly: dict[str, Any]) -> list[str]:
    return [str(e["query"]) for e in anomaly.get("evidence") or [] if isinstance(e, dict) and e.get("query")]
