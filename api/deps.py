"""FastAPI dependencies: the ONE place that authenticates, authorizes and scopes every query to the key's org.

How to use them in a route module (each module exposes `router: APIRouter`; create_app includes it)::

    from api.deps import AuditDep, PrincipalDep, SessionDep, require
    from api.errors import error_responses

    router = APIRouter(prefix="/api/v1/things", tags=["things"])

    @router.get("", responses=error_responses(401, 403))
    def list_things(session: SessionDep, principal: Annotated[Principal, require("read:things")]) -> ...:
        # `session` is one transaction for the request, already scoped to principal.org_id (the org filter
        # still belongs in every query: `WHERE organization_id = principal.org_id`; Postgres row-level
        # security is the second wall). Raise core.errors.NotFound for another org's id (404, never 403).
        ...

    @router.post("", responses=error_responses(401, 403, 409))
    def create_thing(session: SessionDep, audit: AuditDep, principal: Annotated[Principal, require("write:x")]):
        ...
        audit.record(session, action="thing.create", resource_type="thing", resource_id=str(row.id), after={...})

- `PrincipalDep`: the caller's key (org, role, scope), resolved through the app's cached KeyResolver from
  `Authorization: Bearer <key>`. 401 without a valid key; 403 for an ingest-scope key (those may only call
  the track endpoint and the gateway: use `require("write:usage")` / `require("use:gateway")` there).
- `require(permission)`: a `Depends` that checks the role → permission matrix of core/orgs/permissions.py and
  returns the Principal (403 otherwise). Ingest-scope keys pass only for INGEST_PERMISSIONS.
- `SessionDep`: a SQLAlchemy Session in one transaction, committed before the response is sent, rolled back
  on any error; `tokentra.org_id` is set and (when migration 0006's role exists) the session runs as the
  non-owner role `tokentra_app`, so row-level security hides every other org's rows. Full-scope keys only.
- `DatabaseDep` (the core.db.Database, e.g. for COPY ingest), `ResolverDep`, `SettingsDep`: app singletons
  built at start-up. `org_session(db, org_id, rls=...)` opens the same scoped transaction by hand (for code
  that authenticates with `require` but cannot take SessionDep, e.g. streaming responses).
- `AuditDep`: who (key id), from where (client IP) and which request (X-Request-ID) for audit entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.audit.context import Actor
from core.config import Settings
from core.db import Database
from core.errors import PermissionDenied, Unauthenticated
from core.orgs.auth import KeyResolver, Principal
from core.orgs.permissions import allows

APP_ROLE = "tokentra_app"

_bearer = HTTPBearer(auto_error=False, description="An org API key: `Authorization: Bearer tt_live_…`")


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_resolver(request: Request) -> KeyResolver:
    resolver: KeyResolver = request.app.state.resolver
    return resolver


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
ResolverDep = Annotated[KeyResolver, Depends(get_resolver)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def authenticate(
    request: Request,
    resolver: ResolverDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The key's principal, whatever its scope (routes use PrincipalDep or require(), never this directly)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("missing API key: send Authorization: Bearer <key>")
    principal = resolver.resolve(credentials.credentials)
    request.state.principal = principal
    return principal


def full_principal(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if principal.scope == "ingest":
        raise PermissionDenied("an ingest-scope key may only call the track endpoint and the gateway")
    return principal


PrincipalDep = Annotated[Principal, Depends(full_principal)]


def require(permission: str) -> Any:
    """`Depends` returning the Principal when its role (and scope) allows `permission`, else 403."""
    allows(role="owner", scope="full", permission=permission)  # an unknown permission fails at import time

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not allows(role=principal.role, scope=principal.scope, permission=permission):
            who = "an ingest-scope key" if principal.scope == "ingest" else f"role {principal.role!r}"
            raise PermissionDenied(f"{who} does not have permission {permission}")
        return principal

    check.__name__ = f"require_{permission.replace(':', '_').replace('-', '_')}"
    return Depends(check)


def role_in(*roles: str) -> Any:
    """`Depends` returning the Principal when its role is one of `roles` (full-scope keys only)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise PermissionDenied(f"role {principal.role!r} may not do this (needs {' or '.join(roles)})")
        return principal

    return Depends(check)


@contextmanager
def org_session(db: Database, org_id: uuid.UUID, *, rls: bool) -> Iterator[Session]:
    """One transaction scoped to org_id: `tokentra.org_id` set and, with rls, running as the RLS-bound role."""
    with db.session() as session:
        session.execute(text("SELECT set_config('tokentra.org_id', :org, true)"), {"org": str(org_id)})
        if rls:
            session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        yield session


def _session(request: Request, db: DatabaseDep, principal: PrincipalDep) -> Iterator[Session]:
    with org_session(db, principal.org_id, rls=bool(getattr(request.app.state, "rls", False))) as session:
        yield session


# scope="function": the transaction commits when the endpoint returns, before the response is sent.
SessionDep = Annotated[Session, Depends(_session, scope="function")]


Auditor = Actor  # audit.record(session, action=..., resource_type=..., resource_id=..., before=..., after=...)


def get_auditor(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> Actor:
    client = request.client.host if request.client else None
    request_id = getattr(request.state, "request_id", None)
    return Actor(org_id=principal.org_id, actor=str(principal.key_id), source_ip=client, request_id=request_id)


AuditDep = Annotated[Actor, Depends(get_auditor)]
