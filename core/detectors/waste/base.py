"""What every waste detector shares: the context it runs in, the Finding it returns, and named queries.

The one rule (DESIGN.md): every figure of a Finding comes from a SQL query that the Finding names. A detector
runs its queries through `DetectorContext.query`, which records the exact SQL text and parameters next to the
rows it returned; `Evidence` carries them into the Recommendation (CONTRACT section 6), so a reviewer can
re-run the query and recompute the savings.

Money is Decimal throughout. Window amounts become monthly amounts as amount × 30 / window days.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from core.detectors.categories import CATEGORY

# Effort by category (optimization-engine seed); everything else takes hours.
_EFFORT = {
    "semantic_caching": "minutes",
    "model_version_optimization": "minutes",
    "provider_arbitrage": "hours",
    "task_aware_routing": "hours",
    "prompt_compression": "days",
}
_HIGH_RISK = {"task_aware_routing", "quality_cost_pareto", "prompt_compression"}

ZERO = Decimal(0)
CENT = Decimal("0.01")
SAMPLE_SIZE = 10
EVIDENCE_ROWS = 50  # rows kept in an evidence item's data (the query itself returns them all)

# The filter every detector query starts from: one org, the half-open window [start, end).
ORG_WINDOW = "e.organization_id = :org AND e.timestamp >= :start AND e.timestamp < :end"

# The cost of the scope a finding is about (the denominator of savings_percent).
SCOPE_COST_SQL = f"""
SELECT count(*) AS requests, coalesce(sum(e.cost), 0) AS cost
FROM usage_events e
WHERE {ORG_WINDOW}
  AND e.feature IS NOT DISTINCT FROM :feature AND e.provider = :provider AND e.model = :model
"""

SCOPE_COSTS_SQL = f"""
SELECT e.feature, e.provider, e.model, count(*) AS requests, coalesce(sum(e.cost), 0) AS cost
FROM usage_events e
WHERE {ORG_WINDOW}
GROUP BY e.feature, e.provider, e.model
"""

# List prices (global catalogue rows) with the period each version is in force: [valid_from, valid_to).
LIST_PRICES_CTE = """
list_prices AS (
    SELECT p.id, p.provider, p.model, p AS price, p.effective_from AS valid_from,
           coalesce(lead(p.effective_from) OVER (PARTITION BY p.provider, p.model ORDER BY p.effective_from),
                    'infinity'::timestamptz) AS valid_to
    FROM price_catalogue p
    WHERE p.organization_id IS NULL
)"""


@contextmanager
def planner_settings(conn: Connection, settings: Mapping[str, str]) -> Iterator[None]:
    """Planner/executor settings (work_mem, enable_mergejoin …) for the statements run inside, restored after.
    Transaction-local (set_config(..., true)): they never outlive the caller's transaction."""
    previous = {name: conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one() for name in settings}
    for name, value in settings.items():
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    try:
        yield
    finally:
        for name, value in previous.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def jsonable(value: Any) -> Any:
    """A query value as JSON: Decimal as a string (exact), datetimes as ISO 8601, UUIDs as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Evidence:
    """One query behind a finding: what it shows, the exact SQL and parameters, and (some of) its rows."""

    type: str  # usage_pattern | cost_analysis | time_series | sample_prompts …
    title: str
    sql: str
    params: dict[str, Any]
    data: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        query = {"sql": self.sql.strip(), "params": jsonable(self.params)}
        return {"type": self.type, "title": self.title, "query": query, "data": jsonable(self.data)}


@dataclass
class QueryResult:
    rows: list[dict[str, Any]]
    evidence: Evidence


class ScopeCosts:
    """SCOPE_COSTS_SQL's rows by (feature, provider, model): summed once for the contexts of one run, by the
    first that needs them (on its connection; the others wait for it, if they run on other threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[Any, ...], dict[str, Any]] | None = None

    def rows(self, ctx: DetectorContext) -> dict[tuple[Any, ...], dict[str, Any]]:
        with self._lock:
            if self._rows is None:
                grouped = ctx.conn.execute(text(SCOPE_COSTS_SQL), {"org": ctx.org_id, "start": ctx.start,
                                                                   "end": ctx.end}).mappings()  # fmt: skip
                self._rows = {(r["feature"], r["provider"], r["model"]): {k: r[k] for k in ("requests", "cost")}
                              for r in grouped}  # fmt: skip
            return self._rows


