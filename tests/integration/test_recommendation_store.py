"""Findings stored as recommendations: upsert by fingerprint keeps status; JSON is the CONTRACT 6 shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.detectors.waste.base import Evidence, Finding
from core.detectors.waste.store import recommendation_json, save_findings

CONTRACT_KEYS = {
    "id", "category", "type", "title", "description", "scope", "current_monthly_cost", "projected_monthly_cost",
    "estimated_monthly_savings", "savings_percent", "target", "confidence", "priority", "risk_level", "effort",
    "evidence", "affected_requests", "sample_request_ids", "implementation_steps", "suggested_routing_rule",
    "consensus", "status", "created_at", "actual_monthly_savings",
}  # fmt: skip
START = datetime(2026, 2, 1, tzinfo=UTC)
END = START + timedelta(days=30)


def _finding(savings: str, feature: str = "lead-scoring") -> Finding:
    evidence = Evidence("cost_analysis", "calls", "SELECT 1 WHERE organization_id = :org", {"org": "x"}, [{"n": 1}])
    return Finding(
        type="model_downgrade", category="task_aware_routing", title="Route simple calls", description="d",
        scope={"team": "sales", "feature": feature, "provider": "anthropic", "model": "claude-sonnet-4-6"},
        target={"provider": "anthropic", "model": "claude-haiku-4-5"},
        current_monthly_cost=Decimal("18.023456789"), projected_monthly_cost=Decimal("18.023456789") - Decimal(savings),
        estimated_monthly_savings=Decimal(savings), savings_percent=66.6, confidence=0.85, priority="high",
        risk_level="high", effort="hours", evidence=[evidence], affected_requests=1555,
        sample_request_ids=["msg_01a", "msg_01b"], implementation_steps=["Route", "A/B test"],
        suggested_routing_rule={"conditions": {"feature": feature}, "action": {"route_to": {"model": "h"}}},
    )  # fmt: skip


def test_upsert_keeps_status_and_id(db: Any, org: Any) -> None:
    with db.session() as session:
        first = save_findings(session, org_id=org.id, findings=[_finding("12.01")], window_start=START, window_end=END)
        rec_id = first[0].id
        first[0].status = "dismissed"
        first[0].dismissed_at = END
    run = uuid.uuid4()
    with db.session() as session:
        findings = [_finding("13.5"), _finding("2", feature="other")]
        rows = save_findings(session, org_id=org.id, findings=findings, window_start=END, window_end=END, run_id=run)
        assert rows[0].id == rec_id
        assert rows[0].status == "dismissed"
        assert rows[0].dismissed_at == END
        assert rows[0].estimated_monthly_savings == Decimal("13.5")
        assert rows[0].run_id == run
        assert rows[0].window_start == END
        assert rows[1].status == "pending"
        assert rows[1].id != rec_id
        assert len({r.fingerprint for r in rows}) == 2


def test_recommendation_json_is_the_contract_shape(db: Any, org: Any) -> None:
    with db.session() as session:
        row = save_findings(session, org_id=org.id, findings=[_finding("12.0123456789")], window_start=START,
                            window_end=END)[0]  # fmt: skip
        data = recommendation_json(row)
    assert set(data) == CONTRACT_KEYS
    assert data["category"] == "task_aware_routing"
    assert data["type"] == "model_downgrade"
    assert data["estimated_monthly_savings"] == 12.012346
    assert data["current_monthly_cost"] == 18.023457
    assert isinstance(data["projected_monthly_cost"], float)
    assert data["actual_monthly_savings"] is None
    assert data["consensus"] == {"reached": True, "score": 1.0, "rounds": 0, "verdicts": {}, "dissent": []}
    assert data["status"] == "pending"
    assert data["created_at"]
    assert uuid.UUID(data["id"])
    (evidence,) = data["evidence"]
    assert set(evidence) == {"type", "title", "query", "data"}
    assert set(evidence["query"]) == {"sql", "params"}
