"""The gateway's side of the response cache (core/cache/service.py): exact by default for non-streaming
requests, semantic when a routing rule turns it on with a threshold.

Lookups of the exact cache run inline (answered from the in-process LRU and per-org key set, core/cache/local);
semantic ones (an embedding and a pgvector query) in a worker thread. Fresh answers are written in batches by
the gateway's background loop; until written, this process answers repeats of the same request from memory.
The cache with an embedder is built on first use by a semantic rule, so exact-only traffic never pays for
embeddings.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from core.cache.keys import cacheable, exact_key
from core.db import Database
from core.gateway.call import Call, Usage
from core.metrics import GATEWAY_CACHE
from core.routing.embeddings import get_embedder

# ResponseCache polls other processes' new keys inline in a lookup every `sync_seconds`; the gateway builds it
# with this (never inline) and polls from its background loop instead (`poll`), off the request path.
BACKGROUND_ONLY = 10.0**9

if TYPE_CHECKING:  # the cache service is imported when the gateway first needs it
    from core.cache.service import Answer, CacheHit, ResponseCache


class GatewayCache:
    def __init__(self, db: Database, cache: ResponseCache | None, *, executor: ThreadPoolExecutor) -> None:
        self._db, self.exact, self._executor = db, cache, executor
        self._lookups = ThreadPoolExecutor(4, thread_name_prefix="tokentra-gateway-cache")
        self.semantic: ResponseCache | None = None
        self._recent: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
        self._writes: list[_Pending] = []
        self._polled_at: datetime | None = None

    def close(self) -> None:
        self._lookups.shutdown(wait=True)

    @staticmethod
    def _key_parts(call: Call) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        return call.choice.group, call.request.messages, call.request.body

    async def _semantic(self) -> ResponseCache:
        if self.semantic is None:
            from core.cache.service import ResponseCache

            embedder = await asyncio.get_running_loop().run_in_executor(self._executor, get_embedder)
            self.semantic = self.semantic or ResponseCache(self._db, embedder=embedder)
        return self.semantic

    async def lookup(self, call: Call) -> CacheHit | None:
        request = call.request
        if self.exact is None or "cache" in request.bypass or request.stream or not cacheable(None, request.body):
            return None
        call.cache_state = "miss"
        model, messages, params = self._key_parts(call)
        call.cache_key = exact_key(model=model, messages=messages, params=params)
        recent = self._recent.get((call.org_id, call.cache_key))
        if recent is not None:
            from core.cache.service import CacheHit

            return CacheHit(response=recent, kind="exact", similarity=1.0, saved_cost=None, entry_id=uuid.UUID(int=0))
        threshold = call.semantic_threshold
        cache = self.exact if threshold is None else await self._semantic()
        task_type = call.facts.classification.task_type if threshold is not None else None
        lookup = partial(
            cache.lookup,
            org_id=call.org_id,
            model=model,
            messages=messages,
            params=params,
            task_type=task_type,
            semantic_threshold=threshold,
        )
        if threshold is None:
            hit = lookup()
        else:
            hit = await asyncio.get_running_loop().run_in_executor(self._lookups, lookup)
        GATEWAY_CACHE.labels("hit" if hit is not None else "miss").inc()
        return hit

    def remember(self, call: Call, body: dict[str, Any], usage: Usage, cost: Decimal | None) -> None:
        """Queue a fresh answer for the next write; answer repeats from memory until then. A matching cache rule's
        `cache_ttl_seconds` decides how long the answer is kept (else the task type's TTL)."""
        if self.exact is None or call.cache_state != "miss":
            return
        model, messages, params = self._key_parts(call)
        key = (call.org_id, call.cache_key or exact_key(model=model, messages=messages, params=params))
        self._recent[key] = body
        cache = self.semantic if call.semantic_threshold is not None and self.semantic else self.exact
        rule = call.decision.cache
        ttl = rule.action.cache_ttl_seconds if rule is not None else None
        self._writes.append(_Pending(cache, call, key, body, usage, cost, ttl))

    async def write(self) -> None:
        """The answers remembered since the last write, stored in one worker-thread hop (one statement per cache)."""
        writes, self._writes = self._writes, []
        if writes:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._store, writes)

    def _store(self, writes: list[_Pending]) -> None:
        by_cache: dict[int, tuple[ResponseCache, list[_Pending]]] = {}
        for pending in writes:
            by_cache.setdefault(id(pending.cache), (pending.cache, []))[1].append(pending)
        try:
            for cache, items in by_cache.values():
                cache.store_many([item.answer() for item in items])
        finally:
            for pending in writes:
                self._recent.pop(pending.key, None)

    async def poll(self) -> None:
        """Learn the keys other processes stored since the last poll and write buffered hit counts."""
        started, since = datetime.now(UTC), self._polled_at
        loop = asyncio.get_running_loop()
        for cache in (self.exact, self.semantic):
            if cache is not None:
                await loop.run_in_executor(self._executor, partial(cache.sync, since=since))
        self._polled_at = started

    async def flush(self) -> None:
        await self.write()
        loop = asyncio.get_running_loop()
        for cache in (self.exact, self.semantic):
            if cache is not None:
                await loop.run_in_executor(self._executor, cache.flush)


@dataclass
class _Pending:
    """A fresh answer waiting for the background write."""

    cache: ResponseCache
    call: Call
    key: tuple[uuid.UUID, str]
    body: dict[str, Any]
    usage: Usage
    cost: Decimal | None
    ttl_seconds: int | None

    def answer(self) -> Answer:
        """The row to store; the prompt is classified here (in the worker thread, memoized on the call's facts)."""
        from core.cache.service import Answer

        call = self.call
        return Answer(
            org_id=call.org_id,
            model=call.choice.group,
            messages=call.request.messages,
            params=call.request.body,
            task_type=call.facts.classification.task_type,
            response=self.body,
            input_tokens=self.usage.input,
            output_tokens=self.usage.output,
            cost=self.cost,
            ttl_seconds=self.ttl_seconds,
        )
