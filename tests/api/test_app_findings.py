"""Recommendations (list, apply → active routing rule, dismiss) and anomalies (list, acknowledge) over HTTP."""

from __future__ import annotations

import uuid

import pytest
from app_support import (  # noqa: F401  (fixtures)
    ROLES,
    add_anomaly,
    add_recommendation,
    api_fixture,
    audit_rows,
    tenant_factory_fixture,
)
from sqlalchemy import text

REC = "/api/v1/optimization/recommendations"


@pytest.fixture(scope="module")
def orgs(tenant_factory):
    return tenant_factory(), tenant_factory()


def _rule(db, rule_id):
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT * FROM routing_rules WHERE id = :id"), {"id": rule_id}).mappings().one()


def test_list_shows_the_contract_shape_of_own_org_only(api, db, orgs):
    a, b = orgs
    mine, theirs = add_recommendation(db, a.id), add_recommendation(db, b.id)
    r = api.get(REC, headers=a.auth("member"))
    assert r.status_code == 200
    ids = {item["id"] for item in r.json()["data"]}
    assert str(mine) in ids
    assert str(theirs) not in ids
    item = next(i for i in r.json()["data"] if i["id"] == str(mine))
    assert item["estimated_monthly_savings"] == 100.0
    assert item["evidence"][0]["query"] == "SELECT 1"
    assert item["status"] == "pending"
    applied = api.get(REC, params={"status": "applied"}, headers=a.auth()).json()
    assert str(mine) not in {i["id"] for i in applied["data"]}
    assert applied["meta"]["total"] == len(applied["data"])
    assert api.get(REC, headers=a.auth("viewer")).status_code == 403


def test_apply_creates_an_active_rule_and_records_applied_at(api, db, orgs):
    a, _ = orgs
    rec_id = add_recommendation(db, a.id)
    r = api.post(f"{REC}/{rec_id}/apply", headers=a.auth("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["recommendation"]["status"] == "applied"
    assert body["recommendation"]["applied_at"] == body["applied_at"]
    rule = _rule(db, body["rule_id"])
    assert rule["organization_id"] == a.id
    assert rule["enabled"] is True
    assert rule["source_recommendation_id"] == rec_id
    assert rule["action"]["type"] == "route_to_model"
    assert {c["field"] for c in rule["conditions"]} >= {"feature", "model"}
    entry = next(e for e in audit_rows(db, a.id, "recommendation.apply") if e["resource_id"] == str(rec_id))
    assert entry["before"]["status"] == "pending"
    assert entry["after"]["applied_rule_id"] == body["rule_id"]
    assert entry["actor"] == str(a.key_ids["admin"])
    assert audit_rows(db, a.id, "routing_rule.create")
    again = api.post(f"{REC}/{rec_id}/apply", headers=a.auth("admin"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_apply_without_a_suggested_rule_marks_it_applied(api, db, orgs):
    a, _ = orgs
    rec_id = add_recommendation(db, a.id, suggested_routing_rule=None, type="prompt_caching")
    r = api.post(f"{REC}/{rec_id}/apply", headers=a.auth())
    assert r.status_code == 200
    assert r.json()["rule_id"] is None


def test_unappliable_suggestion_is_a_conflict_and_changes_nothing(api, db, orgs):
    a, _ = orgs
    rec_id = add_recommendation(db, a.id, suggested_routing_rule={"conditions": {"x": 1}, "action": {"teleport": 1}})
    assert api.post(f"{REC}/{rec_id}/apply", headers=a.auth()).status_code == 409
    listed = {i["id"]: i for i in api.get(REC, headers=a.auth()).json()["data"]}
    assert listed[str(rec_id)]["status"] == "pending"


def test_dismiss_with_reason_and_audit(api, db, orgs):
    a, _ = orgs
    rec_id = add_recommendation(db, a.id)
    r = api.post(f"{REC}/{rec_id}/dismiss", json={"reason": "quality matters here"}, headers=a.auth("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dismissed"
    assert r.json()["dismiss_reason"] == "quality matters here"
    assert api.post(f"{REC}/{rec_id}/apply", headers=a.auth()).status_code == 409
    entry = next(e for e in audit_rows(db, a.id, "recommendation.dismiss") if e["resource_id"] == str(rec_id))
    assert entry["after"]["status"] == "dismissed"
    assert api.post(f"{REC}/{add_recommendation(db, a.id)}/dismiss", headers=a.auth()).status_code == 200  # no body


@pytest.mark.parametrize("role", ROLES)
def test_only_owner_and_admin_apply_or_dismiss(api, db, orgs, role):
    a, _ = orgs
    rec_id = add_recommendation(db, a.id)
    allowed = role in ("owner", "admin")
    assert api.post(f"{REC}/{rec_id}/dismiss", headers=a.auth(role)).status_code == (200 if allowed else 403)
    assert api.post(f"{REC}/{add_recommendation(db, a.id)}/apply", headers=a.auth(role)).status_code == (
        200 if allowed else 403
    )


def test_other_orgs_recommendation_is_404_and_untouched(api, db, orgs):
    a, b = orgs
    theirs = add_recommendation(db, b.id)
    assert api.post(f"{REC}/{theirs}/apply", headers=a.auth()).status_code == 404
    assert api.post(f"{REC}/{theirs}/dismiss", headers=a.auth()).status_code == 404
    assert api.post(f"{REC}/{uuid.uuid4()}/apply", headers=a.auth()).status_code == 404
    listed = {i["id"]: i for i in api.get(REC, headers=b.auth()).json()["data"]}
    assert listed[str(theirs)]["status"] == "pending"


# --- anomalies --------------------------------------------------------------------------------------------


def test_anomalies_list_acknowledge_and_isolation(api, db, orgs):
    a, b = orgs
    mine, theirs = add_anomaly(db, a.id), add_anomaly(db, b.id)
    listed = api.get("/api/v1/anomalies", headers=a.auth("member")).json()
    ids = {item["id"] for item in listed["data"]}
    assert str(mine) in ids
    assert str(theirs) not in ids
    item = next(i for i in listed["data"] if i["id"] == str(mine))
    assert item["drivers"][0]["dimension"] == "model"
    assert item["acknowledged"] is False

    assert api.post(f"/api/v1/anomalies/{mine}/acknowledge", headers=a.auth("member")).status_code == 403
    assert api.post(f"/api/v1/anomalies/{theirs}/acknowledge", headers=a.auth()).status_code == 404
    r = api.post(f"/api/v1/anomalies/{mine}/acknowledge", headers=a.auth("admin"))
    assert r.status_code == 200
    assert r.json()["acknowledged"] is True
    first = r.json()["acknowledged_at"]
    assert api.post(f"/api/v1/anomalies/{mine}/acknowledge", headers=a.auth()).json()["acknowledged_at"] == first
    assert len([e for e in audit_rows(db, a.id, "anomaly.acknowledge") if e["resource_id"] == str(mine)]) == 1
    unacked = api.get("/api/v1/anomalies", params={"acknowledged": "false"}, headers=a.auth()).json()["data"]
    assert str(mine) not in {i["id"] for i in unacked}
    assert api.get("/api/v1/anomalies", headers=a.auth("viewer")).status_code == 403
    theirs_now = {i["id"]: i for i in api.get("/api/v1/anomalies", headers=b.auth()).json()["data"]}
    assert theirs_now[str(theirs)]["acknowledged"] is False
