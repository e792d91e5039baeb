"""POST /api/internal/assistant/query and `tokentra ask --json`: the Answer shape, the org from the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from app_support import api_fixture, tenant_factory_fixture  # noqa: F401  (fixtures)

NOW = datetime(2026, 4, 8, 12, tzinfo=UTC)


def _load(db: Any, price_book: Any, org_id: Any, n: int) -> None:
    from core.usage.events import decode_json
    from core.usage.ingest import ingest

    events = [
        {
            "request_id": f"r{i}",
            "timestamp": (NOW - timedelta(hours=i + 1)).isoformat(),
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 20_000,
            "output_tokens": 900,
            "team": "core",
        }
        for i in range(n)
    ]
    lines = [orjson.dumps(e) for e in events]
    ingest(db, org_id=org_id, items=enumerate(lines, start=1), parse=decode_json, book=price_book())


def test_query_answers_for_the_keys_org_only(api: Any, tenant_factory: Any, db: Any, price_book: Any) -> None:
    mine, other = tenant_factory(), tenant_factory()
    _load(db, price_book, mine.id, 30)
    _load(db, price_book, other.id, 5)
    body = {"query": "How much did we spend in the last 7 days?", "as_of": NOW.isoformat()}
    response = api.post("/api/internal/assistant/query", json=body, headers=mine.auth("viewer"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) >= {"answer", "period", "figures", "queries", "suggested_actions", "llm"}
    assert answer["llm"] == "offline"
    requests = next(f["value"] for f in answer["figures"] if f["label"] == "requests")
    assert requests == 30
    assert api.post("/api/internal/assistant/query", json=body).status_code == 401
    assert api.post("/api/internal/assistant/query", json={"query": ""}, headers=mine.auth()).status_code in (400, 422)


def test_cli_ask_json(run_cli: Any, tenant_factory: Any, db: Any, price_book: Any) -> None:
    tenant = tenant_factory()
    _load(db, price_book, tenant.id, 12)
    result = run_cli("ask", "--org", tenant.slug, "--as-of", NOW.isoformat(), "how many requests today?", "--json")
    assert result.returncode == 0, result.stderr
    answer = orjson.loads(result.stdout)
    assert answer["period"] == {"start": "2026-04-08T00:00:00Z", "end": "2026-04-08T12:00:00Z"}
    assert next(f["value"] for f in answer["figures"] if f["label"] == "requests") == 12
    bad = run_cli("ask", "--org", "no-such-org", "how much?", "--json")
    assert bad.returncode != 0
    assert bad.stderr.strip()
