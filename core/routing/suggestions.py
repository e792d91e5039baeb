"""Recommendations' suggested routing rules as rules of our schema.

The waste detectors (core/detectors/waste/*.py) suggest rules in the optimization-engine seed's object form:
`{"conditions": {"feature": …, "model": …, "task_type": [...], "total_tokens_lt": n, "endpoint": …},
"action": {"route_to": {"provider", "model"}, "fallback_on_error": true}}` (or a rate limit with
`action_on_exceed`, or cache settings). `spec_from_suggestion` turns one into a validated RuleSpec: a list value
becomes `in`, a `_lt/_lte/_gt/_gte` suffix its operator, `fallback_on_error` the original model as fallback.
What cannot be enforced (a rate limit without a limit) is refused with the reason.

The waste detector's rate-limit suggestion names the slice and the window but no limit: `with_rate_limit` fills
it from stored usage (RATE_LIMIT_SQL, named in the rule's metadata): the most requests of the slice the provider
served in one window in which it also rate-limited some, i.e. the level at which it started refusing (when no
window was rate-limited, the slice's peak requests per window). Queueing at that level keeps the slice on its
model instead of falling back.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.detectors.waste.rate_limit import RATE_LIMIT_CODES
from core.errors import InvalidInput
from core.routing.rules import RuleSpec

RATE_LIMIT_LOOKBACK_DAYS = 30
RATE_LIMIT_QUERY = "Most requests of the slice served in one window that was rate-limited (else the peak window)"
RATE_LIMIT_SQL = """
WITH windows AS (
    SELECT date_bin(make_interval(secs => :window), e.timestamp, TIMESTAMPTZ '2000-01-01') AS window_start,
           count(*) FILTER (WHERE e.error_code IS NULL) AS served,
           count(*) FILTER (WHERE e.error_code = ANY(CAST(:codes AS text[]))) AS limited
    FROM usage_events e
    WHERE e.organization_id = :org AND e.timestamp >= now() - make_interval(days => :days)
      AND e.feature IS NOT DISTINCT FROM :feature AND e.model = :model
    GROUP BY 1
)
SELECT max(served) FILTER (WHERE limited > 0) AS served_when_limited, max(served) AS peak_served,
       count(*) FILTER (WHERE limited > 0) AS limited_windows, count(*) AS windows
FROM windows
"""


def validate_spec(data: dict[str, Any]) -> RuleSpec:
    """RuleSpec from JSON-like data; InvalidInput naming the first problems."""
    try:
        return RuleSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'rule'}: {error['msg']}" for error in exc.errors()[:5]
        )
        raise InvalidInput(f"invalid routing rule: {problems}") from None


# Keys of a detector's suggested rule that are conditions on our fields, and the field they mean.
_SUGGESTION_FIELDS = {
    "model": "model",
    "provider": "provider",
    "feature": "feature",
    "team": "team",
    "project": "project",
    "task_type": "task_type",
    "endpoint": "endpoint",
    "user_id": "user",
    "original_model": "model",
    "prompt_tokens": "input_tokens",
    "total_tokens": "total_tokens",
    "complexity_score": "complexity_score",
    "models": "model",
}
_SUFFIX_OPERATORS = ("_lte", "_gte", "_lt", "_gt")
_WINDOWS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "24h": 86400}


def _suggestion_conditions(conditions: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(conditions, leftovers) from the detectors' object form `{field: value, field_lt: n, …}`."""
    out: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for key, value in conditions.items():
        operator = "in" if isinstance(value, list) else "eq"
        name = key
        for suffix in _SUFFIX_OPERATORS:
            if key.endswith(suffix):
                name, operator = key[: -len(suffix)], suffix[1:]
                break
        if name not in _SUGGESTION_FIELDS:
            extra[key] = value
            continue
        out.append({"field": _SUGGESTION_FIELDS[name], "operator": operator, "value": value})
    return out, extra


def _is_rate_limit(suggestion: dict[str, Any]) -> bool:
    action = suggestion.get("action") or {}
    return isinstance(action, dict) and "action_on_exceed" in action and isinstance(suggestion.get("conditions"), dict)


