"""Storing anomalies (upsert by org + fingerprint, so a rerun never duplicates) and their CONTRACT 6 JSON.

The fingerprint is type, metric, scope and window start: the same incident found again (a nightly run twice,
or a later run while it lasts) updates its row in place; `acknowledged` and `resolved` are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.detectors.models import Anomaly
from core.detectors.waste.base import jsonable

_NAMESPACE = uuid.UUID("6f1c1d2e-8a41-4c39-9d0e-0a7e5e1b2c3d")
_SUMMARY = "analysis"  # the evidence item holding top_driver, what_changed and related_slices
_COLUMNS = ("type", "severity", "title", "description", "detection_method", "metric", "scope", "current_value",
            "expected_value", "deviation_percent", "z_score", "drivers", "explanation")  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fingerprint(anomaly: dict[str, Any]) -> str:
    scope = ",".join(f"{k}={v}" for k, v in sorted(anomaly["scope"].items())) or "org"
    return f"{anomaly['type']}:{anomaly['metric']}:{scope}:{_iso(anomaly['window']['start'])}"


def anomaly_id(org_id: uuid.UUID, print_: str) -> uuid.UUID:
    """A stable id for an anomaly that is not stored (store=False)."""
    return uuid.uuid5(_NAMESPACE, f"{org_id}:{print_}")


def _values(org_id: uuid.UUID, anomaly: dict[str, Any]) -> dict[str, Any]:
    values = {name: jsonable(anomaly[name]) for name in _COLUMNS}
    summary = {"top_driver": anomaly.get("top_driver"), "what_changed": anomaly.get("what_changed"),
               "related_slices": anomaly.get("related_slices", [])}  # fmt: skip
    evidence = [*anomaly.get("evidence", []), {"type": _SUMMARY, "title": "Drivers summary", "query": None,
                                                "data": [jsonable(summary)]}]  # fmt: skip
    values.update(organization_id=org_id, fingerprint=anomaly["fingerprint"], evidence=jsonable(evidence),
                  window_start=anomaly["window"]["start"], window_end=anomaly["window"]["end"])  # fmt: skip
    return values


def save_anomalies(session: Session, *, org_id: uuid.UUID, anomalies: Iterable[dict[str, Any]]) -> list[Anomaly]:
    """Upsert each anomaly; returns the stored rows in the given order."""
    prints = []
    for anomaly in anomalies:
        values = _values(org_id, anomaly)
        update = {k: v for k, v in values.items() if k not in ("organization_id", "fingerprint")}
        statement = insert(Anomaly).values(**values)
        session.execute(statement.on_conflict_do_update(index_elements=["organization_id", "fingerprint"],
                                                        set_=update))  # fmt: skip
        prints.append(anomaly["fingerprint"])
    session.flush()
    rows = session.scalars(select(Anomaly).where(Anomaly.organization_id == org_id,
                                                 Anomaly.fingerprint.in_(prints))).all()  # fmt: skip
    for row in rows:
        session.refresh(row)
    by_print = {row.fingerprint: row for row in rows}
    return [by_print[p] for p in prints]


def anomaly_json(row: Anomaly) -> dict[str, Any]:
    """A stored anomaly in the CONTRACT section 6 shape (plus top_driver, what_changed, evidence)."""
    summary: dict[str, Any] = next(
        (e["data"][0] for e in row.evidence if e.get("type") == _SUMMARY and e.get("data")), {}
    )
    return {
        "id": str(row.id), "type": row.type, "severity": row.severity, "title": row.title,
        "description": row.description, "detection_method": row.detection_method, "metric": row.metric,
        "scope": row.scope, "window": {"start": _iso(row.window_start), "end": _iso(row.window_end)},
        "current_value": row.current_value, "expected_value": row.expected_value,
        "deviation_percent": row.deviation_percent, "z_score": row.z_score, "drivers": row.drivers,
        "top_driver": summary.get("top_driver"), "what_changed": summary.get("what_changed"),
        "related_slices": summary.get("related_slices", []), "explanation": row.explanation,
        "evidence": [e for e in row.evidence if e.get("type") != _SUMMARY],
        "acknowledged": row.acknowledged, "resolved": row.resolved, "created_at": _iso(row.created_at),
    }  # fmt: skip


def unstored_json(org_id: uuid.UUID, anomaly: dict[str, Any]) -> dict[str, Any]:
    """An anomaly that was not stored, in the same shape (stable id from its fingerprint)."""
    data = {k: v for k, v in jsonable(anomaly).items() if k != "fingerprint"}
    return {"id": str(anomaly_id(org_id, anomaly["fingerprint"])), **data, "acknowledged": False, "resolved": False}
