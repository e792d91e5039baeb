"""Re-pricing a slice's calls at another model's list price (same provider, same tokens).

Shared by the detectors that propose a different model for the same calls: model_downgrade,
quality_cost_pareto and embedding_optimization. The caller passes (task_type, model, target) triples (a NULL
task_type matches any task) and a filter on which calls are eligible; every eligible billed call is repriced
with tt_cost() at the target's list price in force at the call.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.detectors.waste.base import LIST_PRICES_CTE, ORG_WINDOW

_REPRICE_TEMPLATE = """
WITH {list_prices},
pairs AS (
    SELECT * FROM unnest(CAST(:tasks AS text[]), CAST(:models AS text[]), CAST(:targets AS text[]))
        AS s(task_type, model, target)
),
target_prices AS MATERIALIZED (
    SELECT * FROM list_prices WHERE model = ANY(CAST(:targets AS text[]))
),
calls AS MATERIALIZED (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.task_type, p.target, e.request_id, e.timestamp,
           e.cost, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens,
           e.batch, ({eligible}) AS eligible
    FROM usage_events e
    JOIN pairs p ON p.model = e.model AND (p.task_type IS NULL OR p.task_type = e.task_type)
    WHERE {org_window} AND e.cost > 0
)
SELECT c.team, c.project, c.feature, c.provider, c.model, c.target,
       array_agg(DISTINCT c.task_type) FILTER (WHERE c.eligible) AS task_types,
       count(*) AS calls,
       count(*) FILTER (WHERE c.eligible) AS eligible_calls,
       count(lp.id) FILTER (WHERE c.eligible) AS repriced_calls,
       coalesce(sum(c.cost) FILTER (WHERE c.eligible), 0) AS current_cost,
       coalesce(sum(tt_cost(lp.price, c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,
                            c.reasoning_tokens, c.batch)) FILTER (WHERE c.eligible), 0) AS target_cost,
       (array_agg(c.request_id ORDER BY c.timestamp) FILTER (WHERE c.eligible))[1:10] AS samples
FROM calls c
LEFT JOIN target_prices lp ON lp.provider = c.provider AND lp.model = c.target
     AND c.timestamp >= lp.valid_from AND c.timestamp < lp.valid_to
GROUP BY c.team, c.project, c.feature, c.provider, c.model, c.target
HAVING count(*) FILTER (WHERE c.eligible) >= :min_calls
ORDER BY c.feature, c.model
"""


def reprice_sql(eligible: str) -> str:
    """The re-pricing query with `eligible` (a boolean SQL expression over `e`) choosing the calls to move."""
    return _REPRICE_TEMPLATE.format(list_prices=LIST_PRICES_CTE, org_window=ORG_WINDOW, eligible=eligible)


def pair_params(triples: Sequence[tuple[str | None, str, str]]) -> dict[str, list[str | None]]:
    """The :tasks, :models and :targets arrays for (task_type, model, target) triples."""
    return {
        "tasks": [t[0] for t in triples],
        "models": [t[1] for t in triples],
        "targets": [t[2] for t in triples],
    }
