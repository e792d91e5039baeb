"""POST /api/sdk/v1/track: per-event errors by index, valid events kept, idempotent, 413 over the limit."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import orjson
import pytest
from ingest_support import ingest_api_fixture, tenant_factory_fixture  # noqa: F401  (fixtures)

TRACK = "/api/sdk/v1/track"


def event(request_id: str, **extra):
    base = {
        "request_id": request_id,
        "timestamp": "2026-10-05T12:00:00Z",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 100,
        "team": "search",
    }
    return {**base, **extra}


def stored(db, org_id):
    with db.connect_raw() as conn:
        rows = conn.execute(
            "SELECT request_id, input_tokens, output_tokens, cache_read_tokens, cost FROM usage_events "
            "WHERE organization_id = %s",
            (org_id,),
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


@pytest.fixture
def api(ingest_api):
    return ingest_api


@pytest.fixture
def tenant(tenant_factory):
    return tenant_factory()


def test_valid_batch_is_stored_and_priced(api, db, tenant):
    events = [event(f"ok-{i}", input_tokens=1000 + i) for i in range(50)]
    r = api.post(TRACK, json={"events": events}, headers=tenant.auth("ingest"))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 50, "duplicates": 0, "rejected": [], "unpriced": 0}
    rows = stored(db, tenant.id)
    assert set(rows) == {e["request_id"] for e in events}
    assert rows["ok-7"][0] == 1007
    assert rows["ok-7"][3] > Decimal(0)


def test_bad_events_rejected_by_index_and_the_rest_kept(api, db, tenant):
    events = [
        event("good-1"),
        {
            "request_id": "no-model",
            "timestamp": "2026-10-05T12:00:00Z",
            "provider": "openai",
            "input_tokens": 1,
            "output_tokens": 1,
        },
        event("neg", input_tokens=-5),
        "not an object",
        event("cache-too-big", cache_read_tokens=5000),
        event("unknown-field", colour="blue"),
        event("good-2"),
        event("year-9999", timestamp="9999-12-31T00:00:00Z"),
        event("nul", team="a\u0000b"),
        event("huge-cost", reported_cost="1e999"),
        event("nul-meta", metadata={"note": "x\u0000"}),
    ]
    r = api.post(TRACK, json={"events": events}, headers=tenant.auth("owner"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 0
    assert [item["index"] for item in body["rejected"]] == [1, 2, 3, 4, 5, 7, 8, 9, 10]
    errors = {item["index"]: item["error"] for item in body["rejected"]}
    assert "model" in errors[1]
    assert "input_tokens" in errors[2]
    assert "cache_read_tokens" in errors[4]
    assert "colour" in errors[5]
    assert "timestamp" in errors[7]
    assert set(stored(db, tenant.id)) == {"good-1", "good-2"}


def test_duplicates_are_counted_never_stored_twice(api, db, tenant):
    first = [event(f"d-{i}") for i in range(20)] + [event("d-3")]  # a repeat inside the batch
    r = api.post(TRACK, json={"events": first}, headers=tenant.auth("ingest"))
    assert r.json()["accepted"] == 20
    assert r.json()["duplicates"] == 1
    again = [event(f"d-{i}") for i in range(10, 30)]  # half seen before
    r = api.post(TRACK, json={"events": again}, headers=tenant.auth("ingest"))
    assert r.json()["accepted"] == 10
    assert r.json()["duplicates"] == 10
    assert len(stored(db, tenant.id)) == 30


def test_concurrent_identical_batches_store_each_event_once(api, db, tenant):
    body = orjson.dumps({"events": [event(f"c-{i}") for i in range(300)]})
    results: list[dict] = []

    def post() -> None:
        r = api.post(TRACK, content=body, headers={**tenant.auth("ingest"), "Content-Type": "application/json"})
        results.append(r.json())

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["accepted"] for r in results) == 300
    assert sum(r["duplicates"] for r in results) == 600
    assert len(stored(db, tenant.id)) == 300


def test_oversized_batch_is_refused_with_413_and_nothing_stored(api, db, tenant):
    events = [event(f"big-{i}") for i in range(10_001)]
    r = api.post(
        TRACK,
        content=orjson.dumps({"events": events}),
        headers={**tenant.auth("ingest"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert "10,000" in r.json()["error"]["message"]
    assert stored(db, tenant.id) == {}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"events": 5}', b'{"evnts": []}', b'{"events": [], "extra": 1}'],
)
def test_malformed_bodies_are_400(api, tenant, body):
    r = api.post(TRACK, content=body, headers={**tenant.auth("ingest"), "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_input"


def test_empty_batch_is_fine(api, tenant):
    r = api.post(TRACK, json={"events": []}, headers=tenant.auth("ingest"))
    assert r.status_code == 200
    assert r.json()["accepted"] == 0


def test_provider_usage_object_is_normalized(api, db, tenant):
    usage = {"prompt_tokens": 1200, "completion_tokens": 80, "prompt_tokens_details": {"cached_tokens": 1024}}
    ev = {k: v for k, v in event("u-1").items() if k not in ("input_tokens", "output_tokens")}
    r = api.post(TRACK, json={"events": [{**ev, "usage": usage}]}, headers=tenant.auth("ingest"))
    assert r.json()["accepted"] == 1, r.text
    assert stored(db, tenant.id)["u-1"][:3] == (1200, 80, 1024)


def test_unknown_model_is_stored_unpriced(api, db, tenant):
    model = f"no-price-{uuid.uuid4().hex[:8]}"
    r = api.post(
        TRACK, json={"events": [event("np-1", provider="acme-ai", model=model)]}, headers=tenant.auth("ingest")
    )
    assert r.json()["accepted"] == 1
    assert r.json()["unpriced"] == 1
    assert stored(db, tenant.id)["np-1"][3] is None


def test_auth_and_roles(api, tenant):
    body = {"events": [event("auth-1")]}
    assert api.post(TRACK, json=body).status_code == 401
    assert api.post(TRACK, json=body, headers={"Authorization": "Bearer tt_live_nope"}).status_code == 401
    assert api.post(TRACK, json=body, headers=tenant.auth("viewer")).status_code == 403
    assert api.post(TRACK, json=body, headers=tenant.auth("member")).status_code == 200


def test_track_is_documented_in_openapi(api):
    spec = api.get("/openapi.json").json()
    schema = spec["paths"][TRACK]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["events"]["maxItems"] == 10_000
    assert "request_id" in schema["properties"]["events"]["items"]["required"]


def test_overlapping_concurrent_batches_are_merged_without_loss_or_double_counting(db, tenant):
    from core.usage.track import track_body

    bodies = [orjson.dumps({"events": [event(f"o-{i}") for i in range(k * 50, k * 50 + 100)]}) for k in range(6)]
    results = [None] * len(bodies)

    def post(k: int) -> None:
        results[k] = track_body(db, org_id=tenant.id, body=bodies[k])

    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    unique = {f"o-{i}" for i in range(0, 5 * 50 + 100)}
    assert sum(r.accepted for r in results) == len(unique)
    assert sum(r.accepted + r.duplicates for r in results) == 600
    assert set(stored(db, tenant.id)) == unique
