"""Anomalies: `GET /api/v1/anomalies`, `POST /api/v1/anomalies/{anomaly_id}/acknowledge`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import AuditDep, SessionDep, require
from api.errors import error_responses
from api.routes.recommendations import Page
from core.detectors import lifecycle
from core.orgs.auth import Principal

router = APIRouter(prefix="/api/v1/anomalies", tags=["anomalies"])


class Window(BaseModel):
    start: datetime
    end: datetime


class Driver(BaseModel):
    dimension: str
    value: Any
    contribution: float
    share: float | None = None


class AnomalyOut(BaseModel):
    id: uuid.UUID
    type: str
    severity: str
    title: str
    description: str
    detection_method: str
    metric: str
    scope: dict[str, Any]
    window: Window
    current_value: float
    expected_value: float
    deviation_percent: float
    z_score: float | None
    drivers: list[Driver]
    explanation: str | None
    evidence: list[Any]
    acknowledged: bool
    acknowledged_at: datetime | None
    resolved: bool
    created_at: datetime | None


class AnomalyList(BaseModel):
    data: list[AnomalyOut]
    meta: Page


@router.get("", response_model=AnomalyList, responses=error_responses(401, 403), summary="List anomalies")
def list_anomalies(
    session: SessionDep,
    principal: Annotated[Principal, require("read:anomalies")],
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    rows, total = lifecycle.list_anomalies(
        session, org_id=principal.org_id, acknowledged=acknowledged, limit=limit, offset=offset
    )
    data = [lifecycle.anomaly_view(row) for row in rows]
    return {"data": data, "meta": {"total": total, "limit": limit, "offset": offset}}


@router.post("/{anomaly_id}/acknowledge", response_model=AnomalyOut, responses=error_responses(401, 403, 404))
def acknowledge_anomaly(
    anomaly_id: uuid.UUID,
    session: SessionDep,
    audit: AuditDep,
    principal: Annotated[Principal, require("write:anomalies")],
) -> dict[str, Any]:
    return lifecycle.anomaly_view(lifecycle.acknowledge_anomaly(session, actor=audit, anomaly_id=anomaly_id))
