"""Routing rules for gateway traffic: the schema (pydantic) and the evaluator.

Schema, after the optimization-engine seed (seed notes section 6): a rule has conditions `{field, operator,
value}` joined by `condition_logic` (and | or; an empty list matches everything), one action, a priority
(lower is evaluated first) and an A/B traffic percent. Operators: eq, neq, gt, gte, lt, lte, in, not_in,
contains, not_contains (case-insensitive substring), regex (case-insensitive; an invalid one is refused when
the rule is saved), between ([min, max] inclusive). A missing context value matches only neq and not_in, and
`eq null` (a condition on "no value", e.g. requests without a feature).

Evaluation, as in the seed: enabled rules in priority order; the first matching `route_to_model` rule decides
the model; the first `block` refuses; every matching `enable_cache`, `rate_limit`, `compress_prompt` and `alert`
rule is collected. A rule with traffic_percent < 100 applies to that share of requests only (A/B), bucketed
by user when the request names one, else at random.
"""

from __future__ import annotations

import random
import re
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

ConditionField = Literal[
    # the seed's 18 fields
    "model",
    "provider",
    "task_type",
    "task_category",
    "input_tokens",
    "output_tokens",
    "team_id",
    "project_id",
    "feature_id",
    "complexity_score",
    "quality_requirement",
    "time_of_day",
    "day_of_week",
    "prompt_length",
    "has_code",
    "has_math",
    "latency_requirement",
    "budget_remaining",
    # attribution by name (our headers carry names, not ids) and request shape
    "team",
    "project",
    "feature",
    "user",
    "endpoint",
    "total_tokens",
    "stream",
    "tier",
]
Operator = Literal[
    "eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains", "regex", "between"
]
ActionType = Literal["route_to_model", "enable_cache", "compress_prompt", "rate_limit", "block", "alert"]
# The seed's rule_type for each action type (shown in the API, derived: one action per rule).
RULE_TYPES: dict[str, str] = {
    "route_to_model": "model_route",
    "enable_cache": "cache",
    "compress_prompt": "compress",
    "rate_limit": "rate_limit",
    "block": "block",
    "alert": "alert",
}
# The id-named seed fields and the names our requests carry for them.
FIELD_ALIASES = {"team_id": "team", "project_id": "project", "feature_id": "feature"}


class _Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Condition(_Schema):
    field: ConditionField
    operator: Operator
    value: Any = None

    @model_validator(mode="after")
    def _check_value(self) -> Condition:
        op, value = self.operator, self.value
        if op in ("in", "not_in") and not isinstance(value, list):
            raise ValueError(f"operator {op} needs a list value")
        if op in ("gt", "gte", "lt", "lte") and not _number(value):
            raise ValueError(f"operator {op} needs a number")
        if op == "between" and not (isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value)):
            raise ValueError("operator between needs [min, max]")
        if op in ("contains", "not_contains", "regex") and not isinstance(value, str):
            raise ValueError(f"operator {op} needs a string")
        if op == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return self


class Action(_Schema):
    type: ActionType
    target_model: str | None = None
    target_provider: str | None = None
    fallback_model: str | None = None
    fallback_provider: str | None = None
    cache_ttl_seconds: Annotated[int, Field(ge=1, le=30 * 86400)] | None = None
    cache_scope: Literal["request", "user", "team", "org"] = "org"
    similarity_threshold: Annotated[float, Field(ge=0.5, le=1.0)] | None = None
    compression_level: Literal["light", "medium", "aggressive"] = "light"
    max_requests_per_window: Annotated[int, Field(ge=1)] | None = None
    window_size_seconds: Annotated[int, Field(ge=1, le=86400)] = 60
    max_cost_per_window: Annotated[float, Field(gt=0)] | None = None
    action_on_exceed: Literal["reject", "queue", "alert", "downgrade"] = "reject"
    alert_channels: list[str] = Field(default_factory=list)
    message: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_action(self) -> Action:
        if self.type == "route_to_model" and not (self.target_model or self.target_provider):
            raise ValueError("route_to_model needs targetModel or targetProvider")
        if self.type == "rate_limit" and self.max_requests_per_window is None and self.max_cost_per_window is None:
            raise ValueError("rate_limit needs maxRequestsPerWindow or maxCostPerWindow")
        if self.type == "rate_limit" and self.action_on_exceed == "downgrade" and not self.fallback_model:
            raise ValueError("actionOnExceed downgrade needs fallbackModel")
        return self


