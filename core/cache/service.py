"""The gateway's response cache: exact match (in-process LRU, write-through to `response_cache`), then an
opt-in semantic match (pgvector cosine within the request's scope, confirmed by the verifier).

    cache = ResponseCache(db, embedder=get_embedder())
    hit = cache.lookup(org_id=…, model=…, messages=…, params=…, task_type=…, semantic_threshold=0.92)
    …
    cache.store(org_id=…, …, response=body, input_tokens=…, output_tokens=…, cost=…)

Across processes: every store writes the table (the source of truth) and the local LRU. A lookup answers
from the LRU, else asks the table only when this process's key set for the org says the key may be stored
there (see local.py); key sets catch up with other processes' stores every `sync_seconds`. Hit counts are
buffered and written with that same poll. `invalidate` deletes rows and this process's copies; other
processes drop theirs when their copy expires (entries are immutable until then).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from core.cache.keys import (
    DEFAULT_SIMILARITY_THRESHOLD,
    MIN_SIMILARITY_THRESHOLD,
    cacheable,
    exact_key,
    scope_hash,
    split_last_user,
    ttl_for,
)
from core.cache.local import LocalCache, LocalEntry
from core.cache.semantic import SemanticIndex
from core.db import Database
from core.routing.embeddings import Embedder

__all__ = ["DEFAULT_SIMILARITY_THRESHOLD", "CacheHit", "ResponseCache", "cacheable", "ttl_for"]

_UPSERT = text("""
INSERT INTO response_cache (organization_id, cache_key, model, system_prompt_hash, task_type, prompt_text,
                            embedding, response, input_tokens, output_tokens, cost, expires_at)
VALUES (:org, :key, :model, :scope, :task_type, :prompt, CAST(:embedding AS vector), CAST(:response AS jsonb),
        :input_tokens, :output_tokens, :cost, now() + make_interval(secs => :ttl))
ON CONFLICT (organization_id, cache_key) DO UPDATE SET
    response = EXCLUDED.response, embedding = EXCLUDED.embedding, prompt_text = EXCLUDED.prompt_text,
    task_type = EXCLUDED.task_type, input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
    cost = EXCLUDED.cost, expires_at = EXCLUDED.expires_at, created_at = now(), hit_count = 0, last_hit_at = NULL
