"""compare_periods: effects and per-dimension deltas add up to the SQL delta to the cent, and name the cause."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from core.detectors.drivers import compare_periods

BASE = (datetime(2026, 5, 4, tzinfo=UTC), datetime(2026, 5, 11, tzinfo=UTC))
CUR = (datetime(2026, 5, 11, tzinfo=UTC), datetime(2026, 5, 18, tzinfo=UTC))
_SPEND = (
    "SELECT coalesce(sum(cost), 0) FROM usage_events "
    "WHERE organization_id = :org AND timestamp >= :s AND timestamp < :e"
)


def _events(prefix: str, start: datetime, *, provider: str, model: str, feature: str, team: str, user: str,
            count: int, input_tokens: int, output_tokens: int) -> list[dict[str, Any]]:  # fmt: skip
    step = timedelta(days=7) / count
    return [
        {"request_id": f"{prefix}-{i}", "timestamp": (start + step * i).isoformat(), "provider": provider,
         "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens, "feature": feature,
         "team": team, "user_id": f"{user}-{i % 3}", "project": "p1"}
        for i in range(count)
    ]  # fmt: skip


@pytest.fixture
def prices(set_price: Callable[..., int]) -> dict[str, str]:
    provider = f"acme-{uuid.uuid4().hex[:8]}"
    set_price(provider, "big", {"input": "10", "output": "30"})
    set_price(provider, "small", {"input": "1", "output": "2"})
    return {"provider": provider}


def _delta(db: Any, org_id: uuid.UUID) -> Decimal:
    with db.engine.connect() as conn:
        cur = conn.execute(text(_SPEND), {"org": org_id, "s": CUR[0], "e": CUR[1]}).scalar_one()
        base = conn.execute(text(_SPEND), {"org": org_id, "s": BASE[0], "e": BASE[1]}).scalar_one()
    return Decimal(cur) - Decimal(base)


def _compare(db: Any, org_id: uuid.UUID, **kwargs: Any) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return compare_periods(conn, org_id=org_id, current=CUR, baseline=BASE, **kwargs)


def test_effects_add_up_and_name_the_cause(db: Any, org: Any, load_jsonl: Any, prices: dict[str, str]) -> None:
    p = prices["provider"]
    events = [
        *_events("b-chat", BASE[0], provider=p, model="big", feature="chat", team="t1", user="u", count=70,
                 input_tokens=1000, output_tokens=200),
        *_events("b-sum", BASE[0], provider=p, model="small", feature="summarize", team="t2", user="v", count=140,
                 input_tokens=2000, output_tokens=300),
        # current week: chat the same; summarize triples its tokens per call; a new feature appears
        *_events("c-chat", CUR[0], provider=p, model="big", feature="chat", team="t1", user="u", count=70,
                 input_tokens=1000, output_tokens=200),
        *_events("c-sum", CUR[0], provider=p, model="small", feature="summarize", team="t2", user="v", count=140,
                 input_tokens=6000, output_tokens=900),
        *_events("c-new", CUR[0], provider=p, model="big", feature="agent", team="t3", user="w", count=35,
                 input_tokens=3000, output_tokens=500),
    ]  # fmt: skip
    load_jsonl(org.id, events)
    result = _compare(db, org.id)
    sql_delta = _delta(db, org.id)
    assert Decimal(result["total_delta_exact"]) == sql_delta
    total_cents = sql_delta.quantize(Decimal("0.01"))
    assert sum(Decimal(str(e["amount"])) for e in result["effects"]) == total_cents
    for dim, values in result["dimensions"].items():
        assert sum(Decimal(str(v["delta"])) for v in values) == total_cents, dim
        deltas = [abs(v["delta"]) for v in values]
        assert deltas == sorted(deltas, reverse=True)
    effects = {e["effect"]: e["amount"] for e in result["effects"]}
    assert effects["price"] == 0
    # summarize: 140 calls x (4000 in x $1 + 600 out x $2)/1M more = $0.728; the new feature is mix/volume
    assert effects["token_size"] == pytest.approx(0.73, abs=0.011)
    agent_cost = 35 * (3000 * 10 + 500 * 30) / 1e6
    assert effects["volume"] + effects["mix"] == pytest.approx(agent_cost, abs=0.011)
    features = {v["value"]: v for v in result["dimensions"]["feature"]}
    assert features["chat"]["delta"] == 0
    assert features["summarize"]["effects"]["token_size"] == pytest.approx(0.73, abs=0.011)
    assert (result["top_driver"]["dimension"], result["top_driver"]["value"]) == ("feature", "agent")
    assert result["dimensions"]["feature"][0]["value"] == "agent"
    assert "GROUPING SETS" in result["query"]


def test_price_change_is_the_price_effect(db: Any, org: Any, load_jsonl: Any, set_price: Callable[..., int],
                                          prices: dict[str, str]) -> None:  # fmt: skip
    p = prices["provider"]
    set_price(p, "big", {"input": "20", "output": "60"}, effective_from=CUR[0], organization_id=org.id)
    events = [
        event
        for tag, start in (("b", BASE[0]), ("c", CUR[0]))
        for event in _events(f"{tag}-chat", start, provider=p, model="big", feature="chat", team="t1", user="u",
                             count=50, input_tokens=1000, output_tokens=100)
    ]  # fmt: skip
    load_jsonl(org.id, events)
    result = _compare(db, org.id, dimensions=("model", "team"))
    effects = {e["effect"]: e["amount"] for e in result["effects"]}
    assert Decimal(result["total_delta_exact"]) == _delta(db, org.id)
    expected = 50 * (1000 * 10 + 100 * 30) / 1e6  # the price doubled
    assert effects["price"] == pytest.approx(expected, abs=0.005)
    assert effects["volume"] == effects["mix"] == effects["token_size"] == 0


def test_empty_baseline_and_bad_input(db: Any, org: Any, load_jsonl: Any, prices: dict[str, str]) -> None:
    p = prices["provider"]
    load_jsonl(org.id, _events("c", CUR[0], provider=p, model="small", feature="f", team="t", user="u", count=10,
                               input_tokens=100, output_tokens=10))  # fmt: skip
    result = _compare(db, org.id)
    assert result["baseline"]["requests"] == 0
    assert result["delta_percent"] is None
    assert {e["effect"]: e["amount"] for e in result["effects"]}["volume"] == result["total_delta"]
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        _compare(db, org.id, dimensions=("color",))
