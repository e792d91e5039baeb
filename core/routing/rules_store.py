"""Routing rules in the database: CRUD with validation and audit, rules made from recommendations, the rule
sets the gateway evaluates, and the match counts / measured savings it writes back in batches.

`estimated_savings` on a rule is *measured*: the sum, over the requests the rule changed, of what the original
model would have cost for the same tokens minus what was paid (rates from the price catalogue), plus the cost
of answers a cache rule served. Every gateway usage event also carries the rule id and the saving in its
metadata, so the figure can be recomputed from stored usage (`RULE_SAVINGS_SQL`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic.alias_generators import to_snake
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from core.audit.service import record_change
from core.errors import NotFound
from core.routing.models import RoutingRule
from core.routing.rules import RULE_TYPES, CompiledRule, RuleSet, RuleSpec, compile_rule
from core.routing.suggestions import spec_from_suggestion, validate_spec, with_rate_limit

_listeners: list[Callable[[uuid.UUID], None]] = []

# Measured savings per rule from stored usage (the gateway writes rule_id and saving into event metadata).
RULE_SAVINGS_SQL = """
SELECT metadata->>'rule_id' AS rule_id, count(*) AS requests, sum((metadata->>'saving')::numeric) AS savings
FROM usage_events
WHERE organization_id = :org AND metadata ? 'rule_id' AND timestamp >= :start AND timestamp < :end
GROUP BY 1
"""


def on_change(listener: Callable[[uuid.UUID], None]) -> None:
    """Call `listener(org_id)` whenever this process changes an org's rules (the gateway drops its copy)."""
    _listeners.append(listener)


