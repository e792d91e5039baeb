"""Which model group serves a request: the routing rule's target, then tier routing, under a quality floor.

Quality floor: a routed request never goes to a model whose quality score for the request's task category is
more than QUALITY_FLOOR_POINTS below the requested model's (scores: core/detectors/waste/quality.py, from the
seed's registry). When either model has no score the rule is trusted (it was written or applied by an admin).

Tier routing: a request for `auto` goes to the tier group (`utility`, `workhorse`, `premium`) the classifier
picks; a request for a tier group may be served by a cheaper tier when the classifier says the prompt needs no
more and the floor holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.detectors.waste import quality
from core.gateway.request import Facts
from core.routing.router import GatewayRouter
from core.routing.rules import CompiledRule, Decision

QUALITY_FLOOR_POINTS = 10
TIERS = ("utility", "workhorse", "premium")
AUTO_MODELS = frozenset({"auto", "tokentra/auto"})


@dataclass(frozen=True)
class Choice:
    group: str
    rule: CompiledRule | None  # the routing rule that changed the model (None: not routed by a rule)
    note: str | None = None  # why a matching rule was not applied (quality floor, target not configured)
    tier_routed: bool = False


def quality_model(router: GatewayRouter, group: str) -> str:
    """The model name the quality registry knows a group by (the group name, else its first deployment's)."""
    if quality.tier(group) is not None:
        return group
    deployments = router.deployments(group)
    return deployments[0].model if deployments else group


def floor_holds(router: GatewayRouter, requested: str, candidate: str, category: str) -> bool:
    drop = quality.quality_drop(quality_model(router, requested), quality_model(router, candidate), category)
    return drop is None or drop <= QUALITY_FLOOR_POINTS


def _rule_target(router: GatewayRouter, rule: CompiledRule, requested: str) -> str | None:
    """The configured group a route rule points at: its target model's group, or (with a target provider) a
    group serving that model only at that provider."""
    model, provider = rule.action.target_model or requested, rule.action.target_provider
    if provider is None:
        return model if router.has_group(model) else None
    candidates = [
        group
        for group in router.groups
        if (group == model or any(d.model == model for d in router.deployments(group)))
        and all(d.provider == provider for d in router.deployments(group))
    ]
    candidates.sort(key=lambda group: group != model)
    return candidates[0] if candidates else None


def choose(router: GatewayRouter, requested: str, decision: Decision, facts: Facts) -> Choice:
    group, rule, note = requested, None, None
    if decision.route is not None:
        target = _rule_target(router, decision.route, requested)
        if target is None:
            note = "target_not_configured"
        elif target != requested and not floor_holds(router, requested, target, facts.classification.category):
            note = "quality_floor"
        else:
            group, rule = target, decision.route
    if rule is None and (group in AUTO_MODELS or group in TIERS):
        tiered = _tier_group(router, group, facts)
        if tiered is not None and tiered != group:
            return Choice(tiered, None, note, tier_routed=True)
    return Choice(group, rule, note)


def _tier_group(router: GatewayRouter, requested: str, facts: Facts) -> str | None:
    wanted = facts.classification.tier
    if requested in AUTO_MODELS:
        order = [wanted, *(t for t in ("workhorse", "premium", "utility") if t != wanted)]
        return next((t for t in order if router.has_group(t)), None)
    if TIERS.index(wanted) >= TIERS.index(requested) or not router.has_group(wanted):
        return None  # never upgrade past what was asked for
    category = facts.classification.category
    return wanted if floor_holds(router, requested, wanted, category) else None
