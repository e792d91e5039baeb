"""The response cache against the real database: exact hits, scoping, TTLs, never-cache types, other processes
(a second ResponseCache on the same table), hit counting and semantic matches through pgvector."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from core.cache.service import ResponseCache
from core.routing.embeddings import HashingEmbedder, MiniLMEmbedder, minilm_dir

MODEL = "gpt-4o-mini"
BODY = {"id": "chatcmpl-1", "choices": [{"message": {"role": "assistant", "content": "Paris."}}]}


def ask(question: str, system: str = "You are terse.") -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def put(cache: ResponseCache, org_id: Any, messages: list[dict[str, Any]], **extra: Any) -> None:
    options: dict[str, Any] = {"model": MODEL, "params": {"temperature": 0}, "task_type": "faq"} | extra
    cache.store(org_id=org_id, messages=messages, response=BODY, input_tokens=12, output_tokens=3,
                cost=Decimal("0.000123"), **options)  # fmt: skip


def get(cache: ResponseCache, org_id: Any, messages: list[dict[str, Any]], **extra: Any) -> Any:
    options: dict[str, Any] = {"model": MODEL, "params": {"temperature": 0}, "task_type": "faq"} | extra
    return cache.lookup(org_id=org_id, messages=messages, **options)


def test_exact_hit_is_scoped_by_org_model_system_prompt_and_params(db, make_org):
    org, other = make_org(), make_org()
    cache = ResponseCache(db, sync_seconds=0)
    put(cache, org.id, ask("What is the capital of France?"))
    hit = get(cache, org.id, ask("What is the capital of France?"))
    assert hit is not None
    assert (hit.kind, hit.similarity, hit.saved_cost, hit.response) == ("exact", 1.0, Decimal("0.000123"), BODY)
    assert get(cache, other.id, ask("What is the capital of France?")) is None
    assert get(cache, org.id, ask("What is the capital of France?"), model="gpt-4o") is None
    assert get(cache, org.id, ask("What is the capital of France?", system="Answer in French.")) is None
    assert get(cache, org.id, ask("What is the capital of France?"), params={"temperature": 0, "max_tokens": 5}) is None
    # transport-only parameters do not change the key
    assert get(cache, org.id, ask("What is the capital of France?"), params={"temperature": 0, "user": "u1"})


def test_never_cache_types_and_streaming_are_neither_stored_nor_served(db, org):
    cache = ResponseCache(db, sync_seconds=0)
    put(cache, org.id, ask("Solve 2x + 3 = 7"), task_type="math")
    put(cache, org.id, ask("Tell me a poem"), params={"stream": True})
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM response_cache WHERE organization_id = :o"), {"o": org.id})
        assert stored.scalar_one() == 0
    put(cache, org.id, ask("Solve 2x + 3 = 7"), task_type="faq")
    assert get(cache, org.id, ask("Solve 2x + 3 = 7"), task_type="math") is None


def test_entry_expires_after_the_task_type_ttl(db, org):
    cache = ResponseCache(db, sync_seconds=0)
    put(cache, org.id, ask("hi there"), task_type="greeting")
    with db.engine.connect() as conn:
        ttl = conn.execute(
            text("SELECT extract(epoch FROM expires_at - created_at) FROM response_cache WHERE organization_id = :o"),
            {"o": org.id},
        ).scalar_one()
    assert 59 <= float(ttl) <= 61
    with db.engine.begin() as conn:  # time passes: the stored entry has expired
        conn.execute(text("UPDATE response_cache SET expires_at = now() - interval '1 second' "
                          "WHERE organization_id = :o"), {"o": org.id})  # fmt: skip
    fresh = ResponseCache(db, sync_seconds=0)
    assert get(fresh, org.id, ask("hi there"), task_type="greeting") is None


def test_another_process_sees_stores_and_hits_are_counted(db, org):
    writer, reader = ResponseCache(db, sync_seconds=0), ResponseCache(db, sync_seconds=0)
    assert get(reader, org.id, ask("Where is Oslo?")) is None  # the reader now tracks this org's keys
    put(writer, org.id, ask("Where is Oslo?"))
    hit = get(reader, org.id, ask("Where is Oslo?"))
    assert hit is not None
    assert hit.kind == "exact"
    assert get(reader, org.id, ask("Where is Oslo?")) is not None  # from the reader's own LRU now
    reader.flush()
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT hit_count, last_hit_at FROM response_cache WHERE id = :i"),
                           {"i": hit.entry_id}).one()  # fmt: skip
    assert row.hit_count == 2
    assert row.last_hit_at <= datetime.now(UTC)


def test_invalidate_removes_entries(db, org):
    cache = ResponseCache(db, sync_seconds=0)
    put(cache, org.id, ask("What is 2+2?"))
    assert cache.invalidate(org_id=org.id, model=MODEL) == 1
    assert get(cache, org.id, ask("What is 2+2?")) is None


@pytest.fixture(scope="module")
def embedder() -> Any:
    folder = minilm_dir()
    return MiniLMEmbedder(folder) if folder is not None else HashingEmbedder()


def test_semantic_hit_only_when_opted_in_and_for_the_same_question(db, org, embedder):
    cache = ResponseCache(db, embedder=embedder, sync_seconds=0)
    put(cache, org.id, ask("How can I learn Python quickly?"))
    paraphrase = ask("What is the fastest way to learn Python?")
    assert get(cache, org.id, paraphrase) is None  # no threshold given: exact only
    hit = get(cache, org.id, paraphrase, semantic_threshold=0.5)
    if embedder.name == "hashing":
        pytest.skip("semantic paraphrase needs the MiniLM package")
    assert hit is not None
    assert hit.kind == "semantic"
    assert 0.5 <= hit.similarity < 1.0
    assert get(cache, org.id, ask("How can I learn Java quickly?"), semantic_threshold=0.5) is None
    assert get(cache, org.id, ask("What is the capital of Peru?"), semantic_threshold=0.5) is None
    # another scope (system prompt) never matches semantically
    assert get(cache, org.id, ask("What is the fastest way to learn Python?", system="Be verbose."),
               semantic_threshold=0.5) is None  # fmt: skip
