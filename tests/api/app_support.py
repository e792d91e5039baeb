"""Fixtures for the HTTP API tests (tests/api/test_app_*.py): one app on the test database, and tenants
(an org with a key of every role, plus an ingest-scope key). Import the fixtures into a test module:

    from app_support import Tenant, api_fixture, tenant_factory_fixture  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

ROLES = ("owner", "admin", "member", "viewer", "billing")


@dataclass
class Tenant:
    id: uuid.UUID
    slug: str
    keys: dict[str, str] = field(default_factory=dict)  # role (or "ingest") -> secret
    key_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def auth(self, role: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="session", name="api")
def api_fixture(db: Any) -> Iterator[TestClient]:
    """A TestClient of create_app() sharing the test database (lifespan run once per session)."""
    from api.app import create_app
    from core.config import Settings

    app = create_app(Settings(database_url=db.uri), database=db)
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session", name="tenant_factory")
def tenant_factory_fixture(db: Any) -> Callable[[], Tenant]:
    from core.orgs.service import create_org, issue_key

    def make() -> Tenant:
        with db.session() as session:
            org = create_org(session, slug=f"api-{uuid.uuid4().hex[:12]}")
            tenant = Tenant(id=org.id, slug=org.slug)
            for role in ROLES:
                issued = issue_key(session, org_id=org.id, role=role)
                tenant.keys[role], tenant.key_ids[role] = issued.secret, issued.id
            issued = issue_key(session, org_id=org.id, role="member", scope="ingest")
            tenant.keys["ingest"], tenant.key_ids["ingest"] = issued.secret, issued.id
        return tenant

    return make


# --- stored findings (real rows, as the detectors and the nightly run store them) -------------------------


def add_recommendation(db: Any, org_id: uuid.UUID, **overrides: Any) -> uuid.UUID:
    """A pending model-downgrade recommendation with a suggested routing rule (the detectors' object form)."""
    from decimal import Decimal

    from core.detectors.models import Recommendation

    values: dict[str, Any] = {
        "fingerprint": uuid.uuid4().hex, "category": "task_aware_routing", "type": "model_downgrade",
        "title": "Route simple support calls to gpt-4o-mini", "description": "Simple tasks on a premium model",
        "scope": {"feature": "support", "model": "gpt-4o"}, "target": {"model": "gpt-4o-mini"},
        "current_monthly_cost": Decimal("120.5"), "projected_monthly_cost": Decimal("20.5"),
        "estimated_monthly_savings": Decimal("100"), "savings_percent": 83.0, "confidence": 0.85,
        "priority": "high", "risk_level": "low", "effort": "low",
        "evidence": [{"type": "query", "title": "calls", "query": "SELECT 1", "data": {"n": 1}}],
        "affected_requests": 10, "sample_request_ids": ["r1"], "implementation_steps": ["do it"],
        "suggested_routing_rule": {
            "conditions": {"feature": "support", "model": "gpt-4o", "total_tokens_lt": 2000},
            "action": {"route_to": {"provider": "openai", "model": "gpt-4o-mini"}, "fallback_on_error": True},
        },
    }  # fmt: skip
    values.update(overrides)
    with db.session() as session:
        row = Recommendation(organization_id=org_id, **values)
        session.add(row)
        session.flush()
        return row.id


def add_anomaly(db: Any, org_id: uuid.UUID) -> uuid.UUID:
    from datetime import UTC, datetime, timedelta

    from core.detectors.models import Anomaly

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with db.session() as session:
        row = Anomaly(
            organization_id=org_id, fingerprint=uuid.uuid4().hex, type="spending_spike", severity="warning",
            title="Spend spike", description="Hourly spend 3x normal", detection_method="seasonal_mad",
            metric="hourly_cost", scope={}, window_start=end - timedelta(hours=1), window_end=end,
            current_value=30.0, expected_value=10.0, deviation_percent=200.0, z_score=4.2,
            drivers=[{"dimension": "model", "value": "gpt-4o", "contribution": 18.0, "share": 0.9}],
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def audit_rows(db: Any, org_id: uuid.UUID, action: str) -> list[dict[str, Any]]:
    from sqlalchemy import text

    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM audit_log WHERE organization_id = :org AND action = :action ORDER BY created_at"),
            {"org": org_id, "action": action},
        )
        return [dict(row) for row in rows.mappings()]
