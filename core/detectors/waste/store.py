"""Storing findings as recommendations (upsert by organization + fingerprint) and their CONTRACT 6 JSON.

A rerun over a later window updates the recommendation with the same fingerprint (type + scope) in place:
its figures, evidence and window change; its id, status, applied_at, dismissed_at and created_at stay, so a
dismissed recommendation stays dismissed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.detectors.models import Recommendation
from core.detectors.waste.base import Finding, jsonable

# Until the agent graph reviews findings, a deterministic detector's finding is its own consensus.
DETERMINISTIC_CONSENSUS: dict[str, Any] = {"reached": True, "score": 1.0, "rounds": 0, "verdicts": {}, "dissent": []}
MONEY_PLACES = 6

# Columns a rerun overwrites (everything a finding says); status and its timestamps are not among them.
_FINDING_COLUMNS = (
    "category",
    "type",
    "title",
    "description",
    "scope",
    "target",
    "current_monthly_cost",
    "projected_monthly_cost",
    "estimated_monthly_savings",
    "savings_percent",
    "confidence",
    "priority",
    "risk_level",
    "effort",
    "affected_requests",
    "sample_request_ids",
    "implementation_steps",
    "suggested_routing_rule",
)


def _values(finding: Finding) -> dict[str, Any]:
    values = {name: getattr(finding, name) for name in _FINDING_COLUMNS}
    values["scope"] = jsonable(finding.scope)
    values["target"] = jsonable(finding.target)
    values["suggested_routing_rule"] = jsonable(finding.suggested_routing_rule)
    values["evidence"] = [item.to_dict() for item in finding.evidence]
    return values


def save_findings(
    session: Session,
    *,
    org_id: uuid.UUID,
    findings: Iterable[Finding],
    window_start: datetime,
    window_end: datetime,
    run_id: uuid.UUID | None = None,
) -> list[Recommendation]:
    """Insert new findings, update the ones already stored (same fingerprint); returns the rows in order."""
    items = list(findings)
    fingerprints = [f.fingerprint for f in items]
    existing = {
        row.fingerprint: row
        for row in session.scalars(
            select(Recommendation).where(
                Recommendation.organization_id == org_id, Recommendation.fingerprint.in_(fingerprints)
            )
        )
    }
    rows: list[Recommendation] = []
    for finding in items:
        values = _values(finding) | {"window_start": window_start, "window_end": window_end, "run_id": run_id}
        row = existing.get(finding.fingerprint)
        if row is None:
            row = Recommendation(organization_id=org_id, fingerprint=finding.fingerprint, **values)
            row.consensus = dict(DETERMINISTIC_CONSENSUS)
            session.add(row)
            existing[finding.fingerprint] = row
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = func.now()
        rows.append(row)
    session.flush()
    for row in rows:
        session.refresh(row)
    return rows


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(round(Decimal(value), MONEY_PLACES))


def recommendation_json(row: Recommendation) -> dict[str, Any]:
    """The CONTRACT section 6 Recommendation of a stored row (money as JSON numbers, 6 decimals)."""
    return {
        "id": str(row.id),
        "category": row.category,
        "type": row.type,
        "title": row.title,
        "description": row.description,
        "scope": dict(row.scope),
        "current_monthly_cost": _money(row.current_monthly_cost),
        "projected_monthly_cost": _money(row.projected_monthly_cost),
        "estimated_monthly_savings": _money(row.estimated_monthly_savings),
        "savings_percent": row.savings_percent,
        "target": dict(row.target),
        "confidence": row.confidence,
        "priority": row.priority,
        "risk_level": row.risk_level,
        "effort": row.effort,
        "evidence": [
            {"type": e["type"], "title": e["title"], "query": e["query"], "data": e["data"]} for e in row.evidence
        ],
        "affected_requests": row.affected_requests,
        "sample_request_ids": list(row.sample_request_ids),
        "implementation_steps": list(row.implementation_steps),
        "suggested_routing_rule": row.suggested_routing_rule,
        "consensus": dict(row.consensus) if row.consensus else dict(DETERMINISTIC_CONSENSUS),
        "status": row.status,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "actual_monthly_savings": _money(row.actual_monthly_savings),
    }
