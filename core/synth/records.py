"""The in-memory synthetic event (compact, slotted) and deterministic provider-style identifiers."""

from __future__ import annotations

import string
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import numpy as np

_BASE62 = np.array(list(string.digits + string.ascii_letters))


@dataclass(slots=True)
class SynthEvent:
    """One usage event (CONTRACT section 5) before it becomes a dict; `ts` is Unix seconds (UTC)."""

    ts: float
    request_id: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    endpoint: str = "chat"
    batch: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None
    status: str = "success"
    error_code: str | None = None
    attempt: int = 1
    trace_id: str | None = None
    streaming: bool | None = None
    max_tokens: int | None = None
    finish_reason: str | None = None
    prompt_hash: str | None = None
    system_prompt_hash: str | None = None
    system_prompt_tokens: int | None = None
    task_type: str | None = None
    team: str | None = None
    project: str | None = None
    feature: str | None = None
    user_id: str | None = None
    environment: str | None = None
    api_key_id: str | None = None
    embedding_dimensions: int | None = None
    metadata: dict[str, Any] | None = None

    @property
    def timestamp(self) -> datetime:
        return to_datetime(self.ts)

    def to_dict(self, *, text_timestamp: bool = False) -> dict[str, Any]:
        """The event as a client would send it, unset fields left out; `timestamp` an aware UTC datetime
        (or, with `text_timestamp`, its RFC 3339 text)."""
        out: dict[str, Any] = {
            "request_id": self.request_id,
            "timestamp": epoch_rfc3339(self.ts) if text_timestamp else self.timestamp,
            **{name: value for name, value in zip(_FIELDS, _values(self), strict=True) if value is not None},
        }
        if self.metadata is not None:
            out["metadata"] = dict(self.metadata)
        return out


_FIELDS: tuple[str, ...] = tuple(name for name in SynthEvent.__slots__ if name not in ("ts", "request_id"))
_values = attrgetter(*_FIELDS)


def to_datetime(ts: float) -> datetime:
    """Unix seconds → aware UTC datetime at millisecond precision."""
    return datetime.fromtimestamp(round(ts, 3), UTC)


def epoch_rfc3339(ts: float) -> str:
    """Unix seconds → `2026-11-23T09:15:02.123Z`, the same text as `rfc3339(to_datetime(ts))`."""
    seconds, millis = divmod(round(round(ts, 3) * 1000), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def rfc3339(value: datetime) -> str:
    """`2026-11-23T09:15:02.123Z` (milliseconds, Z)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Ids:
    """Request ids in each provider's style, W3C trace ids and SHA-256-shaped hashes, all from one RNG."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def hexes(self, n: int, nbytes: int) -> list[str]:
        raw = self._rng.bytes(n * nbytes).hex()
        step = 2 * nbytes
        return [raw[i : i + step] for i in range(0, n * step, step)]

    def hash(self) -> str:
        return self.hexes(1, 32)[0]

    def trace_ids(self, n: int) -> list[str]:
        return self.hexes(n, 16)

    def request_ids(self, provider: str, endpoint: str, n: int) -> list[str]:
        if endpoint == "embeddings" or provider not in _ID_STYLE:
            return [str(uuid.UUID(hex=h, version=4)) for h in self.hexes(n, 16)]
        prefix, length = _ID_STYLE[provider]
        if length == 0:  # hex ids
            return [prefix + h for h in self.hexes(n, 16)]
        chars = _BASE62[self._rng.integers(0, 62, size=(n, length))]
        return [prefix + "".join(row) for row in chars.tolist()]


# provider -> (prefix, base62 length; 0 = 32 hex digits)
_ID_STYLE: dict[str, tuple[str, int]] = {
    "openai": ("chatcmpl-", 29),
    "azure": ("chatcmpl-", 29),
    "anthropic": ("msg_01", 22),
    "gemini": ("", 23),
    "mistral": ("", 0),
    "azure_ai": ("", 0),
    "deepseek": ("", 0),
}