class RuleSpec(_Schema):
    """A rule as the API accepts it (snake_case or the seed's camelCase)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    rule_type: str | None = None  # informative; derived from the action's type
    priority: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    enabled: bool = True
    conditions: list[Condition] = Field(default_factory=list)
    condition_logic: Literal["and", "or"] = "and"
    actions: Action
    ab_test_enabled: bool = False
    ab_test_traffic_percent: Annotated[int, Field(ge=0, le=100)] = 100

    @model_validator(mode="after")
    def _check_type(self) -> RuleSpec:
        expected = RULE_TYPES[self.actions.type]
        if self.rule_type not in (None, expected):
            raise ValueError(f"rule_type {self.rule_type!r} does not fit action {self.actions.type!r} ({expected})")
        self.rule_type = expected
        return self

    @property
    def traffic_percent(self) -> int:
        return self.ab_test_traffic_percent if self.ab_test_enabled else 100


# --- evaluation ------------------------------------------------------------------------------------------

Context = Mapping[str, Any]


def _value(context: Context, name: str) -> Any:
    value = context.get(name)
    if value is None and name in FIELD_ALIASES:
        value = context.get(FIELD_ALIASES[name])
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def condition_matches(condition: Condition, context: Context) -> bool:
    op, target = condition.operator, condition.value
    actual = _value(context, condition.field)
    if actual is None:
        return (op == "neq" and target is not None) or op == "not_in" or (op == "eq" and target is None)
    if op in ("eq", "neq"):
        same = _lower(actual) == _lower(target)
        return same if op == "eq" else not same
    if op in ("in", "not_in"):
        inside = _lower(actual) in {_lower(item) for item in target if not isinstance(item, list | dict)}
        return inside if op == "in" else not inside
    if op in ("contains", "not_contains"):
        found = isinstance(actual, str) and target.lower() in actual.lower()
        return found if op == "contains" else not found
    if op == "regex":
        return isinstance(actual, str) and re.search(target, actual, re.IGNORECASE) is not None
    if not _number(actual):
        return False
    if op == "between":
        return bool(target[0] <= actual <= target[1])
    return bool({"gt": actual > target, "gte": actual >= target, "lt": actual < target, "lte": actual <= target}[op])


@dataclass(frozen=True)
class CompiledRule:
    id: uuid.UUID
    name: str
    priority: int
    conditions: tuple[Condition, ...]
    logic: str
    action: Action
    traffic_percent: int

    def matches(self, context: Context) -> bool:
        if not self.conditions:
            return True
        results = (condition_matches(condition, context) for condition in self.conditions)
        return all(results) if self.logic == "and" else any(results)

    def in_sample(self, bucket_key: str | None) -> bool:
        if self.traffic_percent >= 100:
            return True
        if bucket_key is None:
            return random.random() * 100 < self.traffic_percent
        return zlib.crc32(f"{self.id}:{bucket_key}".encode()) % 100 < self.traffic_percent


@dataclass
class Decision:
    """What the rules say about one request."""

    route: CompiledRule | None = None
    block: CompiledRule | None = None
    cache: CompiledRule | None = None
    rate_limits: list[CompiledRule] = field(default_factory=list)
    compress: CompiledRule | None = None
    alerts: list[CompiledRule] = field(default_factory=list)

    @property
    def matched(self) -> list[CompiledRule]:
        singles = [rule for rule in (self.block, self.route, self.cache, self.compress) if rule is not None]
        return [*singles, *self.rate_limits, *self.alerts]


class RuleSet:
    """An org's enabled rules, compiled and sorted by priority (ties: older first)."""

    def __init__(self, rules: list[CompiledRule]) -> None:
        self.rules = sorted(rules, key=lambda rule: rule.priority)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def evaluate(self, context: Context, *, bucket_key: str | None = None) -> Decision:
        decision = Decision()
        for rule in self.rules:
            kind = rule.action.type
            if kind == "route_to_model" and decision.route is not None:
                continue
            if not rule.matches(context) or not rule.in_sample(bucket_key):
                continue
            _ASSIGN[kind](decision, rule)
            if decision.block is not None:
                break
        return decision


def _set_once(name: str) -> Callable[[Decision, CompiledRule], None]:
    def assign(decision: Decision, rule: CompiledRule) -> None:
        if getattr(decision, name) is None:
            setattr(decision, name, rule)

    return assign


_ASSIGN: dict[str, Callable[[Decision, CompiledRule], None]] = {
    "route_to_model": _set_once("route"),
    "block": _set_once("block"),
    "enable_cache": _set_once("cache"),
    "compress_prompt": _set_once("compress"),
    "rate_limit": lambda decision, rule: decision.rate_limits.append(rule),
    "alert": lambda decision, rule: decision.alerts.append(rule),
}


def compile_rule(
    *,
    rule_id: uuid.UUID,
    name: str,
    priority: int,
    conditions: list[dict[str, Any]],
    logic: str,
    action: dict[str, Any],
    traffic_percent: int,
) -> CompiledRule:
    """A stored rule, validated again (a row written by hand that no longer validates raises ValueError)."""
    return CompiledRule(
        id=rule_id,
        name=name,
        priority=priority,
        conditions=tuple(Condition.model_validate(item) for item in conditions),
        logic=logic,
        action=Action.model_validate(action),
        traffic_percent=traffic_percent,
    )
