"""Parsing the times users type: RFC 3339, a bare date (midnight UTC), or 'now'."""

from __future__ import annotations

from datetime import UTC, datetime

from core.errors import InvalidInput


def parse_time(value: str, *, name: str = "time") -> datetime:
    text = value.strip()
    if text.lower() == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name}: {value!r} is not an RFC 3339 time or a YYYY-MM-DD date") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
