"""Driver analysis between two periods: "why did costs change?".

`compare_periods` runs ONE SQL query over the raw usage events of both periods (returned as `query`): per
(provider, model, feature) cell, and per cell x each requested dimension (GROUPING SETS), it sums requests,
tokens, the stored cost, and the cost of the same calls at the reference ("current") prices, computed by
tt_cost() with the price version in force at the end of the current period (the org's own price first, as
ingest resolves it). core/detectors/decompose.py turns those sums into effects that add up exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from core.detectors.decompose import EFFECTS, Cell, Effects, cents, decompose, round_to_total
from core.errors import InvalidInput

CELL = ("provider", "model", "feature")
DEFAULT_DIMENSIONS = ("model", "feature", "team", "project", "user_id", "provider")
ALLOWED = ("provider", "model", "team", "project", "feature", "user_id", "environment", "task_type", "status",
           "endpoint", "api_key_id")  # fmt: skip
METHOD = (
    "sequential decomposition at constant reference prices (price -> volume -> mix -> token_size) over "
    "(provider, model, feature) cells; price = baseline calls repriced with tt_cost() at the prices in force at "
    "the end of the current period (plus any price change inside the current period)"
)
_EFFECT_TEXT = {
    "price": "price changes: the baseline's calls repriced at current prices, minus what they cost",
    "volume": "more or fewer requests at the baseline's mix and cost per request",
    "mix": "requests moving between models and features (cost per request differs between them)",
    "token_size": "cost per request at constant prices within each model and feature (tokens per request)",
}

_SQL = """
WITH ref_prices AS (
    SELECT DISTINCT ON (r.provider, r.model) r.provider, r.model, r AS price
    FROM price_catalogue r
    WHERE (r.organization_id = :org OR r.organization_id IS NULL) AND r.effective_from <= :ref_at
    ORDER BY r.provider, r.model, (r.organization_id IS NULL), r.effective_from DESC
),
calls AS (
    SELECT {dims},
           (e.timestamp >= :base_start AND e.timestamp < :base_end) AS in_base,
           (e.timestamp >= :cur_start AND e.timestamp < :cur_end) AS in_cur,
           coalesce(e.cost, 0) AS cost,
           coalesce(tt_cost(rp.price, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                            e.reasoning_tokens, e.batch), e.cost, 0) AS ref_cost,
           e.input_tokens + e.output_tokens AS tokens
    FROM usage_events e
    LEFT JOIN price_catalogue pc ON pc.id = e.price_id
    LEFT JOIN ref_prices rp ON rp.provider = pc.provider AND rp.model = pc.model
    WHERE e.organization_id = :org
      AND ((e.timestamp >= :base_start AND e.timestamp < :base_end)
           OR (e.timestamp >= :cur_start AND e.timestamp < :cur_end))
)
SELECT {grouping} AS grouping_id, {names},
       count(*) FILTER (WHERE in_base) AS n0, count(*) FILTER (WHERE in_cur) AS n1,
       coalesce(sum(cost) FILTER (WHERE in_base), 0) AS c0, coalesce(sum(cost) FILTER (WHERE in_cur), 0) AS c1,
       coalesce(sum(ref_cost) FILTER (WHERE in_base), 0) AS r0,
       coalesce(sum(ref_cost) FILTER (WHERE in_cur), 0) AS r1,
       coalesce(sum(tokens) FILTER (WHERE in_base), 0) AS tokens0,
       coalesce(sum(tokens) FILTER (WHERE in_cur), 0) AS tokens1
