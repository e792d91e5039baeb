"""Delivering alert events (budget thresholds, anomalies, unpriced models) to the org's channels.

`deliver_pending` finds each active alert event of the last week that a channel of a matching enabled
rule has not received yet, and POSTs it there (signed, see channels.py). Each send is retried with
exponential backoff (tenacity, bounded) on network errors, 5xx and 429; any other 4xx is final. Every
attempt is a row in `alert_deliveries` (status code or error), written as it happens; an event stops being
pending for a channel once a send succeeded or MAX_TOTAL_ATTEMPTS attempts were made over all runs.

Which rules an event goes to: the rule that raised it (`alert_id`), or, for events raised without a rule
(unpriced models from ingest, budget thresholds, anomalies), every rule of the same family or of type
`all`. One run per org at a time (a Postgres advisory lock), so concurrent runs never send twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.alerts.channels import Channel, body_for, channels_of, event_document, request_headers
from core.budgets.models import AlertDelivery, AlertEvent, AlertRule
from core.db import Database
from core.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_TOTAL_ATTEMPTS = 9  # per (event, channel) over all runs: 3 runs of 3 attempts
MAX_AGE = timedelta(days=7)
FAMILIES = {
    "budget": "budget", "budget_threshold": "budget", "budget_exceeded": "budget", "forecast_exceeded": "budget",
    "anomaly": "anomaly", "spend_anomaly": "anomaly", "usage_spike": "anomaly", "spend_spike": "anomaly",
    "unpriced": "unpriced_model", "unpriced_model": "unpriced_model",
}  # fmt: skip
ALL_TYPES = ("all", "*")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.5  # seconds before the 2nd attempt; doubles each time
    max_backoff: float = 8.0
    timeout: float = 5.0


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    attempts: int = 0
    orgs_busy: int = 0  # orgs skipped because another run held their lock


class _Retryable(Exception):
    """A network error, 5xx or 429: worth another attempt."""


class _Final(Exception):
    """Any other 4xx: the receiver refuses this request; retrying would not help."""


def family(alert_type: str) -> str:
    return FAMILIES.get(alert_type, alert_type)


def rule_matches(rule: AlertRule, event: AlertEvent) -> bool:
    if event.alert_id is not None:
        return rule.id == event.alert_id
    return rule.type in ALL_TYPES or family(rule.type) == family(event.type)


def deliver_pending(
    db: Database, *, org_id: uuid.UUID | None = None, client: httpx.Client | None = None,
    policy: RetryPolicy | None = None,
) -> DeliveryReport:  # fmt: skip
    """Send every pending alert event of one org (or of all orgs) to its channels; returns what happened."""
    policy = policy or RetryPolicy()
    report = DeliveryReport()
    orgs = [org_id] if org_id is not None else _orgs_with_rules(db)
    own_client = client is None
    http = client or httpx.Client(timeout=policy.timeout)
    try:
        for org in orgs:
            with _org_lock(db, org) as locked:
                if not locked:
                    report.orgs_busy += 1
                    continue
                for event, channel, before in _pending(db, org):
                    _deliver(db, http, Send(event, channel, before), policy, report)
    finally:
        if own_client:
            http.close()
    return report


def _orgs_with_rules(db: Database) -> list[uuid.UUID]:
    with db.session() as session:
        return list(session.scalars(select(AlertRule.organization_id).where(AlertRule.enabled).distinct()))


@contextmanager
def _org_lock(db: Database, org_id: uuid.UUID) -> Iterator[bool]:
    with db.connect_raw(autocommit=True) as conn:
        key = f"tokentra-alert-delivery:{org_id}"
        row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()
        locked = bool(row and row[0])
        try:
            yield locked
        finally:
            if locked:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def _pending(db: Database, org_id: uuid.UUID) -> list[tuple[AlertEvent, Channel, int]]:
    since = datetime.now(UTC) - MAX_AGE
    with db.session() as session:
        rules = session.scalars(select(AlertRule).where(AlertRule.organization_id == org_id, AlertRule.enabled)).all()
        if not rules:
            return []
        events = session.scalars(
            select(AlertEvent)
            .where(AlertEvent.organization_id == org_id, AlertEvent.status == "active", AlertEvent.created_at >= since)
            .order_by(AlertEvent.created_at, AlertEvent.id)
        ).all()
        done = _delivery_state(session, org_id, [event.id for event in events])
    channels = {rule.id: _rule_channels(rule) for rule in rules}
    pending: list[tuple[AlertEvent, Channel, int]] = []
    for event in events:
        targets: set[str] = set()
        for rule in rules:
            if not rule_matches(rule, event):
                continue
            for channel in channels[rule.id]:
                delivered, attempts = done.get((event.id, channel.target), (False, 0))
                if channel.target in targets or delivered or attempts >= MAX_TOTAL_ATTEMPTS:
                    continue
                if channel.accepts(event.severity):
                    targets.add(channel.target)
                    pending.append((event, channel, attempts))
    return pending


def _rule_channels(rule: AlertRule) -> list[Channel]:
    try:
        return channels_of(rule.channels)
    except InvalidInput as exc:
        log.warning("alert rule %s (%s) has an unusable channel and is skipped: %s", rule.id, rule.name, exc)
        return []


def _delivery_state(session: Any, org_id: uuid.UUID, event_ids: list[uuid.UUID]) -> dict[Any, tuple[bool, int]]:
    """(event id, target) → (delivered?, attempts so far)."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(AlertDelivery.alert_event_id, AlertDelivery.target,
               func.bool_or(AlertDelivery.error.is_(None)), func.count())
        .where(AlertDelivery.organization_id == org_id, AlertDelivery.alert_event_id.in_(event_ids))
        .group_by(AlertDelivery.alert_event_id, AlertDelivery.target)
    ).all()  # fmt: skip
    return {(row[0], row[1]): (bool(row[2]), int(row[3])) for row in rows}


@dataclass(frozen=True)
class Send:
    event: AlertEvent
    channel: Channel
    attempts_before: int  # attempts made by earlier runs


def _deliver(db: Database, http: httpx.Client, send: Send, policy: RetryPolicy, report: DeliveryReport) -> None:
    event, channel = send.event, send.channel
    body = body_for(channel, event_document(event))
    retrying = Retrying(
        stop=stop_after_attempt(min(policy.attempts, MAX_TOTAL_ATTEMPTS - send.attempts_before)),
        wait=wait_exponential(multiplier=policy.backoff, max=policy.max_backoff),
        retry=retry_if_exception_type(_Retryable),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                report.attempts += 1
                _send_once(db, http, send, body, send.attempts_before + attempt.retry_state.attempt_number)
    except (_Retryable, _Final) as exc:
        report.failed += 1
        log.warning("alert %s not delivered to %s %s: %s", event.id, channel.type, channel.target, exc)
        return
    report.delivered += 1


def _send_once(db: Database, http: httpx.Client, send: Send, body: bytes, number: int) -> None:
    """One POST, recorded; raises _Retryable / _Final when it did not succeed."""
    event, channel = send.event, send.channel
    status: int | None = None
    error: str | None = None
    try:
        response = http.post(channel.url, content=body, headers=request_headers(channel, body, event.type))
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    with db.session() as session:
        session.add(AlertDelivery(organization_id=event.organization_id, alert_event_id=event.id,
                                  channel=channel.type, target=channel.target, attempt=number,
                                  status_code=status, error=error))  # fmt: skip
    if error is None:
        return
    if status is None or status >= 500 or status == 429:
        raise _Retryable(error)
    raise _Final(error)
