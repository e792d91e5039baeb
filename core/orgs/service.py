"""Creating organizations and API keys. A key's secret is returned once and stored only as a hash."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.orgs.models import ApiKey, Organization
from core.usage.models import UsageEventRow, UsageRequestKey, UsageRollupDaily, UsageRollupHourly

ROLES = ("owner", "admin", "member", "viewer", "billing")
SCOPES = ("full", "ingest")
KEY_PREFIX = "tt_live_"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class IssuedKey:
    id: uuid.UUID
    secret: str
    role: str
    scope: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_org(session: Session, *, slug: str, name: str | None = None, is_system: bool = False) -> Organization:
    if not _SLUG.match(slug):
        raise InvalidInput("slug: 2-63 characters, lower-case letters, digits and dashes, starting alphanumeric")
    if session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
        raise Conflict(f"an organization with slug {slug!r} exists already")
    org = Organization(slug=slug, name=name or slug, is_system=is_system)
    session.add(org)
    session.flush()
    return org


def get_org(session: Session, slug: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound(f"no organization with slug {slug!r}")
    return org


def issue_key(
    session: Session, *, org_id: uuid.UUID, role: str, scope: str = "full", name: str | None = None
) -> IssuedKey:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        organization_id=org_id,
        name=name,
        key_prefix=secret[: len(KEY_PREFIX) + 6],
        key_hash=hash_key(secret),
        role=role,
        scope=scope,
    )
    session.add(key)
    session.flush()
    return IssuedKey(id=key.id, secret=secret, role=role, scope=scope)


def delete_org(session: Session, org_id: uuid.UUID) -> None:
    """Remove an org and everything it owns (usage tables are partitioned and carry no foreign key)."""
    for table in (UsageEventRow, UsageRequestKey, UsageRollupHourly, UsageRollupDaily):
        session.execute(delete(table).where(table.organization_id == org_id))
    session.execute(delete(Organization).where(Organization.id == org_id))


def list_keys(session: Session, *, org_id: uuid.UUID) -> list[ApiKey]:
    """An org's keys, newest first (revoked ones included, marked by revoked_at)."""
    query = select(ApiKey).where(ApiKey.organization_id == org_id).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return list(session.scalars(query))


def get_key(session: Session, *, org_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.organization_id == org_id, ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"no API key {key_id}")
    return key


def revoke_key(session: Session, *, org_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    """Mark a key of this org revoked (idempotent: revoking twice keeps the first time)."""
    key = get_key(session, org_id=org_id, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = session.scalar(select(func.now()))
        session.flush()
    return key
