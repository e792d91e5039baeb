"""The skeptic's re-run of a detector: skipped only while the window is provably unchanged since detection (same
calls, billed cost and last ingest); any new or repriced usage in the window makes it re-run the detector."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.base import Services
from tools.detections import detect

END = datetime(2026, 6, 1, tzinfo=UTC)
START = END - timedelta(days=7)


def _events(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"request_id": f"{prefix}-{i}", "timestamp": (END - timedelta(minutes=7 * i + 1)).isoformat(),
             "provider": "openai", "model": "gpt-4o", "input_tokens": 1500, "output_tokens": 200 + i,
             "feature": "chat", "trace_id": f"{prefix}-t{i}"} for i in range(n)]  # fmt: skip


def test_redetection_reuses_only_an_unchanged_window(db: Any, org: Any, load_jsonl: Any, set_price: Any) -> None:
    load_jsonl(org.id, _events("a", 60))
    services = Services(db=db, llm=None, org_id=org.id, start=START, end=END)
    with db.engine.connect() as conn:
        found = detect(conn, org_id=org.id, start=START, end=END, dedupe=False)
    services.seed_detection(found)
    basis = services.redetection_basis()
    assert basis["rerun"] is False
    assert basis["at_review"] == basis["at_detection"]
    assert basis["at_review"]["calls"] == 60
    assert services.redetect("model_downgrade") == {f.fingerprint: f for f in found if f.type == "model_downgrade"}

    changed = Services(db=db, llm=None, org_id=org.id, start=START, end=END)
    changed.seed_detection(found)
    load_jsonl(org.id, _events("b", 5))  # late usage lands in the window after detection
    basis = changed.redetection_basis()
    assert basis["rerun"] is True
    assert basis["at_review"]["calls"] == 65
    assert basis["at_review"]["calls"] != basis["at_detection"]["calls"]
    fresh = Services(db=db, llm=None, org_id=org.id, start=START, end=END)  # a resumed run: nothing seeded
    assert fresh.redetection_basis()["rerun"] is True

    repriced = Services(db=db, llm=None, org_id=org.id, start=START, end=END)
    repriced.seed_detection(found)
    set_price(f"p-{uuid.uuid4().hex[:8]}", "m-new", {"input": "1", "output": "2"})  # the list prices changed
    basis = repriced.redetection_basis()
    assert basis["rerun"] is True
    assert basis["prices_unchanged"] is False
    assert basis["at_review"] == basis["at_detection"]  # same usage: only the catalogue moved
