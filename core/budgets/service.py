"""Budget CRUD with validation; every change is audited (who, before/after) in the same transaction.

A budget (CONTRACT §4): `{"name", "scope": {"type": org|team|project|feature|model|user, "value"?},
"period": daily|weekly|monthly, "amount", "thresholds": [50, 75, 90, 100], "hard_limit"}`.
Every function takes the org and only ever touches that org's rows: another org's id is NotFound.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit.context import Actor
from core.budgets.models import Budget, BudgetPeriodState
from core.errors import Conflict, InvalidInput, NotFound

SCOPE_TYPES = ("org", "team", "project", "feature", "model", "user")
PERIODS = ("daily", "weekly", "monthly")
DEFAULT_THRESHOLDS = (50, 75, 90, 100)
MAX_AMOUNT = Decimal("9999999999999999.99")  # Numeric(18, 2)
MAX_THRESHOLDS = 20
MAX_TEXT = 200
_FIELDS = ("name", "scope_type", "scope_value", "period", "amount", "thresholds", "hard_limit", "enabled")


@dataclass(frozen=True)
class BudgetSpec:
    name: str
    amount: Decimal
    scope_type: str = "org"
    scope_value: str | None = None
    period: str = "monthly"
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    hard_limit: bool = False
    enabled: bool = True


def _clean(spec: BudgetSpec) -> BudgetSpec:
    """The spec validated and normalised (amount in cents, thresholds unique and sorted); InvalidInput if not."""
    name = spec.name
    if not name or len(name) > MAX_TEXT:
        raise InvalidInput(f"name: 1 to {MAX_TEXT} characters")
    if spec.scope_type not in SCOPE_TYPES:
        raise InvalidInput(f"scope.type must be one of {', '.join(SCOPE_TYPES)}")
    value = spec.scope_value or None
    if spec.scope_type == "org" and value:
        raise InvalidInput("scope.value must be empty for an org-wide budget")
    if spec.scope_type != "org" and (not value or len(value) > MAX_TEXT):
        raise InvalidInput(f"scope.value (1 to {MAX_TEXT} characters) is required for a {spec.scope_type} budget")
    if spec.period not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}")
    try:
        amount = Decimal(spec.amount).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput("amount must be a number") from exc
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidInput(f"amount must be > 0 and at most {MAX_AMOUNT} (USD, cents)")
    thresholds = tuple(sorted(set(spec.thresholds)))
    if len(thresholds) > MAX_THRESHOLDS or any(not 1 <= t <= 1000 for t in thresholds):
        raise InvalidInput(f"thresholds: at most {MAX_THRESHOLDS} percentages, each 1 to 1000")
    return BudgetSpec(
        name=name, amount=amount, scope_type=spec.scope_type, scope_value=value if spec.scope_type != "org" else None,
        period=spec.period, thresholds=thresholds, hard_limit=spec.hard_limit, enabled=spec.enabled,
    )  # fmt: skip


def budget_json(budget: Budget) -> dict[str, Any]:
    """The CONTRACT shape of a stored budget (plus id, enabled and timestamps)."""
    scope: dict[str, Any] = {"type": budget.scope_type}
    if budget.scope_value is not None:
        scope["value"] = budget.scope_value
    return {
        "id": str(budget.id),
        "name": budget.name,
        "scope": scope,
        "period": budget.period,
        "amount": float(budget.amount),
        "thresholds": list(budget.thresholds),
        "hard_limit": budget.hard_limit,
        "enabled": budget.enabled,
        "created_at": budget.created_at.isoformat() if budget.created_at else None,
        "updated_at": budget.updated_at.isoformat() if budget.updated_at else None,
    }


def _spec_of(budget: Budget) -> BudgetSpec:
    return BudgetSpec(**{name: getattr(budget, name) for name in _FIELDS if name != "thresholds"},
                      thresholds=tuple(budget.thresholds))  # fmt: skip


def list_budgets(session: Session, *, org_id: uuid.UUID) -> list[Budget]:
    query = select(Budget).where(Budget.organization_id == org_id).order_by(Budget.created_at.desc(), Budget.id)
    return list(session.scalars(query))


def get_budget(session: Session, *, org_id: uuid.UUID, budget_id: uuid.UUID) -> Budget:
    budget = session.scalar(select(Budget).where(Budget.organization_id == org_id, Budget.id == budget_id))
    if budget is None:
        raise NotFound(f"no budget {budget_id}")
    return budget


def _store(session: Session, budget: Budget) -> None:
    """Flush in a savepoint: a name already used by this org is a Conflict, even under a race."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a budget named {budget.name!r} exists already") from exc


def create_budget(session: Session, *, actor: Actor, spec: BudgetSpec) -> Budget:
    clean = _clean(spec)
    budget = Budget(organization_id=actor.org_id, **{name: getattr(clean, name) for name in _FIELDS})
    budget.thresholds = list(clean.thresholds)
    session.add(budget)
    _store(session, budget)
    session.refresh(budget)
    actor.record(session, action="budget.create", resource_type="budget", resource_id=str(budget.id),
                 after=budget_json(budget))  # fmt: skip
    return budget


def update_budget(session: Session, *, actor: Actor, budget_id: uuid.UUID, changes: dict[str, Any]) -> Budget:
    """Apply `changes` (any of BudgetSpec's fields) to a budget of actor's org."""
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown budget fields: {', '.join(sorted(unknown))}")
    budget = get_budget(session, org_id=actor.org_id, budget_id=budget_id)
    before = budget_json(budget)
    current = _spec_of(budget)
    merged = {**{name: getattr(current, name) for name in _FIELDS}, **changes}
    if changes.get("scope_type") == "org" and "scope_value" not in changes:
        merged["scope_value"] = None
    clean = _clean(BudgetSpec(**merged))
    for name in _FIELDS:
        value = getattr(clean, name)
        setattr(budget, name, list(value) if name == "thresholds" else value)
    budget.updated_at = session.scalar(select(func.now()))  # type: ignore[assignment]
    _store(session, budget)
    session.refresh(budget)
    actor.record(session, action="budget.update", resource_type="budget", resource_id=str(budget.id),
                 before=before, after=budget_json(budget))  # fmt: skip
    return budget


def delete_budget(session: Session, *, actor: Actor, budget_id: uuid.UUID) -> None:
    budget = get_budget(session, org_id=actor.org_id, budget_id=budget_id)
    before = budget_json(budget)
    session.delete(budget)
    session.execute(
        delete(BudgetPeriodState).where(
            BudgetPeriodState.organization_id == actor.org_id, BudgetPeriodState.budget_id == budget_id
        )
    )
    session.flush()
    actor.record(session, action="budget.delete", resource_type="budget", resource_id=str(budget_id), before=before)
