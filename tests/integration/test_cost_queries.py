"""cost_breakdown against the raw events: every dimension, filters, granularities and unaligned windows.

The dataset is ingested once per module for one org. Each breakdown is compared with sums computed here in
Python from the org's raw `usage_events` rows: exactly (Decimal) for the SQL the query runs, and to 1e-10 for
the floats the API returns.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import InvalidInput
from core.usage.queries import CostQuery, build_sql, cost_breakdown

DAY0 = datetime(2026, 6, 1, tzinfo=UTC)
UNALIGNED = (datetime(2026, 6, 1, 5, 17, 23, 456789, tzinfo=UTC), datetime(2026, 6, 3, 19, 42, 1, tzinfo=UTC))
WINDOWS = {
    "aligned": (DAY0, DAY0 + timedelta(days=3)),
    "unaligned": UNALIGNED,
    "same_hour": (datetime(2026, 6, 2, 10, 5, tzinfo=UTC), datetime(2026, 6, 2, 10, 55, tzinfo=UTC)),
    "aligned_start": (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 6, 2, 13, 30, 0, 1, tzinfo=UTC)),
    "aligned_end": (datetime(2026, 6, 1, 23, 0, 0, 1, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC)),
    "two_seconds": (datetime(2026, 6, 2, 10, 59, 59, tzinfo=UTC), datetime(2026, 6, 2, 11, 0, 1, tzinfo=UTC)),
    "beyond_the_data": (DAY0 - timedelta(days=2), DAY0 + timedelta(days=9)),
}
# events exactly on the windows' edges
EDGE_TIMES = [
    UNALIGNED[0],
    UNALIGNED[1],
    UNALIGNED[1] - timedelta(microseconds=1),
    datetime(2026, 6, 2, 11, tzinfo=UTC),
    datetime(2026, 6, 2, 10, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 6, 2, tzinfo=UTC),
    DAY0,
]
DIMENSIONS = ("day", "hour", "provider", "model", "team", "project", "feature", "user_id", "environment",
              "task_type", "status")  # fmt: skip
MEASURES = ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
            "reasoning_tokens", "unpriced_requests")  # fmt: skip


def _events(rng: random.Random, models: list[tuple[str, str]]) -> Iterable[dict[str, Any]]:
    times = [DAY0 + timedelta(microseconds=rng.randrange(0, 3 * 86_400 * 10**6)) for _ in range(1500)]
    for index, moment in enumerate([*times, *EDGE_TIMES]):
        provider, model = rng.choice(models)
        input_tokens = rng.randrange(1, 40_000)
        output_tokens = rng.randrange(0, 3_000)
        event: dict[str, Any] = {
            "request_id": f"q-{index}",
            "timestamp": moment.isoformat(),
            "provider": provider,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_tokens": rng.choice([0, 0, input_tokens // 3]),
            "reasoning_tokens": rng.choice([0, output_tokens // 4]),
            "status": rng.choice(["success"] * 6 + ["error", "timeout", "cancelled"]),
            "batch": rng.random() < 0.1,
        }
        for name, values in (
            ("team", ["core", "growth", "infra"]),
            ("project", ["alpha", "beta"]),
            ("feature", ["chat", "search", "summarize"]),
            ("user_id", [f"u{n}" for n in range(12)]),
            ("environment", ["prod", "staging"]),
            ("task_type", ["classification", "code_generation", "summarization"]),
        ):
            value = rng.choice([*values, None])
            if value is not None:
                event[name] = value
        yield event


@pytest.fixture(scope="module")
def dataset(db: Any) -> dict[str, Any]:
    """An org with ~1500 events over three days; returns its id and its stored rows."""
    from core.orgs.service import create_org
    from core.pricing.book import PriceBook
    from core.pricing.reprice import PriceInput, add_price
    from core.usage.ingest import ingest
    from core.usage.readers import jsonl_lines, parse_json_line

    tag = uuid.uuid4().hex[:10]
    priced = (f"acme-{tag}", f"long-{tag}")
    with db.session() as session:
        org = create_org(session, slug=f"q-{tag}")
        rates = {"input": "1.23456789", "output": "7.7", "long_context_input": "2.5", "batch_input": "0.6"}
        price = PriceInput(
            provider=priced[0],
            model=priced[1],
            long_context_threshold=20_000,
            rates={name: Decimal(value) for name, value in rates.items()},
        )
        add_price(session, price)
        book = PriceBook.load(session)
        org_id = org.id
    models = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), priced,
              (f"nobody-{tag}", "unpriced-model")]  # fmt: skip
    lines = [json.dumps(e).encode() for e in _events(random.Random(42), models)]

    def load(chunk: list[bytes], batch_rows: int) -> Any:
        items = jsonl_lines(io.BytesIO(b"\n".join(chunk)))
        return ingest(db, org_id=org_id, items=items, parse=parse_json_line, book=book, batch_rows=batch_rows)

    # one event first, so that June's partition exists before several batches are stored at once
    # (test_ingest.py's xfail test covers that race)
    first, rest = load(lines[:1], 1), load(lines[1:], 400)
    assert first.accepted + rest.accepted == len(lines) == 1500 + len(EDGE_TIMES)
    assert rest.rejected_count == 0
    with db.connect_raw() as conn:
        cursor = conn.execute("SELECT * FROM usage_events WHERE organization_id = %s", (org_id,))
        names = [column.name for column in cursor.description or ()]
        rows = [dict(zip(names, values, strict=True)) for values in cursor]
    assert any(row["cost"] is None for row in rows)
    assert any(row["cost"] is not None for row in rows)
    return {"org_id": org_id, "rows": rows}


def _value(row: dict[str, Any], dim: str) -> str | None:
    moment: datetime = row["timestamp"].astimezone(UTC)
    if dim == "day":
        return moment.strftime("%Y-%m-%d")
    if dim == "hour":
        return moment.strftime("%Y-%m-%dT%H:00:00Z")
    value = row[dim]
    return value if value else None


def expected_breakdown(rows: list[dict[str, Any]], q: CostQuery) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The breakdown computed from raw rows, keyed by the query's dimensions (granularity first)."""
    dims = ([q.granularity] if q.granularity != "none" and q.granularity not in q.group_by else []) + list(
        dict.fromkeys(q.group_by)
    )
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        if not q.start <= row["timestamp"] < q.end:
            continue
        if any((_value(row, dim) or "") != value for dim, value in q.filters.items()):
            continue
        key = tuple(_value(row, dim) for dim in dims)
        sums = groups.setdefault(key, {"cost": Decimal(0), **dict.fromkeys(MEASURES, 0)})
        sums["cost"] += row["cost"] or Decimal(0)
        sums["requests"] += 1
        sums["unpriced_requests"] += row["cost"] is None
        for name in MEASURES[1:6]:
            sums[name] += row[name]
    return groups


