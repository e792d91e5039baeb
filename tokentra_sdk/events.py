"""Usage events (TokenTRA's track schema) from OpenAI and Anthropic responses, streams and errors.

The provider's own usage object is sent as it is (`usage`): the server normalizes OpenAI chat/responses,
Anthropic messages and others, so cached, cache-write and reasoning tokens are counted the provider's way.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

ATTRIBUTION = ("team", "project", "feature", "user_id", "environment", "task_type")
_Pairs = tuple[tuple[str, str], ...]
_context: contextvars.ContextVar[_Pairs] = contextvars.ContextVar("tokentra_attributes", default=())


@contextmanager
def attributes(**values: str) -> Iterator[None]:
    """Attribution for the calls made inside the block (overrides wrap()'s defaults), e.g. feature="search"."""
    unknown = set(values) - set(ATTRIBUTION)
    if unknown:
        raise TypeError(f"unknown attribution field(s): {', '.join(sorted(unknown))}")
    token = _context.set(tuple({**dict(_context.get()), **values}.items()))
    try:
        yield
    finally:
        _context.reset(token)


def as_dict(obj: Any) -> dict[str, Any] | None:
    """A pydantic model (the SDKs' response types) or a dict → a plain dict."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        data = dump(exclude_none=True)
        return data if isinstance(data, dict) else None
    return None


def base_event(*, provider: str, endpoint: str, kwargs: dict[str, Any], started: float,
               defaults: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    event: dict[str, Any] = {
        "request_id": f"sdk-{uuid.uuid4()}",
        "timestamp": datetime.fromtimestamp(started, UTC).isoformat(),
        "provider": provider,
        "model": str(kwargs.get("model") or "unknown"),
        "endpoint": endpoint,
    }
    limit = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens") or kwargs.get("max_output_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        event["max_tokens"] = limit
    if endpoint == "embeddings" and isinstance(kwargs.get("dimensions"), int):
        event["embedding_dimensions"] = kwargs["dimensions"]
    for name, value in {**defaults, **dict(_context.get())}.items():
        if value:
            event[name] = str(value)[:255]
    return event


def complete(event: dict[str, Any], response: Any, *, latency_ms: float) -> dict[str, Any]:
    """Fill an event from a non-streamed response (chat completion, response, embedding list, message)."""
    data = as_dict(response) or {}
    usage = as_dict(data.get("usage"))
    if usage and "completion_tokens" not in usage and isinstance(usage.get("prompt_tokens"), int):
        event.update(input_tokens=usage["prompt_tokens"], output_tokens=0)  # embeddings: prompt tokens only
    elif usage:
        event["usage"] = clean_usage(usage)
    if data.get("model"):
        event["model"] = str(data["model"])
    reason = _finish_reason(data)
    if reason:
        event["finish_reason"] = reason
    if data.get("id"):
        event["metadata"] = {"response_id": str(data["id"])}
    event["latency_ms"] = round(latency_ms, 3)
    return event


def _finish_reason(data: dict[str, Any]) -> str | None:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict) and choices[0].get("finish_reason"):
        return str(choices[0]["finish_reason"])
    for key in ("stop_reason", "status"):  # Anthropic messages; Responses API
        if data.get(key):
            return str(data[key])
    return None


def clean_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Only the counts (nested detail objects included): the server rejects nothing it needs."""
    out: dict[str, Any] = {}
    for key, value in usage.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            out[key] = value
        elif isinstance(value, dict):
            nested = clean_usage(value)
            if nested:
                out[key] = nested
    return out


def failed(event: dict[str, Any], error: BaseException, *, latency_ms: float) -> dict[str, Any]:
    """An event for a call that raised: no tokens billed as far as we know, the error recorded."""
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    code = {"RateLimitError": "rate_limited", "APITimeoutError": "timeout", "BadRequestError": "bad_request",
            "AuthenticationError": "auth_error", "APIConnectionError": "connection_error"}.get(name)  # fmt: skip
    if code is None:
        code = "server_error" if isinstance(status, int) and status >= 500 else name
    event.update(input_tokens=0, output_tokens=0, latency_ms=round(latency_ms, 3), error_code=code,
                 status="timeout" if code == "timeout" else "error")  # fmt: skip
    return event
