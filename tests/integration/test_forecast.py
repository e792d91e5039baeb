"""Month-end forecast: month-to-date from stored usage, a projection from weekday averages, an interval."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.budgets.forecast import forecast_month_end


def test_flat_spend_projects_linearly(db: Any, org: Any, load_jsonl: Any, set_price: Callable[..., int]) -> None:
    provider = f"fc-{uuid.uuid4().hex[:8]}"
    set_price(provider, "m", {"input": "1000", "output": "0"})  # 1000 input tokens = $1
    start = datetime(2026, 3, 20, tzinfo=UTC)
    events = [
        {"request_id": f"r{d}-{i}", "timestamp": (start + timedelta(days=d, hours=i)).isoformat(),
         "provider": provider, "model": "m", "input_tokens": 1000, "output_tokens": 0}
        for d in range(30) for i in range(10)
    ]  # fmt: skip
    load_jsonl(org.id, events)
    as_of = datetime(2026, 4, 16, tzinfo=UTC)  # 15 days of April at $10 a day
    with db.engine.connect() as conn:
        result = forecast_month_end(conn, org_id=org.id, as_of=as_of)
    assert result["month_to_date"] == pytest.approx(150.0)
    assert result["projected"] == pytest.approx(300.0, abs=0.01)
    assert result["low"] <= result["projected"] <= result["high"]
    assert result["low"] >= result["month_to_date"]
    assert "usage_rollup" in result["query"]