def with_rate_limit(session: Session, *, org_id: uuid.UUID, suggestion: dict[str, Any]) -> dict[str, Any]:
    """The suggestion with `max_requests` derived from stored usage when it is a rate limit naming no limit
    (RATE_LIMIT_SQL over the last RATE_LIMIT_LOOKBACK_DAYS, the query and its figures kept in the action's
    metadata); any other suggestion unchanged. InvalidInput when the slice has no served request to learn from."""
    action = suggestion.get("action") or {}
    if not _is_rate_limit(suggestion) or action.get("max_requests") or action.get("max_cost"):
        return suggestion
    conditions = suggestion["conditions"]
    window = _WINDOWS.get(str(conditions.get("time_window", "1m")), 60)
    params = {
        "org": org_id,
        "window": window,
        "days": RATE_LIMIT_LOOKBACK_DAYS,
        "codes": list(RATE_LIMIT_CODES),
        "feature": conditions.get("feature"),
        "model": conditions.get("model"),
    }
    row = session.execute(text(RATE_LIMIT_SQL), params).one()
    limit = row.served_when_limited or row.peak_served
    if not limit:
        raise InvalidInput(
            f"the suggested rate limit names no limit and stored usage of the slice shows no served request in "
            f"the last {RATE_LIMIT_LOOKBACK_DAYS} days to derive one: set one and create the rule by hand"
        )
    source = {
        "query": RATE_LIMIT_QUERY,
        "sql": " ".join(RATE_LIMIT_SQL.split()),
        "parameters": {key: value for key, value in params.items() if key != "org"},
        "served_when_limited": row.served_when_limited,
        "peak_served": row.peak_served,
        "limited_windows": row.limited_windows,
        "windows": row.windows,
    }
    metadata = {**(action.get("metadata") or {}), "max_requests_from": source}
    return {**suggestion, "action": {**action, "max_requests": int(limit), "metadata": metadata}}


def spec_from_suggestion(
    suggestion: dict[str, Any], *, name: str, description: str | None = None, priority: int = 100
) -> RuleSpec:
    """A RuleSpec from a recommendation's `suggested_routing_rule` (the detectors' object form, or already a
    rule in our schema). InvalidInput when it cannot be turned into a rule."""
    if "actions" in suggestion and isinstance(suggestion.get("conditions"), list):
        return validate_spec({"name": name, "description": description, "priority": priority, **suggestion})
    raw_conditions = suggestion.get("conditions") or {}
    conditions, extra = _suggestion_conditions(raw_conditions if isinstance(raw_conditions, dict) else {})
    action_in = suggestion.get("action") or suggestion.get("actions") or {}
    original = raw_conditions.get("model") if isinstance(raw_conditions, dict) else None
    action: dict[str, Any]
    if "route_to" in action_in or "route_to_model" in action_in:
        target = action_in.get("route_to") or {"model": action_in.get("route_to_model")}
        target = target if isinstance(target, dict) else {"model": target}
        action = {
            "type": "route_to_model",
            "target_model": target.get("model"),
            "target_provider": target.get("provider"),
        }
        if action_in.get("fallback_on_error") and isinstance(original, str):
            action["fallback_model"] = original
    elif "action_on_exceed" in action_in:
        window = _WINDOWS.get(str(extra.pop("time_window", "1m")), 60)
        fallback = action_in.get("fallback_model")
        action = {
            "type": "rate_limit",
            "window_size_seconds": window,
            "max_requests_per_window": action_in.get("max_requests") or extra.pop("max_requests", None),
            "max_cost_per_window": action_in.get("max_cost"),
            "action_on_exceed": "downgrade" if fallback else action_in["action_on_exceed"],
            "fallback_model": fallback,
            "metadata": action_in.get("metadata") or {},
        }
        if action["max_requests_per_window"] is None and action["max_cost_per_window"] is None:
            raise InvalidInput(
                "the suggested rate limit names no limit (max requests or cost per window): "
                "set one and create the rule by hand"
            )
    elif "cache_ttl_seconds" in action_in or "enable_cache" in action_in:
        threshold = extra.pop("similarity_threshold", None)
        action = {
            "type": "enable_cache",
            "cache_ttl_seconds": action_in.get("cache_ttl_seconds"),
            "similarity_threshold": threshold,
        }
    else:
        raise InvalidInput(f"cannot turn suggested rule action {sorted(action_in)} into a routing rule")
    extra.pop("time_window", None)
    if extra:
        raise InvalidInput(f"suggested rule has conditions this gateway cannot evaluate: {sorted(extra)}")
    return validate_spec(
        {"name": name, "description": description, "priority": priority, "conditions": conditions, "actions": action}
    )
