"""The tools as LangChain tools, bound to one database and one org, for an LLM agent to call.

    tools = langchain_tools(ToolContext(db=db, org_id=org_id))   # or any object with .db and .org_id (Services)
    model.bind_tools(tools)

Each tool is a thin StructuredTool over the plain function the graphs call (tools/*.py), with a pydantic
args schema (tools/schemas.py). Its content is the result as JSON (every figure with the query that produced
it); its artifact is the same result as a Python value, for code that checks what the model writes. Bad
arguments and refused queries come back as a one-line tool error (status "error"), never a traceback.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError

import core.models  # noqa: F401  (every ORM model mapped: run_sql's log row has foreign keys)
from core.db import Database
from core.errors import TokentraError
from tools import schemas
from tools.anomalies import detect_anomalies, stored_anomalies
from tools.costs import costs
from tools.detections import list_findings
from tools.periods import compare
from tools.pricing import price_at
from tools.savings import simulate_savings
from tools.sql import describe_views, run_sql

Result = tuple[str, Any]  # (content for the model, artifact for code)


class ToolScope(Protocol):
    """What the tools are bound to: the database and the one org they may read."""

    @property
    def db(self) -> Database: ...

    @property
    def org_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class ToolContext:
    db: Database
    org_id: uuid.UUID


def _result(data: Any) -> Result:
    return orjson.dumps(data, default=str).decode(), data


def _validation_message(error: ValidationError | Any) -> str:
    if not isinstance(error, ValidationError):
        return f"invalid arguments: {error}"
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ())) or "arguments"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "invalid arguments: " + "; ".join(parts)


def _guarded(name: str, fn: Callable[..., Result]) -> Callable[..., Result]:
    """The tool body with domain and database errors turned into a ToolException (a one-line tool error)."""

    def call(**kwargs: Any) -> Result:
        try:
            return fn(**kwargs)
        except TokentraError as exc:
            message = str(exc)
            raise ToolException(message if message.startswith(f"{name}:") else f"{name}: {message}") from exc
        except DBAPIError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise ToolException(f"{name}: the database refused the request: {reason}") from exc

    return call


def _tool(name: str, description: str, schema: type[BaseModel], fn: Callable[..., Result]) -> BaseTool:
    return StructuredTool.from_function(
        func=_guarded(name, fn), name=name, description=description, args_schema=schema,
        response_format="content_and_artifact", handle_tool_error=True,
        handle_validation_error=_validation_message,
    )  # fmt: skip


def _sql_tool(scope: ToolScope, agent: str) -> BaseTool:
    def run(sql: str) -> Result:
        return _result(run_sql(scope.db, org_id=scope.org_id, sql=sql, agent=agent).as_dict())

    return _tool("run_sql", "Run one read-only SQL SELECT. " + describe_views(), schemas.RunSqlArgs, run)


def _costs_tool(scope: ToolScope) -> BaseTool:
    def run(start: datetime, end: datetime, group_by: list[str], filters: dict[str, str], limit: int) -> Result:
        found = costs(scope.db, org_id=scope.org_id, start=start, end=end, group_by=group_by, filters=filters,
                      limit=limit)  # fmt: skip
        return _result(found.as_dict())

    about = ("Exact spend (cost in USD, requests, tokens) over [start, end), optionally grouped by dimensions "
             "(day, hour, model, team, feature …) and filtered; returns the rows, totals and the SQL.")  # fmt: skip
    return _tool("costs", about, schemas.CostsArgs, run)


def _compare_tool(scope: ToolScope) -> BaseTool:
    def run(current_start: datetime, current_end: datetime, baseline_start: datetime, baseline_end: datetime,
            dimensions: list[str]) -> Result:  # fmt: skip
        found = compare(scope.db, org_id=scope.org_id, current=(current_start, current_end),
                        baseline=(baseline_start, baseline_end), dimensions=dimensions)  # fmt: skip
        return _result(found.as_dict())

    about = ("Why did spend change? The cost delta from a baseline period to a current one, split into price, "
             "volume, model-mix and tokens-per-call effects and into the dimension values that drove it.")  # fmt: skip
    return _tool("compare_periods", about, schemas.ComparePeriodsArgs, run)


def _simulate_tool(bound: ToolScope) -> BaseTool:
    def run(start: datetime, end: datetime, scope: dict[str, str | None], target_model: str | None,
            target_provider: str | None, batch: bool, cache: bool) -> Result:  # fmt: skip
        with bound.db.engine.connect() as conn:
            sim = simulate_savings(conn, org_id=bound.org_id, start=start, end=end, scope=scope,
                                   target_model=target_model, target_provider=target_provider, batch=batch,
                                   cache=cache)  # fmt: skip
        return _result(sim.to_dict())

    about = ("What-if: reprice a slice of the org's billed calls over [start, end) on another model or provider, "
             "at batch prices or with prompt caching; returns current and simulated cost, the monthly savings "
             "(window savings × 30 / days) and the SQL. Exact: the same pricing function as billing.")  # fmt: skip
    return _tool("simulate_savings", about, schemas.SimulateSavingsArgs, run)


def _anomaly_tools(scope: ToolScope) -> list[BaseTool]:
    def find(as_of: datetime, window_days: int) -> Result:
        found = detect_anomalies(scope.db, org_id=scope.org_id, as_of=as_of, window_days=window_days)
        return _result(found.as_dict())

    def stored(start: datetime, end: datetime) -> Result:
        return _result(stored_anomalies(scope.db, org_id=scope.org_id, start=start, end=end).as_dict())

    return [
        _tool("find_anomalies", "Run anomaly detection (spend, error rate, latency by slice) over the window "
              "ending at as_of; returns each anomaly with its drivers and evidence queries (not stored).",
              schemas.FindAnomaliesArgs, find),
        _tool("list_anomalies", "The anomalies already detected and stored whose window overlaps [start, end).",
              schemas.ListAnomaliesArgs, stored),
    ]  # fmt: skip


def _findings_tool(scope: ToolScope) -> BaseTool:
    def run(start: datetime, end: datetime, types: list[str] | None) -> Result:
        with scope.db.engine.connect() as conn:
            found = list_findings(conn, org_id=scope.org_id, start=start, end=end, types=types)
        return _result({"findings": found, "start": start.isoformat(), "end": end.isoformat()})

    about = ("Run the waste detectors over [start, end): de-duplicated savings findings (type, scope, target, "
             "monthly savings, confidence) each with the evidence queries and rows behind its figures.")  # fmt: skip
    return _tool("list_findings", about, schemas.ListFindingsArgs, run)


def _pricing_tool(scope: ToolScope) -> BaseTool:
    def run(provider: str, model: str, at: datetime | None) -> Result:
        with scope.db.engine.connect() as conn:
            found = price_at(conn, org_id=scope.org_id, provider=provider, model=model, at=at or datetime.now(UTC))
        return _result(found)

    about = ("The price in force for a provider/model at a moment (the org's negotiated price first), in USD per "
             "1M tokens: input, output, cache read/write, batch and reasoning rates, with the SQL.")  # fmt: skip
    return _tool("pricing", about, schemas.PricingArgs, run)


def langchain_tools(scope: ToolScope, *, agent: str = "agent", only: Sequence[str] | None = None) -> list[BaseTool]:
    """Every tool bound to `scope` (or those named in `only`); `agent` names the caller in the run_sql log."""
    tools = [_sql_tool(scope, agent), _costs_tool(scope), _compare_tool(scope), _simulate_tool(scope),
             *_anomaly_tools(scope), _findings_tool(scope), _pricing_tool(scope)]  # fmt: skip
    if only is None:
        return tools
    unknown = sorted(set(only) - {t.name for t in tools})
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}")
    return [t for t in tools if t.name in only]


TOOL_NAMES = ("run_sql", "costs", "compare_periods", "simulate_savings", "find_anomalies", "list_anomalies",
              "list_findings", "pricing")  # fmt: skip
