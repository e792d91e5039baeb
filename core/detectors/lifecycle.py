"""What people do with findings: list, apply and dismiss recommendations; list and acknowledge anomalies.

Every function is scoped to one org (another org's id is NotFound) and every change is audited in the same
transaction. Applying a recommendation turns its `suggested_routing_rule` into an active routing rule
(core/routing/rules_store.py validates it) and records `applied_at`; a recommendation without a suggested
rule is marked applied (the change was made outside the gateway) with no rule.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit.context import Actor
from core.detectors.models import Anomaly, Recommendation
from core.detectors.waste.store import recommendation_json
from core.errors import Conflict, InvalidInput, NotFound
from core.routing.rules_store import create_rule_from_recommendation

RECOMMENDATION_STATUSES = ("pending", "applied", "dismissed", "expired")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def recommendation_view(row: Recommendation) -> dict[str, Any]:
    """CONTRACT §6 Recommendation plus what happened to it (applied_at, applied_rule_id, dismissed_at …)."""
    return {
        **recommendation_json(row),
        "applied_at": _iso(row.applied_at),
        "applied_rule_id": str(row.applied_rule_id) if row.applied_rule_id else None,
        "dismissed_at": _iso(row.dismissed_at),
        "dismiss_reason": row.dismiss_reason,
    }


def list_recommendations(
    session: Session, *, org_id: uuid.UUID, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Recommendation], int]:
    """A page of an org's recommendations, largest estimated savings first, and the total count."""
    where = [Recommendation.organization_id == org_id]
    if status is not None:
        where.append(Recommendation.status == status)
    total = session.scalar(select(func.count()).select_from(Recommendation).where(*where)) or 0
    query = select(Recommendation).where(*where)
    query = query.order_by(Recommendation.estimated_monthly_savings.desc(), Recommendation.id)
    return list(session.scalars(query.limit(limit).offset(offset))), total


def get_recommendation(session: Session, *, org_id: uuid.UUID, recommendation_id: uuid.UUID) -> Recommendation:
    row = session.scalar(
        select(Recommendation)
        .where(Recommendation.organization_id == org_id, Recommendation.id == recommendation_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"no recommendation {recommendation_id}")
    return row


def _state(row: Recommendation) -> dict[str, Any]:
    return {"status": row.status, "applied_at": _iso(row.applied_at), "dismissed_at": _iso(row.dismissed_at),
            "applied_rule_id": str(row.applied_rule_id) if row.applied_rule_id else None,
            "dismiss_reason": row.dismiss_reason}  # fmt: skip


def apply_recommendation(session: Session, *, actor: Actor, recommendation_id: uuid.UUID) -> Recommendation:
    row = get_recommendation(session, org_id=actor.org_id, recommendation_id=recommendation_id)
    if row.status != "pending":
        raise Conflict(f"recommendation {recommendation_id} is {row.status}; only a pending one can be applied")
    before = _state(row)
    if row.suggested_routing_rule:
        try:
            rule = create_rule_from_recommendation(
                session, org_id=actor.org_id, recommendation_id=row.id, suggestion=row.suggested_routing_rule,
                title=row.title, actor=actor.actor, source_ip=actor.source_ip, request_id=actor.request_id,
            )  # fmt: skip
        except InvalidInput as exc:  # the stored suggestion, not the caller's input, is what does not fit
            raise Conflict(f"recommendation {recommendation_id} cannot be applied automatically: {exc}") from exc
        row.applied_rule_id = rule.id
    row.status = "applied"
    row.applied_at = session.scalar(select(func.now()))
    session.flush()
    actor.record(session, action="recommendation.apply", resource_type="recommendation", resource_id=str(row.id),
                 before=before, after=_state(row))  # fmt: skip
    return row


def dismiss_recommendation(
    session: Session, *, actor: Actor, recommendation_id: uuid.UUID, reason: str | None = None
) -> Recommendation:
    row = get_recommendation(session, org_id=actor.org_id, recommendation_id=recommendation_id)
    if row.status != "pending":
        raise Conflict(f"recommendation {recommendation_id} is {row.status}; only a pending one can be dismissed")
    before = _state(row)
    row.status = "dismissed"
    row.dismissed_at = session.scalar(select(func.now()))
    row.dismiss_reason = reason
    session.flush()
    actor.record(session, action="recommendation.dismiss", resource_type="recommendation", resource_id=str(row.id),
                 before=before, after=_state(row))  # fmt: skip
    return row


# --- anomalies ---------------------------------------------------------------------------------------------


def anomaly_view(row: Anomaly) -> dict[str, Any]:
    """CONTRACT §6 Anomaly (plus id, evidence, acknowledged_at, created_at)."""
    return {
        "id": str(row.id), "type": row.type, "severity": row.severity, "title": row.title,
        "description": row.description, "detection_method": row.detection_method, "metric": row.metric,
        "scope": dict(row.scope), "window": {"start": _iso(row.window_start), "end": _iso(row.window_end)},
        "current_value": row.current_value, "expected_value": row.expected_value,
        "deviation_percent": row.deviation_percent, "z_score": row.z_score, "drivers": list(row.drivers),
        "explanation": row.explanation, "evidence": list(row.evidence), "acknowledged": row.acknowledged,
        "acknowledged_at": _iso(row.acknowledged_at), "resolved": row.resolved, "created_at": _iso(row.created_at),
    }  # fmt: skip


def list_anomalies(
    session: Session, *, org_id: uuid.UUID, acknowledged: bool | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Anomaly], int]:
    """A page of an org's anomalies, most recent window first, and the total count."""
    where = [Anomaly.organization_id == org_id]
    if acknowledged is not None:
        where.append(Anomaly.acknowledged.is_(acknowledged))
    total = session.scalar(select(func.count()).select_from(Anomaly).where(*where)) or 0
    query = select(Anomaly).where(*where).order_by(Anomaly.window_start.desc(), Anomaly.id)
    return list(session.scalars(query.limit(limit).offset(offset))), total


def acknowledge_anomaly(session: Session, *, actor: Actor, anomaly_id: uuid.UUID) -> Anomaly:
    """Mark an anomaly acknowledged (idempotent: a second acknowledgement keeps the first time)."""
    row = session.scalar(
        select(Anomaly).where(Anomaly.organization_id == actor.org_id, Anomaly.id == anomaly_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"no anomaly {anomaly_id}")
    if not row.acknowledged:
        before = {"acknowledged": False, "acknowledged_at": None}
        row.acknowledged = True
        row.acknowledged_at = session.scalar(select(func.now()))
        session.flush()
        after = {"acknowledged": True, "acknowledged_at": _iso(row.acknowledged_at)}
        actor.record(session, action="anomaly.acknowledge", resource_type="anomaly", resource_id=str(row.id),
                     before=before, after=after)  # fmt: skip
    return row
