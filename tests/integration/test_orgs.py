"""Organizations and API keys (the data plane's owners)."""

from __future__ import annotations

import uuid

import pytest

from core.errors import Conflict, InvalidInput, NotFound
from core.orgs.service import create_org, get_org, hash_key, issue_key


def test_slugs_are_unique_and_well_formed(db, org):
    with db.sessions() as session, pytest.raises(Conflict):
        create_org(session, slug=org.slug)
    for bad in ("", "a", "Upper-Case", "-leading-dash", "has space", "x" * 64, "ünïcode"):
        with db.sessions() as session, pytest.raises(InvalidInput):
            create_org(session, slug=bad)


def test_unknown_org_is_not_found(db):
    with db.sessions() as session, pytest.raises(NotFound):
        get_org(session, f"missing-{uuid.uuid4().hex[:8]}")


def test_keys_are_shown_once_and_stored_as_hashes(db, org):
    with db.session() as session:
        first = issue_key(session, org_id=org.id, role="viewer")
        second = issue_key(session, org_id=org.id, role="admin", scope="ingest")
    assert first.secret != second.secret
    assert (second.role, second.scope) == ("admin", "ingest")
    with db.connect_raw() as conn:
        rows = conn.execute(
            "SELECT key_hash, role, scope FROM api_keys WHERE organization_id = %s ORDER BY role", (org.id,)
        ).fetchall()
        leaked = conn.execute(
            "SELECT count(*) FROM api_keys WHERE row_to_json(api_keys)::text LIKE %s OR row_to_json(api_keys)::text "
            "LIKE %s",
            (f"%{first.secret}%", f"%{second.secret}%"),
        ).fetchone()
    assert rows == [(hash_key(second.secret), "admin", "ingest"), (hash_key(first.secret), "viewer", "full")]
    assert leaked == (0,)


@pytest.mark.parametrize(("role", "scope"), [("root", "full"), ("viewer", "everything")])
def test_unknown_roles_and_scopes_are_refused(db, org, role, scope):
    with db.sessions() as session, pytest.raises(InvalidInput):
        issue_key(session, org_id=org.id, role=role, scope=scope)
