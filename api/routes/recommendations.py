"""Recommendations: `GET /api/v1/optimization/recommendations`, `POST …/{id}/apply`, `POST …/{id}/dismiss`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditDep, SessionDep, require
from api.errors import error_responses
from core.detectors import lifecycle
from core.orgs.auth import Principal

router = APIRouter(prefix="/api/v1/optimization/recommendations", tags=["recommendations"])

Status = Literal["pending", "applied", "dismissed", "expired"]


class Evidence(BaseModel):
    type: str
    title: str
    query: str = Field(description="the SQL or tool call that produced data")
    data: Any


class RecommendationOut(BaseModel):
    id: uuid.UUID
    category: str
    type: str
    title: str
    description: str
    scope: dict[str, Any]
    current_monthly_cost: float | None
    projected_monthly_cost: float | None
    estimated_monthly_savings: float | None
    savings_percent: float
    target: dict[str, Any]
    confidence: float
    priority: str
    risk_level: str
    effort: str
    evidence: list[Evidence]
    affected_requests: int
    sample_request_ids: list[Any]
    implementation_steps: list[Any]
    suggested_routing_rule: dict[str, Any] | None
    consensus: dict[str, Any]
    status: Status
    created_at: datetime | None
    actual_monthly_savings: float | None
    applied_at: datetime | None
    applied_rule_id: uuid.UUID | None
    dismissed_at: datetime | None
    dismiss_reason: str | None


class Page(BaseModel):
    total: int
    limit: int
    offset: int


class RecommendationList(BaseModel):
    data: list[RecommendationOut]
    meta: Page


class Applied(BaseModel):
    success: Literal[True] = True
    applied_at: datetime
    rule_id: uuid.UUID | None = Field(description="the routing rule created, if the recommendation suggested one")
    recommendation: RecommendationOut


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=1000)] | None = None


Writer = Annotated[Principal, require("write:recommendations")]


@router.get("", response_model=RecommendationList, responses=error_responses(401, 403), summary="List")
def list_recommendations(
    session: SessionDep,
    principal: Annotated[Principal, require("read:recommendations")],
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    rows, total = lifecycle.list_recommendations(
        session, org_id=principal.org_id, status=status, limit=limit, offset=offset
    )
    data = [lifecycle.recommendation_view(row) for row in rows]
    return {"data": data, "meta": {"total": total, "limit": limit, "offset": offset}}


@router.post("/{recommendation_id}/apply", response_model=Applied, responses=error_responses(401, 403, 404, 409))
def apply_recommendation(
    recommendation_id: uuid.UUID, session: SessionDep, audit: AuditDep, principal: Writer
) -> dict[str, Any]:
    row = lifecycle.apply_recommendation(session, actor=audit, recommendation_id=recommendation_id)
    return {"applied_at": row.applied_at, "rule_id": row.applied_rule_id,
            "recommendation": lifecycle.recommendation_view(row)}  # fmt: skip


@router.post(
    "/{recommendation_id}/dismiss", response_model=RecommendationOut, responses=error_responses(401, 403, 404, 409)
)
def dismiss_recommendation(
    recommendation_id: uuid.UUID,
    session: SessionDep,
    audit: AuditDep,
    principal: Writer,
    body: Annotated[DismissIn | None, Body()] = None,
) -> dict[str, Any]:
    reason = body.reason if body else None
    row = lifecycle.dismiss_recommendation(session, actor=audit, recommendation_id=recommendation_id, reason=reason)
    return lifecycle.recommendation_view(row)
