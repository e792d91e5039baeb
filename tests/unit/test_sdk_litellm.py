"""tokentra_sdk.litellm.TokenTRACallback: real litellm calls to a fake OpenAI-compatible server, usage recorded
to a real TokenTRA app over HTTP (success, async, streaming and failure hooks)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from fake_providers import FakeProviders
from ingest_support import serve, tenant_factory_fixture, tokentra_url_fixture  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def providers():
    fake = FakeProviders()
    with serve(fake.app) as url:
        fake.url = url
        yield fake


def stored(db, org_id):
    with db.connect_raw() as conn:
        cursor = conn.execute("SELECT * FROM usage_events WHERE organization_id = %s ORDER BY timestamp", (org_id,))
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]


def wait_for(recorder, count, timeout=20.0):
    deadline = time.monotonic() + timeout
    while recorder.stats.recorded + recorder.stats.errors < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.flush(10)


def test_litellm_callback_records_every_call(providers, tokentra_url, tenant_factory, db):
    import litellm

    from tokentra_sdk.litellm import TokenTRACallback

    tenant = tenant_factory()
    callback = TokenTRACallback(api_key=tenant.keys["ingest"], base_url=tokentra_url, team="agents")
    saved = list(litellm.callbacks)
    litellm.callbacks = [callback]
    common = {"api_base": f"{providers.url}/v1", "api_key": "sk-fake", "num_retries": 0}
    try:
        reply = litellm.completion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            metadata={"tokentra": {"feature": "triage", "user_id": "u-7"}},
            **common,
        )
        assert reply.choices[0].message.content == "hello"
        chunks = list(
            litellm.completion(
                model="openai/gpt-4o-mini",
                stream=True,
                stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "hi"}],
                **common,
            )
        )
        assert chunks

        async def async_call():
            await litellm.acompletion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "a"}], **common)
            await asyncio.sleep(1.0)  # LiteLLM runs its async success hooks as tasks on this (still open) loop

        asyncio.run(async_call())
        providers.fail_next.append(429)
        with pytest.raises(litellm.RateLimitError):
            litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "b"}], **common)
        wait_for(callback.recorder, 4)
    finally:
        litellm.callbacks = saved
    events = stored(db, tenant.id)
    assert callback.recorder.stats.rejected == 0, callback.recorder.stats
    assert len(events) == 4, (callback.recorder.stats, [(e["request_id"], e["streaming"], e["status"]) for e in events])
    ok = [e for e in events if e["status"] == "success"]
    assert len(ok) == 3
    assert all((e["provider"], e["input_tokens"], e["cache_read_tokens"]) == ("openai", 1200, 1024) for e in ok)
    assert all(e["team"] == "agents" and e["cost"] is not None for e in ok)
    first = ok[0]
    assert (first["feature"], first["user_id"], first["model"]) == ("triage", "u-7", "gpt-4o-mini-2024-07-18")
    assert any(e["streaming"] for e in ok)
    [error] = [e for e in events if e["status"] == "error"]
    assert error["error_code"] == "rate_limited"
