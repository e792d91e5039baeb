"""simulate_savings: what would a slice of an org's calls have cost on another model/provider, with prompt
caching, or at batch prices? Exact: every call is repriced with tt_cost() at the list price in force at the call
(the same function ingest and the detectors use), so a what-if and a detector can never disagree.

The slice: `scope` keys among team, project, feature, provider, model, task_type, user_id, environment. A key
with a value selects that value; a key given as None selects calls where it is NULL; a missing key selects any.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from core.detectors.waste.base import LIST_PRICES_CTE, ORG_WINDOW, jsonable
from core.errors import InvalidInput

SCOPE_KEYS = ("team", "project", "feature", "provider", "model", "task_type", "user_id", "environment")
CACHE_TTL_SECONDS = 300  # as the prompt-caching detector: a cache entry lives ~5 minutes after its last hit

_SIMULATE_TEMPLATE = """
WITH {list_prices},
calls AS MATERIALIZED (
    SELECT e.timestamp, e.provider, e.model, e.cost, e.input_tokens, e.output_tokens, e.cache_read_tokens,
           e.cache_write_tokens, e.reasoning_tokens, e.batch, coalesce(e.system_prompt_tokens, 0) AS prefix,
           e.system_prompt_hash IS NOT NULL AND coalesce(e.timestamp - lag(e.timestamp) OVER (
               PARTITION BY e.system_prompt_hash, e.provider, e.model, e.environment ORDER BY e.timestamp
           ) <= make_interval(secs => :ttl), false) AS warm
    FROM usage_events e
    WHERE {org_window} AND e.cost > 0{filters}
)
SELECT count(*) AS calls,
       count(lp.id) AS repriced_calls,
       coalesce(sum(c.cost), 0) AS current_cost,
       coalesce(sum(c.cost) FILTER (WHERE lp.id IS NOT NULL), 0) AS repriced_current_cost,
       coalesce(sum(tt_cost(lp.price, c.input_tokens, c.output_tokens,
           CASE WHEN :cache AND c.prefix > 0 AND c.prefix <= c.input_tokens
                THEN CASE WHEN c.warm THEN c.prefix ELSE 0 END ELSE c.cache_read_tokens END,
           CASE WHEN :cache AND c.prefix > 0 AND c.prefix <= c.input_tokens
                THEN CASE WHEN c.warm THEN 0 ELSE c.prefix END ELSE c.cache_write_tokens END,
           c.reasoning_tokens, c.batch OR :batch)), 0) AS simulated_cost
FROM calls c
LEFT JOIN list_prices lp ON lp.provider = coalesce(CAST(:target_provider AS text), c.provider)
     AND lp.model = coalesce(CAST(:target_model AS text), c.model)
     AND c.timestamp >= lp.valid_from AND c.timestamp < lp.valid_to
"""


@dataclass(frozen=True)
class Simulation:
    calls: int
    repriced_calls: int  # calls with a target price in force (the others are left out of both sides)
    current_cost: Decimal  # the slice's billed cost
    simulated_cost: Decimal  # the repriced calls' cost in the what-if
    window_savings: Decimal  # billed − simulated, over the repriced calls
    monthly_savings: Decimal  # window_savings × 30 / window days, to the cent
    query: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__dataclass_fields__})  # type: ignore[no-any-return]


def _filters(scope: dict[str, str | None]) -> tuple[str, dict[str, Any]]:
    unknown = set(scope) - set(SCOPE_KEYS)
    if unknown:
        raise InvalidInput(f"simulate_savings: unknown scope key(s) {sorted(unknown)}; use {', '.join(SCOPE_KEYS)}")
    parts, params = [], {}
    for key in SCOPE_KEYS:
        if key not in scope:
            continue
        if scope[key] is None:
            parts.append(f"e.{key} IS NULL")
        else:
            parts.append(f"e.{key} = :s_{key}")
            params[f"s_{key}"] = str(scope[key])
    return "".join(f" AND {p}" for p in parts), params


def simulate_savings(conn: Connection, *, org_id: uuid.UUID, start: datetime, end: datetime,
                     scope: dict[str, str | None], target_model: str | None = None,
                     target_provider: str | None = None, batch: bool = False,
                     cache: bool = False) -> Simulation:  # fmt: skip
    """Reprice the slice's billed calls in [start, end) on the target (default: their own model/provider)."""
    if end <= start:
        raise InvalidInput("simulate_savings: the period end must be after its start")
    if not (target_model or target_provider or batch or cache):
        raise InvalidInput("simulate_savings: give a target model or provider, batch=true or cache=true")
    filters, params = _filters(scope)
    sql = _SIMULATE_TEMPLATE.format(list_prices=LIST_PRICES_CTE, org_window=ORG_WINDOW, filters=filters).strip()
    bound = {"org": org_id, "start": start, "end": end, "ttl": CACHE_TTL_SECONDS, "cache": cache, "batch": batch,
             "target_model": target_model, "target_provider": target_provider, **params}  # fmt: skip
    row = conn.execute(text(sql), bound).mappings().one()
    savings = Decimal(row["repriced_current_cost"]) - Decimal(row["simulated_cost"])
    days = Decimal(repr((end - start) / timedelta(days=1)))
    return Simulation(
        calls=int(row["calls"]),
        repriced_calls=int(row["repriced_calls"]),
        current_cost=Decimal(row["current_cost"]),
        simulated_cost=Decimal(row["simulated_cost"]),
        window_savings=savings,
        monthly_savings=(savings * 30 / days).quantize(Decimal("0.01")),
        query={"sql": sql, "params": jsonable(bound)},
    )