FROM calls
GROUP BY GROUPING SETS ({sets})
"""


def build_sql(dimensions: Sequence[str]) -> tuple[str, list[str]]:
    """The comparison SQL for these dimensions, and the extra (non-cell) dimensions in GROUPING() bit order."""
    extra = [d for d in dict.fromkeys(dimensions) if d not in CELL]
    names = [*CELL, *extra]
    dims = ", ".join(f"coalesce(e.{d}, '') AS {d}" for d in names)
    cell = ", ".join(CELL)
    sets = ", ".join([f"({cell})", *(f"({cell}, {d})" for d in extra)])
    grouping = f"GROUPING({', '.join(extra)})" if extra else "0"
    return _SQL.format(dims=dims, grouping=grouping, names=", ".join(names), sets=sets), extra


def _check(dimensions: Sequence[str], current: tuple[datetime, datetime], baseline: tuple[datetime, datetime]) -> None:
    for name in dimensions:
        if name not in ALLOWED:
            raise InvalidInput(f"unknown dimension {name!r}; use one of {', '.join(ALLOWED)}")
    for label, (start, end) in (("current", current), ("baseline", baseline)):
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput(f"{label} period: times must be timezone-aware (UTC)")
        if end <= start:
            raise InvalidInput(f"{label} period: end must be after start (periods are [start, end))")


def compare_periods(
    conn: Connection,
    *,
    org_id: uuid.UUID,
    current: tuple[datetime, datetime],
    baseline: tuple[datetime, datetime],
    dimensions: Sequence[str] = DEFAULT_DIMENSIONS,
) -> dict[str, Any]:
    """Why did cost change between `baseline` and `current` (each a half-open [start, end))?

    Returns (money in USD, rounded to cents unless the key ends in `_exact`, a Decimal string)::

        {"org_id", "method", "reference_prices_at",   # prices of the current period's last instant
         "current":  {"start", "end", "cost", "requests", "tokens", "cost_per_request", "tokens_per_request"},
         "baseline": {... same ...},
         "total_delta", "total_delta_exact", "delta_percent" (None when the baseline cost is 0),
         "effects": [{"effect": "price"|"volume"|"mix"|"token_size", "amount", "exact", "share", "description"}],
         "dimensions": {dim: [{"value" (None = not set), "baseline_cost", "current_cost", "delta", "share",
                               "baseline_requests", "current_requests", "effects": {effect: amount}}]},
         "top_driver": {"dimension", "value", "delta", "share"} | None,
         "query": SQL, "params": {...}, "queries": {"effects": SQL, "<dim>": SQL}}

    `effects` amounts add up to `total_delta` to the cent (exact values add up exactly; cents use largest-
    remainder rounding); in each dimension the values' `delta`s add up to `total_delta` too, sorted by
    |delta| descending. `share` is the fraction of the total delta (None when the delta is 0). A value's
    `effects` are its cells' terms with cells (provider, model, feature, <dimension>). Unpriced calls count
    as requests at $0 (never invented prices). `top_driver` is the single dimension value that explains most
    of the change: its share of the delta discounted by its share of the baseline cost (`specificity_score`).
    """
    dimensions = tuple(dimensions)
    _check(dimensions, current, baseline)
    sql, extra = build_sql(dimensions)
    params = _params(org_id, current, baseline)
    rows = [dict(r) for r in conn.execute(text(sql), params).mappings()]
    cell_rows = [r for r in rows if r["grouping_id"] == _full(extra)]
    cells = [Cell.from_row(tuple(str(r[d]) for d in CELL), r) for r in cell_rows]
    total, _ = decompose(cells)
    result = _summary(org_id, current, baseline, params, total)
    result["dimensions"] = {d: _dimension(d, rows, extra, total) for d in dimensions}
    result["top_driver"] = _top_driver(result["dimensions"], total)
    result["query"], result["params"] = sql.strip(), _jsonable_params(params)
    result["queries"] = {"effects": result["query"], **dict.fromkeys(dimensions, result["query"])}
    return result


def _full(extra: Sequence[str]) -> int:
    """GROUPING() of the cell-only set: every extra dimension aggregated away (bit 1)."""
    return int(2 ** len(extra) - 1)


def _params(
    org_id: uuid.UUID, current: tuple[datetime, datetime], baseline: tuple[datetime, datetime]
) -> dict[str, Any]:
    return {"org": org_id, "cur_start": current[0], "cur_end": current[1], "base_start": baseline[0],
            "base_end": baseline[1], "ref_at": current[1] - timedelta(microseconds=1)}  # fmt: skip


def _jsonable_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else str(v) for k, v in params.items()}


def _period(bounds: tuple[datetime, datetime], cost: Decimal, requests: int, tokens: int) -> dict[str, Any]:
    return {
        "start": bounds[0].isoformat().replace("+00:00", "Z"),
        "end": bounds[1].isoformat().replace("+00:00", "Z"),
        "cost": cents(cost),
        "cost_exact": str(cost),
        "requests": requests,
        "tokens": tokens,
        "cost_per_request": float(cost / requests) if requests else None,
        "tokens_per_request": tokens / requests if requests else None,
    }


def _share(amount: Decimal, delta: Decimal) -> float | None:
    return round(float(amount / delta), 4) if delta != 0 else None


def _summary(org_id: uuid.UUID, current: tuple[datetime, datetime], baseline: tuple[datetime, datetime],
             params: Mapping[str, Any], total: Effects) -> dict[str, Any]:  # fmt: skip
    delta = total.delta
    amounts = round_to_total([total.values[e] for e in EFFECTS], delta)
    effects = [
        {"effect": name, "amount": float(amount), "exact": str(total.values[name].quantize(Decimal("1e-12"))),
         "share": _share(total.values[name], delta), "description": _EFFECT_TEXT[name]}
        for name, amount in zip(EFFECTS, amounts, strict=True)
    ]  # fmt: skip
    return {
        "org_id": str(org_id),
        "method": METHOD,
        "reference_prices_at": params["ref_at"].isoformat().replace("+00:00", "Z"),
        "current": _period(current, total.current, total.n1, total.tokens1),
        "baseline": _period(baseline, total.baseline, total.n0, total.tokens0),
        "total_delta": float(sum(amounts, Decimal(0))),
        "total_delta_exact": str(delta),
        "delta_percent": round(float(delta / total.baseline * 100), 2) if total.baseline else None,
        "effects": effects,
    }


def _dimension(name: str, rows: list[dict[str, Any]], extra: list[str], total: Effects) -> list[dict[str, Any]]:
    if name in CELL:
        chosen = [r for r in rows if r["grouping_id"] == _full(extra)]
        key_names = list(CELL)
    else:
        bit = 1 << (len(extra) - 1 - extra.index(name))  # GROUPING(): the first argument is the highest bit
        chosen = [r for r in rows if r["grouping_id"] == _full(extra) ^ bit]
        key_names = [*CELL, name]
    cells = [Cell.from_row(tuple(str(r[d]) for d in key_names), r) for r in chosen]
    _, groups = decompose(cells, group=key_names.index(name))
    ordered = sorted(groups.items(), key=lambda item: (-abs(item[1].delta), item[0]))
    deltas = round_to_total([g.delta for _, g in ordered], total.delta)
    return [
        {
            "value": value or None,
            "baseline_cost": cents(g.baseline),
            "current_cost": cents(g.current),
            "delta": float(delta),
            "delta_exact": str(g.delta),
            "share": _share(g.delta, total.delta),
            "baseline_requests": g.n0,
            "current_requests": g.n1,
            "baseline_tokens_per_request": g.tokens0 / g.n0 if g.n0 else None,
            "current_tokens_per_request": g.tokens1 / g.n1 if g.n1 else None,
            "effects": {e: cents(g.values[e]) for e in EFFECTS},
        }
        for (value, g), delta in zip(ordered, deltas, strict=True)
    ]


def specificity_score(delta_share: float, baseline_share: float) -> float:
    """How well one slice explains a change: its share of the delta, discounted by its share of the baseline
    (a slice that is most of the spend anyway, like the whole project, explains little). Shared with the
    anomaly drivers."""
    return delta_share * (1.0 - min(max(baseline_share, 0.0), 1.0))


def _top_driver(dimensions: Mapping[str, list[dict[str, Any]]], total: Effects) -> dict[str, Any] | None:
    """The single dimension value that explains most of the change. A value's *excess* delta is what it changed
    beyond growing at the rate of everything else (a user whose calls all grew with one feature has none; the
    feature has all of it); its score is the excess's share of the total delta, discounted by the value's share
    of the baseline (`specificity_score`: the main provider carries most changes without explaining them).
    Only values moving in the direction of the total count; ties go to the earlier dimension."""
    delta = total.delta
    if delta == 0:
        return None
    baseline = float(total.baseline)
    best: tuple[float, str, dict[str, Any]] | None = None
    for name, values in dimensions.items():
        for item in values:
            share = float(Decimal(item["delta_exact"]) / delta)
            if share <= 0:
                continue
            base = item["baseline_cost"]
            rest = baseline - base
            rest_rate = (float(delta) - share * float(delta)) / rest if rest > 0 else 0.0
            excess_share = share - base * rest_rate / float(delta)
            score = specificity_score(excess_share, base / baseline if baseline > 0 else 0.0)
            if best is None or score > best[0] + 1e-9:
                best = (score, name, item)
    if best is None:
        return None
    score, name, item = best
    return {"dimension": name, "value": item["value"], "delta": item["delta"], "share": item["share"],
            "score": round(score, 4)}  # fmt: skip
