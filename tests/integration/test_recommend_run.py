"""`recommend()`: detectors over a synthetic org, stored, returned in the CONTRACT §6 shape; a rerun updates."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from core.detectors.recommend import recommend
from core.synth import generate_org
from core.usage.ingest import ingest
from core.usage.readers import jsonl_lines, parse_json_line

END = datetime(2026, 6, 1, tzinfo=UTC)
CONTRACT_KEYS = {
    "id", "category", "type", "title", "description", "scope", "current_monthly_cost", "projected_monthly_cost",
    "estimated_monthly_savings", "savings_percent", "target", "confidence", "priority", "risk_level", "effort",
    "evidence", "affected_requests", "sample_request_ids", "implementation_steps", "suggested_routing_rule",
    "consensus", "status", "created_at",
}  # fmt: skip


@pytest.fixture(scope="module")
def loaded(db: Any, price_book: Any) -> Any:
    from core.orgs.service import create_org

    synthetic = generate_org(seed=11, end=END, scale=0.1)
    with db.session() as session:
        org_id = create_org(session, slug="rec-run-11").id
    items = jsonl_lines(io.BytesIO(b"".join(synthetic.events.jsonl())))
    ingest(db, org_id=org_id, items=items, parse=parse_json_line, book=price_book())
    return org_id, synthetic.manifest


def test_recommend_returns_contract_shaped_stored_recommendations(db: Any, loaded: Any) -> None:
    org_id, manifest = loaded
    result = recommend(db, org_id=org_id, as_of=END)
    assert result["llm"] == "offline"
    recommendations = result["recommendations"]
    planted = {item.kind.value if hasattr(item.kind, "value") else item.kind for item in manifest.waste}
    found = {r["type"] for r in recommendations}
    assert len(found & planted) >= len(planted) - 2, planted - found
    for rec in recommendations:
        assert not CONTRACT_KEYS - set(rec)
        assert rec["estimated_monthly_savings"] > 0
        assert rec["evidence"]
        assert all(e["query"] for e in rec["evidence"])
        assert rec["consensus"]["reached"] is True


def test_a_rerun_updates_the_same_recommendations(db: Any, loaded: Any) -> None:
    org_id, _ = loaded
    first = {r["type"]: r["id"] for r in recommend(db, org_id=org_id, as_of=END)["recommendations"]}
    second = recommend(db, org_id=org_id, as_of=END)
    assert {r["type"]: r["id"] for r in second["recommendations"]} == first
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT count(*) FROM recommendations WHERE organization_id = %(org)s", {"org": org_id}
        ).scalar()
    assert stored == len(first)
