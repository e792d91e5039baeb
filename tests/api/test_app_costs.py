"""GET /api/v1/costs and the dashboard overview: exact figures from stored usage, for the key's org only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from app_support import add_recommendation, api_fixture, tenant_factory_fixture  # noqa: F401  (fixtures)
from sqlalchemy import text

NOW = datetime.now(UTC).replace(microsecond=0)
MONTH = NOW.replace(day=1, hour=0, minute=0, second=0)
AS_OF = MONTH + timedelta(days=2, hours=12)  # inside this month, with the same span in the previous one
PREV = (MONTH - timedelta(days=1)).replace(day=1)


def _events(prefix: str, when: datetime, team: str, n: int, model: str = "gpt-4o-mini") -> list[dict]:
    return [
        {"request_id": f"{prefix}-{i}", "timestamp": (when + timedelta(minutes=i)).isoformat(), "provider": "openai",
         "model": model, "input_tokens": 1000 + i, "output_tokens": 200, "team": team, "feature": "chat"}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def loaded(tenant_factory, db, price_book):
    import io
    import json

    from core.usage.ingest import ingest
    from core.usage.readers import jsonl_lines, parse_json_line

    a, b = tenant_factory(), tenant_factory()
    this_month = _events("a", AS_OF - timedelta(days=1), "search", 30) + _events("a2", AS_OF - timedelta(hours=3),
                                                                                 "support", 10)  # fmt: skip
    last_month = _events("p", PREV + timedelta(days=1), "search", 12)
    for org, events in ((a, this_month + last_month), (b, _events("b", AS_OF - timedelta(days=1), "secret-team", 7))):
        items = jsonl_lines(io.BytesIO("".join(json.dumps(e) + "\n" for e in events).encode()))
        ingest(db, org_id=org.id, items=items, parse=parse_json_line, book=price_book())
    return a, b


def _sql_sum(db, org_id, start, end):
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT coalesce(sum(cost), 0), count(*) FROM usage_events WHERE organization_id = :o "
                 "AND timestamp >= :s AND timestamp < :e"),
            {"o": org_id, "s": start, "e": end},
        ).one()  # fmt: skip


def test_costs_equal_a_direct_sum_and_group(api, db, loaded):
    a, _ = loaded
    start, end = MONTH - timedelta(days=40), AS_OF
    r = api.get("/api/v1/costs", params={"start_date": start.isoformat(), "end_date": end.isoformat(),
                                         "group_by": "team"}, headers=a.auth("viewer"))  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    total, count = _sql_sum(db, a.id, start, end)
    assert body["meta"]["total_requests"] == count == 52
    assert body["meta"]["total_cost"] == pytest.approx(float(total), abs=1e-9)
    assert {row["team"] for row in body["data"]} == {"search", "support"}
    assert all(set(row) >= {"team", "cost", "requests"} and "model" not in row for row in body["data"])


def test_costs_filters_and_granularity(api, loaded):
    a, _ = loaded
    params = {"start_date": (AS_OF - timedelta(days=2)).isoformat(), "end_date": AS_OF.isoformat(),
              "team": "support", "granularity": "day"}  # fmt: skip
    body = api.get("/api/v1/costs", params=params, headers=a.auth()).json()
    assert sum(row["requests"] for row in body["data"]) == 10
    assert all("day" in row for row in body["data"])
    assert body["meta"]["filters"] == {"team": "support"}


def test_a_nul_in_a_filter_is_a_clear_400(api, loaded):
    a, _ = loaded
    response = api.get("/api/v1/costs", params={"team": "sup\x00port"}, headers=a.auth())
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


def test_costs_never_show_another_orgs_usage(api, loaded):
    a, b = loaded
    params = {"start_date": (AS_OF - timedelta(days=3)).isoformat(), "end_date": AS_OF.isoformat()}
    mine = api.get("/api/v1/costs", params={**params, "team": "secret-team"}, headers=a.auth()).json()
    assert mine["meta"]["total_requests"] == 0
    assert mine["meta"]["total_cost"] == 0
    assert api.get("/api/v1/costs", params=params, headers=b.auth()).json()["meta"]["total_requests"] == 7


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"start_date": "2025-02-01", "end_date": "2025-01-01"}, 400),
        ({"group_by": "colour"}, 422),
        ({"granularity": "minute"}, 422),
        ({"start_date": "yesterday"}, 422),
        ({"start_date": "2000-01-01", "end_date": "2025-01-01", "granularity": "hour"}, 400),
    ],
)
def test_costs_bad_parameters(api, loaded, params, status):
    a, _ = loaded
    r = api.get("/api/v1/costs", params=params, headers=a.auth())
    assert r.status_code == status
    assert r.json()["error"]["message"]


def test_dashboard_overview_figures_come_from_stored_usage(api, db, loaded):
    a, _ = loaded
    add_recommendation(db, a.id)
    r = api.get("/api/internal/dashboard/overview", params={"as_of": AS_OF.isoformat()}, headers=a.auth("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    mtd, mtd_count = _sql_sum(db, a.id, MONTH, AS_OF)
    prev, prev_count = _sql_sum(db, a.id, PREV, PREV + (AS_OF - MONTH))
    assert prev_count == 12
    summary = body["summary"]
    assert summary["total_spend_mtd"] == pytest.approx(float(mtd), abs=1e-9)
    assert summary["total_requests_mtd"] == mtd_count == 40
    assert summary["previous_period_spend"] == pytest.approx(float(prev), abs=1e-9)
    change = round((float(mtd) - float(prev)) / float(prev) * 100, 2)
    assert summary["spend_change_percent"] == pytest.approx(change)
    assert summary["active_providers"] == 1
    assert summary["pending_recommendations"] >= 1
    assert summary["active_alerts"] == 0
    assert [c["name"] for c in body["top_consumers"]][:2] == ["search", "support"]
    assert sum(d["requests"] for d in body["spend_by_day"]) == 40
    assert body["spend_by_provider"][0]["percentage"] == 100.0
    assert body["queries"]


def test_dashboard_hides_sections_a_viewer_may_not_read(api, loaded):
    a, b = loaded
    body = api.get("/api/internal/dashboard/overview", headers=a.auth("viewer")).json()
    assert body["recommendations"] is None
    assert body["summary"]["pending_recommendations"] is None
    assert body["alerts"] is None
    other = api.get("/api/internal/dashboard/overview", params={"as_of": AS_OF.isoformat()}, headers=b.auth()).json()
    assert {c["name"] for c in other["top_consumers"]} == {"secret-team"}
