"""Hard-limit enforcement counters: stored spend as the baseline (per scope), reserve/settle, stored costs moved
from pending to the baseline, and period bounds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.budgets.enforce import BudgetEnforcer, period_bounds
from core.budgets.models import Budget
from core.errors import BudgetExceeded


def _event(i, cost_tokens, **attrs):
    return {
        "request_id": f"r{i}",
        "timestamp": datetime.now(UTC).isoformat(),
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": cost_tokens,
        "output_tokens": 0,
        **attrs,
    }


def test_baseline_is_the_stored_spend_of_the_scope(db, org, load_jsonl):
    # 400k input tokens of gpt-4o at $2.50/1M = $1.00 for team a; $0.50 for team b
    load_jsonl(org.id, [_event(1, 400_000, team="a"), _event(2, 200_000, team="b")])
    with db.session() as session:
        session.add(
            Budget(
                organization_id=org.id,
                name="team a",
                amount=Decimal("1.20"),
                scope_type="team",
                scope_value="a",
                hard_limit=True,
            )
        )
        session.add(Budget(organization_id=org.id, name="all", amount=Decimal("10"), hard_limit=True))
        session.add(Budget(organization_id=org.id, name="soft", amount=Decimal("0.01"), hard_limit=False))
    enforcer = BudgetEnforcer(db)
    asyncio.run(enforcer.ensure(org.id))
    assert enforcer.remaining(org.id, {"team": "a"}) == Decimal("0.20")
    assert enforcer.remaining(org.id, {"team": "b"}) == Decimal("8.50")  # only the org budget applies
    first = enforcer.reserve(org.id, {"team": "a"}, Decimal("0.15"))
    with pytest.raises(BudgetExceeded, match='"team a"'):
        enforcer.reserve(org.id, {"team": "a"}, Decimal("0.10"))  # 1.00 + 0.15 in flight + 0.10 > 1.20
    enforcer.reserve(org.id, {"team": "b"}, Decimal("0.10"))  # other scopes are not held up
    enforcer.settle(first, Decimal("0.05"))
    assert enforcer.remaining(org.id, {"team": "a"}) == Decimal("0.15")
    enforcer.reserve(org.id, {"team": "a"}, Decimal("0.10"))
    enforcer.on_stored(org.id, [({"team": "a"}, Decimal("0.05"))])
    counter = next(c for c in enforcer._orgs[org.id].counters.values() if c.name == "team a")
    assert (counter.baseline, counter.pending) == (Decimal("1.05"), Decimal(0))


def test_period_bounds():
    moment = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)  # a Thursday
    assert period_bounds("daily", moment) == (datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert period_bounds("weekly", moment) == (datetime(2026, 12, 28, tzinfo=UTC), datetime(2027, 1, 4, tzinfo=UTC))
    assert period_bounds("monthly", moment) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
