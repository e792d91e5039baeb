"""Routing-rule schema, operators, evaluation order and A/B sampling; rules made from detector suggestions."""

from __future__ import annotations

import uuid

import pytest

from core.errors import InvalidInput
from core.routing.rules import Condition, RuleSet, RuleSpec, compile_rule, condition_matches
from core.routing.suggestions import spec_from_suggestion


def cond(field, operator, value):
    return Condition(field=field, operator=operator, value=value)


@pytest.mark.parametrize(
    ("field", "operator", "value", "context", "expected"),
    [
        ("model", "eq", "GPT-4o", {"model": "gpt-4o"}, True),
        ("model", "neq", "gpt-4o", {"model": "gpt-4o"}, False),
        ("input_tokens", "gt", 100, {"input_tokens": 101}, True),
        ("input_tokens", "gte", 100, {"input_tokens": 100}, True),
        ("input_tokens", "lt", 100, {"input_tokens": 100}, False),
        ("input_tokens", "lte", 100, {"input_tokens": 100}, True),
        ("input_tokens", "gt", 100, {"input_tokens": "lots"}, False),
        ("task_type", "in", ["faq", "greeting"], {"task_type": "faq"}, True),
        ("task_type", "not_in", ["faq"], {"task_type": "faq"}, False),
        ("feature", "contains", "SEARCH", {"feature": "web-search-v2"}, True),
        ("feature", "not_contains", "search", {"feature": "chat"}, True),
        ("model", "regex", "^gpt-4o(-mini)?$", {"model": "GPT-4o-mini"}, True),
        ("complexity_score", "between", [0.2, 0.5], {"complexity_score": 0.5}, True),
        ("complexity_score", "between", [0.2, 0.5], {"complexity_score": 0.51}, False),
        # a missing value matches only neq, not_in and `eq null`
        ("team", "eq", "a", {}, False),
        ("team", "neq", "a", {}, True),
        ("team", "not_in", ["a"], {}, True),
        ("team", "in", ["a"], {}, False),
        ("team", "eq", None, {}, True),
        ("team_id", "eq", "search", {"team": "search"}, True),  # the seed's id fields read our names
    ],
)
def test_operators(field, operator, value, context, expected):
    assert condition_matches(cond(field, operator, value), context) is expected


@pytest.mark.parametrize(
    "bad",
    [
        {"field": "model", "operator": "in", "value": "gpt-4o"},
        {"field": "input_tokens", "operator": "gt", "value": "100"},
        {"field": "input_tokens", "operator": "between", "value": [1]},
        {"field": "model", "operator": "regex", "value": "("},
        {"field": "nope", "operator": "eq", "value": 1},
        {"field": "model", "operator": "like", "value": "x"},
    ],
)
def test_bad_conditions_are_refused(bad):
    with pytest.raises(ValueError, match="validation error"):  # pydantic's ValidationError is a ValueError
        Condition.model_validate(bad)


def test_actions_are_validated_and_camel_case_is_accepted():
    spec = RuleSpec.model_validate(
        {
            "name": "cheap faq",
            "ruleType": "model_route",
            "priority": 5,
            "abTestEnabled": True,
            "abTestTrafficPercent": 30,
            "conditions": [{"field": "task_type", "operator": "eq", "value": "faq"}],
            "actions": {"type": "route_to_model", "targetModel": "gpt-4o-mini", "fallbackModel": "gpt-4o"},
        }
    )
    assert spec.actions.target_model == "gpt-4o-mini"
    assert spec.traffic_percent == 30
    with pytest.raises(ValueError, match="targetModel"):
        RuleSpec.model_validate({"name": "x", "actions": {"type": "route_to_model"}})
    with pytest.raises(ValueError, match="maxRequestsPerWindow"):
        RuleSpec.model_validate({"name": "x", "actions": {"type": "rate_limit"}})
    with pytest.raises(ValueError, match="does not fit"):
        RuleSpec.model_validate({"name": "x", "rule_type": "cache", "actions": {"type": "block"}})


def rule(priority, action, conditions=(), traffic=100, logic="and"):
    return compile_rule(
        rule_id=uuid.uuid4(),
        name=f"r{priority}",
        priority=priority,
        conditions=list(conditions),
        logic=logic,
        action=action,
        traffic_percent=traffic,
    )