@dataclass
class DetectorContext:
    """What a detector runs against: a connection, the org and the analysis window [start, end)."""

    conn: Connection
    org_id: uuid.UUID
    start: datetime
    end: datetime
    _scope_costs: ScopeCosts = field(default_factory=ScopeCosts, init=False, repr=False)

    def on(self, conn: Connection) -> DetectorContext:
        """The same org and window on another connection, sharing the scope costs."""
        other = DetectorContext(conn, self.org_id, self.start, self.end)
        other._scope_costs = self._scope_costs
        return other

    @property
    def days(self) -> Decimal:
        return Decimal(repr((self.end - self.start) / timedelta(days=1)))

    def monthly(self, window_amount: Decimal) -> Decimal:
        return window_amount * 30 / self.days

    def query(self, sql: str, title: str, *, kind: str = "usage_pattern", **params: Any) -> QueryResult:
        """Run `sql` for this org and window (`:org`, `:start`, `:end` are bound) and keep it as evidence."""
        bound = {"org": self.org_id, "start": self.start, "end": self.end, **params}
        rows = [dict(row) for row in self.conn.execute(text(sql), bound).mappings()]
        return QueryResult(rows, Evidence(kind, title, sql, bound, rows[:EVIDENCE_ROWS]))

    def scope_cost(self, feature: str | None, provider: str, model: str) -> QueryResult:
        """SCOPE_COST_SQL's row for the scope. Every scope of the window is summed once (SCOPE_COSTS_SQL, one
        scan instead of one per finding); the evidence names the per-scope query, which returns the same row."""
        costs = self._scope_costs.rows(self)
        row = dict(costs.get((feature, provider, model), {"requests": 0, "cost": 0}))
        title = f"Window cost of {feature or '(no feature)'} on {provider}/{model}"
        bound = {"org": self.org_id, "start": self.start, "end": self.end, "feature": feature, "provider": provider,
                 "model": model}  # fmt: skip
        return QueryResult([row], Evidence("cost_analysis", title, SCOPE_COST_SQL, bound, [row]))


@dataclass
class Finding:
    """Everything a Recommendation (CONTRACT section 6) needs, before consensus and storage."""

    type: str
    category: str
    title: str
    description: str
    scope: dict[str, str]
    target: dict[str, Any]
    current_monthly_cost: Decimal
    projected_monthly_cost: Decimal
    estimated_monthly_savings: Decimal
    savings_percent: float
    confidence: float
    priority: str
    risk_level: str
    effort: str
    evidence: list[Evidence]
    affected_requests: int
    sample_request_ids: list[str]
    implementation_steps: list[str]
    suggested_routing_rule: dict[str, Any] | None = None
    window_savings: Decimal = ZERO  # the window's (not monthly) savings, for checks
    # The event slices (scope dicts) whose cost the savings come from; de-duplication compares them.
    claims: list[dict[str, str]] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Type + scope: a rerun over a later window updates the same recommendation."""
        return self.type + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.scope.items()))

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name not in ("evidence", "claims")}
        data["evidence"] = [item.to_dict() for item in self.evidence]
        return {k: jsonable(v) for k, v in data.items()}


@dataclass
class Draft:
    """What a detector measured; `finish` turns it into a Finding with the shared, seed-defined rules."""

    type: str
    title: str
    description: str
    scope: dict[str, str]
    target: dict[str, Any]
    window_savings: Decimal
    affected_requests: int
    sample_request_ids: Sequence[str]
    evidence: list[Evidence]
    confidence: float
    implementation_steps: list[str]
    suggested_routing_rule: dict[str, Any] | None = None
    extra_evidence: list[Evidence] = field(default_factory=list)
    # The scope's window cost when it is not the scope slice's (e.g. it includes fallback calls on another
    # model): a query whose first row has `cost`. None: `ctx.scope_cost` of the scope.
    scope_cost: QueryResult | None = None
    claims: list[dict[str, str]] | None = None  # None: the scope itself


def priority_of(savings: Decimal, confidence: float) -> str:
    """The seed's rule: > $1000 and confidence > 0.8 critical; > $500 or > 0.85 high; > $100 medium."""
    if savings > 1000 and confidence > 0.8:
        return "critical"
    if savings > 500 or confidence > 0.85:
        return "high"
    return "medium" if savings > 100 else "low"


def risk_of(category: str, confidence: float) -> str:
    if category in _HIGH_RISK:
        return "high"
    return "medium" if confidence < 0.7 else "low"


def finish(ctx: DetectorContext, draft: Draft) -> Finding:
    """The Finding for `draft`: monthly amounts over the scope's cost, priority, risk and effort."""
    scope = draft.scope
    cost = draft.scope_cost or ctx.scope_cost(scope.get("feature"), scope["provider"], scope["model"])
    current = ctx.monthly(Decimal(cost.rows[0]["cost"])).quantize(CENT)
    savings = min(ctx.monthly(draft.window_savings).quantize(CENT), current)
    projected = current - savings
    category = CATEGORY[draft.type]
    percent = float(savings / current * 100) if current > 0 else 0.0
    return Finding(
        type=draft.type,
        category=category,
        title=draft.title,
        description=draft.description,
        scope=scope,
        target=draft.target,
        current_monthly_cost=current,
        projected_monthly_cost=projected,
        estimated_monthly_savings=savings,
        savings_percent=round(percent, 1),
        confidence=draft.confidence,
        priority=priority_of(savings, draft.confidence),
        risk_level=risk_of(category, draft.confidence),
        effort=_EFFORT.get(category, "hours"),
        evidence=[*draft.evidence, cost.evidence, *draft.extra_evidence],
        affected_requests=draft.affected_requests,
        sample_request_ids=list(draft.sample_request_ids)[:SAMPLE_SIZE],
        implementation_steps=draft.implementation_steps,
        suggested_routing_rule=draft.suggested_routing_rule,
        window_savings=draft.window_savings,
        claims=list(draft.claims) if draft.claims is not None else [dict(scope)],
    )


def scope_of(row: Mapping[str, Any]) -> dict[str, str]:
    """The finding scope from a grouped row (team, project, feature, provider, model; missing ones left out)."""
    keys = ("team", "project", "feature", "provider", "model")
    return {k: str(row[k]) for k in keys if row.get(k) is not None}


def money(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value)
