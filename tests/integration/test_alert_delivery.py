"""Alert delivery over real HTTP to a local receiver: signed, retried with backoff, every attempt recorded."""

from __future__ import annotations

import json
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from ingest_support import ingest_api_fixture, tenant_factory_fixture  # noqa: F401  (fixtures)

from core.alerts.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from core.alerts.delivery import MAX_TOTAL_ATTEMPTS, RetryPolicy, deliver_pending
from core.budgets.models import AlertDelivery, AlertEvent, AlertRule

FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05, timeout=2)
SECRET = "s3cret-signing-key"


class Receiver:
    """A local HTTP server that records every request and answers with queued statuses (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"nope")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


def add_rule(db, org_id, *, type_, channels, name=None):
    with db.session() as session:
        rule = AlertRule(
            organization_id=org_id,
            name=name or f"rule-{uuid.uuid4().hex[:6]}",
            type=type_,
            config={},
            channels=channels,
        )
        session.add(rule)
        session.flush()
        return rule.id


def add_event(db, org_id, *, type_, severity="warning", alert_id=None):
    with db.session() as session:
        event = AlertEvent(
            organization_id=org_id,
            alert_id=alert_id,
            type=type_,
            severity=severity,
            title=f"{type_} alert",
            message="something happened",
            data={"value": 42},
            dedupe_key=f"{type_}:{uuid.uuid4().hex}",
        )
        session.add(event)
        session.flush()
        return event.id


def attempts(db, org_id):
    with db.session() as session:
        rows = (
            session.execute(
                select(AlertDelivery)
                .where(AlertDelivery.organization_id == org_id)
                .order_by(AlertDelivery.created_at, AlertDelivery.attempt)
            )
            .scalars()
            .all()
        )
        return [(r.alert_event_id, r.channel, r.attempt, r.status_code, r.error) for r in rows]


def test_unpriced_model_alert_goes_to_a_signed_webhook_and_slack(db, org, load_jsonl, receiver):
    model = f"mystery-{uuid.uuid4().hex[:6]}"
    result = load_jsonl(
        org.id,
        [
            {
                "request_id": "a1",
                "timestamp": "2026-10-01T00:00:00Z",
                "provider": "acme",
                "model": model,
                "input_tokens": 10,
                "output_tokens": 1,
            }
        ],
    )
    assert result.unpriced == 1
    hook, slack = f"/hook/{uuid.uuid4().hex}", f"/slack/{uuid.uuid4().hex}"
    add_rule(
        db,
        org.id,
        type_="unpriced_model",
        channels=[
            {"type": "webhook", "url": receiver.url + hook, "secret": SECRET},
            {"type": "slack", "webhook_url": receiver.url + slack},
            {"type": "email", "to": "ops@example.com"},  # not ours to send: ignored
        ],
    )
    report = deliver_pending(db, org_id=org.id, policy=FAST)
    assert (report.delivered, report.failed) == (2, 0)
    [sent] = receiver.on(hook)
    document = json.loads(sent["body"])
    assert document["type"] == "unpriced_model"
    assert model in document["title"]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert verify_signature(
        SECRET, sent["body"], timestamp=headers[TIMESTAMP_HEADER.lower()], signature=headers[SIGNATURE_HEADER.lower()]
    )
    assert not verify_signature(
        "wrong", sent["body"], timestamp=headers[TIMESTAMP_HEADER.lower()], signature=headers[SIGNATURE_HEADER.lower()]
    )
    assert not verify_signature(
        SECRET,
        sent["body"] + b" ",
        timestamp=headers[TIMESTAMP_HEADER.lower()],
        signature=headers[SIGNATURE_HEADER.lower()],
    )
    [posted] = receiver.on(slack)
    assert model in json.loads(posted["body"])["text"]
    assert [(c, n, s) for _, c, n, s, _ in attempts(db, org.id)] == [("webhook", 1, 200), ("slack", 1, 200)]
    again = deliver_pending(db, org_id=org.id, policy=FAST)  # already delivered: nothing sent twice
    assert (again.delivered, again.attempts) == (0, 0)
    assert len(receiver.on(hook)) == 1


def test_server_errors_are_retried_with_backoff_and_each_attempt_recorded(db, org, receiver):
    hook = f"/flaky/{uuid.uuid4().hex}"
    add_rule(db, org.id, type_="budget", channels=[{"type": "webhook", "url": receiver.url + hook}])
    event_id = add_event(db, org.id, type_="budget_threshold", severity="critical")
    receiver.statuses[:] = [500, 503]
    report = deliver_pending(db, org_id=org.id, policy=FAST)
    assert (report.delivered, report.attempts) == (1, 3)
    rows = attempts(db, org.id)
    assert [(e, n, s) for e, _, n, s, _ in rows] == [(event_id, 1, 500), (event_id, 2, 503), (event_id, 3, 200)]
    assert rows[0][4].startswith("HTTP 500")
    assert rows[2][4] is None
    assert len(receiver.on(hook)) == 3


def test_a_client_error_is_not_retried(db, org, receiver):
    hook = f"/gone/{uuid.uuid4().hex}"
    add_rule(db, org.id, type_="anomaly", channels=[{"type": "webhook", "url": receiver.url + hook}])
    add_event(db, org.id, type_="spend_anomaly")
    receiver.statuses[:] = [410]
    report = deliver_pending(db, org_id=org.id, policy=FAST)
    assert (report.delivered, report.failed, report.attempts) == (0, 1, 1)


def test_an_unreachable_receiver_is_bounded(db, org):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    add_rule(db, org.id, type_="all", channels=[{"type": "webhook", "url": f"http://127.0.0.1:{port}/x"}])
    add_event(db, org.id, type_="budget_threshold")
    total = 0
    for _ in range(5):
        total += deliver_pending(db, org_id=org.id, policy=FAST).attempts
    assert total == MAX_TOTAL_ATTEMPTS
    rows = attempts(db, org.id)
    assert len(rows) == MAX_TOTAL_ATTEMPTS
    assert all(r[3] is None and "Error" in r[4] for r in rows)
    assert [r[2] for r in rows] == list(range(1, MAX_TOTAL_ATTEMPTS + 1))


def test_routing_rules_families_and_severities(db, org, receiver):
    budget_hook, anomaly_hook, critical_hook, own_hook = (
        f"/{name}/{uuid.uuid4().hex}" for name in ("budget", "anomaly", "critical", "own")
    )
    add_rule(db, org.id, type_="budget_threshold", channels=[{"type": "webhook", "url": receiver.url + budget_hook}])
    add_rule(db, org.id, type_="anomaly", channels=[{"type": "webhook", "url": receiver.url + anomaly_hook}])
    add_rule(
        db,
        org.id,
        type_="all",
        channels=[{"type": "webhook", "url": receiver.url + critical_hook, "severities": ["critical"]}],
    )
    own = add_rule(db, org.id, type_="spend_threshold", channels=[{"type": "webhook", "url": receiver.url + own_hook}])
    add_event(db, org.id, type_="budget_threshold", severity="warning")
    add_event(db, org.id, type_="spend_anomaly", severity="critical")
    add_event(db, org.id, type_="spend_threshold", alert_id=own)  # raised by its own rule: goes only there
    deliver_pending(db, org_id=org.id, policy=FAST)
    assert [json.loads(r["body"])["type"] for r in receiver.on(budget_hook)] == ["budget_threshold"]
    assert [json.loads(r["body"])["type"] for r in receiver.on(anomaly_hook)] == ["spend_anomaly"]
    assert [json.loads(r["body"])["type"] for r in receiver.on(critical_hook)] == ["spend_anomaly"]
    assert [json.loads(r["body"])["type"] for r in receiver.on(own_hook)] == ["spend_threshold"]


def test_concurrent_runs_send_once(db, org, receiver):
    hook = f"/once/{uuid.uuid4().hex}"
    add_rule(db, org.id, type_="all", channels=[{"type": "webhook", "url": receiver.url + hook}])
    for _ in range(5):
        add_event(db, org.id, type_="spend_anomaly")
    threads = [
        threading.Thread(target=deliver_pending, args=(db,), kwargs={"org_id": org.id, "policy": FAST})
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliver_pending(db, org_id=org.id, policy=FAST)
    ids = [json.loads(r["body"])["id"] for r in receiver.on(hook)]
    assert len(ids) == 5 == len(set(ids))


def test_track_ingest_evaluates_budgets_and_delivers_the_alert(db, receiver, tenant_factory, ingest_api):
    from datetime import UTC, datetime
    from decimal import Decimal

    from core.budgets.models import Budget

    tenant = tenant_factory()
    hook = f"/budget-e2e/{uuid.uuid4().hex}"
    with db.session() as session:
        session.add(
            Budget(
                organization_id=tenant.id, name="tiny", amount=Decimal("0.01"), period="monthly", thresholds=[50, 100]
            )
        )
    add_rule(
        db, tenant.id, type_="budget", channels=[{"type": "webhook", "url": receiver.url + hook, "secret": SECRET}]
    )
    now = datetime.now(UTC).isoformat()
    events = [
        {
            "request_id": f"b-{i}",
            "timestamp": now,
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 100_000,
            "output_tokens": 1_000,
        }
        for i in range(3)
    ]
    r = ingest_api.post("/api/sdk/v1/track", json={"events": events}, headers=tenant.auth("ingest"))
    assert r.json()["accepted"] == 3
    # the background task (budget evaluation, then delivery) has run when the test client returns
    sent = [json.loads(item["body"]) for item in receiver.on(hook)]
    assert sorted(item["data"]["threshold"] for item in sent) == [50, 100]
    assert {item["type"] for item in sent} == {"budget_threshold"}
    assert all(len(attempt) == 5 and attempt[3] == 200 for attempt in attempts(db, tenant.id))
