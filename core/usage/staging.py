"""Staging a usage event for storage: cross-field checks, exact pricing and its row for COPY.

Shared by every way in (file ingest, the track endpoint, OTLP, the gateway's recorder): an event that passes
`stage_event` is storable, so one bad event never fails the COPY of its batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from core.pricing.book import PriceBook
from core.pricing.rates import pico_decimal
from core.usage.events import InvalidEvent, UsageEvent, canonical_tokens, utc

MAX_REPORTED_REJECTIONS = 10_000
# Besides the schema, an event must be storable, or it would fail its whole batch's COPY.
# Monthly partitions are created on demand: keep dates sane (a typo'd year 9999 would make one per event).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_REPORTED_COST = Decimal(10**12)  # fits reported_cost NUMERIC(24,12)

EVENT_COLUMNS = (
    "organization_id", "timestamp", "request_id", "provider", "model", "endpoint",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "batch", "latency_ms", "ttft_ms", "status", "error_code", "attempt", "trace_id", "streaming",
    "max_tokens", "finish_reason", "prompt_hash", "system_prompt_hash", "system_prompt_tokens",
    "task_type", "team", "project", "feature", "user_id", "environment", "api_key_id",
    "embedding_dimensions", "reported_cost", "price_id", "cost", "cost_status", "metadata", "ingested_at",
)  # fmt: skip
# Postgres types of EVENT_COLUMNS, for binary COPY (psycopg dumps each value in C: no text formatting).
EVENT_TYPES = (
    "uuid", "timestamptz", "text", "text", "text", "text", "int8", "int8", "int8", "int8", "int8",
    "bool", "float4", "float4", "text", "text", "int2", "text", "bool", "int4", "text", "text", "text", "int4",
    "text", "text", "text", "text", "text", "text", "text", "int4", "numeric", "int8", "numeric", "text", "jsonb",
    "timestamptz",
)  # fmt: skip


@dataclass
class Rejection:
    position: int  # line number in a file, index in an HTTP batch
    error: str


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    unpriced: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    rejected_count: int = 0

    def reject(self, position: int, error: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED_REJECTIONS:
            self.rejected.append(Rejection(position, error))


@dataclass(slots=True)
class StagedEvent:
    """A validated, priced event: its row for usage_events, its rollup key and measures."""

    request_id: str
    timestamp: datetime
    row: tuple[Any, ...]
    rollup_key: tuple[Any, ...]
    measures: tuple[int, int, int, int, int, int, int, int, float, int]
    unpriced: tuple[str, str] | None


_TEXT_FIELDS = tuple(
    name for name, kind in zip(UsageEvent.__struct_fields__, msgspec.structs.fields(UsageEvent), strict=True)
    if "str" in repr(kind.type)
)  # fmt: skip


def _has_nul(event: UsageEvent) -> bool:
    if any("\x00" in value for name in _TEXT_FIELDS if isinstance(value := getattr(event, name), str)):
        return True
    return any(b"\\u0000" in msgspec.json.encode(obj) for obj in (event.metadata, event.usage) if obj)


def check_storable(event: UsageEvent, moment: datetime, *, check_text: bool) -> None:
    """A timestamp in a sane range, a reported_cost that fits its column and (when the raw input could hold
    one: `check_text`) no NUL character, which Postgres text cannot store. Raises InvalidEvent."""
    if not EARLIEST <= moment < LATEST:
        raise InvalidEvent(f"timestamp: must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}")
    cost = event.reported_cost
    if cost is not None and not (cost.is_finite() and abs(cost) < MAX_REPORTED_COST):
        raise InvalidEvent(f"reported_cost: must be a number below {MAX_REPORTED_COST:,}")
    if check_text and _has_nul(event):
        raise InvalidEvent("text fields and metadata must not contain NUL (\\u0000) characters")


def stage_event(event: UsageEvent, book: PriceBook, org_id: uuid.UUID, ingested_at: datetime, *,
                check_text: bool = True) -> StagedEvent:  # fmt: skip
    """Validate the cross-field rules, price the event and build its row; raises ValueError."""
    tokens = canonical_tokens(event)
    moment = utc(event.timestamp)
    check_storable(event, moment, check_text=check_text)
    provider = event.provider.lower()
    price_id = book.resolve(org_id, provider, event.model, moment)
    cost = None if price_id is None else book.cost_pico(price_id, *tokens, event.batch)
    row = (
        org_id, moment, event.request_id, provider, event.model, event.endpoint,
        *tokens, event.batch, event.latency_ms, event.ttft_ms, event.status, event.error_code or None, event.attempt,
        event.trace_id or None, event.streaming, event.max_tokens, event.finish_reason or None,
        event.prompt_hash or None, event.system_prompt_hash or None, event.system_prompt_tokens,
        event.task_type or None, event.team or None, event.project or None, event.feature or None,
        event.user_id or None, event.environment or None, event.api_key_id or None, event.embedding_dimensions,
        event.reported_cost, price_id, None if cost is None else pico_decimal(cost),
        "unpriced" if cost is None else "priced", Jsonb(event.metadata) if event.metadata else None, ingested_at,
    )  # fmt: skip
    key = (
        int(moment.timestamp()) // 3600, provider, event.model, event.team or "",
        event.project or "", event.feature or "", event.environment or "", event.task_type or "", event.status,
    )  # fmt: skip
    latency = event.latency_ms
    measures = (1, *tokens, cost or 0, 1 if cost is None else 0, latency or 0.0, 0 if latency is None else 1)
    return StagedEvent(event.request_id, moment, row, key, measures, (provider, event.model) if cost is None else None)


@dataclass
class Stager:
    """The staging loop shared by file ingest and the track endpoint: each (position, raw) item is parsed and
    staged; a bad one is reported in `result` with its position and reason, and of a request id repeated within
    a batch the first occurrence is kept (the others counted in `repeats`). Batches of at most `batch_rows`.

    `repeats` is kept apart from `result.duplicates`, which a writer thread may be adding to meanwhile.
    `check_text` None decides per item: only an escaped NUL can reach a JSON line's text, so a bytes line
    without one skips the NUL scan; other inputs are always checked."""

    org_id: uuid.UUID
    book: PriceBook
    result: IngestResult
    check_text: bool | None = None
    ingested_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    repeats: int = 0

    def batches(self, items: Iterable[tuple[int, Any]], parse: Callable[[Any], UsageEvent], *,
                batch_rows: int) -> Iterator[list[StagedEvent]]:  # fmt: skip
        batch: dict[str, StagedEvent] = {}
        for position, raw in items:
            try:
                staged = stage_event(parse(raw), self.book, self.org_id, self.ingested_at,
                                     check_text=self._check_text(raw))  # fmt: skip
            except ValueError as exc:  # InvalidEvent and the cross-field rules
                self.result.reject(position, str(exc))
                continue
            if staged.request_id in batch:
                self.repeats += 1
                continue
            batch[staged.request_id] = staged
            if len(batch) >= batch_rows:
                yield list(batch.values())
                batch = {}
        if batch:
            yield list(batch.values())

    def _check_text(self, raw: Any) -> bool:
        if self.check_text is not None:
            return self.check_text
        return not isinstance(raw, bytes) or b"\\u0000" in raw
