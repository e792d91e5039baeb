"""FOCUS CSV and costs CSV/JSON exports: totals equal the costs query to the cent, FOCUS columns, roles, tenants."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ingest_support import ingest_api_fixture, tenant_factory_fixture  # noqa: F401  (fixtures)

START, END = "2026-09-30T06:00:00Z", "2026-10-03T18:00:00Z"  # partial first and last days


@pytest.fixture(scope="module")
def loaded(ingest_api, tenant_factory, db):
    tenant = tenant_factory()
    base = datetime(2026, 9, 29, 22, 0, tzinfo=UTC)
    events = []
    for i in range(400):
        moment = base + timedelta(minutes=17 * i)  # 29 Sep 22:00 → 4 Oct 11:00
        events.append(
            {
                "request_id": f"x-{i}",
                "timestamp": moment.isoformat(),
                "provider": ("openai", "anthropic")[i % 2],
                "model": ("gpt-4o", "claude-sonnet-4-5")[i % 2],
                "input_tokens": 500 + i,
                "output_tokens": 40 + i % 7,
                "cache_read_tokens": 256 if i % 3 == 0 else 0,
                "team": ("search", "ml", "")[i % 3],
                "project": f"p{i % 2}",
                "feature": f"f{i % 4}",
                "user_id": f"u{i % 5}",
                "environment": "prod",
            }
        )
    events += [
        {
            "request_id": f"np-{i}",
            "timestamp": (base + timedelta(hours=20 + i)).isoformat(),
            "provider": "acme-ai",
            "model": "secret-llm-xyz",
            "input_tokens": 10,
            "output_tokens": 5,
            "team": "search",
        }
        for i in range(3)
    ]
    r = ingest_api.post("/api/sdk/v1/track", json={"events": events}, headers=tenant.auth("ingest"))
    assert r.json()["accepted"] == 403
    return tenant


def _focus(ingest_api, tenant, role="owner", **params):
    return ingest_api.get(
        "/api/v1/export/focus", params={"start_date": START, "end_date": END, **params}, headers=tenant.auth(role)
    )


def _direct_total(db, org_id):
    with db.connect_raw() as conn:
        return conn.execute(
            "SELECT coalesce(sum(cost), 0), sum(input_tokens + output_tokens), count(*) FROM usage_events "
            "WHERE organization_id = %s AND timestamp >= %s AND timestamp < %s",
            (org_id, START, END),
        ).fetchone()


def test_focus_totals_equal_the_costs_query(ingest_api, loaded, db):
    r = _focus(ingest_api, loaded)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    billed = sum(Decimal(row["BilledCost"]) for row in rows)
    costs = ingest_api.get(
        "/api/v1/export/costs",
        params={"format": "json", "start_date": START, "end_date": END},
        headers=loaded.auth("viewer"),
    ).json()
    cost, tokens, count = _direct_total(db, loaded.id)
    assert billed == cost  # exact: same SQL, same stored decimals
    assert round(billed, 2) == round(Decimal(str(costs["meta"]["total_cost"])), 2)
    assert sum(int(row["ConsumedQuantity"]) for row in rows) == tokens
    assert sum(int(row["x_Requests"]) for row in rows) == count == costs["meta"]["total_requests"]
    assert sum(int(row["x_UnpricedRequests"]) for row in rows) == costs["meta"]["unpriced_requests"] == 3


def test_focus_columns(ingest_api, loaded):
    rows = list(csv.DictReader(io.StringIO(_focus(ingest_api, loaded).text)))
    for name in (
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ServiceName",
        "ProviderName",
        "SkuId",
        "ConsumedQuantity",
        "ConsumedUnit",
        "SubAccountId",
        "Tags",
    ):
        assert name in rows[0]
    assert {row["ServiceCategory"] for row in rows} == {"AI and Machine Learning"}
    assert {row["ConsumedUnit"] for row in rows} == {"Tokens"}
    assert {row["SkuId"] for row in rows} == {"gpt-4o", "claude-sonnet-4-5", "secret-llm-xyz"}
    assert {row["ProviderName"] for row in rows} >= {"OpenAI", "Anthropic"}
    assert {row["SubAccountId"] for row in rows} == {"search", "ml", ""}
    starts = sorted({row["ChargePeriodStart"] for row in rows})
    ends = sorted({row["ChargePeriodEnd"] for row in rows})
    assert starts[0] == "2026-09-30T06:00:00Z"
    assert ends[-1] == "2026-10-03T18:00:00Z"
    assert "2026-10-01T00:00:00Z" in starts
    assert "2026-10-01T00:00:00Z" in ends
    tagged = [json.loads(row["Tags"]) for row in rows if row["SkuId"] == "gpt-4o"]
    assert all({"project", "feature", "user_id", "environment"} <= set(tags) for tags in tagged)
    unpriced = [row for row in rows if row["SkuId"] == "secret-llm-xyz"]
    assert unpriced
    assert all(json.loads(row["Tags"])["tokentra_cost_status"] == "unpriced" for row in unpriced)
    assert all(Decimal(row["BilledCost"]) == 0 and "unpriced" in row["ChargeDescription"] for row in unpriced)
    assert all(row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] for row in rows)


def test_focus_filter_and_tenant_isolation(ingest_api, loaded, tenant_factory):
    rows = list(csv.DictReader(io.StringIO(_focus(ingest_api, loaded, team="ml").text)))
    assert rows
    assert {row["SubAccountId"] for row in rows} == {"ml"}
    other = tenant_factory()
    r = _focus(ingest_api, other)
    assert r.status_code == 200
    assert list(csv.DictReader(io.StringIO(r.text))) == []


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("billing", 200), ("viewer", 403), ("ingest", 403)])
def test_focus_roles(ingest_api, loaded, role, status):
    assert _focus(ingest_api, loaded, role).status_code == status


def test_focus_rejects_a_bad_period(ingest_api, loaded):
    r = ingest_api.get("/api/v1/export/focus", params={"start_date": END, "end_date": START}, headers=loaded.auth())
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_input"


def test_costs_csv_matches_costs_json(ingest_api, loaded):
    params = {"start_date": START, "end_date": END, "group_by": "model,team", "granularity": "day"}
    as_json = ingest_api.get(
        "/api/v1/export/costs", params={**params, "format": "json"}, headers=loaded.auth("viewer")
    ).json()
    r = ingest_api.get("/api/v1/export/costs", params={**params, "format": "csv"}, headers=loaded.auth("viewer"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0])[:3] == ["day", "model", "team"]
    assert len(rows) == len(as_json["data"])
    total = sum(Decimal(row["cost"] or "0") for row in rows)
    assert round(total, 2) == round(Decimal(str(as_json["meta"]["total_cost"])), 2)
    assert Decimal(r.headers["X-Total-Cost"]) == Decimal(str(as_json["meta"]["total_cost"]))
    assert r.headers["X-Unpriced-Requests"] == "3"
    bad = ingest_api.get("/api/v1/export/costs", params={**params, "format": "xml"}, headers=loaded.auth())
    assert bad.status_code == 422


def test_focus_total_equals_the_costs_api(ingest_api, loaded):
    r = _focus(ingest_api, loaded)
    billed = sum(Decimal(row["BilledCost"]) for row in csv.DictReader(io.StringIO(r.text)))
    costs = ingest_api.get(
        "/api/v1/costs", params={"start_date": START, "end_date": END}, headers=loaded.auth("viewer")
    )
    assert costs.status_code == 200, costs.text
    assert round(billed, 2) == round(Decimal(str(costs.json()["meta"]["total_cost"])), 2)
    assert abs(billed - Decimal(str(costs.json()["meta"]["total_cost"]))) < Decimal("1e-9")


def test_a_nul_character_in_a_filter_is_a_400(ingest_api, loaded):
    for path in ("/api/v1/export/focus", "/api/v1/export/costs"):
        r = ingest_api.get(path, params={"team": "a\x00b"}, headers=loaded.auth())
        assert r.status_code == 400, r.text
