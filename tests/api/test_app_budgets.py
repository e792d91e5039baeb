"""Budgets over HTTP: CRUD in the CONTRACT shape, validation, roles, audit and tenant isolation."""

from __future__ import annotations

import uuid

import pytest
from app_support import ROLES, api_fixture, audit_rows, tenant_factory_fixture  # noqa: F401  (fixtures)

BUDGET = {"name": "team-a monthly", "scope": {"type": "team", "value": "team-a"}, "period": "monthly",
          "amount": 1500.255, "thresholds": [90, 50, 50, 100], "hard_limit": True}  # fmt: skip


@pytest.fixture(scope="module")
def orgs(tenant_factory):
    return tenant_factory(), tenant_factory()


def test_create_read_update_delete_with_audit(api, db, orgs):
    a, _ = orgs
    created = api.post("/api/v1/budgets", json=BUDGET, headers=a.auth("admin"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["scope"] == {"type": "team", "value": "team-a"}
    assert body["amount"] == 1500.26  # cents
    assert body["thresholds"] == [50, 90, 100]  # unique, sorted
    budget_id = body["id"]
    assert api.get(f"/api/v1/budgets/{budget_id}", headers=a.auth("billing")).json()["name"] == BUDGET["name"]

    patched = api.patch(f"/api/v1/budgets/{budget_id}", json={"amount": 2000, "scope": {"type": "org"}},
                        headers=a.auth("owner"))  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert patched.json()["scope"] == {"type": "org", "value": None}
    assert patched.json()["amount"] == 2000
    assert patched.json()["hard_limit"] is True  # untouched

    assert api.delete(f"/api/v1/budgets/{budget_id}", headers=a.auth("admin")).status_code == 204
    assert api.get(f"/api/v1/budgets/{budget_id}", headers=a.auth("admin")).status_code == 404

    create, update, delete = (audit_rows(db, a.id, f"budget.{verb}") for verb in ("create", "update", "delete"))
    created_entry = next(e for e in create if e["resource_id"] == budget_id)
    assert created_entry["actor"] == str(a.key_ids["admin"])
    assert created_entry["source_ip"] == "testclient"
    assert created_entry["request_id"]
    assert created_entry["after"]["amount"] == 1500.26
    entry = next(e for e in update if e["resource_id"] == budget_id)
    assert entry["before"]["amount"] == 1500.26
    assert entry["after"]["amount"] == 2000
    assert entry["actor"] == str(a.key_ids["owner"])
    assert next(e for e in delete if e["resource_id"] == budget_id)["before"]["name"] == BUDGET["name"]


def test_request_id_of_the_call_is_in_the_audit_entry(api, db, orgs):
    a, _ = orgs
    r = api.post("/api/v1/budgets", json={**BUDGET, "name": "rid"}, headers={**a.auth(), "X-Request-ID": "rid-42"})
    assert r.status_code == 201
    assert [e["request_id"] for e in audit_rows(db, a.id, "budget.create") if e["resource_id"] == r.json()["id"]] == [
        "rid-42"
    ]


@pytest.mark.parametrize("role", ROLES)
def test_only_owner_and_admin_write_budgets(api, orgs, role):
    a, _ = orgs
    r = api.post("/api/v1/budgets", json={**BUDGET, "name": f"by-{role}"}, headers=a.auth(role))
    assert r.status_code == (201 if role in ("owner", "admin") else 403)
    if r.status_code == 403:
        assert r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("member", 403), ("billing", 200), ("admin", 200)])
def test_reading_budgets_needs_read_budgets(api, orgs, role, status):
    a, _ = orgs
    assert api.get("/api/v1/budgets", headers=a.auth(role)).status_code == status


def test_other_orgs_budget_is_not_found_for_every_verb(api, orgs):
    a, b = orgs
    theirs = api.post("/api/v1/budgets", json={**BUDGET, "name": "secret"}, headers=b.auth()).json()["id"]
    path = f"/api/v1/budgets/{theirs}"
    assert api.get(path, headers=a.auth()).status_code == 404
    assert api.patch(path, json={"amount": 1}, headers=a.auth()).status_code == 404
    assert api.delete(path, headers=a.auth()).status_code == 404
    assert theirs not in {item["id"] for item in api.get("/api/v1/budgets", headers=a.auth()).json()["data"]}
    assert api.get(path, headers=b.auth()).json()["amount"] == 1500.26


def test_duplicate_name_is_a_conflict(api, orgs):
    a, b = orgs
    assert api.post("/api/v1/budgets", json={**BUDGET, "name": "dup"}, headers=a.auth()).status_code == 201
    r = api.post("/api/v1/budgets", json={**BUDGET, "name": "dup"}, headers=a.auth())
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert api.post("/api/v1/budgets", json={**BUDGET, "name": "dup"}, headers=b.auth()).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {**BUDGET, "amount": 0},
        {**BUDGET, "scope": {"type": "team"}},
        {**BUDGET, "scope": {"type": "org", "value": "x"}},
        {**BUDGET, "period": "yearly"},
        {**BUDGET, "thresholds": [0]},
        {**BUDGET, "name": ""},
        {**BUDGET, "colour": "red"},
    ],
)
def test_invalid_budgets_are_422_in_the_error_shape(api, orgs, body):
    a, _ = orgs
    r = api.post("/api/v1/budgets", json=body, headers=a.auth())
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["message"]


def test_malformed_id_and_json(api, orgs):
    a, _ = orgs
    assert api.get("/api/v1/budgets/not-a-uuid", headers=a.auth()).status_code == 422
    r = api.post("/api/v1/budgets", content=b"{nope", headers={**a.auth(), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert set(r.json()) == {"error"}


def test_unknown_budget_is_404(api, orgs):
    a, _ = orgs
    r = api.patch(f"/api/v1/budgets/{uuid.uuid4()}", json={"amount": 5}, headers=a.auth())
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
