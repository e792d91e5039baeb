"""Stored recommendations, budget status and the month-end forecast, for the agents."""

from __future__ import annotations

import importlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

from core.budgets.enforce import period_bounds
from core.db import Database
from tools.base import ToolError, ToolResult, iso
from tools.costs import costs

_REC_SQL = (
    "SELECT id, type, category, title, scope, estimated_monthly_savings, current_monthly_cost, confidence, "
    "priority, status FROM recommendations WHERE status = 'pending' ORDER BY estimated_monthly_savings DESC"
)
_SCOPE_FILTER = {"team": "team", "project": "project", "feature": "feature", "model": "model", "user": "user_id"}


def recommendations(db: Database, *, org_id: uuid.UUID, limit: int = 10) -> ToolResult:
    """Pending recommendations, largest estimated monthly savings first."""
    sql = _REC_SQL.replace("WHERE ", "WHERE organization_id = :o AND ") + " LIMIT :n"
    with db.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(text(sql), {"o": org_id, "n": limit}).mappings()]
    for row in rows:
        row["id"] = str(row["id"])
        for key in ("estimated_monthly_savings", "current_monthly_cost"):
            row[key] = float(round(row[key], 2))
    return ToolResult(
        "list_recommendations", {"limit": limit}, {"recommendations": rows}, [f"{_REC_SQL} LIMIT {limit}"]
    )


def budget_status(db: Database, *, org_id: uuid.UUID, as_of: datetime) -> ToolResult:
    """Each enabled budget's spend in its current period up to as_of (exact, from cost_breakdown)."""
    with db.engine.connect() as conn:
        budgets = list(
            conn.execute(
                text(
                    "SELECT id, name, scope_type, scope_value, period, amount, hard_limit FROM "
                    "budgets WHERE organization_id = :o AND enabled ORDER BY name"
                ),
                {"o": org_id},
            ).mappings()
        )
    items, queries = [], ["SELECT name, scope_type, scope_value, period, amount, hard_limit FROM budgets WHERE enabled"]
    for budget in budgets:
        start, end = period_bounds(budget["period"], as_of)
        upto = min(end, as_of) if as_of > start else end
        field = _SCOPE_FILTER.get(budget["scope_type"])
        filters = {field: budget["scope_value"]} if field and budget["scope_value"] else {}
        spent = costs(db, org_id=org_id, start=start, end=upto, filters=filters)
        amount = float(budget["amount"])
        used = spent.data["total_cost"]
        items.append(
            {
                "name": budget["name"],
                "scope_type": budget["scope_type"],
                "scope_value": budget["scope_value"],
                "period": budget["period"],
                "period_start": iso(start),
                "period_end": iso(end),
                "spent_until": iso(upto),
                "amount": amount,
                "spent": round(used, 2),
                "percent_used": round(used / amount * 100, 1) if amount else None,
                "remaining": round(amount - used, 2),
                "hard_limit": budget["hard_limit"],
            }
        )
        queries += spent.queries
    return ToolResult("budget_status", {"as_of": iso(as_of)}, {"budgets": items}, queries)


def forecast(db: Database, *, org_id: uuid.UUID, as_of: datetime) -> ToolResult:
    """The month-end spend forecast (core/budgets/forecast.py)."""
    try:
        module = importlib.import_module("core.budgets.forecast")
    except ModuleNotFoundError as exc:
        raise ToolError("the month-end forecast is not available in this build") from exc
    with db.engine.connect() as conn:
        data: dict[str, Any] = module.forecast_month_end(conn, org_id=org_id, as_of=as_of)
    query = data.get("query") if isinstance(data, dict) else None
    return ToolResult(
        "forecast_month_end",
        {"as_of": iso(as_of)},
        data,
        [str(query) if query else f"forecast_month_end(as_of={iso(as_of)})"],
    )
