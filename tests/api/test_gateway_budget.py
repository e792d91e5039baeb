"""Hard budgets on gateway traffic: refused with 429 `budget_exceeded` naming the budget, and never overspent
under concurrent load."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import openai
from gateway_support import events_of, gateway_server_fixture, tenant_fixture, wait_for  # noqa: F401

from core.budgets.models import Budget


def add_budget(db, org_id, amount, **scope):
    with db.session() as session:
        session.add(
            Budget(
                organization_id=org_id,
                name=scope.pop("name", "hard cap"),
                amount=Decimal(amount),
                period="monthly",
                hard_limit=True,
                **scope,
            )
        )


async def fire(client, count, concurrency, **headers):
    gate = asyncio.Semaphore(concurrency)

    async def one(i):
        async with gate:
            try:
                await client.chat.completions.create(
                    model="gpt-4o",
                    max_tokens=20,
                    messages=[{"role": "user", "content": f"Tell me fact number {i}"}],
                    extra_headers={"x-tokentra-bypass": "cache", **headers},
                )
                return "ok"
            except openai.RateLimitError as exc:
                return exc

    return await asyncio.gather(*(one(i) for i in range(count)))


def test_hard_budget_refuses_under_concurrent_load_without_overspending(gateway_server, tenant, db):
    add_budget(db, tenant["id"], "0.01")
    results = asyncio.run(fire(gateway_server.async_client(tenant["keys"]["member"]), 200, 50))
    accepted = [r for r in results if r == "ok"]
    refused = [r for r in results if r != "ok"]
    assert accepted
    assert refused
    for error in refused:
        assert error.status_code == 429
        assert error.body["code"] == "budget_exceeded"
        assert '"hard cap"' in error.body["message"]
    gateway_server.flush()
    events = wait_for(lambda: (e := events_of(db, tenant["id"])) and len(e) == len(accepted) and e)
    spent = sum(event["cost"] for event in events)
    assert spent <= Decimal("0.01")
    assert spent > Decimal("0.005")  # the budget was used, not refused from the start


def test_a_team_budget_only_limits_that_team(gateway_server, tenant):
    add_budget(
        db=gateway_server.gateway.db,
        org_id=tenant["id"],
        amount="0.01",
        name="search team",
        scope_type="team",
        scope_value="search",
    )
    gateway_server.gateway.enforcer._orgs.pop(tenant["id"], None)
    key = tenant["keys"]["member"]
    search = asyncio.run(fire(gateway_server.async_client(key), 150, 30, **{"x-tokentra-team": "search"}))
    other = asyncio.run(fire(gateway_server.async_client(key), 20, 10, **{"x-tokentra-team": "ads"}))
    assert any(r != "ok" for r in search)
    assert all(r == "ok" for r in other)
