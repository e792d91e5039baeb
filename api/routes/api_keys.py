"""API keys: `GET /api/v1/api-keys` (list), `POST` (create: the secret is shown once), `DELETE /{key_id}` (revoke).

A key may only create or revoke keys whose role has no more permissions than its own (an admin cannot mint or
revoke an owner key). Revocation is immediate in this process (KeyResolver.forget) and within the resolver's
TTL elsewhere. Both changes are audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditDep, ResolverDep, SessionDep, require
from api.errors import error_responses
from core.errors import PermissionDenied
from core.orgs.auth import Principal
from core.orgs.models import ApiKey
from core.orgs.permissions import grantable_roles
from core.orgs.service import get_key, issue_key, list_keys, revoke_key

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])

Role = Literal["owner", "admin", "member", "viewer", "billing"]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role = "member"
    scope: Literal["full", "ingest"] = "full"
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str | None
    key_prefix: str = Field(description="the first characters of the secret, to recognise it")
    role: Role
    scope: Literal["full", "ingest"]
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class IssuedKeyOut(KeyOut):
    api_key: str = Field(description="the secret: shown this once, stored only as a hash")


class KeyList(BaseModel):
    data: list[KeyOut]


Reader = Annotated[Principal, require("read:api-keys")]
Writer = Annotated[Principal, require("write:api-keys")]


def key_json(key: ApiKey) -> dict[str, Any]:
    names = ("id", "name", "key_prefix", "role", "scope", "created_by", "created_at", "last_used_at", "expires_at",
             "revoked_at")  # fmt: skip
    return {name: getattr(key, name) for name in names}


def _audit(key: ApiKey) -> dict[str, Any]:
    revoked = key.revoked_at.isoformat() if key.revoked_at else None
    return {"name": key.name, "key_prefix": key.key_prefix, "role": key.role, "scope": key.scope,
            "created_by": key.created_by, "revoked_at": revoked}  # fmt: skip


def _check_role(principal: Principal, role: str, verb: str) -> None:
    if role not in grantable_roles(role=principal.role):
        raise PermissionDenied(f"role {principal.role!r} may not {verb} a key of role {role!r}")


@router.get("", response_model=KeyList, responses=error_responses(401, 403), summary="List API keys")
def list_api_keys(session: SessionDep, principal: Reader) -> dict[str, Any]:
    return {"data": [key_json(key) for key in list_keys(session, org_id=principal.org_id)]}


@router.post("", status_code=201, response_model=IssuedKeyOut, responses=error_responses(401, 403))
def create_api_key(body: KeyIn, session: SessionDep, audit: AuditDep, principal: Writer) -> dict[str, Any]:
    _check_role(principal, body.role, "create")
    issued = issue_key(session, org_id=principal.org_id, role=body.role, scope=body.scope, name=body.name)
    key = get_key(session, org_id=principal.org_id, key_id=issued.id)
    key.created_by = str(principal.key_id)
    session.flush()
    session.refresh(key)
    audit.record(session, action="key.create", resource_type="api_key", resource_id=str(key.id), after=_audit(key))
    return {**key_json(key), "api_key": issued.secret}


@router.delete("/{key_id}", status_code=204, response_class=Response, responses=error_responses(401, 403, 404))
def revoke_api_key(
    key_id: uuid.UUID,
    session: SessionDep,
    audit: AuditDep,
    resolver: ResolverDep,
    background: BackgroundTasks,
    principal: Writer,
) -> Response:
    key = get_key(session, org_id=principal.org_id, key_id=key_id)
    _check_role(principal, key.role, "revoke")
    before = _audit(key)
    key = revoke_key(session, org_id=principal.org_id, key_id=key_id)
    audit.record(session, action="key.revoke", resource_type="api_key", resource_id=str(key_id), before=before,
                 after=_audit(key))  # fmt: skip
    resolver.forget(key_id)
    background.add_task(resolver.forget, key_id)  # again once committed: no stale cache entry survives
    return Response(status_code=204)
