"""tokentra nightly: once per org and day, two concurrent runners never duplicate the work."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from graphs.nightly import run_org

AS_OF = datetime(2026, 5, 1, tzinfo=UTC)


def _events(n: int) -> list[dict[str, Any]]:
    return [{"request_id": f"n-{i}", "timestamp": (AS_OF - timedelta(hours=i + 1)).isoformat(), "provider": "openai",
             "model": "gpt-4o", "input_tokens": 1000 + i, "output_tokens": 200, "feature": "chat"}
            for i in range(n)]  # fmt: skip


def test_nightly_runs_once_per_org_and_day(db: Any, org: Any, load_jsonl: Any) -> None:
    load_jsonl(org.id, _events(200))
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def runner() -> None:
        barrier.wait()
        results.append(run_org(db, org_id=org.id, slug=org.slug, as_of=AS_OF))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["done", "skipped"]
    done = next(r for r in results if r["status"] == "done")
    assert {"recommendations", "anomalies", "budgets", "llm_usage"} <= set(done)
    again = run_org(db, org_id=org.id, slug=org.slug, as_of=AS_OF)
    assert again["status"] == "skipped"
    assert again["reason"] == "already done today"
    with db.session() as session:
        runs = session.execute(text("SELECT kind, count(*) FROM agent_runs WHERE organization_id = :o GROUP BY kind"),
                               {"o": org.id}).all()  # fmt: skip
    assert dict(runs) == {"nightly": 1, "recommend": 1}
    later = run_org(db, org_id=org.id, slug=org.slug, as_of=AS_OF + timedelta(days=1))
    assert later["status"] == "done"  # a new day is new work
