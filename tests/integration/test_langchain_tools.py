"""The tools as LangChain tools (tools/registry.py): every tool answers valid arguments with JSON content and the
same figures the database holds, and answers bad arguments or refused requests with a one-line tool error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from sqlalchemy import text

from tools.registry import TOOL_NAMES, ToolContext, langchain_tools

END = datetime(2026, 4, 1, tzinfo=UTC)
START = END - timedelta(days=14)


def _events(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"request_id": f"{prefix}-{i}", "timestamp": (END - timedelta(hours=3 * i + 1)).isoformat(),
             "provider": "openai", "model": "gpt-4o" if i % 3 else "gpt-4o-mini", "input_tokens": 2000 + 10 * i,
             "output_tokens": 300 + i, "team": "search" if i % 2 else "support", "feature": "chat"}
            for i in range(n)]  # fmt: skip


@pytest.fixture
def bound(db: Any, make_org: Any, load_jsonl: Any) -> tuple[Any, dict[str, BaseTool]]:
    org, other = make_org(), make_org()
    load_jsonl(org.id, _events("mine", 100))
    load_jsonl(other.id, _events("theirs", 40))  # another org's rows: no tool may see them
    return org, {t.name: t for t in langchain_tools(ToolContext(db=db, org_id=org.id), agent="test")}


def _call(tool: BaseTool, args: dict[str, Any]) -> ToolMessage:
    message = tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})
    assert isinstance(message, ToolMessage)
    return message


def _ok(tool: BaseTool, args: dict[str, Any]) -> Any:
    message = _call(tool, args)
    assert message.status == "success", message.content
    assert json.loads(str(message.content)) == json.loads(json.dumps(message.artifact, default=str))
    return message.artifact


def _error(tool: BaseTool, args: dict[str, Any], *needles: str) -> str:
    message = _call(tool, args)
    content = str(message.content)
    assert message.status == "error", content
    assert "Traceback" not in content
    assert "\n" not in content
    for needle in needles:
        assert needle in content, content
    return content


def _total(db: Any, org_id: Any) -> Decimal:
    with db.session() as session:
        return Decimal(session.execute(text("SELECT sum(cost) FROM usage_events WHERE organization_id = :o"),
                                       {"o": org_id}).scalar_one())  # fmt: skip


def test_every_tool_has_a_schema_and_description(db: Any, org: Any) -> None:
    tools = langchain_tools(ToolContext(db=db, org_id=org.id))
    assert tuple(t.name for t in tools) == TOOL_NAMES
    for tool in tools:
        schema = tool.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
        assert len(tool.description) > 40
        assert schema["properties"], tool.name
        assert all(p.get("description") for p in schema["properties"].values()), tool.name
    assert [t.name for t in langchain_tools(ToolContext(db=db, org_id=org.id), only=["costs"])] == ["costs"]
    with pytest.raises(ValueError, match="unknown tool"):
        langchain_tools(ToolContext(db=db, org_id=org.id), only=["rm_rf"])


def test_run_sql_and_costs(db: Any, bound: tuple[Any, dict[str, BaseTool]]) -> None:
    org, tools = bound
    total = _total(db, org.id)
    rows = _ok(tools["run_sql"], {"sql": "SELECT count(*) AS n, sum(cost) AS cost FROM usage_events"})["rows"]
    assert rows[0]["n"] == 100
    assert Decimal(str(rows[0]["cost"])) == total.quantize(Decimal("1e-10"))
    _error(tools["run_sql"], {"sql": "DELETE FROM usage_events"}, "run_sql:", "SELECT")
    _error(tools["run_sql"], {"sql": "SELECT pg_sleep(10)"}, "pg_sleep")
    _error(tools["run_sql"], {"query": "SELECT 1"}, "invalid arguments", "sql")
    found = _ok(tools["costs"], {"start": START.isoformat(), "end": END.isoformat(), "group_by": ["team"]})
    assert found["data"]["total_requests"] == 100
    assert Decimal(str(found["data"]["total_cost"])).quantize(Decimal("0.000001")) == total.quantize(
        Decimal("0.000001"))  # fmt: skip
    assert {r["team"] for r in found["data"]["rows"]} == {"search", "support"}
    assert found["queries"]
    assert "usage_events" in found["queries"][0]
    naive = _ok(tools["costs"], {"start": START.replace(tzinfo=None).isoformat(), "end": "2026-04-01"})
    assert naive["data"]["total_requests"] == 100  # no offset means UTC
    _error(tools["costs"], {"start": "2026-03-01", "end": "2026-04-01", "group_by": ["colour"]}, "colour")
    _error(tools["costs"], {"start": "2026-04-01", "end": "2026-03-01"}, "end must be after start")
    _error(tools["costs"], {"start": "last tuesday", "end": "2026-03-01"}, "start")


def test_compare_periods_and_simulate_savings(bound: tuple[Any, dict[str, BaseTool]]) -> None:
    _, tools = bound
    middle = START + timedelta(days=7)
    periods = {"current_start": middle.isoformat(), "current_end": END.isoformat(),
               "baseline_start": START.isoformat(), "baseline_end": middle.isoformat()}  # fmt: skip
    found = _ok(tools["compare_periods"], {**periods, "dimensions": ["model", "team"]})
    assert found["tool"] == "compare_periods"
    assert found["queries"]
    _error(tools["compare_periods"], {**periods, "dimensions": ["password"]}, "password")
    _error(tools["compare_periods"], {**periods, "current_end": START.isoformat()}, "end must be after")
    window = {"start": START.isoformat(), "end": END.isoformat()}
    sim = _ok(tools["simulate_savings"], {**window, "scope": {"model": "gpt-4o"}, "target_model": "gpt-4o-mini"})
    assert sim["calls"] == 66  # i % 3 != 0 among 100
    assert Decimal(sim["monthly_savings"]) > 0
    assert Decimal(sim["simulated_cost"]) < Decimal(sim["current_cost"])
    _error(tools["simulate_savings"], {**window, "scope": {"colour": "red"}, "batch": True}, "colour")
    _error(tools["simulate_savings"], {**window, "scope": {"model": "gpt-4o"}}, "target model")


def test_findings_anomalies_and_pricing(bound: tuple[Any, dict[str, BaseTool]]) -> None:
    _, tools = bound
    window = {"start": START.isoformat(), "end": END.isoformat()}
    findings = _ok(tools["list_findings"], {**window, "types": ["model_downgrade", "batch_api"]})
    assert {f["type"] for f in findings["findings"]} <= {"model_downgrade", "batch_api"}
    _error(tools["list_findings"], {**window, "types": ["magic"]}, "magic")
    anomalies = _ok(tools["find_anomalies"], {"as_of": END.isoformat(), "window_days": 7})
    assert isinstance(anomalies["data"]["anomalies"], list)
    _error(tools["find_anomalies"], {"as_of": END.isoformat(), "window_days": 0}, "window_days")
    stored = _ok(tools["list_anomalies"], window)
    assert stored["data"]["anomalies"] == []
    price = _ok(tools["pricing"], {"provider": "openai", "model": "gpt-4o", "at": START.isoformat()})
    assert Decimal(price["input"]) > 0
    assert Decimal(price["output"]) > Decimal(price["input"])
    assert "price_catalogue" in price["query"]["sql"]
    _error(tools["pricing"], {"provider": "openai", "model": "gpt-nope"}, "pricing:", "no price")


def test_errors_without_a_tool_call_are_plain_strings(bound: tuple[Any, dict[str, BaseTool]]) -> None:
    _, tools = bound
    content = tools["run_sql"].invoke({"sql": "SELECT * FROM pg_catalog.pg_authid"})
    assert isinstance(content, str)
    assert content.startswith("run_sql:")
