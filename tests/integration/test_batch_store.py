"""The batch store's key claim: optimistic COPY first, lookup after the first clash, one transaction per batch."""

from __future__ import annotations

from typing import Any

import pytest

from core.usage.store import BatchStore, RollupSpan


def _event(request_id: str, minute: int = 0) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "timestamp": f"2026-05-02T10:{minute:02d}:00Z",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 10,
    }


def _keys(db: Any, org_id: Any) -> int:
    with db.connect_raw() as conn:
        row = conn.execute("SELECT count(*) FROM usage_request_keys WHERE organization_id = %s", (org_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_batch_overlapping_stored_ids_falls_back_to_the_lookup(org, load_jsonl, fetch_events, check_rollup) -> None:
    first = load_jsonl(org.id, [_event(f"r{i}", i) for i in range(10)])
    assert (first.accepted, first.duplicates) == (10, 0)
    # Batches of 4: the first clashes (r8, r9 stored) and is stored through the lookup; the rest follow it.
    again = load_jsonl(org.id, [_event(f"r{i}", i % 60) for i in range(8, 20)], batch_rows=4)
    assert (again.accepted, again.duplicates) == (10, 2)
    assert set(fetch_events(org.id)) == {f"r{i}" for i in range(20)}
    check_rollup(org.id)


def test_a_batch_that_fails_after_claiming_leaves_no_key(db, org, load_jsonl, monkeypatch, fetch_events) -> None:
    def fail(self: BatchStore, cur: Any, fresh: Any) -> None:
        raise RuntimeError("events COPY failed")

    monkeypatch.setattr(BatchStore, "_copy_events", fail)
    with pytest.raises(RuntimeError):
        load_jsonl(org.id, [_event(f"f{i}", i) for i in range(5)])
    assert _keys(db, org.id) == 0  # the claim was rolled back with the batch
    monkeypatch.undo()
    assert load_jsonl(org.id, [_event(f"f{i}", i) for i in range(5)]).accepted == 5
    assert len(fetch_events(org.id)) == 5


def test_rollup_span_marks_hours_written_twice_and_the_edges() -> None:
    span = RollupSpan()
    span.add({100, 101})
    span.add({101, 102})
    span.add({105})
    assert span.split == {101}
    assert (span.first, span.last) == (100, 105)
