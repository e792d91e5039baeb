"""Append-only rollups: batches split a group into several rows that add up; compaction merges them exactly."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from core.usage.rollups import compact_rollups, hours_between

START = datetime(2026, 4, 1, tzinfo=UTC)


def _events(count: int, *, seed: int) -> list[dict[str, Any]]:
    """Events over two days in shuffled order, so every batch writes rows for hours other batches wrote."""
    rng = random.Random(seed)
    events = [
        {
            "request_id": f"c{seed}-{i}",
            "provider": "openai",
            "model": rng.choice(("gpt-4o", "gpt-4o-mini")),
            "timestamp": (START + timedelta(minutes=rng.randint(0, 2 * 24 * 60 - 1))).isoformat(),
            "input_tokens": rng.randint(10, 5_000),
            "output_tokens": rng.randint(1, 900),
            "cache_read_tokens": rng.choice((0, 5)),
            "team": rng.choice(("a", "b", "")),
            "latency_ms": rng.choice((None, 120.5, 33.25)),
        }
        for i in range(count)
    ]
    rng.shuffle(events)
    return events


def _rows(db: Any, org_id: uuid.UUID, table: str) -> tuple[int, int]:
    """(rows, distinct groups) of one org's rollup."""
    bucket = "hour" if table == "usage_rollup_hourly" else "day"
    group = f"{bucket}, provider, model, team, project, feature, environment, task_type, status"
    with db.connect_raw() as conn:
        row = conn.execute(
            f"SELECT count(*), (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE organization_id = %s "
            f"GROUP BY {group}) g) FROM {table} WHERE organization_id = %s",
            (org_id, org_id),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_batches_split_groups_and_compaction_merges_them_exactly(db, org, load_jsonl, check_rollup) -> None:
    result = load_jsonl(org.id, _events(600, seed=1), batch_rows=50)
    assert result.accepted == 600
    check_rollup(org.id)  # the split rows add up to the raw events
    with db.connect_raw() as conn:
        compact_rollups(conn, org.id, hours_between(START, START + timedelta(days=2)))
    for table in ("usage_rollup_hourly", "usage_rollup_daily"):
        rows, groups = _rows(db, org.id, table)
        assert rows == groups  # one row per group now
    check_rollup(org.id)


def test_compaction_keeps_other_orgs_and_days_apart(db, make_org, load_jsonl, check_rollup) -> None:
    first, second = make_org(), make_org()
    load_jsonl(first.id, _events(300, seed=2), batch_rows=40)
    load_jsonl(second.id, _events(300, seed=3), batch_rows=40)
    before = _rows(db, second.id, "usage_rollup_hourly")
    with db.connect_raw() as conn:  # only the first org's first day
        compact_rollups(conn, first.id, hours_between(START, START + timedelta(hours=5)))
    assert _rows(db, second.id, "usage_rollup_hourly") == before
    with db.connect_raw() as conn:
        second_day = conn.execute(
            "SELECT count(*) > count(DISTINCT (hour, model, team)) FROM usage_rollup_hourly "
            "WHERE organization_id = %s AND hour >= %s",
            (first.id, START + timedelta(days=1)),
        ).fetchone()
    assert second_day == (True,)  # the second day was not in the range: still split
    check_rollup(first.id)
    check_rollup(second.id)


def test_concurrent_compactions_and_loads_never_count_a_row_twice(db, org, load_jsonl, check_rollup) -> None:
    load_jsonl(org.id, _events(400, seed=4), batch_rows=30)
    errors: list[BaseException] = []

    def compact() -> None:
        try:
            with db.connect_raw() as conn:
                for _ in range(3):
                    compact_rollups(conn, org.id, hours_between(START, START + timedelta(days=2)))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def load() -> None:
        try:
            load_jsonl(org.id, _events(400, seed=5), batch_rows=30)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=compact) for _ in range(3)] + [threading.Thread(target=load)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check_rollup(org.id)
