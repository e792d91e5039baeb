"""Budgets: `GET/POST /api/v1/budgets`, `GET/PATCH/DELETE /api/v1/budgets/{budget_id}` (CONTRACT §4 shape)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditDep, SessionDep, require
from api.errors import error_responses
from core.budgets import service
from core.orgs.auth import Principal

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])

Text = Annotated[str, Field(min_length=1, max_length=service.MAX_TEXT)]
Percent = Annotated[int, Field(ge=1, le=1000)]
Amount = Annotated[float, Field(ge=0.01, le=1e15, description="USD; stored in cents")]


class OrgScope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["org"]


class DimensionScope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["team", "project", "feature", "model", "user"]
    value: Text


Scope = Annotated[OrgScope | DimensionScope, Field(discriminator="type")]


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    scope: Scope = Field(default_factory=lambda: OrgScope(type="org"))
    period: Literal["daily", "weekly", "monthly"] = "monthly"
    amount: Amount
    thresholds: list[Percent] = Field(default=list(service.DEFAULT_THRESHOLDS), max_length=service.MAX_THRESHOLDS)
    hard_limit: bool = False
    enabled: bool = True


class BudgetPatch(BaseModel):
    """Only the fields sent change (null = unchanged)."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = None
    scope: Scope | None = None
    period: Literal["daily", "weekly", "monthly"] | None = None
    amount: Amount | None = None
    thresholds: list[Percent] | None = Field(default=None, max_length=service.MAX_THRESHOLDS)
    hard_limit: bool | None = None
    enabled: bool | None = None


class ScopeOut(BaseModel):
    type: Literal["org", "team", "project", "feature", "model", "user"]
    value: str | None = None


class BudgetOut(BaseModel):
    id: uuid.UUID
    name: str
    scope: ScopeOut
    period: Literal["daily", "weekly", "monthly"]
    amount: float
    thresholds: list[int]
    hard_limit: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime


class BudgetList(BaseModel):
    data: list[BudgetOut]


Reader = Annotated[Principal, require("read:budgets")]
Writer = Annotated[Principal, require("write:budgets")]


def _changes(patch: BudgetPatch) -> dict[str, Any]:
    sent = {name: getattr(patch, name) for name in patch.model_fields_set if getattr(patch, name) is not None}
    changes: dict[str, Any] = {k: v for k, v in sent.items() if k not in ("scope", "amount", "thresholds")}
    if "scope" in sent:
        changes["scope_type"] = sent["scope"].type
        changes["scope_value"] = getattr(sent["scope"], "value", None)
    if "amount" in sent:
        changes["amount"] = Decimal(str(sent["amount"]))
    if "thresholds" in sent:
        changes["thresholds"] = tuple(sent["thresholds"])
    return changes


@router.get("", response_model=BudgetList, responses=error_responses(401, 403), summary="List budgets")
def list_budgets(session: SessionDep, principal: Reader) -> dict[str, Any]:
    return {"data": [service.budget_json(b) for b in service.list_budgets(session, org_id=principal.org_id)]}


@router.post("", status_code=201, response_model=BudgetOut, responses=error_responses(400, 401, 403, 409))
def create_budget(body: BudgetIn, session: SessionDep, audit: AuditDep, principal: Writer) -> dict[str, Any]:
    spec = service.BudgetSpec(
        name=body.name, amount=Decimal(str(body.amount)), scope_type=body.scope.type,
        scope_value=getattr(body.scope, "value", None), period=body.period, thresholds=tuple(body.thresholds),
        hard_limit=body.hard_limit, enabled=body.enabled,
    )  # fmt: skip
    return service.budget_json(service.create_budget(session, actor=audit, spec=spec))


@router.get("/{budget_id}", response_model=BudgetOut, responses=error_responses(401, 403, 404))
def get_budget(budget_id: uuid.UUID, session: SessionDep, principal: Reader) -> dict[str, Any]:
    return service.budget_json(service.get_budget(session, org_id=principal.org_id, budget_id=budget_id))


@router.patch("/{budget_id}", response_model=BudgetOut, responses=error_responses(400, 401, 403, 404, 409))
def update_budget(
    budget_id: uuid.UUID, body: BudgetPatch, session: SessionDep, audit: AuditDep, principal: Writer
) -> dict[str, Any]:
    budget = service.update_budget(session, actor=audit, budget_id=budget_id, changes=_changes(body))
    return service.budget_json(budget)


@router.delete("/{budget_id}", status_code=204, response_class=Response, responses=error_responses(401, 403, 404))
def delete_budget(budget_id: uuid.UUID, session: SessionDep, audit: AuditDep, principal: Writer) -> Response:
    service.delete_budget(session, actor=audit, budget_id=budget_id)
    return Response(status_code=204)