def check(db: Any, dataset: dict[str, Any], q: CostQuery) -> dict[str, Any]:
    expected = expected_breakdown(dataset["rows"], q)
    dims = q.dimensions
    # exact: the SQL the breakdown runs
    sql, params = build_sql(q)
    with db.engine.connect() as conn:
        exact = {tuple(row[d] or None for d in dims): row for row in conn.execute(text(sql), params).mappings()}
        result = cost_breakdown(conn, q)
    assert set(exact) == set(expected)
    for key, sums in expected.items():
        assert exact[key]["cost"] == sums["cost"], key
        assert {m: exact[key][m] for m in MEASURES} == {m: sums[m] for m in MEASURES}, key
    # the API's view: floats to 1e-10, the same groups, no repeats
    data = result["data"]
    assert len(data) == len(expected)
    for item in data:
        sums = expected[tuple(item[d] for d in dims)]
        for name in ("requests", "input_tokens", "output_tokens", "cache_read_tokens"):
            assert item[name] == sums[name]
        if sums["unpriced_requests"] == sums["requests"]:
            assert item["cost"] is None
        else:
            assert abs(Decimal(repr(item["cost"])) - sums["cost"]) <= Decimal("1e-10"), (item, sums["cost"])
    meta = result["meta"]
    assert meta["currency"] == "USD"
    assert meta["unpriced_requests"] == sum(s["unpriced_requests"] for s in expected.values())
    assert datetime.fromisoformat(meta["start"].replace("Z", "+00:00")) == q.start
    assert datetime.fromisoformat(meta["end"].replace("Z", "+00:00")) == q.end
    _check_order(data, dims)
    return result


def _check_order(data: list[dict[str, Any]], dims: tuple[str, ...]) -> None:
    """Time dimensions ascending; within one time bucket, cost descending."""
    time_dims = [d for d in dims if d in ("day", "hour")]
    keys = [(tuple(item[d] for d in time_dims), item["cost"] or 0.0) for item in data]
    for (time_a, cost_a), (time_b, cost_b) in itertools.pairwise(keys):
        assert time_a < time_b or (time_a == time_b and cost_a >= cost_b)


