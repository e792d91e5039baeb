"""Budgets: spend per scope and period from stored usage, each threshold alerts once per period."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from core.budgets.evaluate import evaluate_budgets, period_bounds
from core.budgets.models import AlertEvent, Budget

NOW = datetime(2026, 6, 17, 15, 30, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def provider(set_price: Callable[..., int]) -> str:
    name = f"bud-{uuid.uuid4().hex[:8]}"
    set_price(name, "m", {"input": "1000", "output": "0"})  # $0.001 per input token: 1000 tokens = $1
    return name


def _calls(provider: str, count: int, *, at: datetime, team: str = "a", user: str = "u1") -> list[dict[str, Any]]:
    return [
        {"request_id": f"{uuid.uuid4().hex}", "timestamp": (at + timedelta(seconds=i)).isoformat(),
         "provider": provider, "model": "m", "input_tokens": 1000, "output_tokens": 0, "team": team, "user_id": user}
        for i in range(count)
    ]  # fmt: skip


def _budget(db: Any, org_id: uuid.UUID, **values: Any) -> None:
    with db.session() as session:
        session.add(Budget(organization_id=org_id, name=values.pop("name", uuid.uuid4().hex[:6]), **values))


def _alerts(db: Any, org_id: uuid.UUID) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).where(AlertEvent.organization_id == org_id)) or 0)


def test_thresholds_alert_once_per_period(db: Any, org: Any, load_jsonl: Any, provider: str) -> None:
    _budget(db, org.id, name="team a", scope_type="team", scope_value="a", period="monthly", amount=Decimal(10))
    _budget(db, org.id, name="all", scope_type="org", period="daily", amount=Decimal(100))
    load_jsonl(org.id, _calls(provider, 6, at=NOW - timedelta(days=2)) + _calls(provider, 3, at=NOW, team="b"))
    first = {r["name"]: r for r in evaluate_budgets(db, org_id=org.id, as_of=NOW)}
    assert first["team a"]["spent"] == pytest.approx(6.0)
    assert first["team a"]["alerts_raised"] == [50]
    assert first["all"]["spent"] == pytest.approx(3.0)  # only today's calls in the daily budget
    assert first["all"]["alerts_raised"] == []
    again = evaluate_budgets(db, org_id=org.id, as_of=NOW)
    assert all(r["alerts_raised"] == [] for r in again)
    assert _alerts(db, org.id) == 1
    load_jsonl(org.id, _calls(provider, 5, at=NOW - timedelta(hours=1)))  # team a: $11 this month
    third = {r["name"]: r for r in evaluate_budgets(db, org_id=org.id, as_of=NOW)}
    assert third["team a"]["alerts_raised"] == [75, 90, 100]
    assert third["team a"]["status"] == "exceeded"
    assert _alerts(db, org.id) == 4
    with db.session() as session:
        severities = dict(session.execute(select(AlertEvent.title, AlertEvent.severity)
                                          .where(AlertEvent.organization_id == org.id)).all())  # fmt: skip
    assert severities['Budget "team a" reached 100%'] == "critical"
    assert severities['Budget "team a" reached 75%'] == "warning"
    # next month: a new period, the thresholds alert again
    later = NOW.replace(month=7, day=2)
    load_jsonl(org.id, _calls(provider, 6, at=later - timedelta(hours=2)))
    july = {r["name"]: r for r in evaluate_budgets(db, org_id=org.id, as_of=later)}
    assert july["team a"]["alerts_raised"] == [50]


def test_user_scope_and_periods(db: Any, org: Any, load_jsonl: Any, provider: str) -> None:
    _budget(db, org.id, name="u2 weekly", scope_type="user", scope_value="u2", period="weekly", amount=Decimal(4))
    monday = NOW - timedelta(days=2, hours=15, minutes=30)
    load_jsonl(org.id, _calls(provider, 4, at=monday, user="u2") + _calls(provider, 4, at=monday - timedelta(hours=1),
                                                                          user="u2"))  # fmt: skip
    (result,) = evaluate_budgets(db, org_id=org.id, as_of=NOW)
    assert result["spent"] == pytest.approx(4.0)  # Sunday's calls belong to last week
    assert result["alerts_raised"] == [50, 75, 90, 100]
    assert period_bounds("weekly", NOW)[0] == monday
    assert period_bounds("monthly", NOW) == (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


def test_ingest_cli_evaluates_budgets(db: Any, org: Any, run_cli: Any, provider: str, tmp_path: Any) -> None:
    import json

    _budget(db, org.id, name="cli", scope_type="org", period="monthly", amount=Decimal(2))
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in _calls(provider, 3, at=datetime.now(UTC))) + "\n")
    done = run_cli("ingest", str(path), "--org", org.slug, "--json")
    assert done.returncode == 0, done.stderr
    alerts = json.loads(done.stdout)["budget_alerts"]
    assert [a["threshold"] for a in alerts] == [50, 75, 90, 100]
