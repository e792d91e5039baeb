"""simulate_savings: exact what-if repricing of a slice (other model, batch prices), and clear tool errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.errors import InvalidInput
from tools.savings import simulate_savings

START = datetime(2020, 3, 1, tzinfo=UTC)
END = START + timedelta(days=10)


def test_reprices_a_slice_exactly(db: Any, org: Any, load_jsonl: Any, set_price: Any) -> None:
    provider = f"p{uuid.uuid4().hex[:8]}"
    set_price(provider, "big", {"input": 10, "output": 30, "batch_input": 5, "batch_output": 15},
              effective_from=datetime(2019, 1, 1, tzinfo=UTC))  # fmt: skip
    set_price(provider, "small", {"input": 1, "output": 2}, effective_from=datetime(2019, 1, 1, tzinfo=UTC))
    events = [{"request_id": f"s-{i}", "timestamp": (START + timedelta(hours=i)).isoformat(), "provider": provider,
               "model": "big", "input_tokens": 1_000_000, "output_tokens": 100_000,
               "feature": "chat" if i < 3 else "search"} for i in range(5)]  # fmt: skip
    load_jsonl(org.id, events)
    with db.engine.connect() as conn:
        sim = simulate_savings(conn, org_id=org.id, start=START, end=END, scope={"feature": "chat"},
                               target_model="small")  # fmt: skip
        batch = simulate_savings(conn, org_id=org.id, start=START, end=END, scope={"provider": provider}, batch=True)
        with pytest.raises(InvalidInput, match="unknown scope"):
            simulate_savings(conn, org_id=org.id, start=START, end=END, scope={"colour": "red"}, batch=True)
        with pytest.raises(InvalidInput, match="target"):
            simulate_savings(conn, org_id=org.id, start=START, end=END, scope={})
        missing = simulate_savings(conn, org_id=org.id, start=START, end=END, scope={}, target_model="nope")
    # 3 chat calls: billed 3 × (10 + 3) = 39; on small 3 × (1 + 0.2) = 3.6
    assert (sim.calls, sim.repriced_calls) == (3, 3)
    assert sim.current_cost == Decimal("39")
    assert sim.simulated_cost == Decimal("3.6")
    assert sim.window_savings == Decimal("35.4")
    assert sim.monthly_savings == Decimal("106.20")  # × 30 / 10 days
    # batch prices: 5 × (5 + 1.5) = 32.5 against 65 billed
    assert batch.window_savings == Decimal("32.5")
    assert (missing.repriced_calls, missing.window_savings) == (0, Decimal(0))  # no target price: nothing claimed
    assert "tt_cost" in sim.query["sql"]
