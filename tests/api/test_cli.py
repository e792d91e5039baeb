"""The `tokentra` command line as users run it: subprocesses against the worker's database (few: each spawn
costs seconds). Every --json command prints exactly one JSON document on stdout; errors exit non-zero with one
line on stderr."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from core.orgs.service import get_org, hash_key
from core.usage.queries import CostQuery, cost_breakdown


def document(process: Any) -> Any:
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)  # exactly one JSON document: anything else on stdout fails here


def test_org_create_prints_id_slug_and_a_key_stored_only_as_a_hash(run_cli, db):
    slug = f"cli-{uuid.uuid4().hex[:10]}"
    doc = document(run_cli("org", "create", "--slug", slug, "--name", "CLI test", "--json"))
    assert set(doc) == {"id", "slug", "api_key"}
    assert doc["slug"] == slug
    assert isinstance(doc["api_key"], str)
    assert len(doc["api_key"]) >= 32
    with db.session() as session:
        org = get_org(session, slug)
        assert str(org.id) == str(uuid.UUID(doc["id"]))
        assert org.name == "CLI test"
        keys = session.execute(
            text("SELECT key_hash, role FROM api_keys WHERE organization_id = :org"), {"org": org.id}
        ).all()
        stored = session.execute(
            text("SELECT count(*) FROM api_keys WHERE row_to_json(api_keys)::text LIKE :secret"),
            {"secret": f"%{doc['api_key']}%"},
        ).scalar_one()
    assert [tuple(k) for k in keys] == [(hash_key(doc["api_key"]), "owner")]
    assert stored == 0


def test_ingest_then_costs_then_prices_set(run_cli, db, org, tmp_path: Path):
    provider, model = f"acme-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    lines = [
        {"request_id": "a", "timestamp": "2026-03-01T10:15:00Z", "provider": "openai", "model": "gpt-4o-mini",
         "input_tokens": 1000, "output_tokens": 100, "cache_read_tokens": 200, "team": "core"},
        {"request_id": "b", "timestamp": "2026-03-01T11:45:00Z", "provider": "openai", "model": "gpt-4o-mini",
         "input_tokens": 3000, "output_tokens": 10},
        {"request_id": "c", "timestamp": "2026-03-01T12:00:00Z", "provider": provider, "model": model,
         "input_tokens": 500_000, "output_tokens": 250_000},
        {"request_id": "a", "timestamp": "2026-03-01T10:15:00Z", "provider": "openai", "model": "gpt-4o-mini",
         "input_tokens": 1, "output_tokens": 1},
    ]  # fmt: skip
    path = tmp_path / "usage.jsonl"
    body = [json.dumps(line) for line in lines[:3]] + ['{"request_id": "broken"', json.dumps(lines[3])]
    path.write_text("\n".join(body) + "\n")

    doc = document(run_cli("ingest", str(path), "--org", org.slug, "--json"))
    assert {"accepted", "duplicates", "rejected"} <= set(doc)
    assert (doc["accepted"], doc["duplicates"]) == (3, 1)
    assert len(doc["rejected"]) == 1
    assert set(doc["rejected"][0]) == {"line", "error"}
    assert doc["rejected"][0]["line"] == 4
    assert doc["rejected"][0]["error"]

    args = ["--org", org.slug, "--from", "2026-03-01", "--to", "2026-03-01T12:30:00Z"]
    costs = document(run_cli("costs", *args, "--group-by", "model", "--json"))
    assert set(costs) >= {"data", "meta"}
    assert set(costs["meta"]) >= {"start", "end", "currency", "unpriced_requests"}
    assert costs["meta"]["currency"] == "USD"
    assert costs["meta"]["unpriced_requests"] == 1
    assert costs["meta"]["start"] == "2026-03-01T00:00:00Z"
    assert costs["meta"]["end"] == "2026-03-01T12:30:00Z"
    by_model = {item["model"]: item for item in costs["data"]}
    assert set(by_model) == {"gpt-4o-mini", model}
    for item in costs["data"]:
        assert {"cost", "requests", "input_tokens", "output_tokens", "cache_read_tokens"} <= set(item)
    assert by_model[model]["cost"] is None
    assert (by_model["gpt-4o-mini"]["requests"], by_model["gpt-4o-mini"]["input_tokens"]) == (2, 4000)
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with db.engine.connect() as conn:
        direct = cost_breakdown(conn, CostQuery(org_id=org.id, start=start, end=end, group_by=("model",)))
    assert costs["data"] == json.loads(json.dumps(direct["data"]))

    priced = document(
        run_cli("prices", "set", "--model", model, "--provider", provider, "--input", "2", "--output", "4", "--json")
    )
    assert priced["repriced"] == 1
    with db.engine.connect() as conn:
        after = cost_breakdown(conn, CostQuery(org_id=org.id, start=start, end=end, group_by=("model",)))
    assert after["meta"]["unpriced_requests"] == 0
    assert {item["model"]: item["cost"] for item in after["data"]}[model] == 0.5 * 2 + 0.25 * 4


def test_errors_exit_non_zero_with_one_line_on_stderr(run_cli, org):
    missing = f"no-such-org-{uuid.uuid4().hex[:6]}"
    cases = {
        "unknown org": (["costs", "--org", missing, "--from", "2026-03-01", "--to", "2026-03-02", "--json"], missing),
        "bad date": (["costs", "--org", org.slug, "--from", "not-a-date", "--to", "2026-03-02", "--json"],
                     "not-a-date"),
        "missing file": (["ingest", "/nonexistent/usage.jsonl", "--org", org.slug, "--json"], "usage.jsonl"),
    }  # fmt: skip
    results = run_cli.many([command for command, _ in cases.values()])
    for (name, (_, needle)), process in zip(cases.items(), results, strict=True):
        assert process.returncode != 0, name
        assert process.stdout == "", name
        lines = process.stderr.strip().splitlines()
        assert len(lines) == 1, (name, process.stderr)
        assert needle in lines[0], (name, lines[0])
