"""Unpriced models, adding prices, effective dates, org overrides and mid-month price changes.

Every test prices made-up provider/model names of its own, so global prices never leak between tests.
Expected costs are computed here from the rates the test sets (Decimal, per 1M tokens).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.errors import InvalidInput
from core.usage.queries import CostQuery, cost_breakdown

MILLION = Decimal(1_000_000)


def made_up() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"acme-{tag}", f"model-{tag}"


def cost_of(rates: dict[str, Any], event: dict[str, Any]) -> Decimal:
    """The bill of one event for plain rates (no batch / long context), as the contract defines it."""
    r = {name: Decimal(str(value)) for name, value in rates.items()}
    cache_read: int = event.get("cache_read_tokens", 0)
    reasoning: int = event.get("reasoning_tokens", 0)
    total: Decimal = (
        (event["input_tokens"] - cache_read) * r["input"]
        + cache_read * r.get("cache_read", r["input"])
        + (event["output_tokens"] - reasoning) * r["output"]
        + reasoning * r.get("reasoning", r["output"])
    )
    return (total / MILLION).quantize(Decimal("1e-12"))


def events_for(provider: str, model: str, times: list[datetime], prefix: str = "e") -> list[dict[str, Any]]:
    return [
        {
            "request_id": f"{prefix}{i}",
            "timestamp": moment.isoformat(),
            "provider": provider,
            "model": model,
            "input_tokens": 1_000 + 37 * i,
            "output_tokens": 200 + 11 * i,
            "cache_read_tokens": 100 * (i % 3),
            "reasoning_tokens": 7 * (i % 2),
            "team": ["core", "growth"][i % 2],
        }
        for i, moment in enumerate(times)
    ]


def totals(db: Any, org_id: uuid.UUID, start: datetime, end: datetime, **options: Any) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return cost_breakdown(conn, CostQuery(org_id=org_id, start=start, end=end, **options))


def alerts(db: Any, org_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with db.connect_raw() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT type, status, dedupe_key, data, resolved_at IS NOT NULL FROM alert_events "
            "WHERE organization_id = %s ORDER BY created_at",
            (org_id,),
        ).fetchall()
    return rows


T0 = datetime(2026, 4, 6, 9, 15, tzinfo=UTC)


def test_unpriced_then_priced_and_repriced(make_org, db, load_jsonl, fetch_events, set_price, check_rollup):
    provider, model = made_up()
    org, other = make_org(), make_org()
    times = [T0 + timedelta(hours=7 * i, minutes=3 * i) for i in range(6)]
    events = events_for(provider, model, times)
    result = load_jsonl(org.id, events)
    assert (result.accepted, result.unpriced) == (6, 6)
    # priced neighbours in the same hours: repricing rebuilds those hours' rollups and must keep them
    neighbours = [
        {**e, "request_id": f"n{e['request_id']}", "provider": "openai", "model": "gpt-4o-mini"} for e in events
    ]
    assert load_jsonl(org.id, neighbours).unpriced == 0
    assert load_jsonl(other.id, events[:2]).unpriced == 2

    stored = fetch_events(org.id)
    neighbour_costs = {rid: row["cost"] for rid, row in stored.items() if rid.startswith("n")}
    assert all(cost is not None for cost in neighbour_costs.values())
    mine = [row for row in stored.values() if row["model"] == model]
    assert {(row["cost"], row["cost_status"], row["price_id"]) for row in mine} == {(None, "unpriced", None)}
    window = (T0 - timedelta(days=1), T0 + timedelta(days=3))
    report = totals(db, org.id, *window, group_by=("model",), filters={"model": model})
    assert report["meta"]["unpriced_requests"] == 6
    expected = {
        "model": model,
        "cost": None,  # never a silent $0
        "requests": 6,
        "input_tokens": sum(e["input_tokens"] for e in events),
        "output_tokens": sum(e["output_tokens"] for e in events),
        "cache_read_tokens": sum(e["cache_read_tokens"] for e in events),
    }
    assert len(report["data"]) == 1
    assert {key: report["data"][0][key] for key in expected} == expected
    (alert,) = alerts(db, org.id)
    assert alert[:3] == ("unpriced_model", "active", f"unpriced:{provider}/{model}")
    assert alert[3] == {"provider": provider, "model": model}
    # a second load of the same model keeps one alert
    load_jsonl(org.id, events_for(provider, model, [T0 + timedelta(days=1)], prefix="late"))
    assert len(alerts(db, org.id)) == 1

    rates = {"input": "2.5", "output": "10", "cache_read": "0.25", "reasoning": "12"}
    repriced = set_price(provider, model, rates)
    assert repriced == 7 + 2  # both orgs: a global price reprices every org's history

    stored = fetch_events(org.id)
    all_events = [*events, *events_for(provider, model, [T0 + timedelta(days=1)], prefix="late")]
    for e in all_events:
        row = stored[e["request_id"]]
        assert (row["cost"], row["cost_status"]) == (cost_of(rates, e), "priced")
        assert row["price_id"] is not None
    assert all(row["cost"] is not None for row in fetch_events(other.id).values())
    (alert,) = alerts(db, org.id)
    assert (alert[1], alert[4]) == ("resolved", True)
    assert {rid: stored[rid]["cost"] for rid in neighbour_costs} == neighbour_costs
    report = totals(db, org.id, *window, filters={"model": model})
    assert report["meta"]["unpriced_requests"] == 0
    assert Decimal(str(report["data"][0]["cost"])) == sum(cost_of(rates, e) for e in all_events)
    check_rollup(org.id)
    check_rollup(other.id)


def test_a_price_from_a_date_leaves_earlier_events_unpriced(org, db, load_jsonl, fetch_events, set_price):
    provider, model = made_up()
    start = datetime(2026, 3, 10, tzinfo=UTC)
    rates = {"input": "1", "output": "3"}
    set_price(provider, model, rates, effective_from=start)
    times = [start - timedelta(microseconds=1), start, start + timedelta(days=2)]
    events = events_for(provider, model, times)
    result = load_jsonl(org.id, [{**e, "cache_read_tokens": 0, "reasoning_tokens": 0} for e in events])
    assert (result.accepted, result.unpriced) == (3, 1)
    stored = fetch_events(org.id)
    assert stored["e0"]["cost"] is None
    assert stored["e1"]["cost"] == Decimal(events[1]["input_tokens"] + 3 * events[1]["output_tokens"]) / MILLION
    assert stored["e2"]["cost_status"] == "priced"
    # the earlier event keeps the model's unpriced alert active
    assert [a[1] for a in alerts(db, org.id)] == ["active"]


def test_pricing_after_ingest_from_a_date_reprices_only_later_events(
    org, db, load_jsonl, fetch_events, set_price, check_rollup
):
    provider, model = made_up()
    start = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    times = [start - timedelta(hours=2), start - timedelta(seconds=1), start, start + timedelta(hours=5)]
    events = events_for(provider, model, times)
    assert load_jsonl(org.id, events).unpriced == 4
    rates = {"input": "0.8", "output": "4", "cache_read": "0.08"}
    assert set_price(provider, model, rates, effective_from=start) == 2
    stored = fetch_events(org.id)
    assert [stored[f"e{i}"]["cost"] for i in range(4)] == [None, None, cost_of(rates, events[2]),
                                                           cost_of(rates, events[3])]  # fmt: skip
    assert [a[1] for a in alerts(db, org.id)] == ["active"]  # two events still have no price
    check_rollup(org.id)
    report = totals(db, org.id, start - timedelta(hours=3), start + timedelta(hours=6), granularity="hour")
    assert sum(item["unpriced_requests"] for item in report["data"]) == 2


def test_a_price_change_without_a_date_applies_from_now_on(org, load_jsonl, fetch_events, set_price):
    provider, model = made_up()
    first = {"input": "1", "output": "2"}
    set_price(provider, model, first)  # a new model: priced for all time
    past = events_for(provider, model, [datetime(2020, 1, 1, tzinfo=UTC), T0])
    load_jsonl(org.id, past)
    before = {rid: row["cost"] for rid, row in fetch_events(org.id).items()}
    assert before == {e["request_id"]: cost_of(first, e) for e in past}
    assert set_price(provider, model, {"input": "5", "output": "9"}) == 0  # from now: history keeps its price
    assert {rid: row["cost"] for rid, row in fetch_events(org.id).items()} == before


def test_editing_a_version_in_place_reprices_its_events(org, load_jsonl, fetch_events, set_price, check_rollup):
    provider, model = made_up()
    start = datetime(2026, 2, 1, tzinfo=UTC)
    set_price(provider, model, {"input": "1", "output": "1"}, effective_from=start)
    events = events_for(provider, model, [start + timedelta(days=d, hours=d) for d in range(3)])
    load_jsonl(org.id, events)
    corrected = {"input": "1.5", "output": "6", "cache_read": "0.15"}
    assert set_price(provider, model, corrected, effective_from=start) == 3
    assert {rid: row["cost"] for rid, row in fetch_events(org.id).items()} == {
        e["request_id"]: cost_of(corrected, e) for e in events
    }
    check_rollup(org.id)


@pytest.mark.parametrize("order", ["price_first", "ingest_first"])
def test_an_org_override_wins_for_that_org_only(make_org, load_jsonl, fetch_events, set_price, check_rollup, order):
    provider, model = made_up()
    own, other = make_org(), make_org()
    shared = {"input": "3", "output": "15"}
    negotiated = {"input": "2", "output": "10"}
    override_from = datetime(2026, 1, 15, tzinfo=UTC)
    events = events_for(provider, model, [override_from - timedelta(days=3), override_from + timedelta(hours=1),
                                          override_from + timedelta(days=20)])  # fmt: skip
    events = [{**e, "cache_read_tokens": 0, "reasoning_tokens": 0} for e in events]

    def price() -> None:
        set_price(provider, model, shared, effective_from=datetime(2025, 1, 1, tzinfo=UTC))
        set_price(provider, model, negotiated, effective_from=override_from, organization_id=own.id)

    if order == "price_first":
        price()
    for org in (own, other):
        load_jsonl(org.id, events)
    if order == "ingest_first":
        price()

    own_costs = {rid: row["cost"] for rid, row in fetch_events(own.id).items()}
    other_costs = {rid: row["cost"] for rid, row in fetch_events(other.id).items()}
    assert own_costs == {"e0": cost_of(shared, events[0]), "e1": cost_of(negotiated, events[1]),
                         "e2": cost_of(negotiated, events[2])}  # fmt: skip
    assert other_costs == {e["request_id"]: cost_of(shared, e) for e in events}
    check_rollup(own.id)
    check_rollup(other.id)

    # a later global price change does not reach through the override
    raised = {"input": "4", "output": "20"}
    set_price(provider, model, raised, effective_from=override_from + timedelta(days=10))
    assert {rid: row["cost"] for rid, row in fetch_events(own.id).items()} == own_costs
    assert {rid: row["cost"] for rid, row in fetch_events(other.id).items()} == {
        **other_costs,
        "e2": cost_of(raised, events[2]),
    }
    check_rollup(other.id)


@pytest.mark.parametrize("order", ["price_first", "ingest_first"])
def test_a_mid_month_price_change_splits_costs_at_its_moment(
    org, db, load_jsonl, fetch_events, set_price, check_rollup, order
):
    provider, model = made_up()
    old = {"input": "3", "output": "12", "cache_read": "0.3"}
    new = {"input": "1.75", "output": "7", "cache_read": "0.175", "reasoning": "9"}
    change = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)
    month_start, month_end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    times = [month_start + timedelta(hours=7 * i, minutes=(13 * i) % 60, seconds=i % 60) for i in range(105)]
    times += [change - timedelta(minutes=10), change, change + timedelta(minutes=10)]  # around the change
    assert all(month_start <= t < month_end for t in times)
    events = events_for(provider, model, times)

    def price() -> None:
        set_price(provider, model, old, effective_from=datetime(2026, 1, 1, tzinfo=UTC))
        set_price(provider, model, new, effective_from=change)

    if order == "price_first":
        price()
    load_jsonl(org.id, events)
    if order == "ingest_first":
        price()

    expected = {e["request_id"]: cost_of(new if t >= change else old, e) for e, t in zip(events, times, strict=True)}
    assert {rid: row["cost"] for rid, row in fetch_events(org.id).items()} == expected
    check_rollup(org.id)

    def period_cost(start: datetime, end: datetime) -> Decimal:
        return sum((expected[e["request_id"]] for e, t in zip(events, times, strict=True) if start <= t < end),
                   Decimal(0))  # fmt: skip

    before = totals(db, org.id, month_start, change)
    after = totals(db, org.id, change, month_end)
    assert Decimal(str(before["data"][0]["cost"])) == period_cost(month_start, change)
    assert Decimal(str(after["data"][0]["cost"])) == period_cost(change, month_end)
    by_day = totals(db, org.id, month_start, month_end, granularity="day")
    for item in by_day["data"]:
        day = datetime.fromisoformat(item["day"]).replace(tzinfo=UTC)
        assert abs(Decimal(str(item["cost"])) - period_cost(day, day + timedelta(days=1))) <= Decimal("1e-10")
    assert sum(item["requests"] for item in by_day["data"]) == len(events)


def test_a_price_needs_input_and_output_rates(set_price):
    provider, model = made_up()
    with pytest.raises(InvalidInput):
        set_price(provider, model, {"input": "1"})
    with pytest.raises(InvalidInput):
        set_price(provider, model, {"input": "-1", "output": "1"})
