"""Resolving an API key secret to the principal it stands for: its org, role and scope.

`KeyResolver` keeps recently seen keys in memory for a few seconds so hot paths (the gateway, the track
endpoint) do not pay a database round trip per request; revoking a key calls `forget` on this process's
resolver, and other processes see the revocation within the TTL.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from core.db import Database
from core.errors import Unauthenticated
from core.orgs.models import ApiKey
from core.orgs.service import KEY_PREFIX, hash_key


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    org_id: uuid.UUID
    role: str
    scope: str


def lookup_key(db: Database, secret: str) -> Principal:
    """The principal of a live key; Unauthenticated for an unknown, revoked or expired one."""
    if not secret.startswith(KEY_PREFIX):
        raise Unauthenticated("invalid API key")
    with db.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
        if key is None or key.revoked_at is not None:
            raise Unauthenticated("invalid or revoked API key")
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise Unauthenticated("API key expired")
        return Principal(key_id=key.id, org_id=key.organization_id, role=key.role, scope=key.scope)


class KeyResolver:
    """lookup_key with a short in-process cache (positive and negative answers)."""

    def __init__(self, db: Database, *, ttl_seconds: float = 5.0) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def resolve(self, secret: str) -> Principal:
        digest = hash_key(secret)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            if cached[1] is None:
                raise Unauthenticated("invalid or revoked API key")
            return cached[1]
        try:
            principal: Principal | None = lookup_key(self._db, secret)
        except Unauthenticated:
            principal = None
        with self._lock:
            self._cache[digest] = (now + self._ttl, principal)
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        return principal

    def forget(self, key_id: uuid.UUID) -> None:
        with self._lock:
            self._cache = {d: v for d, v in self._cache.items() if v[1] is None or v[1].key_id != key_id}
