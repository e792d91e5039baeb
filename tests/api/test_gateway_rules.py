"""Routing rules through the API and their effect on gateway traffic: a rule rewriting the model, the quality
floor, block and rate-limit rules, the bypass header, measured savings, and rules made from recommendations."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest
from gateway_support import events_of, gateway_server_fixture, tenant_fixture, wait_for  # noqa: F401
from sqlalchemy import text

from core.detectors.waste import quality
from core.gateway.choose import QUALITY_FLOOR_POINTS
from core.routing import rules_store
from core.routing.classify import classify

TIER_MODELS = {"utility": "gpt-4.1-nano", "workhorse": "gpt-4.1-mini", "premium": "gpt-4.1"}  # gateway_support
MESSAGES = [{"role": "user", "content": "Summarize: the meeting moved to Tuesday and the budget was approved."}]


def rule_body(name, target, *, conditions=None, priority=10, **action):
    return {
        "name": name,
        "priority": priority,
        "conditions": conditions
        if conditions is not None
        else [{"field": "feature", "operator": "eq", "value": "notes"}],
        "actions": {"type": "route_to_model", "targetModel": target, **action},
    }


def api(gateway_server, key):
    return httpx.Client(base_url=gateway_server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_rules_crud_is_validated_audited_and_admin_only(gateway_server, tenant, db):
    admin, member = api(gateway_server, tenant["keys"]["admin"]), api(gateway_server, tenant["keys"]["member"])
    created = admin.post("/api/v1/routing-rules", json=rule_body("notes to mini", "gpt-4.1-mini"))
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["rule_type"] == "model_route"
    assert rule["actions"]["target_model"] == "gpt-4.1-mini"
    assert member.post("/api/v1/routing-rules", json=rule_body("x", "gpt-4o")).status_code == 403
    bad = admin.post("/api/v1/routing-rules", json={"name": "bad", "actions": {"type": "route_to_model"}})
    assert bad.status_code in (400, 422)
    assert "targetModel" in bad.json()["error"]["message"]
    patched = admin.patch(
        f"/api/v1/routing-rules/{rule['id']}",
        json={"priority": 3, "abTestEnabled": True, "abTestTrafficPercent": 50},
    )
    assert patched.status_code == 200
    assert patched.json()["priority"] == 3
    assert patched.json()["ab_test_traffic_percent"] == 50
    broken = admin.patch(f"/api/v1/routing-rules/{rule['id']}", json={"conditions": [{"field": "model"}]})
    assert broken.status_code == 400
    listed = api(gateway_server, tenant["keys"]["viewer"]).get("/api/v1/routing-rules")
    assert listed.status_code in (200, 403)  # viewers read costs and usage only (seed roles)
    assert [r["id"] for r in admin.get("/api/v1/routing-rules").json()["data"]] == [rule["id"]]
    assert admin.delete(f"/api/v1/routing-rules/{rule['id']}").status_code == 204
    assert admin.get(f"/api/v1/routing-rules/{rule['id']}").status_code == 404
    with db.connect_raw() as conn:
        actions = [
            row[0]
            for row in conn.execute(
                "SELECT action FROM audit_log WHERE organization_id = %s AND resource_type = 'routing_rule' "
                "ORDER BY created_at",
                (tenant["id"],),
            )
        ]
    assert actions == ["routing_rule.create", "routing_rule.update", "routing_rule.delete"]


def test_a_rule_rewrites_the_model_and_its_savings_are_measured(gateway_server, tenant, db):
    admin = api(gateway_server, tenant["keys"]["admin"])
    rule = admin.post("/api/v1/routing-rules", json=rule_body("notes to mini", "gpt-4.1-mini")).json()
    client = gateway_server.client(tenant["keys"]["member"])
    headers = {"x-tokentra-feature": "notes", "x-tokentra-bypass": "cache"}
    routed = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, extra_headers=headers)
    assert routed.headers["x-tokentra-model"] == "gpt-4.1-mini"
    assert routed.headers["x-tokentra-rule"] == rule["id"]
    assert gateway_server.primary.bodies[-1]["model"] == "gpt-4.1-mini"
    other = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers={"x-tokentra-feature": "other", "x-tokentra-bypass": "cache"}
    )
    assert other.headers["x-tokentra-model"] == "gpt-4o"
    assert other.headers["x-tokentra-rule"] == "none"
    opted_out = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers={**headers, "x-tokentra-bypass": "cache,routing"}
    )
    assert opted_out.headers["x-tokentra-model"] == "gpt-4o"
    gateway_server.flush()
    events = wait_for(lambda: (e := events_of(db, tenant["id"])) and len(e) == 3 and e)
    [routed_event] = [e for e in events if e["model"] == "gpt-4.1-mini"]
    saving = Decimal(routed_event["metadata"]["saving"])
    assert saving > 0
    assert routed_event["metadata"]["rule_id"] == rule["id"]
    stored = admin.get(f"/api/v1/routing-rules/{rule['id']}").json()
    assert stored["match_count"] == 1
    assert Decimal(str(stored["estimated_savings"])) == saving
    # the same figure, recomputed from stored usage
    with db.session() as session:
        rows = session.execute(
            text(rules_store.RULE_SAVINGS_SQL),
            {"org": tenant["id"], "start": datetime(2000, 1, 1, tzinfo=UTC), "end": datetime(2100, 1, 1, tzinfo=UTC)},
        ).all()
    assert [(r.rule_id, r.requests, r.savings) for r in rows] == [(rule["id"], 1, saving)]


def test_quality_floor_keeps_the_requested_model(gateway_server, tenant):
    # gpt-4o -> gpt-4o-mini loses more than 10 quality points on every task category of the registry
    admin = api(gateway_server, tenant["keys"]["admin"])
    admin.post("/api/v1/routing-rules", json=rule_body("too cheap", "gpt-4o-mini"))
    raw = gateway_server.client(tenant["keys"]["member"]).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers={"x-tokentra-feature": "notes"}
    )
    assert raw.headers["x-tokentra-model"] == "gpt-4o"
    assert raw.headers["x-tokentra-rule-skipped"] == "quality_floor"


def test_block_and_rate_limit_rules(gateway_server, tenant):
    admin = api(gateway_server, tenant["keys"]["admin"])
    admin.post(
        "/api/v1/routing-rules",
        json={
            "name": "no interns",
            "priority": 1,
            "conditions": [{"field": "team", "operator": "eq", "value": "interns"}],
            "actions": {"type": "block", "message": "interns may not call models"},
        },
    )
    admin.post(
        "/api/v1/routing-rules",
        json={
            "name": "two a minute",
            "priority": 2,
            "conditions": [{"field": "feature", "operator": "eq", "value": "batch"}],
            "actions": {"type": "rate_limit", "maxRequestsPerWindow": 2, "windowSizeSeconds": 60},
        },
    )
    client = gateway_server.client(tenant["keys"]["member"])
    with pytest.raises(openai.PermissionDeniedError, match="interns may not"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"x-tokentra-team": "interns"})
    batch = {"x-tokentra-feature": "batch", "x-tokentra-bypass": "cache"}
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=batch)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=batch)
    assert refused.value.status_code == 429
    assert "two a minute" in str(refused.value)


def test_tier_routing_sends_an_easy_prompt_to_a_cheaper_tier(gateway_server, tenant):
    client = gateway_server.client(tenant["keys"]["member"])
    easy = [{"role": "user", "content": "hello there!"}]
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=easy, extra_headers={"x-tokentra-bypass": "cache"}
    )
    assert raw.headers["x-tokentra-model"] in ("utility", "workhorse")
    hard = [
        {
            "role": "user",
            "content": "Prove that there are infinitely many primes, step by step, then derive a "
            "bound on the prime gap and solve the resulting equation for n.",
        }
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="premium", messages=hard, extra_headers={"x-tokentra-bypass": "cache"}
    )
    served = raw.headers["x-tokentra-model"]
    category = classify(hard[0]["content"]).category
    drop = quality.quality_drop(TIER_MODELS["premium"], TIER_MODELS[served], category)
    assert drop is not None
    assert drop <= QUALITY_FLOOR_POINTS


def test_applying_a_recommendation_creates_a_rule_and_reports_measured_savings(gateway_server, tenant, db):
    suggestion = {
        "conditions": {"feature": "notes", "model": "gpt-4o", "task_type": ["summarization", "faq"]},
        "action": {"route_to": {"provider": "openai", "model": "gpt-4.1-mini"}, "fallback_on_error": True},
    }
    recommendation_id = uuid.uuid4()
    with db.session() as session:
        row = rules_store.create_rule_from_recommendation(
            session,
            org_id=tenant["id"],
            recommendation_id=recommendation_id,
            suggestion=suggestion,
            title="Route simple notes to gpt-4.1-mini",
            actor="test",
        )
        assert row.action["fallback_model"] == "gpt-4o"
    client = gateway_server.client(tenant["keys"]["member"])
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers={"x-tokentra-feature": "notes", "x-tokentra-bypass": "cache"}
    )
    assert raw.headers["x-tokentra-model"] == "gpt-4.1-mini"
    gateway_server.flush()
    with db.session() as session:
        measured = wait_for(lambda: rules_store.measured_savings(session, org_id=tenant["id"]))
    assert measured[recommendation_id]["match_count"] == 1
    assert measured[recommendation_id]["measured_savings"] > 0


def test_a_cache_rule_turns_on_the_semantic_cache(gateway_server, tenant, db):
    admin = api(gateway_server, tenant["keys"]["admin"])
    rule = admin.post(
        "/api/v1/routing-rules",
        json={
            "name": "faq semantic",
            "conditions": [{"field": "feature", "operator": "eq", "value": "faq"}],
            "actions": {"type": "enable_cache", "similarityThreshold": 0.9},
        },
    ).json()
    client = gateway_server.client(tenant["keys"]["member"])
    headers = {"x-tokentra-feature": "faq"}
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "How do I reset my password?"}],
        extra_headers=headers,
    )
    assert first.headers["x-tokentra-cache"] == "miss"
    gateway_server.flush()  # stored with its embedding
    calls = gateway_server.primary.calls
    same = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "How do I reset my password?"}],
        extra_headers=headers,
    )
    assert same.headers["x-tokentra-cache"] == "hit"
    assert same.headers["x-tokentra-rule"] == rule["id"]
    assert gateway_server.primary.calls == calls
    other = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "How do I delete my account forever?"}],
        extra_headers=headers,
    )
    assert other.headers["x-tokentra-cache"] == "miss"  # a different question is not served a stored answer
    with db.connect_raw() as conn:
        [(embedded,)] = conn.execute(
            "SELECT count(*) FROM response_cache WHERE organization_id = %s AND embedding IS NOT NULL", (tenant["id"],)
        ).fetchall()
    assert embedded >= 1


def test_a_queueing_rate_limit_waits_for_room(gateway_server, tenant):
    admin = api(gateway_server, tenant["keys"]["admin"])
    admin.post(
        "/api/v1/routing-rules",
        json={
            "name": "one a second",
            "conditions": [{"field": "feature", "operator": "eq", "value": "slow"}],
            "actions": {
                "type": "rate_limit",
                "maxRequestsPerWindow": 1,
                "windowSizeSeconds": 1,
                "actionOnExceed": "queue",
            },
        },
    )
    client = gateway_server.client(tenant["keys"]["member"])
    headers = {"x-tokentra-feature": "slow", "x-tokentra-bypass": "cache"}
    started = time.monotonic()
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=headers)
    assert time.monotonic() - started >= 0.9  # the second one waited for the window to free


def test_a_cache_rule_ttl_decides_how_long_the_answer_is_kept(gateway_server, tenant, db):
    from core.cache.keys import ttl_for

    admin = api(gateway_server, tenant["keys"]["admin"])
    rule = admin.post(
        "/api/v1/routing-rules",
        json={
            "name": "short-lived answers",
            "conditions": [{"field": "feature", "operator": "eq", "value": "ticker"}],
            "actions": {"type": "enable_cache", "cacheTtlSeconds": 42},
        },
    ).json()
    client = gateway_server.client(tenant["keys"]["member"])
    ruled, plain = (
        f"Translate 'price' to French ({uuid.uuid4().hex})",
        f"Translate 'cost' to French ({uuid.uuid4().hex})",
    )
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": ruled}],
        extra_headers={"x-tokentra-feature": "ticker"},
    )
    assert first.headers["x-tokentra-cache"] == "miss"
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": plain}])
    gateway_server.flush()
    with db.connect_raw() as conn:
        kept = dict(
            conn.execute(
                "SELECT prompt_text, extract(epoch FROM expires_at - created_at) FROM response_cache "
                "WHERE organization_id = %s AND prompt_text = ANY(%s)",
                (tenant["id"], [ruled, plain]),
            ).fetchall()
        )
    assert float(kept[ruled]) == pytest.approx(42, abs=0.01)  # the rule's TTL, not the task type's
    assert float(kept[plain]) == pytest.approx(ttl_for(classify(plain).task_type).total_seconds(), abs=0.01)
    assert ttl_for(classify(ruled).task_type).total_seconds() != 42
    again = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": ruled}],
        extra_headers={"x-tokentra-feature": "ticker"},
    )
    assert again.headers["x-tokentra-cache"] == "hit"
    assert again.headers["x-tokentra-rule"] == rule["id"]
