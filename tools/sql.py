"""`run_sql`: read-only SQL over one org's documented views (schema `analytics`, migration 0009).

Defence in depth, each layer enough on its own for the common attacks:
1. sqlglot parses the text: exactly one SELECT (or UNION …), tables only from the views below (or its own CTEs),
   functions and casts only from an allowlist (no pg_sleep, set_config, dblink, lo_*, catalog snooping …).
   What runs is SQL regenerated from that checked tree, wrapped in an outer LIMIT.
2. It runs in a READ ONLY transaction with SET LOCAL statement_timeout, as the NOLOGIN role `tokentra_reader`
   (SELECT on the views only), with search_path = analytics.
3. Every view filters organization_id by the transaction-local setting `tokentra.org_id`.
Every call, accepted or refused, is logged in assistant_sql_log.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import sqlglot
from sqlalchemy.exc import DBAPIError
from sqlglot import exp
from sqlglot.errors import ParseError

from core.assistant.models import SqlQueryLog
from core.db import Database
from core.errors import InvalidInput

ROW_LIMIT = 500
TIMEOUT_MS = 5_000
READER_ROLE = "tokentra_reader"
SCHEMA = "analytics"

_DIMS = "provider, model, team, project, feature, environment, task_type, status (text)"
_SUMS = ("requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens (bigint), "
         "cost (numeric USD, exact), unpriced_requests")  # fmt: skip
VIEWS: dict[str, str] = {
    "usage_events": (
        "one row per LLM call. timestamp (timestamptz UTC), request_id, provider, model, endpoint, input_tokens "
        "(ALL prompt tokens, cached included), output_tokens, cache_read_tokens, cache_write_tokens, "
        "reasoning_tokens, batch (bool), latency_ms, ttft_ms, status ('success','error','timeout','cancelled'), "
        "error_code, attempt (retry number, 1 = first), trace_id, streaming, max_tokens, finish_reason, "
        "prompt_hash, system_prompt_hash, system_prompt_tokens, task_type, team, project, feature, user_id, "
        "environment, api_key_id, embedding_dimensions, cost (numeric USD; NULL when unpriced), cost_status"
    ),
    "usage_hourly": (
        f"partial sums per hour (timestamptz) and {_DIMS}: {_SUMS}. Missing dimensions are NULL. A group may have "
        "several rows: always sum() them."
    ),
    "usage_daily": (
        f"partial sums per UTC day (timestamptz, midnight) and {_DIMS}: {_SUMS}. Fastest for long periods. A group "
        "may have several rows: always sum() them."
    ),
    "recommendations": (
        "stored savings recommendations: id, category, type, title, description, scope (jsonb), target (jsonb), "
        "current_monthly_cost, projected_monthly_cost, estimated_monthly_savings (USD/month), savings_percent, "
        "confidence, priority, risk_level, effort, affected_requests, status ('pending','applied','dismissed'), "
        "window_start, window_end, applied_at, actual_monthly_savings, created_at"
    ),
    "anomalies": (
        "detected anomalies: id, type, severity, title, description, detection_method, metric, scope (jsonb), "
        "window_start, window_end, current_value, expected_value, deviation_percent, z_score, drivers (jsonb list "
        "of {dimension, value, contribution, share}), explanation, acknowledged, resolved, created_at"
    ),
    "budgets": (
        "budgets: id, name, scope_type ('org','team','project','feature','model','user'), scope_value, period "
        "('daily','weekly','monthly'), amount (USD), thresholds (jsonb), hard_limit, enabled, created_at"
    ),
    "prices": (
        "price catalogue, USD per 1M tokens: provider, model, effective_from, mode, input, output, cache_read, "
        "cache_write, batch_input, batch_output, org_override (bool)"
    ),
}

SAFE_FUNCTIONS = frozenset(
    [
        "Abs",
        "ArrayAgg",
        "Avg",
        "Case",
        "Cast",
        "Ceil",
        "Coalesce",
        "Concat",
        "Corr",
        "Count",
        "CountIf",
        "CurrentDate",
        "CurrentTimestamp",
        "DateTrunc",
        "DenseRank",
        "Div",
        "Exp",
        "ExplodingGenerateSeries",
        "Extract",
        "FirstValue",
        "Floor",
        "Greatest",
        "GroupConcat",
        "If",
        "JSONExtract",
        "JSONExtractScalar",
        "JSONBExtract",
        "JSONBExtractScalar",
        "JustifyDays",
        "Lag",
        "LastValue",
        "Lead",
        "Least",
        "Left",
        "Length",
        "Ln",
        "Log",
        "LogicalAnd",
        "LogicalOr",
        "Lower",
        "MakeInterval",
        "Max",
        "Min",
        "Mod",
        "Ntile",
        "Nullif",
        "PercentileCont",
        "PercentileDisc",
        "Pow",
        "Quantile",
        "Rank",
        "RegexpLike",
        "RegexpReplace",
        "Replace",
        "Right",
        "Round",
        "RowNumber",
        "Sign",
        "SplitPart",
        "Sqrt",
        "StartsWith",
        "Stddev",
        "StddevPop",
        "StddevSamp",
        "StrPosition",
        "StrToTime",
        "Substring",
        "Sum",
        "TimeToStr",
        "TimestampTrunc",
        "ToChar",
        "Trim",
        "Trunc",
        "TryCast",
        "UnixToTime",
        "Upper",
        "Variance",
        "VariancePop",
    ]
)
SAFE_ANONYMOUS = frozenset(
    [
        "age",
        "date_part",
        "date_bin",
        "every",
        "jsonb_array_length",
        "jsonb_typeof",
        "percent_rank",
        "cume_dist",
        "to_timestamp",
        "to_date",
        "now",
        "width_bucket",
    ]
)
SAFE_TYPES = frozenset(
    [
        "BIGINT",
        "BOOLEAN",
        "CHAR",
        "DATE",
        "DECIMAL",
        "DOUBLE",
        "FLOAT",
        "INT",
        "INTERVAL",
        "JSON",
        "JSONB",
        "MONEY",
        "NUMERIC",
        "SMALLINT",
        "TEXT",
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "TIME",
        "UUID",
        "VARCHAR",
        "BIGDECIMAL",
    ]
)
_FORBIDDEN_NODES = (exp.Into, exp.Lock, exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter,
                    exp.Command, exp.Copy, exp.Set, exp.Merge, exp.TruncateTable, exp.Grant)  # fmt: skip


class SqlRejected(InvalidInput):
    """run_sql refused a query (not a single safe SELECT over the views) or the database refused it."""

    code = "sql_rejected"


@dataclass
class SqlResult:
    sql: str  # the SQL that ran (regenerated from the checked tree, without the outer row limit)
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool
    duration_ms: float
    log: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.sql, "columns": self.columns, "rows": self.rows, "row_count": len(self.rows),
                "truncated": self.truncated}  # fmt: skip


def describe_views() -> str:
    """The views as an LLM should know them (for a tool description or a prompt)."""
    lines = [f"- {name}: {doc}" for name, doc in VIEWS.items()]
    return (
        "Read-only PostgreSQL over this organization's data only (no organization_id column: rows are already "
        "scoped). One SELECT statement; these views only; times are UTC; periods are half-open [start, end). "
        f"At most {ROW_LIMIT} rows, {TIMEOUT_MS // 1000} s.\n" + "\n".join(lines)
    )


def _check_tables(tree: exp.Expr) -> None:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.name and isinstance(table.this, exp.Func):
            continue  # a table function such as generate_series: checked with the functions
        name, schema = table.name.lower(), (table.db or "").lower()
        if table.catalog or schema not in ("", SCHEMA) or (name not in VIEWS and not (not schema and name in ctes)):
            raise SqlRejected(f"table {table.sql(dialect='postgres')!r} is not allowed; use only the views: "
                              f"{', '.join(VIEWS)}")  # fmt: skip


def _check_functions(tree: exp.Expr) -> None:
    for func in tree.find_all(exp.Func):
        if isinstance(func, exp.Binary | exp.Unary):
            continue  # operators (AND, ->>, @>, ~ …), not function calls
        if isinstance(func, exp.Anonymous):
            if func.name.lower() not in SAFE_ANONYMOUS:
                raise SqlRejected(f"function {func.name}() is not allowed")
        elif type(func).__name__ not in SAFE_FUNCTIONS:
            raise SqlRejected(f"function {func.sql_name().lower()}() is not allowed")
    for dtype in tree.find_all(exp.DataType):
        name = getattr(dtype.this, "name", str(dtype.this)).upper()
        if name not in SAFE_TYPES:
            raise SqlRejected(f"type {dtype.sql(dialect='postgres')} is not allowed")
    for dot in tree.find_all(exp.Dot):
        if isinstance(dot.expression, exp.Func):
            raise SqlRejected("schema-qualified functions are not allowed")


def validate_sql(sql: str) -> exp.Query:
    """The checked tree of one safe SELECT over the views, or SqlRejected saying why not."""
    if not sql or not sql.strip():
        raise SqlRejected("empty query")
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except ParseError as exc:
        raise SqlRejected(f"could not parse the query: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise SqlRejected(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise SqlRejected(f"only SELECT queries are allowed, not {tree.key.upper()}")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise SqlRejected(f"{node.key.upper()} is not allowed in a read-only query")
    _check_tables(tree)
    _check_functions(tree)
    return tree


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(round(value, 10))
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _execute(
    db: Database, *, org_id: uuid.UUID, sql: str, row_limit: int, timeout_ms: int
) -> tuple[list[str], list[Any]]:
    wrapped = f"SELECT * FROM (\n{sql}\n) AS q LIMIT {int(row_limit) + 1}"
    with db.engine.connect() as conn:
        try:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
            conn.exec_driver_sql("SELECT set_config('tokentra.org_id', %(org)s, true)", {"org": str(org_id)})
            conn.exec_driver_sql(f"SET LOCAL search_path = {SCHEMA}")
            conn.exec_driver_sql(f"SET LOCAL ROLE {READER_ROLE}")
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(wrapped)
            columns = [column.name for column in cursor.description or ()]
            rows = cursor.fetchall()
        except (DBAPIError, psycopg.Error) as exc:
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            raise SqlRejected(f"the database refused the query: {str(reason).splitlines()[0]}") from exc
        finally:
            conn.rollback()
    return columns, rows


def _log(db: Database, *, org_id: uuid.UUID, agent: str, sql: str, ok: bool, error: str | None,
         rows: int | None, ms: float, context: dict[str, Any] | None) -> None:  # fmt: skip
    with db.session() as session:
        session.add(SqlQueryLog(organization_id=org_id, agent=agent, sql=sql, ok=ok, error=error, row_count=rows,
                                duration_ms=round(ms, 3), context=context or {}))  # fmt: skip


def run_sql(db: Database, *, org_id: uuid.UUID, sql: str, agent: str = "assistant", row_limit: int = ROW_LIMIT,
            timeout_ms: int = TIMEOUT_MS, context: dict[str, Any] | None = None) -> SqlResult:  # fmt: skip
    """Run one read-only SELECT over the org's views; SqlRejected (logged) when it is not allowed or fails."""
    started = time.perf_counter()
    try:
        checked = validate_sql(sql).sql(dialect="postgres")
        columns, raw = _execute(db, org_id=org_id, sql=checked, row_limit=row_limit, timeout_ms=timeout_ms)
    except SqlRejected as exc:
        _log(db, org_id=org_id, agent=agent, sql=sql, ok=False, error=str(exc), rows=None,
             ms=(time.perf_counter() - started) * 1000, context=context)  # fmt: skip
        raise
    ms = (time.perf_counter() - started) * 1000
    rows = [{name: _value(value) for name, value in zip(columns, row, strict=True)} for row in raw[:row_limit]]
    _log(db, org_id=org_id, agent=agent, sql=checked, ok=True, error=None, rows=len(rows), ms=ms, context=context)
    return SqlResult(sql=checked, columns=columns, rows=rows, truncated=len(raw) > row_limit, duration_ms=round(ms, 3))
