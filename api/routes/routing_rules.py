"""Routing rules: `GET/POST /api/v1/routing-rules`, `GET/PATCH/DELETE /api/v1/routing-rules/{rule_id}`.

Rules as in the optimization-engine seed (conditions with fields and operators, condition logic, one action,
priority, A/B traffic percent); snake_case or the seed's camelCase names are accepted. Reading needs
`read:rules`, writing `write:rules` (admins and owners). Every change is audited; the gateway of this process
sees it at once, other processes within 10 seconds. `match_count` and `estimated_savings` are measured by the
gateway (savings: what the original model would have cost for the same tokens, minus what was paid).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from api.deps import AuditDep, SessionDep, require
from api.errors import error_responses
from core.orgs.auth import Principal
from core.routing import rules_store
from core.routing.rules import RuleSpec

router = APIRouter(prefix="/api/v1/routing-rules", tags=["routing rules"])

Reader = Annotated[Principal, require("read:rules")]
Writer = Annotated[Principal, require("write:rules")]


@router.get("", responses=error_responses(401, 403), summary="List routing rules (priority order)")
def list_rules(session: SessionDep, principal: Reader) -> dict[str, Any]:
    rows = rules_store.list_rules(session, org_id=principal.org_id)
    return {"data": [rules_store.rule_view(row) for row in rows]}


@router.post("", status_code=201, responses=error_responses(400, 401, 403), summary="Create a routing rule")
def create_rule(spec: RuleSpec, session: SessionDep, audit: AuditDep, principal: Writer) -> dict[str, Any]:
    row = rules_store.create_rule(
        session,
        org_id=principal.org_id,
        spec=spec,
        actor=audit.actor,
        source_ip=audit.source_ip,
        request_id=audit.request_id,
    )
    return rules_store.rule_view(row)


@router.get("/{rule_id}", responses=error_responses(401, 403, 404), summary="One routing rule")
def get_rule(rule_id: uuid.UUID, session: SessionDep, principal: Reader) -> dict[str, Any]:
    return rules_store.rule_view(rules_store.get_rule(session, org_id=principal.org_id, rule_id=rule_id))


@router.patch("/{rule_id}", responses=error_responses(400, 401, 403, 404), summary="Change a routing rule")
def update_rule(
    rule_id: uuid.UUID,
    session: SessionDep,
    audit: AuditDep,
    principal: Writer,
    patch: Annotated[dict[str, Any], Body(description="the fields to change; the merged rule must validate")],
) -> dict[str, Any]:
    row = rules_store.update_rule(
        session,
        org_id=principal.org_id,
        rule_id=rule_id,
        patch=patch,
        actor=audit.actor,
        source_ip=audit.source_ip,
        request_id=audit.request_id,
    )
    return rules_store.rule_view(row)


@router.delete("/{rule_id}", status_code=204, response_class=Response, responses=error_responses(401, 403, 404))
def delete_rule(rule_id: uuid.UUID, session: SessionDep, audit: AuditDep, principal: Writer) -> Response:
    rules_store.delete_rule(
        session,
        org_id=principal.org_id,
        rule_id=rule_id,
        actor=audit.actor,
        source_ip=audit.source_ip,
        request_id=audit.request_id,
    )
    return Response(status_code=204)
