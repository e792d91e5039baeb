"""OTLP/HTTP traces → usage events: spans from the real opentelemetry-sdk exporter (protobuf) and OTLP JSON."""

from __future__ import annotations

import gzip
import time

import orjson
import pytest
from ingest_support import ingest_api_fixture, tenant_factory_fixture, tokentra_url_fixture  # noqa: F401  (fixtures)

OTLP = "/api/v1/otlp/v1/traces"


def stored(db, org_id):
    with db.connect_raw() as conn:
        cursor = conn.execute("SELECT * FROM usage_events WHERE organization_id = %s", (org_id,))
        names = [c.name for c in cursor.description]
        return {row[names.index("request_id")]: dict(zip(names, row, strict=True)) for row in cursor}


def test_spans_from_the_real_otel_sdk_exporter(tokentra_url, db, tenant_factory):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    tenant = tenant_factory()
    exporter = OTLPSpanExporter(endpoint=f"{tokentra_url}{OTLP}", headers=tenant.auth("ingest"))
    resource = Resource.create(
        {"service.name": "checkout", "deployment.environment.name": "staging", "tokentra.team": "payments"}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /cart"):  # not a model call: skipped
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.usage.cache_read.input_tokens": 1024,
                    "gen_ai.usage.reasoning.output_tokens": 0,
                    "gen_ai.conversation.id": "conv-1",
                    "gen_ai.response.id": "chatcmpl-1",
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.request.max_tokens": 512,
                    "tokentra.feature": "cart-summary",
                    "user.id": "u-42",
                }
            )
            time.sleep(0.01)
        with tracer.start_as_current_span("chat claude") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.usage.input_tokens": 2000,
                    "gen_ai.usage.output_tokens": 50,
                    "gen_ai.usage.cache_creation.input_tokens": 1500,
                    "gen_ai.usage.cache_read.input_tokens": 0,
                    "tokentra.team": "checkout-ml",
                }
            )
        with tracer.start_as_current_span("chat timeout") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "error.type": "timeout",
                }
            )
            span.set_status(Status(StatusCode.ERROR, "request timed out"))
    assert provider.force_flush()
    provider.shutdown()

    events = stored(db, tenant.id)
    assert len(events) == 3
    by_model = {e["model"]: e for e in events.values()}
    chat = by_model["gpt-4o-2024-08-06"]
    assert (chat["provider"], chat["input_tokens"], chat["output_tokens"], chat["cache_read_tokens"]) == (
        "openai",
        1200,
        300,
        1024,
    )
    assert (chat["team"], chat["project"], chat["feature"], chat["user_id"], chat["environment"]) == (
        "payments",
        "checkout",
        "cart-summary",
        "u-42",
        "staging",
    )
    assert chat["finish_reason"] == "stop"
    assert chat["max_tokens"] == 512
    assert chat["metadata"]["conversation_id"] == "conv-1"
    assert chat["metadata"]["response_id"] == "chatcmpl-1"
    assert chat["latency_ms"] >= 10
    assert chat["cost"] is not None
    assert chat["request_id"].startswith("otel:")
    assert chat["trace_id"] in chat["request_id"]
    claude = by_model["claude-sonnet-4-5"]
    assert (claude["provider"], claude["cache_write_tokens"], claude["team"]) == ("anthropic", 1500, "checkout-ml")
    failed = by_model["gpt-4o-mini"]
    assert (failed["status"], failed["error_code"], failed["input_tokens"]) == ("timeout", "timeout", 0)


def _json_span(span_id: str, **attributes) -> dict:
    def value(v):
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        return {"stringValue": v}

    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": "1791115200000000000",
        "endTimeUnixNano": "1791115200850000000",
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }


def _document(*spans) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "search-api"}}]},
                "scopeSpans": [{"scope": {"name": "x"}, "spans": list(spans)}],
            }
        ]
    }