def off_change(listener: Callable[[uuid.UUID], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _notify(org_id: uuid.UUID) -> None:
    for listener in list(_listeners):
        listener(org_id)


def _changed(session: Session, org_id: uuid.UUID) -> None:
    """Tell the listeners once the change is committed (before that, they would reload the old rules)."""
    event.listen(session, "after_commit", lambda _session: _notify(org_id), once=True)


def rule_view(row: RoutingRule) -> dict[str, Any]:
    """A stored rule in the API's shape (the seed's field names, snake_case)."""
    action = dict(row.action)
    return {
        "id": str(row.id),
        "name": row.name,
        "description": row.description,
        "rule_type": RULE_TYPES.get(str(action.get("type")), "unknown"),
        "priority": row.priority,
        "enabled": row.enabled,
        "conditions": row.conditions,
        "condition_logic": row.condition_logic,
        "actions": action,
        "ab_test_enabled": row.traffic_percent < 100,
        "ab_test_traffic_percent": row.traffic_percent,
        "created_from_recommendation_id": str(row.source_recommendation_id) if row.source_recommendation_id else None,
        "match_count": row.match_count,
        "estimated_savings": row.estimated_savings,
        "last_matched_at": row.last_matched_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _columns(spec: RuleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "priority": spec.priority,
        "enabled": spec.enabled,
        "conditions": [c.model_dump(mode="json", by_alias=False) for c in spec.conditions],
        "condition_logic": spec.condition_logic,
        "action": spec.actions.model_dump(mode="json", by_alias=False, exclude_defaults=False),
        "traffic_percent": spec.traffic_percent,
    }


def _audit_view(row: RoutingRule) -> dict[str, Any]:
    view = rule_view(row)
    return {
        key: view[key]
        for key in (
            "name",
            "priority",
            "enabled",
            "conditions",
            "condition_logic",
            "actions",
            "ab_test_traffic_percent",
        )
    }


def list_rules(session: Session, *, org_id: uuid.UUID) -> list[RoutingRule]:
    query = select(RoutingRule).where(RoutingRule.organization_id == org_id)
    return list(session.scalars(query.order_by(RoutingRule.priority, RoutingRule.created_at)))


def get_rule(session: Session, *, org_id: uuid.UUID, rule_id: uuid.UUID) -> RoutingRule:
    row = session.scalar(select(RoutingRule).where(RoutingRule.organization_id == org_id, RoutingRule.id == rule_id))
    if row is None:
        raise NotFound(f"routing rule {rule_id} not found")
    return row


def create_rule(
    session: Session,
    *,
    org_id: uuid.UUID,
    spec: RuleSpec,
    actor: str,
    source_recommendation_id: uuid.UUID | None = None,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> RoutingRule:
    row = RoutingRule(organization_id=org_id, source_recommendation_id=source_recommendation_id, **_columns(spec))
    session.add(row)
    session.flush()
    session.refresh(row)
    record_change(
        session,
        org_id=org_id,
        actor=actor,
        action="routing_rule.create",
        resource_type="routing_rule",
        resource_id=str(row.id),
        after=_audit_view(row),
        source_ip=source_ip,
        request_id=request_id,
    )
    _changed(session, org_id)
    return row


def update_rule(
    session: Session,
    *,
    org_id: uuid.UUID,
    rule_id: uuid.UUID,
    patch: dict[str, Any],
    actor: str,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> RoutingRule:
    """Apply a partial change; the merged rule must validate as a whole."""
    row = get_rule(session, org_id=org_id, rule_id=rule_id)
    before = _audit_view(row)
    patch = {to_snake(key): value for key, value in patch.items()}  # the seed's camelCase names too
    if "action" in patch and "actions" not in patch:
        patch["actions"] = patch.pop("action")
    merged = {**{k: v for k, v in rule_view(row).items() if k in RuleSpec.model_fields}, **patch}
    if "rule_type" not in patch:
        merged.pop("rule_type", None)
    spec = validate_spec(merged)
    for name, value in _columns(spec).items():
        setattr(row, name, value)
    row.updated_at = datetime.now(UTC)
    session.flush()
    record_change(
        session,
        org_id=org_id,
        actor=actor,
        action="routing_rule.update",
        resource_type="routing_rule",
        resource_id=str(row.id),
        before=before,
        after=_audit_view(row),
        source_ip=source_ip,
        request_id=request_id,
    )
    _changed(session, org_id)
    return row


def delete_rule(
    session: Session,
    *,
    org_id: uuid.UUID,
    rule_id: uuid.UUID,
    actor: str,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> None:
    row = get_rule(session, org_id=org_id, rule_id=rule_id)
    before = _audit_view(row)
    session.delete(row)
    session.flush()
    record_change(
        session,
        org_id=org_id,
        actor=actor,
        action="routing_rule.delete",
        resource_type="routing_rule",
        resource_id=str(rule_id),
        before=before,
        source_ip=source_ip,
        request_id=request_id,
    )
    _changed(session, org_id)


# --- rules from recommendations ----------------------------------------------------------------------------


def create_rule_from_recommendation(
    session: Session,
    *,
    org_id: uuid.UUID,
    recommendation_id: uuid.UUID,
    suggestion: dict[str, Any],
    title: str,
    actor: str,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> RoutingRule:
    """The active rule that applies a recommendation (its suggested_routing_rule), linked to it."""
    suggestion = with_rate_limit(session, org_id=org_id, suggestion=suggestion)  # a limit from stored usage
    spec = spec_from_suggestion(suggestion, name=title[:200], description=f"applied recommendation {recommendation_id}")
    return create_rule(
        session,
        org_id=org_id,
        spec=spec,
        actor=actor,
        source_recommendation_id=recommendation_id,
        source_ip=source_ip,
        request_id=request_id,
    )


def measured_savings(session: Session, *, org_id: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    """Per recommendation that became a rule: its rule, matches and measured savings so far (USD)."""
    rows = session.scalars(
        select(RoutingRule).where(
            RoutingRule.organization_id == org_id, RoutingRule.source_recommendation_id.is_not(None)
        )
    )
    return {
        row.source_recommendation_id: {
            "rule_id": str(row.id),
            "match_count": row.match_count,
            "measured_savings": row.estimated_savings,
            "since": row.created_at,
        }
        for row in rows
        if row.source_recommendation_id is not None
    }


# --- the gateway's side ------------------------------------------------------------------------------------


def load_rule_set(session: Session, *, org_id: uuid.UUID) -> RuleSet:
    rows = session.scalars(
        select(RoutingRule).where(RoutingRule.organization_id == org_id, RoutingRule.enabled.is_(True))
    )
    return RuleSet([_compiled(row) for row in rows])


def _compiled(row: RoutingRule) -> CompiledRule:
    return compile_rule(
        rule_id=row.id,
        name=row.name,
        priority=row.priority,
        conditions=row.conditions,
        logic=row.condition_logic,
        action=row.action,
        traffic_percent=row.traffic_percent,
    )


@dataclass
class _Tally:
    matches: int = 0
    savings: Decimal = Decimal(0)
    last: datetime | None = None


_FLUSH_STATS = text("""
UPDATE routing_rules r SET match_count = r.match_count + s.n, estimated_savings = r.estimated_savings + s.saved,
       last_matched_at = greatest(r.last_matched_at, s.at)
FROM unnest(CAST(:ids AS uuid[]), CAST(:ns AS bigint[]), CAST(:saved AS numeric[]), CAST(:ats AS timestamptz[]))
     AS s(id, n, saved, at)
WHERE r.id = s.id
""")


class RuleStats:
    """Match counts and savings per rule, counted in memory and written in one UPDATE per flush."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[uuid.UUID, _Tally] = {}

    def matched(self, rule_id: uuid.UUID, *, saving: Decimal = Decimal(0)) -> None:
        with self._lock:
            tally = self._tallies.setdefault(rule_id, _Tally())
            tally.matches += 1
            tally.savings += max(saving, Decimal(0))
            tally.last = datetime.now(UTC)

    def saved(self, rule_id: uuid.UUID, saving: Decimal) -> None:
        """Add a saving learnt after the match was counted (the routed call's actual cost)."""
        with self._lock:
            self._tallies.setdefault(rule_id, _Tally()).savings += max(saving, Decimal(0))

    def flush(self, session: Session) -> int:
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        if not tallies:
            return 0
        ids = list(tallies)
        session.execute(
            _FLUSH_STATS,
            {
                "ids": ids,
                "ns": [tallies[i].matches for i in ids],
                "saved": [tallies[i].savings for i in ids],
                "ats": [tallies[i].last or datetime.now(UTC) for i in ids],
            },
        )
        return len(ids)
