"""The usage event as clients send it (CONTRACT section 5), and its canonical row form.

Validation is declarative (pydantic, fast on the Rust side); the few cross-field rules and the
canonical form (UTC, lower-case provider, usage objects normalized) live in `canonical()`, one
plain function, because per-event Python validators would halve ingest throughput.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from core.usage.normalize import normalize_usage

NonNegInt = Annotated[int, Field(ge=0, le=10**12)]
# An empty string is accepted and means "not given" (CSV cells, sloppy clients).
Text = Annotated[str, Field(max_length=255)]


class Endpoint(StrEnum):
    chat = "chat"
    embeddings = "embeddings"
    responses = "responses"
    completions = "completions"


class Status(StrEnum):
    success = "success"
    error = "error"
    timeout = "timeout"
    cancelled = "cancelled"


class UsageEvent(BaseModel):
    """One LLM call's usage. `input_tokens` counts ALL prompt tokens, cached ones included."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    request_id: Annotated[str, Field(min_length=1, max_length=255)]
    timestamp: datetime
    provider: Annotated[str, Field(min_length=1, max_length=100)]
    model: Annotated[str, Field(min_length=1, max_length=255)]
    input_tokens: NonNegInt | None = None
    output_tokens: NonNegInt | None = None
    cache_read_tokens: NonNegInt = 0
    cache_write_tokens: NonNegInt = 0
    reasoning_tokens: NonNegInt = 0
    endpoint: Endpoint = Endpoint.chat
    batch: bool = False
    latency_ms: Annotated[float, Field(ge=0, le=86_400_000)] | None = None
    ttft_ms: Annotated[float, Field(ge=0, le=86_400_000)] | None = None
    status: Status = Status.success
    error_code: Text | None = None
    attempt: Annotated[int, Field(ge=1, le=1000)] = 1
    trace_id: Text | None = None
    streaming: bool | None = None
    max_tokens: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    finish_reason: Text | None = None
    prompt_hash: Text | None = None
    system_prompt_hash: Text | None = None
    system_prompt_tokens: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    task_type: Text | None = None
    team: Text | None = None
    project: Text | None = None
    feature: Text | None = None
    user_id: Text | None = None
    environment: Text | None = None
    api_key_id: Text | None = None
    embedding_dimensions: Annotated[int, Field(ge=1, le=100_000)] | None = None
    reported_cost: Annotated[Decimal, Field(ge=0, max_digits=30, decimal_places=12)] | None = None
    usage: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    input: int
    output: int
    cache_read: int
    cache_write: int
    reasoning: int


def canonical_tokens(event: UsageEvent) -> Tokens:
    """Token counts in canonical form, from the fields or the provider's `usage` object; raises ValueError."""
    if event.usage is not None:
        counts = normalize_usage(event.usage, provider=event.provider.lower())
        tokens = Tokens(
            counts.input_tokens,
            counts.output_tokens,
            counts.cache_read_tokens,
            counts.cache_write_tokens,
            counts.reasoning_tokens,
        )
    elif event.input_tokens is None or event.output_tokens is None:
        missing = " and ".join(n for n in ("input_tokens", "output_tokens") if getattr(event, n) is None)
        raise ValueError(f"missing {missing} (or a provider `usage` object)")
    else:
        tokens = Tokens(
            event.input_tokens,
            event.output_tokens,
            event.cache_read_tokens,
            event.cache_write_tokens,
            event.reasoning_tokens,
        )
    if tokens.cache_read + tokens.cache_write > tokens.input:
        raise ValueError(
            "cache_read_tokens + cache_write_tokens exceed input_tokens; "
            "input_tokens must include cached tokens (OpenTelemetry convention)"
        )
    if tokens.reasoning > tokens.output:
        raise ValueError("reasoning_tokens exceed output_tokens; output_tokens must include reasoning tokens")
    return tokens


def utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time is taken to be UTC (the contract's convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