GOOD = {
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def test_otlp_json_with_a_bad_span_and_a_replay(ingest_api, db, tenant_factory):
    tenant = tenant_factory()
    document = _document(
        _json_span("eee19b7ec3c1b174", **GOOD),
        _json_span("eee19b7ec3c1b175", **{**GOOD, "gen_ai.request.model": ""}),  # no model
        _json_span("eee19b7ec3c1b176", **{**GOOD, "gen_ai.usage.cache_read.input_tokens": "many"}),
        _json_span("eee19b7ec3c1b177", **{"http.method": "GET"}),  # not a model call
    )
    r = ingest_api.post(OTLP, json=document, headers=tenant.auth("ingest"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["skipped"], [x["index"] for x in body["rejected"]]) == (1, 1, [1, 2])
    assert body["partialSuccess"]["rejectedSpans"] == 2
    event = next(iter(stored(db, tenant.id).values()))
    assert event["latency_ms"] == pytest.approx(850)
    assert event["project"] == "search-api"
    assert event["timestamp"].isoformat() == "2026-10-04T12:00:00+00:00"
    again = ingest_api.post(
        OTLP,
        content=gzip.compress(orjson.dumps(document)),
        headers={**tenant.auth("ingest"), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 1
    assert len(stored(db, tenant.id)) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\x0a\xff\xff", "application/x-protobuf"),
        (b"{not json", "application/json"),
        (b'{"resourceSpans": 3}', "application/json"),
        (b"<xml/>", "text/xml"),
        (b'{"resourceSpans": [3]}', "application/json"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": ["x"]}]}]}', "application/json"),
    ],
)
def test_malformed_otlp_bodies_are_400(ingest_api, tenant_factory, body, content_type):
    tenant = tenant_factory()
    r = ingest_api.post(OTLP, content=body, headers={**tenant.auth("ingest"), "Content-Type": content_type})
    assert r.status_code == 400, r.text


def test_odd_but_well_formed_spans_never_fail_the_request(ingest_api, tenant_factory):
    tenant = tenant_factory()
    odd = [
        {**_json_span("cccc000000000001", **GOOD), "startTimeUnixNano": "99999999999999999999999"},
        {**_json_span("cccc000000000002", **GOOD), "status": "broken", "endTimeUnixNano": "1"},
        {
            **_json_span("cccc000000000003", **GOOD),
            "attributes": [
                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"arrayValue": [1, 2]}},
                {"key": "gen_ai.usage.input_tokens", "value": {"doubleValue": 1e308}},
                {"key": "gen_ai.usage.output_tokens", "value": {"kvlistValue": "x"}},
            ],
        },
    ]
    document = _document(*odd)
    document["resourceSpans"][0]["resource"] = "not an object"
    r = ingest_api.post(OTLP, json=document, headers=tenant.auth("ingest"))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] + len(r.json()["rejected"]) + r.json()["skipped"] == 3


def test_otlp_needs_an_ingest_permission(ingest_api, tenant_factory):
    tenant = tenant_factory()
    assert ingest_api.post(OTLP, json=_document()).status_code == 401
    assert ingest_api.post(OTLP, json=_document(), headers=tenant.auth("viewer")).status_code == 403


def test_cli_ingests_an_otlp_json_file(tmp_path, run_cli, db, tenant_factory):
    tenant = tenant_factory()
    lines = [orjson.dumps(_document(_json_span(f"aaaa{i:012x}", **GOOD))) for i in range(3)]
    lines.insert(1, b"{broken")
    path = tmp_path / "traces.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    done = run_cli("ingest", str(path), "--org", tenant.slug, "--format", "otlp-json", "--json")
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result["accepted"] == 3
    assert [r["line"] for r in result["rejected"]] == [2]
    assert len(stored(db, tenant.id)) == 3
    single = tmp_path / "one.json"  # one pretty-printed document
    single.write_text(
        orjson.dumps(_document(_json_span("bbbb00000000000a", **GOOD)), option=orjson.OPT_INDENT_2).decode()
    )
    done = run_cli("ingest", str(single), "--org", tenant.slug, "--format", "otlp-json", "--json")
    assert orjson.loads(done.stdout)["accepted"] == 1, done.stderr
