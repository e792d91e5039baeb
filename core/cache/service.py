"""The gateway's response cache: exact match (in-process LRU, write-through to `response_cache`), then an
opt-in semantic match (pgvector cosine within the request's scope, confirmed by the verifier).

    cache = ResponseCache(db, embedder=get_embedder())
    hit = cache.lookup(org_id=…, model=…, messages=…, params=…, task_type=…, semantic_threshold=0.92)
    …
    cache.store(org_id=…, …, response=body, input_tokens=…, output_tokens=…, cost=…)
    cache.store_many([Answer(…), …])  # a batch in one statement (the gateway's background writes)

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

__all__ = ["DEFAULT_SIMILARITY_THRESHOLD", "Answer", "CacheHit", "ResponseCache", "cacheable", "ttl_for"]

# One statement for a batch of answers (a worker thread stores what the gateway answered since its last write).
_UPSERT = text("""
INSERT INTO response_cache (organization_id, cache_key, model, system_prompt_hash, task_type, prompt_text,
                            embedding, response, input_tokens, output_tokens, cost, expires_at)
SELECT v.org, v.key, v.model, v.scope, v.task_type, v.prompt, CAST(v.embedding AS vector), CAST(v.response AS jsonb),
       v.input_tokens, v.output_tokens, v.cost, now() + make_interval(secs => v.ttl)
FROM unnest(CAST(:org AS uuid[]), CAST(:key AS text[]), CAST(:model AS text[]), CAST(:scope AS text[]),
            CAST(:task_type AS text[]), CAST(:prompt AS text[]), CAST(:embedding AS text[]),
            CAST(:response AS text[]), CAST(:input_tokens AS bigint[]), CAST(:output_tokens AS bigint[]),
            CAST(:cost AS numeric[]), CAST(:ttl AS float8[]))
     AS v(org, key, model, scope, task_type, prompt, embedding, response, input_tokens, output_tokens, cost, ttl)
ON CONFLICT (organization_id, cache_key) DO UPDATE SET
    response = EXCLUDED.response, embedding = EXCLUDED.embedding, prompt_text = EXCLUDED.prompt_text,
    task_type = EXCLUDED.task_type, input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
    cost = EXCLUDED.cost, expires_at = EXCLUDED.expires_at, created_at = now(), hit_count = 0, last_hit_at = NULL
RETURNING organization_id, cache_key, id, expires_at
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
class Answer:
    """One answer to store: the request (org, model, messages, params, task type), the response and its usage.
    `ttl_seconds` overrides the task type's TTL (a routing rule's `cache_ttl_seconds`)."""

    org_id: uuid.UUID
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    task_type: str | None
    response: dict[str, Any]
    input_tokens: int
    output_tokens: int
    cost: Decimal | None
    ttl_seconds: float | None = None


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
        return LocalEntry.of(entry_id=row.id, response=row.response, cost=row.cost, expires_at=row.expires_at)

    def _load_org(self, org_id: uuid.UUID) -> None:
        with self._db.engine.connect() as conn:
            keys = list(conn.execute(_ORG_KEYS, {"org": org_id}).scalars())
        self._local.load_org(org_id, keys)

    # --- store ---------------------------------------------------------------------------------------------

    def store(self, *, org_id: uuid.UUID, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
              task_type: str | None, response: dict[str, Any], input_tokens: int, output_tokens: int,
              cost: Decimal | None, ttl_seconds: float | None = None) -> None:  # fmt: skip
        """Write an answer through to the table and the local LRU (a no-op for never-cacheable requests)."""
        self.store_many([Answer(org_id, model, messages, params, task_type, response, input_tokens, output_tokens,
                                cost, ttl_seconds)])  # fmt: skip

    def store_many(self, answers: list[Answer]) -> int:
        """Write answers through to the table (one statement, one transaction) and the local LRU; never-cacheable
        ones are skipped, a repeated key keeps its last answer. Returns how many rows were written."""
        rows: dict[tuple[uuid.UUID, str], tuple[Answer, dict[str, Any]]] = {}
        for answer in answers:
            if cacheable(answer.task_type, answer.params):
                values = self._row(answer)
                rows[(answer.org_id, values["key"])] = (answer, values)
        if not rows:
            return 0
        columns = ("org", "key", "model", "scope", "task_type", "prompt", "embedding", "response",
                   "input_tokens", "output_tokens", "cost", "ttl")  # fmt: skip
        params = {name: [values[name] for _, values in rows.values()] for name in columns}  # one array per column
        with self._db.engine.begin() as conn:
            stored = conn.execute(_UPSERT, params).all()
        for row in stored:
            answer, _ = rows[(row.organization_id, row.cache_key)]
            entry = LocalEntry.of(entry_id=row.id, response=answer.response, cost=answer.cost,
                                  expires_at=row.expires_at)  # fmt: skip
            self._local.put(row.organization_id, row.cache_key, entry)
        return len(stored)

    def _row(self, answer: Answer) -> dict[str, Any]:
        model, messages, params = answer.model, answer.messages, answer.params
        _, prompt = split_last_user(messages)
        embedding = self._semantic.embedding_literal(prompt) if self._semantic is not None and prompt else None
        ttl = answer.ttl_seconds if answer.ttl_seconds is not None else ttl_for(answer.task_type).total_seconds()
        return {
            "org": answer.org_id, "key": exact_key(model=model, messages=messages, params=params), "model": model,
            "scope": scope_hash(model=model, messages=messages, params=params), "task_type": answer.task_type,
            "prompt": prompt, "embedding": embedding, "response": _json(answer.response),
            "input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens, "cost": answer.cost,
            "ttl": float(ttl),
        }  # fmt: skip

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
