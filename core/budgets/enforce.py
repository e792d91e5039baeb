"""Hard budget limits on gateway traffic: reserve before the call, settle after, refuse when the limit is reached.

Design (decided for the gateway's latency budget): an in-process counter per hard-limit budget, synced with
the database, instead of an `UPDATE … RETURNING` per request.

- The stored spend of the budget's period (a SQL sum over the hourly rollup, or usage_events for a user scope)
  is the counter's *baseline*; it is re-read every `refresh_seconds` in the background, so spend arriving by
  other ways (the track endpoint, ingest, other gateway processes) is seen within seconds.
- `reserve` runs on the event loop, without awaiting: check-and-add is atomic with respect to every other
  request of this process. A request is admitted only if baseline + settled-not-yet-stored + reserved +
  its estimate stays within the amount (estimate: the routed model's price × prompt tokens + max_tokens).
- `settle` swaps the reservation for the actual cost; `on_stored` moves it from pending into the baseline when
  the usage recorder has written the events (refresh and store are serialized by one lock, so a stored cost
  is never counted twice nor missed).

So in one process the overspend is bounded by what requests already in flight cost beyond their estimates
when the limit was reached; no database round trip is added per request. With several gateway processes each
sees the others' spend at the next refresh (bounded by their traffic within `refresh_seconds`); a deployment
that needs a strict cross-process bound runs one gateway process per org's traffic.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.budgets.models import Budget
from core.db import Database
from core.errors import BudgetExceeded

# Attribution dimensions a budget scope can name, as the gateway's request attributes carry them.
SCOPE_ATTRIBUTES = {"team": "team", "project": "project", "feature": "feature", "model": "model", "user": "user"}
_ROLLUP_SPEND = (
    "SELECT coalesce(sum(cost), 0) FROM usage_rollup_hourly WHERE organization_id = :org "
    "AND hour >= :start AND hour < :end"
)
_ROLLUP_COLUMNS = {"team": "team", "project": "project", "feature": "feature", "model": "model"}
_EVENT_SPEND = (
    "SELECT coalesce(sum(cost), 0) FROM usage_events WHERE organization_id = :org "
    "AND timestamp >= :start AND timestamp < :end AND user_id = :value"
)


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the UTC day, ISO week (Monday) or calendar month containing `now`."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


@dataclass
class Counter:
    budget_id: uuid.UUID
    name: str
    scope_type: str
    scope_value: str | None
    period: str
    amount: Decimal
    start: datetime
    end: datetime
    baseline: Decimal = Decimal(0)
    pending: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)

    def applies(self, attributes: Mapping[str, str | None]) -> bool:
        if self.scope_type == "org":
            return True
        return attributes.get(SCOPE_ATTRIBUTES.get(self.scope_type, self.scope_type)) == self.scope_value

    @property
    def committed(self) -> Decimal:
        return self.baseline + self.pending + self.reserved

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.committed

    def label(self) -> str:
        scope = "org" if self.scope_type == "org" else f"{self.scope_type}={self.scope_value}"
        return f'"{self.name}" ({scope}, {self.period}, ${self.amount})'


@dataclass
class Reservation:
    org_id: uuid.UUID
    estimate: Decimal
    counters: list[Counter] = field(default_factory=list)
    done: bool = False


@dataclass
class _OrgState:
    counters: dict[uuid.UUID, Counter]
    loaded_at: float


class BudgetEnforcer:
    def __init__(self, db: Database, *, refresh_seconds: float = 2.0) -> None:
        self._db = db
        self.refresh_seconds = refresh_seconds
        self._orgs: dict[uuid.UUID, _OrgState] = {}
        self.lock = asyncio.Lock()  # serializes baseline refreshes with usage stores

    # --- the request path (no awaits between check and reserve) ------------------------------------------

    def known(self, org_id: uuid.UUID) -> bool:
        return org_id in self._orgs

    def remaining(self, org_id: uuid.UUID, attributes: Mapping[str, str | None]) -> Decimal | None:
        """The smallest remaining amount of the hard budgets applying to a request (None: no hard budget)."""
        state = self._orgs.get(org_id)
        if state is None:
            return None
        values = [c.remaining for c in state.counters.values() if c.applies(attributes)]
        return min(values) if values else None

    def reserve(self, org_id: uuid.UUID, attributes: Mapping[str, str | None], estimate: Decimal) -> Reservation:
        """Reserve `estimate` on every hard budget applying to the request; BudgetExceeded naming the first one
        that cannot take it."""
        reservation = Reservation(org_id, estimate)
        state = self._orgs.get(org_id)
        if state is None:
            return reservation
        applying = [c for c in state.counters.values() if c.applies(attributes)]
        for counter in applying:
            if counter.committed >= counter.amount or counter.committed + estimate > counter.amount:
                spent = counter.baseline + counter.pending
                raise BudgetExceeded(
                    f"budget {counter.label()} exceeded: ${spent:.6f} spent, ${counter.reserved:.6f} in flight, "
                    f"this request estimated ${estimate:.6f}"
                )
        for counter in applying:
            counter.reserved += estimate
        reservation.counters = applying
        return reservation

    def settle(self, reservation: Reservation, actual: Decimal | None) -> None:
        """Replace the reservation by the actual cost (None or 0: nothing was spent, e.g. a cache hit)."""
        if reservation.done:
            return
        reservation.done = True
        for counter in reservation.counters:
            counter.reserved -= reservation.estimate
            counter.pending += actual or Decimal(0)

    def on_stored(self, org_id: uuid.UUID, costs: list[tuple[Mapping[str, str | None], Decimal]]) -> None:
        """The recorder stored these (attributes, cost): they are in the database now, no longer pending.
        Call with `lock` held."""
        state = self._orgs.get(org_id)
        if state is None:
            return
        for attributes, cost in costs:
            for counter in state.counters.values():
                if counter.applies(attributes):
                    counter.pending -= cost
                    counter.baseline += cost

    # --- loading and refreshing --------------------------------------------------------------------------

    async def ensure(self, org_id: uuid.UUID) -> None:
        """Load an org's hard budgets the first time it is seen (later: the background refresh)."""
        if org_id not in self._orgs:
            async with self.lock:
                if org_id not in self._orgs:
                    await self._refresh(org_id)

    async def refresh_all(self) -> None:
        async with self.lock:
            for org_id in list(self._orgs):
                await self._refresh(org_id)

    async def _refresh(self, org_id: uuid.UUID) -> None:
        now = datetime.now(UTC)
        loaded = await asyncio.to_thread(self._load, org_id, now)
        state = self._orgs.get(org_id)
        old = state.counters if state is not None else {}
        counters: dict[uuid.UUID, Counter] = {}
        for counter, spend in loaded:
            current = old.get(counter.budget_id)
            if current is not None and current.start == counter.start:
                current.amount, current.name, current.baseline = counter.amount, counter.name, spend
                current.scope_type, current.scope_value = counter.scope_type, counter.scope_value
                counters[counter.budget_id] = current
            else:
                counter.baseline = spend
                counters[counter.budget_id] = counter
        self._orgs[org_id] = _OrgState(counters, time.monotonic())

    def _load(self, org_id: uuid.UUID, now: datetime) -> list[tuple[Counter, Decimal]]:
        out = []
        with self._db.session() as session:
            budgets = session.scalars(
                select(Budget).where(
                    Budget.organization_id == org_id, Budget.hard_limit.is_(True), Budget.enabled.is_(True)
                )
            ).all()
            for budget in budgets:
                start, end = period_bounds(budget.period, now)
                counter = Counter(
                    budget.id,
                    budget.name,
                    budget.scope_type,
                    budget.scope_value,
                    budget.period,
                    Decimal(budget.amount),
                    start,
                    end,
                )
                out.append((counter, self._spend(session, org_id, counter)))
        return out

    @staticmethod
    def _spend(session: Session, org_id: uuid.UUID, counter: Counter) -> Decimal:
        params: dict[str, object] = {"org": org_id, "start": counter.start, "end": counter.end}
        if counter.scope_type == "user":
            query = _EVENT_SPEND
            params["value"] = counter.scope_value
        elif counter.scope_type == "org":
            query = _ROLLUP_SPEND
        else:
            query = f"{_ROLLUP_SPEND} AND {_ROLLUP_COLUMNS[counter.scope_type]} = :value"
            params["value"] = counter.scope_value
        value = session.execute(text(query), params).scalar_one()
        return Decimal(value)