def test_first_matching_route_wins_and_other_types_are_collected():
    low = rule(
        1, {"type": "route_to_model", "target_model": "a"}, [{"field": "model", "operator": "eq", "value": "gpt-4o"}]
    )
    high = rule(2, {"type": "route_to_model", "target_model": "b"})
    cache = rule(3, {"type": "enable_cache", "similarity_threshold": 0.95})
    limit = rule(4, {"type": "rate_limit", "max_requests_per_window": 5})
    decision = RuleSet([high, limit, cache, low]).evaluate({"model": "gpt-4o"})
    assert decision.route is low
    assert decision.cache is cache
    assert decision.rate_limits == [limit]
    assert RuleSet([high, low]).evaluate({"model": "other"}).route is high


def test_block_stops_evaluation_and_or_logic():
    block = rule(
        1,
        {"type": "block", "message": "no"},
        [{"field": "feature", "operator": "eq", "value": "x"}, {"field": "team", "operator": "eq", "value": "y"}],
        logic="or",
    )
    later = rule(2, {"type": "alert"})
    decision = RuleSet([block, later]).evaluate({"team": "y"})
    assert decision.block is block
    assert decision.alerts == []
    assert RuleSet([block, later]).evaluate({"team": "z"}).block is None


def test_ab_percent_samples_that_share_of_requests():
    sampled = rule(1, {"type": "route_to_model", "target_model": "a"}, traffic=30)
    hits = sum(RuleSet([sampled]).evaluate({}).route is not None for _ in range(4000))
    assert 0.25 < hits / 4000 < 0.35
    by_user = [RuleSet([sampled]).evaluate({}, bucket_key="user-7").route is not None for _ in range(20)]
    assert len(set(by_user)) == 1  # one user stays in one arm


# The suggested_routing_rule shapes the waste detectors emit (core/detectors/waste/*.py).
SUGGESTIONS = {
    "model_downgrade": {
        "conditions": {
            "feature": "faq-bot",
            "model": "gpt-4o",
            "task_type": ["faq", "greeting"],
            "total_tokens_lt": 2000,
        },
        "action": {"route_to": {"provider": "openai", "model": "gpt-4o-mini"}, "fallback_on_error": True},
    },
    "quality_cost_pareto": {
        "conditions": {"feature": None, "model": "gpt-4o", "task_type": ["summarization"]},
        "action": {"route_to": {"provider": "openai", "model": "gpt-4.1-mini"}, "fallback_on_error": True},
    },
    "provider_arbitrage": {
        "conditions": {"feature": "x", "provider": "openai", "model": "gpt-4o"},
        "action": {"route_to": {"provider": "azure", "model": "gpt-4o"}},
    },
    "model_version_upgrade": {
        "conditions": {"feature": "x", "model": "gpt-4-turbo"},
        "action": {"route_to": {"provider": "openai", "model": "gpt-4.1"}},
    },
    "embedding_optimization": {
        "conditions": {"feature": "rag", "model": "text-embedding-3-large", "endpoint": "embeddings"},
        "action": {"route_to": {"provider": "openai", "model": "text-embedding-3-small"}},
    },
}


@pytest.mark.parametrize("kind", sorted(SUGGESTIONS))
def test_detector_suggestions_become_valid_rules(kind):
    spec = spec_from_suggestion(SUGGESTIONS[kind], name=kind)
    assert spec.actions.type == "route_to_model"
    assert spec.actions.target_model
    context = {c.field: c.value[0] if c.operator == "in" else c.value for c in spec.conditions}
    context["total_tokens"] = 10
    assert (
        RuleSet([rule(1, spec.actions.model_dump(), [c.model_dump() for c in spec.conditions])]).evaluate(context).route
    )  # the rule matches the traffic it was made from


def test_downgrade_suggestion_keeps_the_original_model_as_fallback():
    spec = spec_from_suggestion(SUGGESTIONS["model_downgrade"], name="d")
    assert spec.actions.fallback_model == "gpt-4o"
    assert {(c.field, c.operator) for c in spec.conditions} >= {("total_tokens", "lt"), ("task_type", "in")}


def test_rate_limit_suggestion_without_a_limit_is_refused_with_a_reason():
    suggestion = {
        "conditions": {"feature": "x", "model": "gpt-4o", "time_window": "1m"},
        "action": {"action_on_exceed": "queue", "fallback_model": None},
    }
    with pytest.raises(InvalidInput, match="names no limit"):
        spec_from_suggestion(suggestion, name="r")
    suggestion["action"]["max_requests"] = 100
    assert spec_from_suggestion(suggestion, name="r").actions.window_size_seconds == 60
