"""The OpenAI-compatible gateway, driven by the official openai SDK against fake upstreams over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import litellm
import openai
import pytest
from gateway_support import events_of, gateway_server_fixture, tenant_fixture, wait_for  # noqa: F401

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello to the team"}]


def litellm_cost(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    prompt, completion = litellm.cost_per_token(
        model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )
    return Decimal(str(prompt)) + Decimal(str(completion))


def test_completion_answers_and_its_usage_is_recorded_and_priced(gateway_server, tenant, db):
    client = gateway_server.client(tenant["keys"]["member"])
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        max_tokens=50,
        extra_headers={
            "x-tokentra-team": "growth",
            "x-tokentra-feature": "greeter",
            "x-tokentra-user": "u-1",
            "x-tokentra-bypass": "cache",
        },
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: Say hello to the team"
    assert raw.headers["x-tokentra-model"] == "gpt-4o-mini"
    assert raw.headers["x-tokentra-cache"] == "bypass"
    assert raw.headers["x-tokentra-rule"] == "none"
    gateway_server.flush()
    [event] = wait_for(lambda: events_of(db, tenant["id"]))
    usage = completion.usage
    assert (event["provider"], event["model"], event["endpoint"]) == ("openai", "gpt-4o-mini", "chat")
    assert (event["input_tokens"], event["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert (event["team"], event["feature"], event["user_id"]) == ("growth", "greeter", "u-1")
    assert event["cost_status"] == "priced"
    expected = litellm_cost("gpt-4o-mini", usage.prompt_tokens, usage.completion_tokens)
    assert abs(event["cost"] - expected) < Decimal("1e-12")
    assert event["metadata"]["requested_model"] == "gpt-4o-mini"
    assert event["max_tokens"] == 50
    assert event["latency_ms"] > 0


def test_streaming_relays_chunks_and_records_usage(gateway_server, tenant, db):
    client = gateway_server.client(tenant["keys"]["owner"])
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: Say hello to the team"
    assert all(c.usage is None for c in chunks)  # the client did not ask for the usage chunk
    gateway_server.flush()
    [event] = wait_for(lambda: events_of(db, tenant["id"]))
    assert event["streaming"] is True
    assert event["status"] == "success"
    assert event["output_tokens"] == len(text.split())
    assert event["input_tokens"] > 0
    assert event["cost"] > 0
    assert event["finish_reason"] == "stop"
    assert event["ttft_ms"] is not None


def test_streaming_with_usage_chunk_when_asked(gateway_server, tenant):
    client = gateway_server.client(tenant["keys"]["owner"])
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


def test_repeat_is_served_from_cache_without_reaching_upstream(gateway_server, tenant, db):
    client = gateway_server.client(tenant["keys"]["member"])
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    calls = gateway_server.primary.calls
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert first.headers["x-tokentra-cache"] == "miss"
    assert second.headers["x-tokentra-cache"] == "hit"
    assert gateway_server.primary.calls == calls
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    gateway_server.flush()
    third = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert third.headers["x-tokentra-cache"] == "hit"
    assert gateway_server.primary.calls == calls
    gateway_server.flush()
    events = wait_for(lambda: (e := events_of(db, tenant["id"])) and len(e) == 3 and e)
    miss, *hits = events
    assert miss["metadata"]["cache"] == "miss"
    assert miss["cost"] > 0
    assert [h["metadata"]["cache"] for h in hits] == ["exact", "exact"]
    assert all(h["cost"] == 0 and h["input_tokens"] == 0 for h in hits)
    assert Decimal(hits[1]["metadata"]["saving"]) == miss["cost"]  # the stored entry's cost is the saving


def test_upstream_outage_falls_back_to_another_deployment(gateway_server, tenant, db):
    client = gateway_server.client(tenant["keys"]["member"])
    before = gateway_server.down.calls
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=MESSAGES, extra_headers={"x-tokentra-bypass": "cache"}
    )
    assert raw.parse().choices[0].message.content.startswith("echo:")
    assert raw.headers["x-tokentra-model"] == "gpt-4.1-fallback"
    assert gateway_server.down.calls == before + 1
    refused = client.chat.completions.with_raw_response.create(
        model="gpt-5-mini", messages=MESSAGES, extra_headers={"x-tokentra-bypass": "cache"}
    )
    assert refused.parse().choices[0].message.content.startswith("echo:")
    gateway_server.flush()
    events = wait_for(lambda: (e := events_of(db, tenant["id"])) and len(e) == 2 and e)
    assert {e["model"] for e in events} == {"gpt-4.1-mini", "gpt-5-mini"}
    assert all(e["status"] == "success" for e in events)


def test_models_and_embeddings(gateway_server, tenant, db):
    client = gateway_server.client(tenant["keys"]["member"])
    names = {model.id for model in client.models.list()}
    assert {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"} <= names
    result = client.embeddings.create(model="text-embedding-3-small", input=["one text", "another"])
    assert len(result.data) == 2
    gateway_server.flush()
    [event] = wait_for(lambda: events_of(db, tenant["id"]))
    assert event["endpoint"] == "embeddings"
    assert event["input_tokens"] == result.usage.prompt_tokens


def test_keys_are_checked(gateway_server, tenant):
    with pytest.raises(openai.AuthenticationError):
        gateway_server.client("tt_live_not-a-key").chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(openai.PermissionDeniedError):
        gateway_server.client(tenant["keys"]["viewer"]).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    ingest = gateway_server.client(tenant["keys"]["ingest"])
    assert ingest.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content


def test_unknown_model_is_a_404(gateway_server, tenant):
    with pytest.raises(openai.NotFoundError):
        gateway_server.client(tenant["keys"]["member"]).chat.completions.create(model="nope", messages=MESSAGES)
