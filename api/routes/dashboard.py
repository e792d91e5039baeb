"""`GET /api/internal/dashboard/overview`: month-to-date spend, change vs the previous period, spend by day and
provider, top consumers, pending recommendations, active alerts and the month-end forecast (core/usage/overview.py).

Sections the key's role may not read (recommendations for a viewer, alerts for a member or viewer) are null.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import SessionDep, require
from api.errors import error_responses
from api.routes.costs import utc
from core.orgs.auth import Principal
from core.orgs.permissions import allows
from core.usage import overview

router = APIRouter(prefix="/api/internal/dashboard", tags=["dashboard"])


class Period(BaseModel):
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime


class Summary(BaseModel):
    total_spend_mtd: float
    previous_period_spend: float
    spend_change_percent: float | None
    total_requests_mtd: int
    unpriced_requests_mtd: int
    active_providers: int
    pending_recommendations: int | None = None
    potential_monthly_savings: float | None = None
    active_alerts: int | None = None


class DaySpend(BaseModel):
    date: str
    cost: float | None
    requests: int


class ProviderSpend(BaseModel):
    provider: str | None
    cost: float | None
    requests: int
    percentage: float | None


class Consumer(BaseModel):
    type: Literal["team"]
    name: str | None
    cost: float | None
    requests: int


class PendingRecommendation(BaseModel):
    id: uuid.UUID
    type: str
    title: str
    priority: str
    estimated_monthly_savings: float | None


class ActiveAlert(BaseModel):
    id: uuid.UUID
    type: str
    severity: str
    title: str
    message: str
    created_at: datetime


class Overview(BaseModel):
    period: Period
    summary: Summary
    spend_by_day: list[DaySpend]
    spend_by_provider: list[ProviderSpend]
    top_consumers: list[Consumer]
    recommendations: list[PendingRecommendation] | None
    alerts: list[ActiveAlert] | None
    forecast: dict[str, Any] | None
    queries: list[str]


@router.get("/overview", response_model=Overview, responses=error_responses(400, 401, 403), summary="Overview")
def dashboard_overview(
    session: SessionDep,
    principal: Annotated[Principal, require("read:costs")],
    as_of: Annotated[datetime | None, Query(description="end of the month-to-date period; default now")] = None,
) -> dict[str, Any]:
    moment = utc(as_of, name="as_of") if as_of is not None else datetime.now(UTC)
    conn = session.connection()
    result = overview.spend_section(conn, org_id=principal.org_id, as_of=moment)
    result.update(recommendations=None, alerts=None)
    if allows(role=principal.role, scope=principal.scope, permission="read:recommendations"):
        recs = overview.recommendations_section(conn, org_id=principal.org_id)
        result["summary"].update(pending_recommendations=recs["count"],
                                 potential_monthly_savings=recs["potential_monthly_savings"])  # fmt: skip
        result["recommendations"] = recs["top"]
        result["queries"] += recs["queries"]
    if allows(role=principal.role, scope=principal.scope, permission="read:alerts"):
        alerts = overview.alerts_section(conn, org_id=principal.org_id)
        result["summary"]["active_alerts"] = alerts["count"]
        result["alerts"] = alerts["recent"]
        result["queries"] += alerts["queries"]
    result["forecast"] = overview.forecast_section(conn, org_id=principal.org_id, as_of=moment)
    return result
