"""Alert channels: which channels an alert rule names, the payload each expects, and HMAC signatures.

A rule's `channels` (AlertRule.channels) is a list of objects:

    {"type": "webhook", "url": "https://…", "secret": "…", "headers": {…}, "severities": ["critical"]}
    {"type": "slack", "url": "https://hooks.slack.com/…", "secret": "…"}   # also "webhook_url"/"webhookUrl"

A webhook receives the alert event as JSON; a Slack-compatible webhook (Slack, Mattermost, Rocket.Chat,
Discord's /slack endpoint) receives `{"text", "blocks"}`. With a `secret`, every request is signed:

    X-TokenTRA-Timestamp: <unix seconds>
    X-TokenTRA-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

Receivers check it with `verify_signature` (or the same three lines in any language) and refuse
timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from core.errors import InvalidInput

CHANNEL_TYPES = ("webhook", "slack")
SIGNATURE_HEADER = "X-TokenTRA-Signature"
TIMESTAMP_HEADER = "X-TokenTRA-Timestamp"
EVENT_HEADER = "X-TokenTRA-Event"
SEVERITY_ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


@dataclass(frozen=True)
class Channel:
    type: str
    url: str
    secret: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    severities: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """A stable name for the delivery log that does not leak the URL (Slack URLs are secrets)."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return f"{urlsplit(self.url).hostname or '?'}#{digest}"

    def accepts(self, severity: str) -> bool:
        return not self.severities or severity in self.severities


def parse_channel(raw: Any) -> Channel:
    """One entry of AlertRule.channels → Channel; raises InvalidInput."""
    if not isinstance(raw, dict):
        raise InvalidInput("a channel must be an object with a type and a url")
    kind = str(raw.get("type", "")).lower()
    if kind not in CHANNEL_TYPES:
        raise InvalidInput(f"channel type must be one of {', '.join(CHANNEL_TYPES)}, not {kind!r}")
    url = raw.get("url") or raw.get("webhook_url") or raw.get("webhookUrl")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise InvalidInput(f"a {kind} channel needs an http(s) url")
    secret = raw.get("secret")
    headers = raw.get("headers") or {}
    severities = raw.get("severities") or ()
    if secret is not None and not isinstance(secret, str):
        raise InvalidInput("a channel secret must be a string")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise InvalidInput("channel headers must be an object of strings")
    return Channel(kind, url, secret or None, {str(k): v for k, v in headers.items()}, tuple(map(str, severities)))


def channels_of(raw_channels: Any) -> list[Channel]:
    """The usable channels of a rule (entries of other types, e.g. email, are left to other senders)."""
    if not isinstance(raw_channels, list):
        return []
    out = []
    for raw in raw_channels:
        if isinstance(raw, dict) and str(raw.get("type", "")).lower() in CHANNEL_TYPES:
            out.append(parse_channel(raw))
    return out


def event_document(event: Any) -> dict[str, Any]:
    """The JSON a webhook receives for an AlertEvent row."""
    return {
        "id": str(event.id),
        "organization_id": str(event.organization_id),
        "alert_id": None if event.alert_id is None else str(event.alert_id),
        "type": event.type,
        "severity": event.severity,
        "title": event.title,
        "message": event.message,
        "data": event.data or {},
        "status": event.status,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
    }


def slack_document(document: dict[str, Any]) -> dict[str, Any]:
    """The Slack incoming-webhook payload (text + blocks) for an alert document."""
    icon = SEVERITY_ICONS.get(document["severity"], "")
    headline = f"{icon} *{document['title']}*".strip()
    context = f"TokenTRA · {document['type']} · {document['severity']} · {document['created_at']}"
    return {
        "text": f"{headline}\n{document['message']}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{headline}\n{document['message']}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def body_for(channel: Channel, document: dict[str, Any]) -> bytes:
    return orjson.dumps(slack_document(document) if channel.type == "slack" else document)


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The signature headers for a body."""
    moment = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(moment), SIGNATURE_HEADER: f"v1={mac}"}


def verify_signature(
    secret: str, body: bytes, *, timestamp: str, signature: str, tolerance: float = 300, now: float | None = None
) -> bool:
    """True when the signature matches the body and the timestamp is within `tolerance` seconds."""
    try:
        moment = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - moment) > tolerance:
        return False
    expected = sign(secret, body, timestamp=moment)[SIGNATURE_HEADER]
    return hmac.compare_digest(expected, signature)


def request_headers(channel: Channel, body: bytes, event_type: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "TokenTRA-Alerts/1", EVENT_HEADER: event_type}
    headers.update(channel.headers)
    if channel.secret:
        headers.update(sign(channel.secret, body))
    return headers