@pytest.mark.parametrize("dim", DIMENSIONS)
@pytest.mark.parametrize("window", ["unaligned", "aligned"])
def test_group_by_each_dimension(db, dataset, dim, window):
    start, end = WINDOWS[window]
    check(db, dataset, CostQuery(org_id=dataset["org_id"], start=start, end=end, group_by=(dim,)))


@pytest.mark.parametrize("window", sorted(WINDOWS))
@pytest.mark.parametrize("granularity", ["none", "hour", "day"])
def test_granularity_and_window_edges(db, dataset, window, granularity):
    start, end = WINDOWS[window]
    q = CostQuery(org_id=dataset["org_id"], start=start, end=end, granularity=granularity, group_by=("model",))
    check(db, dataset, q)


@pytest.mark.parametrize(
    ("group_by", "granularity", "filters"),
    [
        ((), "none", {}),
        (("team", "model"), "day", {}),
        (("provider", "status", "environment"), "hour", {}),
        (("user_id", "model"), "day", {}),
        (("user_id",), "hour", {"team": "core"}),
        (("model",), "none", {"user_id": "u3"}),
        (("feature", "task_type", "project"), "none", {"status": "error"}),
        (("day", "hour"), "hour", {"environment": "prod", "provider": "openai"}),
        (("team",), "day", {"model": "unpriced-model"}),
        (("model", "model"), "none", {}),
    ],
)
def test_combinations_and_filters(db, dataset, group_by, granularity, filters):
    start, end = UNALIGNED
    q = CostQuery(org_id=dataset["org_id"], start=start, end=end, group_by=group_by, granularity=granularity,
                  filters=filters)  # fmt: skip
    check(db, dataset, q)


def test_totals_add_up_across_adjacent_windows(db, dataset):
    """[a, b) + [b, c) = [a, c), with b in the middle of an hour."""
    a, c = UNALIGNED
    b = datetime(2026, 6, 2, 14, 33, 7, 250, tzinfo=UTC)
    org_id = dataset["org_id"]
    with db.engine.connect() as conn:
        parts = [cost_breakdown(conn, CostQuery(org_id=org_id, start=s, end=e)) for s, e in ((a, b), (b, c), (a, c))]
    left, right, whole = (p["data"][0] for p in parts)
    assert left["requests"] + right["requests"] == whole["requests"]
    assert abs(Decimal(repr(left["cost"])) + Decimal(repr(right["cost"])) - Decimal(repr(whole["cost"]))) <= Decimal(
        "2e-10"
    )


def test_an_empty_period_has_no_groups(db, dataset):
    start = DAY0 - timedelta(days=30)
    q = CostQuery(org_id=dataset["org_id"], start=start, end=start + timedelta(days=1), group_by=("model",))
    result = check(db, dataset, q)
    assert result["data"] == []
    assert result["meta"]["unpriced_requests"] == 0


def test_the_total_of_an_empty_period_is_zero_not_null(db, dataset):
    start = DAY0 - timedelta(days=30)
    with db.engine.connect() as conn:
        result = cost_breakdown(conn, CostQuery(org_id=dataset["org_id"], start=start, end=start + timedelta(days=1)))
    assert result["meta"]["unpriced_requests"] == 0
    assert all(item["requests"] == 0 and item["cost"] == 0 for item in result["data"])


def test_another_org_sees_nothing_of_this_one(db, dataset, org):
    start, end = WINDOWS["beyond_the_data"]
    with db.engine.connect() as conn:
        result = cost_breakdown(conn, CostQuery(org_id=org.id, start=start, end=end, group_by=("model",)))
    assert result["data"] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"end": DAY0},  # empty period
        {"end": DAY0 - timedelta(hours=1)},
        {"group_by": ("colour",)},
        {"filters": {"colour": "red"}},
        {"granularity": "week"},
    ],
)
def test_invalid_queries_are_refused(kwargs):
    options: dict[str, Any] = {"org_id": uuid.uuid4(), "start": DAY0, "end": DAY0 + timedelta(days=1), **kwargs}
    with pytest.raises(InvalidInput):
        CostQuery(**options)


@pytest.mark.parametrize(("dim", "value"), [("day", "2026-06-02"), ("hour", "2026-06-02T10:00:00Z")])
def test_filter_on_a_time_dimension(db, dataset, dim, value):
    start, end = UNALIGNED
    try:
        q = CostQuery(org_id=dataset["org_id"], start=start, end=end, filters={dim: value}, group_by=("model",))
    except InvalidInput:
        return  # refusing it cleanly would be fine too
    with db.engine.connect() as conn:
        try:
            cost_breakdown(conn, q)
        except InvalidInput:
            return
    check(db, dataset, q)
