"""Budget evaluation: spend of each enabled budget in its current period, thresholds crossed, alerts raised once.

Cheap enough to run after every ingest: one cost query per budget (`tokentra costs`' SQL: daily and hourly
rollups, raw events only for the partial edge hours and for user budgets, whose dimension is not rolled up).
Periods are UTC: daily = the calendar day, weekly = Monday to Monday (ISO weeks), monthly = the calendar month.
A threshold (percent of the amount) alerts once per period: the AlertEvent's dedupe key is
`budget:<budget id>:<period start>:<threshold>` and the insert is ON CONFLICT DO NOTHING, so reruns and
concurrent loads never alert twice. Severity: critical at >= 100%, warning below (the seed's rule).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.budgets.models import AlertEvent, Budget, BudgetPeriodState
from core.db import Database
from core.errors import InvalidInput
from core.usage.queries import CostQuery, cost_breakdown

SCOPE_DIMENSIONS = {"org": None, "organization": None, "team": "team", "project": "project", "feature": "feature",
                    "model": "model", "user": "user_id", "provider": "provider"}  # fmt: skip
PERIODS = ("daily", "weekly", "monthly")


def period_bounds(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """The UTC [start, end) of the budget period containing `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "monthly":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    raise InvalidInput(f"budget period must be one of {', '.join(PERIODS)}, not {period!r}")


def _spend(session: Session, budget: Budget, start: datetime, end: datetime) -> tuple[Decimal, str]:
    if budget.scope_type not in SCOPE_DIMENSIONS:
        raise InvalidInput(f"unknown budget scope {budget.scope_type!r}")
    dimension = SCOPE_DIMENSIONS[budget.scope_type]
    filters = {dimension: budget.scope_value or ""} if dimension else {}
    query = CostQuery(org_id=budget.organization_id, start=start, end=end, filters=filters)
    result = cost_breakdown(session.connection(), query)
    total = sum((Decimal(str(row["cost"] or 0)) for row in result["data"]), Decimal(0))
    return total, str(result["meta"]["query"])


def _raise_alert(session: Session, budget: Budget, start: datetime, threshold: int, spent: Decimal,
                 utilization: float) -> bool:  # fmt: skip
    """Insert the threshold's alert unless it exists; True when this call raised it."""
    key = f"budget:{budget.id}:{start:%Y-%m-%d}:{threshold}"
    data = {"budget_id": str(budget.id), "budget_name": budget.name, "period": budget.period,
            "period_start": start.isoformat(), "threshold": threshold, "spent": str(spent),
            "amount": str(budget.amount), "utilization_percent": round(utilization, 2),
            "scope": {"type": budget.scope_type, "value": budget.scope_value}}  # fmt: skip
    statement = insert(AlertEvent).values(
        organization_id=budget.organization_id, type="budget_threshold",
        severity="critical" if threshold >= 100 else "warning",
        title=f'Budget "{budget.name}" reached {threshold}%',
        message=f'Budget "{budget.name}" ({budget.period}, ${budget.amount}) has spent ${spent:.2f} '
        f"({utilization:.1f}%) since {start:%Y-%m-%d}.",
        data=data, dedupe_key=key,
    ).on_conflict_do_nothing(index_elements=["organization_id", "dedupe_key"])  # fmt: skip
    return bool(session.execute(statement.returning(AlertEvent.id)).first())


def _save_state(session: Session, budget: Budget, start: datetime, end: datetime, spent: Decimal,
                crossed: list[int]) -> None:  # fmt: skip
    statement = insert(BudgetPeriodState).values(
        organization_id=budget.organization_id, budget_id=budget.id, period_start=start, period_end=end,
        spent=spent, alerted_thresholds=crossed,
    )  # fmt: skip
    session.execute(statement.on_conflict_do_update(
        index_elements=["organization_id", "budget_id", "period_start"],
        set_={"spent": spent, "alerted_thresholds": crossed, "period_end": end, "updated_at": datetime.now(UTC)},
    ))  # fmt: skip


def evaluate_budget(session: Session, budget: Budget, as_of: datetime) -> dict[str, Any]:
    start, end = period_bounds(budget.period, as_of)
    spent, sql = _spend(session, budget, start, end)
    amount = Decimal(budget.amount)
    utilization = float(spent / amount * 100) if amount > 0 else (100.0 if spent > 0 else 0.0)
    crossed = sorted(t for t in (budget.thresholds or []) if utilization >= t)
    raised = [t for t in crossed if _raise_alert(session, budget, start, t, spent, utilization)]
    _save_state(session, budget, start, end, spent, crossed)
    status = "exceeded" if utilization >= 100 else "warning" if crossed else "ok"
    return {
        "budget_id": str(budget.id), "name": budget.name,
        "scope": {"type": budget.scope_type, "value": budget.scope_value}, "period": budget.period,
        "period_start": start.isoformat().replace("+00:00", "Z"), "period_end": end.isoformat().replace("+00:00", "Z"),
        "amount": float(amount), "spent": float(spent.quantize(Decimal("0.000001"))),
        "utilization_percent": round(utilization, 2), "status": status, "hard_limit": budget.hard_limit,
        "thresholds_crossed": crossed, "alerts_raised": raised, "query": sql,
    }  # fmt: skip


def evaluate_budgets(db: Database, *, org_id: uuid.UUID, as_of: datetime) -> list[dict[str, Any]]:
    """Evaluate every enabled budget of the org for the period containing `as_of` (see the module docstring)."""
    with db.session() as session:
        budgets = session.scalars(
            select(Budget).where(Budget.organization_id == org_id, Budget.enabled.is_(True)).order_by(Budget.name)
        ).all()
        return [evaluate_budget(session, budget, as_of) for budget in budgets]
