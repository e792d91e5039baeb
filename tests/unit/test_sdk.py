"""tokentra_sdk.wrap with the real openai and anthropic SDKs against a fake provider server, recording to a real
TokenTRA app over HTTP; and TokenTRA down: the caller's calls are unaffected."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import anthropic
import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from fake_providers import FakeProviders
from ingest_support import serve, tenant_factory_fixture, tokentra_url_fixture  # noqa: F401  (fixtures)

import tokentra_sdk


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


def test_openai_sync_calls_are_recorded(providers, tokentra_url, tenant_factory, db):
    tenant = tenant_factory()
    client = tokentra_sdk.wrap(
        openai.OpenAI(api_key="sk-fake", base_url=f"{providers.url}/v1", max_retries=0),
        api_key=tenant.keys["ingest"],
        base_url=tokentra_url,
        team="search",
        feature="answers",
    )
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "hello"
    with tokentra_sdk.attributes(feature="streaming", user_id="u-1"):
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}]
            )
        )
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content] == ["hel", "lo"]
    assert all(c.choices for c in chunks)  # the usage chunk we asked for is not shown to the caller
    assert providers.requests[-1][1]["stream_options"] == {"include_usage": True}
    client.responses.create(model="gpt-4o", input="hi", max_output_tokens=64)
    client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=3)
    assert client.tokentra_recorder.flush(10)
    events = stored(db, tenant.id)
    assert [(e["endpoint"], e["streaming"]) for e in events] == [
        ("chat", None),
        ("chat", True),
        ("responses", None),
        ("embeddings", None),
    ]
    chat, stream, responses, embeddings = events
    assert (chat["model"], chat["input_tokens"], chat["output_tokens"], chat["cache_read_tokens"]) == (
        "gpt-4o-mini-2024-07-18",
        1200,
        30,
        1024,
    )
    assert (chat["team"], chat["feature"], chat["finish_reason"]) == ("search", "answers", "stop")
    assert chat["cost"] is not None
    assert (stream["input_tokens"], stream["feature"], stream["user_id"]) == (1200, "streaming", "u-1")
    assert stream["ttft_ms"] is not None
    assert stream["ttft_ms"] <= stream["latency_ms"]
    assert (responses["input_tokens"], responses["output_tokens"], responses["reasoning_tokens"]) == (500, 20, 8)
    assert responses["max_tokens"] == 64
    assert (embeddings["input_tokens"], embeddings["embedding_dimensions"]) == (8, 3)
    assert client.tokentra_recorder.stats.sent == 4
    assert client.tokentra_recorder.stats.dropped == 0


def test_openai_async_and_errors(providers, tokentra_url, tenant_factory, db):
    tenant = tenant_factory()
    client = tokentra_sdk.wrap(
        openai.AsyncOpenAI(api_key="sk-fake", base_url=f"{providers.url}/v1", max_retries=0),
        api_key=tenant.keys["ingest"],
        base_url=tokentra_url,
        project="bot",
    )

    async def calls():
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
        stream = await client.responses.create(model="gpt-4o", input="hi", stream=True)
        kinds = [event.type async for event in stream]
        assert kinds[-1] == "response.completed"
        providers.fail_next.append(429)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "b"}])

    asyncio.run(calls())
    assert client.tokentra_recorder.flush(10)
    events = stored(db, tenant.id)
    assert len(events) == 3, client.tokentra_recorder.stats
    by_status = {e["status"]: e for e in events if e["endpoint"] == "chat"}
    assert by_status["error"]["error_code"] == "rate_limited"
    assert by_status["error"]["input_tokens"] == 0
    assert by_status["success"]["project"] == "bot"
    streamed = next(e for e in events if e["endpoint"] == "responses")
    assert (streamed["streaming"], streamed["output_tokens"], streamed["reasoning_tokens"]) == (True, 20, 8)


def test_anthropic_messages_plain_and_streamed(providers, tokentra_url, tenant_factory, db):
    tenant = tenant_factory()
    client = tokentra_sdk.wrap(
        anthropic.Anthropic(api_key="sk-ant-fake", base_url=providers.url, max_retries=0),
        api_key=tenant.keys["ingest"],
        base_url=tokentra_url,
        team="assist",
    )
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "hello"
    with client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, stream=True, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert client.tokentra_recorder.flush(10)
    events = stored(db, tenant.id)
    assert len(events) == 2
    for event in events:  # Anthropic counts cache tokens outside input_tokens; stored canonically
        assert (event["provider"], event["model"]) == ("anthropic", "claude-sonnet-4-5-20250929")
        assert (event["input_tokens"], event["cache_write_tokens"], event["cache_read_tokens"]) == (2600, 2000, 500)
        assert (event["output_tokens"], event["finish_reason"], event["max_tokens"]) == (40, "end_turn", 256)
        assert event["cost"] is not None
    assert [e["streaming"] for e in events] == [None, True]


def test_tokentra_down_never_slows_or_breaks_the_caller(providers):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nobody listens here
    recorder = tokentra_sdk.Recorder(api_key="tt_live_x", base_url=dead, max_queue=5, retries=1, flush_interval=0.1)
    client = tokentra_sdk.wrap(
        openai.OpenAI(api_key="sk-fake", base_url=f"{providers.url}/v1", max_retries=0), recorder=recorder
    )
    bare = openai.OpenAI(api_key="sk-fake", base_url=f"{providers.url}/v1", max_retries=0)

    def timed(c, n=20):
        started = time.perf_counter()
        for _ in range(n):
            assert c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).id
        return time.perf_counter() - started

    bare_seconds, wrapped_seconds = timed(bare), timed(client)
    assert wrapped_seconds < bare_seconds * 3 + 0.5  # no network wait on the caller's path
    assert recorder.flush(10)
    stats = recorder.stats
    assert stats.sent == 0
    assert stats.dropped == 20  # at the full queue or after the failed sends
    recorder.close()


def test_wrap_needs_a_destination():
    with pytest.raises(TypeError):
        tokentra_sdk.wrap(openai.OpenAI(api_key="sk-fake"))
