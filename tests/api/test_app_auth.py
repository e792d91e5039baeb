"""Authentication, roles, ingest-scope keys, API keys over HTTP, and row-level security as the second wall."""

from __future__ import annotations

import uuid

import pytest
from app_support import api_fixture, audit_rows, tenant_factory_fixture  # noqa: F401  (fixtures)
from sqlalchemy import text

# Every endpoint of this package that a full-scope key may call: (method, path).
PROTECTED = [
    ("GET", "/api/v1/costs"),
    ("GET", "/api/v1/api-keys"),
    ("GET", "/api/v1/budgets"),
    ("GET", "/api/internal/dashboard/overview"),
    ("GET", "/api/v1/optimization/recommendations"),
    ("GET", "/api/v1/anomalies"),
]


@pytest.fixture(scope="module")
def orgs(tenant_factory):
    return tenant_factory(), tenant_factory()


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_or_bad_key_is_401_in_the_error_shape(api, method, path):
    for headers in ({}, {"Authorization": "Bearer tt_live_nope"}, {"Authorization": "Basic abc"}):
        r = api.request(method, path, headers=headers)
        assert r.status_code == 401, (path, headers)
        assert r.json()["error"]["code"] == "unauthenticated"
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_ingest_scope_keys_are_refused_outside_track_and_gateway(api, orgs, method, path):
    a, _ = orgs
    r = api.request(method, path, headers=a.auth("ingest"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_key_create_shows_the_secret_once_and_it_works(api, db, orgs):
    a, _ = orgs
    r = api.post("/api/v1/api-keys", json={"role": "viewer", "name": "grafana"}, headers=a.auth("admin"))
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["api_key"].startswith("tt_live_")
    assert issued["role"] == "viewer"
    assert issued["created_by"] == str(a.key_ids["admin"])
    listed = {k["id"]: k for k in api.get("/api/v1/api-keys", headers=a.auth("admin")).json()["data"]}
    assert "api_key" not in listed[issued["id"]]
    assert issued["api_key"].startswith(listed[issued["id"]]["key_prefix"])
    viewer = {"Authorization": f"Bearer {issued['api_key']}"}
    assert api.get("/api/v1/costs", headers=viewer).status_code == 200
    assert api.get("/api/v1/budgets", headers=viewer).status_code == 403
    entry = next(e for e in audit_rows(db, a.id, "key.create") if e["resource_id"] == issued["id"])
    assert entry["after"]["role"] == "viewer"
    assert issued["api_key"] not in str(entry)  # never the secret


def test_revoked_key_stops_working_at_once(api, db, orgs):
    a, _ = orgs
    issued = api.post("/api/v1/api-keys", json={"role": "member"}, headers=a.auth()).json()
    headers = {"Authorization": f"Bearer {issued['api_key']}"}
    assert api.get("/api/v1/costs", headers=headers).status_code == 200  # now cached by the resolver
    assert api.delete(f"/api/v1/api-keys/{issued['id']}", headers=a.auth()).status_code == 204
    assert api.get("/api/v1/costs", headers=headers).status_code == 401
    entry = next(e for e in audit_rows(db, a.id, "key.revoke") if e["resource_id"] == issued["id"])
    assert entry["before"]["revoked_at"] is None
    assert entry["after"]["revoked_at"]
    listed = {k["id"]: k for k in api.get("/api/v1/api-keys", headers=a.auth()).json()["data"]}
    assert listed[issued["id"]]["revoked_at"]


def test_ingest_scope_key_can_be_created(api, orgs):
    a, _ = orgs
    r = api.post("/api/v1/api-keys", json={"role": "member", "scope": "ingest"}, headers=a.auth("admin"))
    assert r.status_code == 201
    assert r.json()["scope"] == "ingest"


@pytest.mark.parametrize("role", ["member", "viewer", "billing"])
def test_only_key_writers_create_or_revoke_keys(api, orgs, role):
    a, _ = orgs
    assert api.post("/api/v1/api-keys", json={"role": "viewer"}, headers=a.auth(role)).status_code == 403
    assert api.delete(f"/api/v1/api-keys/{a.key_ids['viewer']}", headers=a.auth(role)).status_code == 403


def test_admin_cannot_mint_or_revoke_an_owner_key(api, orgs):
    a, _ = orgs
    r = api.post("/api/v1/api-keys", json={"role": "owner"}, headers=a.auth("admin"))
    assert r.status_code == 403
    assert api.delete(f"/api/v1/api-keys/{a.key_ids['owner']}", headers=a.auth("admin")).status_code == 403
    assert api.post("/api/v1/api-keys", json={"role": "owner"}, headers=a.auth("owner")).status_code == 201


def test_keys_of_another_org_are_invisible_and_not_revocable(api, orgs):
    a, b = orgs
    r = api.delete(f"/api/v1/api-keys/{b.key_ids['viewer']}", headers=a.auth())
    assert r.status_code == 404
    ids = {k["id"] for k in api.get("/api/v1/api-keys", headers=a.auth()).json()["data"]}
    assert not ids & {str(i) for i in b.key_ids.values()}
    assert api.get("/api/v1/costs", headers=b.auth("viewer")).status_code == 200  # still alive


def test_unknown_key_id_is_404(api, orgs):
    a, _ = orgs
    assert api.delete(f"/api/v1/api-keys/{uuid.uuid4()}", headers=a.auth()).status_code == 404


# --- row-level security -----------------------------------------------------------------------------------


def test_every_org_table_has_row_level_security(db):
    with db.engine.connect() as conn:
        missing = (
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                    "AND a.attname = 'organization_id' JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "AND n.nspname = current_schema() WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
                    "AND NOT (c.relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))"
                )
            )
            .scalars()
            .all()
        )
    assert missing == []


def test_rls_hides_other_orgs_rows_even_without_an_org_filter(api, db, orgs):
    from api.deps import org_session

    a, _ = orgs
    assert api.app.state.rls is True
    with db.session() as session:  # as the owner: both orgs' keys are there
        owner_view = session.execute(text("SELECT count(DISTINCT organization_id) FROM api_keys")).scalar_one()
    assert owner_view >= 2
    with org_session(db, a.id, rls=True) as session:
        seen = set(session.execute(text("SELECT organization_id FROM api_keys")).scalars())
        assert seen == {a.id}
        assert session.execute(text("SELECT count(*) FROM organizations")).scalar_one() == 1


def test_rls_refuses_writing_into_another_org(db, orgs):
    from sqlalchemy.exc import ProgrammingError

    from api.deps import org_session

    a, b = orgs
    with pytest.raises(ProgrammingError, match="row-level security"), org_session(db, a.id, rls=True) as session:
        session.execute(
            text("INSERT INTO budgets (organization_id, name, amount) VALUES (:org, 'sneaky', 1)"), {"org": b.id}
        )


def test_rls_session_without_org_sees_nothing(db):
    with db.session() as session:
        session.execute(text("SET LOCAL ROLE tokentra_app"))
        assert session.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 0