RETURNING id, expires_at
""")
_FETCH = text("SELECT id, response, cost, expires_at FROM response_cache "
              "WHERE organization_id = :org AND cache_key = :key AND expires_at > now()")  # fmt: skip
_ORG_KEYS = text("SELECT cache_key FROM response_cache WHERE organization_id = :org AND expires_at > now()")
_SINCE = text("SELECT organization_id, cache_key FROM response_cache "
              "WHERE organization_id = ANY(:orgs) AND created_at >= :since")  # fmt: skip
_HITS = text("""
UPDATE response_cache c SET hit_count = c.hit_count + h.n, last_hit_at = greatest(c.last_hit_at, h.at)
FROM unnest(CAST(:ids AS uuid[]), CAST(:ns AS int[]), CAST(:ats AS timestamptz[])) AS h(id, n, at)
WHERE c.id = h.id
""")
# Rows become visible at commit but carry their transaction's start time: re-read this much before the last poll.
SYNC_OVERLAP = timedelta(seconds=30)


@dataclass(frozen=True)
class CacheHit:
    response: dict[str, Any]
    kind: str  # "exact" | "semantic"
    similarity: float
    saved_cost: Decimal | None
    entry_id: uuid.UUID


class ResponseCache:
    def __init__(self, db: Database, *, embedder: Embedder | None = None, max_local_entries: int = 10_000,
                 sync_seconds: float = 1.0) -> None:  # fmt: skip
        self._db = db
        self._local = LocalCache(max_entries=max_local_entries)
        self._semantic = SemanticIndex(embedder) if embedder is not None else None
        self._sync_seconds = sync_seconds
        self._lock = threading.Lock()
        self._next_sync = 0.0
        self._synced_at: datetime | None = None  # the database's clock at the last poll
        self._hits: dict[uuid.UUID, tuple[int, datetime]] = {}

    # --- lookup --------------------------------------------------------------------------------------------

    def lookup(self, *, org_id: uuid.UUID, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
               task_type: str | None, semantic_threshold: float | None = None) -> CacheHit | None:  # fmt: skip
        """The cached answer to this request, or None. Never-cacheable requests always miss."""
        if not cacheable(task_type, params):
            return None
        key = exact_key(model=model, messages=messages, params=params)
        hit = self._exact(org_id, key)
        if hit is not None or semantic_threshold is None or self._semantic is None:
            return hit
        _, prompt = split_last_user(messages)
        if prompt is None:
            return None
        threshold = min(max(semantic_threshold, MIN_SIMILARITY_THRESHOLD), 1.0)
        scope = scope_hash(model=model, messages=messages, params=params)
        with self._db.engine.connect() as conn:
            match = self._semantic.search(conn, org_id=org_id, model=model, scope=scope, prompt=prompt,
                                          threshold=threshold)  # fmt: skip
        if match is None:
            return None
        self._count_hit(match.entry_id)
        return CacheHit(response=match.response, kind="semantic", similarity=match.similarity,
                        saved_cost=match.cost, entry_id=match.entry_id)  # fmt: skip

    def _exact(self, org_id: uuid.UUID, key: str) -> CacheHit | None:
        entry = self._local.get(org_id, key, datetime.now(UTC))
        if entry is None:
            self._maybe_sync()
            if not self._local.knows_org(org_id):
                self._load_org(org_id)
            if not self._local.may_hold(org_id, key):
                return None
            entry = self._fetch(org_id, key)
            if entry is None:
                self._local.drop(org_id, key)
                return None
            self._local.put(org_id, key, entry)
        self._count_hit(entry.entry_id)
        return CacheHit(response=entry.response, kind="exact", similarity=1.0, saved_cost=entry.cost,
                        entry_id=entry.entry_id)  # fmt: skip

    def _fetch(self, org_id: uuid.UUID, key: str) -> LocalEntry | None:
        with self._db.engine.connect() as conn:
            row = conn.execute(_FETCH, {"org": org_id, "key": key}).first()
        if row is None:
            return None
        return LocalEntry(entry_id=row.id, response=row.response, cost=row.cost, expires_at=row.expires_at)

    def _load_org(self, org_id: uuid.UUID) -> None:
        with self._db.engine.connect() as conn:
            keys = list(conn.execute(_ORG_KEYS, {"org": org_id}).scalars())
        self._local.load_org(org_id, keys)

    # --- store ---------------------------------------------------------------------------------------------

    def store(self, *, org_id: uuid.UUID, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
              task_type: str | None, response: dict[str, Any], input_tokens: int, output_tokens: int,
              cost: Decimal | None) -> None:  # fmt: skip
        """Write an answer through to the table and the local LRU (a no-op for never-cacheable requests)."""
        if not cacheable(task_type, params):
            return
        key = exact_key(model=model, messages=messages, params=params)
        _, prompt = split_last_user(messages)
        embedding = self._semantic.embedding_literal(prompt) if self._semantic is not None and prompt else None
        values = {
            "org": org_id, "key": key, "model": model, "task_type": task_type, "prompt": prompt,
            "scope": scope_hash(model=model, messages=messages, params=params), "embedding": embedding,
            "response": _json(response), "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cost": cost, "ttl": ttl_for(task_type).total_seconds(),
        }  # fmt: skip
        with self._db.engine.begin() as conn:
            row = conn.execute(_UPSERT, values).one()
        self._local.put(org_id, key, LocalEntry(entry_id=row.id, response=response, cost=cost,
                                                expires_at=row.expires_at))  # fmt: skip

    def invalidate(self, *, org_id: uuid.UUID, model: str | None = None) -> int:
        """Delete an org's entries (of one model, or all); returns how many rows went."""
        query = "DELETE FROM response_cache WHERE organization_id = :org"
        if model is not None:
            query += " AND model = :model"
        with self._db.engine.begin() as conn:
            deleted = conn.execute(text(query), {"org": org_id, "model": model}).rowcount
        self._local.drop_org(org_id)
        return int(deleted)

    # --- background bookkeeping, done inline at most every sync_seconds --------------------------------------

    def _count_hit(self, entry_id: uuid.UUID) -> None:
        with self._lock:
            count, _ = self._hits.get(entry_id, (0, datetime.now(UTC)))
            self._hits[entry_id] = (count + 1, datetime.now(UTC))

    def _maybe_sync(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next_sync:
                return
            self._next_sync = now + self._sync_seconds
            hits, self._hits = self._hits, {}
            since = self._synced_at
        self.sync(hits=hits, since=since)

    def sync(self, *, hits: dict[uuid.UUID, tuple[int, datetime]] | None = None,
             since: datetime | None = None) -> None:  # fmt: skip
        """Write buffered hit counts and learn the keys other processes stored since the last poll."""
        if hits is None:
            with self._lock:
                hits, self._hits = self._hits, {}
        with self._db.engine.begin() as conn:
            if hits:
                self._write_hits(conn, hits)
            db_now: datetime = conn.execute(text("SELECT now()")).scalar_one()
            orgs = self._local.loaded_orgs()
            if since is not None and orgs:
                rows = conn.execute(_SINCE, {"orgs": orgs, "since": since - SYNC_OVERLAP}).all()
                self._local.add_keys([(row.organization_id, row.cache_key) for row in rows])
        with self._lock:
            self._synced_at = db_now

    @staticmethod
    def _write_hits(conn: Connection, hits: dict[uuid.UUID, tuple[int, datetime]]) -> None:
        ids = list(hits)
        conn.execute(_HITS, {"ids": ids, "ns": [hits[i][0] for i in ids], "ats": [hits[i][1] for i in ids]})

    def flush(self) -> None:
        """Write buffered hit counts now (tests, shutdown)."""
        self.sync()


def _json(value: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(value).decode()
