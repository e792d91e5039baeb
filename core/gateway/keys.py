"""API keys on the gateway's hot path, without a database round trip on the event loop.

A key seen before is answered from memory; once its entry is older than `refresh_seconds` it is still answered
(a revocation takes effect within `refresh_seconds` plus one lookup) while a worker thread looks it up again
through the KeyResolver. A key never seen is looked up in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from core.errors import Unauthenticated
from core.orgs.auth import KeyResolver, Principal
from core.orgs.service import hash_key

MAX_KEYS = 100_000


class GatewayKeys:
    def __init__(self, resolver: KeyResolver, *, executor: ThreadPoolExecutor, refresh_seconds: float = 5.0) -> None:
        self._resolver = resolver
        self._executor = executor
        self._refresh = refresh_seconds
        self._known: dict[str, tuple[float, Principal | None]] = {}
        self._refreshing: set[str] = set()

    async def resolve(self, secret: str) -> Principal:
        digest = hash_key(secret)
        entry = self._known.get(digest)
        if entry is None:
            principal = await self._lookup(digest, secret)
        else:
            if entry[0] < time.monotonic() and digest not in self._refreshing:
                self._refreshing.add(digest)
                asyncio.get_running_loop().create_task(self._lookup(digest, secret))
            principal = entry[1]
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        return principal

    async def _lookup(self, digest: str, secret: str) -> Principal | None:
        try:
            principal: Principal | None = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._resolver.resolve, secret
            )
        except Unauthenticated:
            principal = None
        finally:
            self._refreshing.discard(digest)
        if len(self._known) >= MAX_KEYS:  # bounded: random keys must not grow it without limit
            self._known.clear()
        self._known[digest] = (time.monotonic() + self._refresh, principal)
        return principal
