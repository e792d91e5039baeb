"""A detector's rate-limit suggestion becomes an enforceable rule: its limit is derived from stored usage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import InvalidInput
from core.routing.suggestions import RATE_LIMIT_QUERY, spec_from_suggestion, with_rate_limit

# The rate_limit detector's suggested rule (core/detectors/waste/rate_limit.py): slice and window, no limit.
SUGGESTION = {
    "conditions": {"feature": "chat", "model": "gpt-4o", "time_window": "1m"},
    "action": {"action_on_exceed": "queue", "fallback_model": None},
}


def calls(minute: datetime, count: int, *, feature: str = "chat", model: str = "gpt-4o", limited: bool = False) -> list:
    return [
        {
            "request_id": uuid.uuid4().hex,
            "timestamp": (minute + timedelta(seconds=1 + i * 0.2)).isoformat(),
            "provider": "openai",
            "model": model,
            "feature": feature,
            "input_tokens": 100,
            "output_tokens": 0 if limited else 10,
            **({"status": "error", "error_code": "rate_limited"} if limited else {}),
        }
        for i in range(count)
    ]


def test_the_limit_is_what_the_provider_served_in_a_rate_limited_minute(db, org, load_jsonl):
    start = (datetime.now(UTC) - timedelta(days=1)).replace(second=0, microsecond=0)
    events: list[dict[str, Any]] = [
        *calls(start, 12),  # 12 served, then the provider refused 3
        *calls(start, 3, limited=True),
        *calls(start, 50, feature="search"),  # another feature: not the slice
        *calls(start + timedelta(minutes=5), 20),  # the slice's peak minute, never limited
        *calls(start + timedelta(minutes=9), 5),  # a smaller limited minute
        *calls(start + timedelta(minutes=9), 1, limited=True),
        *calls(start + timedelta(minutes=9), 40, model="gpt-4o-mini"),  # another model: not the slice
    ]
    assert load_jsonl(org.id, events).accepted == len(events)
    with db.session() as session:
        completed = with_rate_limit(session, org_id=org.id, suggestion=SUGGESTION)
    action = completed["action"]
    assert action["max_requests"] == 12
    source = action["metadata"]["max_requests_from"]
    assert source["query"] == RATE_LIMIT_QUERY
    assert (source["served_when_limited"], source["peak_served"], source["limited_windows"]) == (12, 20, 2)
    assert "usage_events" in source["sql"]
    spec = spec_from_suggestion(completed, name="pace chat on gpt-4o")
    assert spec.actions.type == "rate_limit"
    assert (spec.actions.max_requests_per_window, spec.actions.window_size_seconds) == (12, 60)
    assert spec.actions.action_on_exceed == "queue"
    assert spec.actions.metadata["max_requests_from"]["query"] == RATE_LIMIT_QUERY
    assert SUGGESTION["action"].get("max_requests") is None  # the detector's suggestion is left as it was


def test_without_usage_of_the_slice_no_limit_is_invented(db, org):
    with db.session() as session, pytest.raises(InvalidInput, match="no served request"):
        with_rate_limit(session, org_id=org.id, suggestion=SUGGESTION)
    other = {"conditions": {"model": "gpt-4o"}, "action": {"route_to": {"model": "gpt-4o-mini"}}}
    with db.session() as session:
        assert with_rate_limit(session, org_id=org.id, suggestion=other) is other
