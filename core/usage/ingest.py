"""Bulk ingest at COPY speed.

This thread validates, prices (exact integers, as tt_cost()) and formats each event as a COPY line.
A writer thread stores each batch in one transaction: the batch's request ids go into the idempotency
table first (new ones come back), then only the new events are COPYed into `usage_events` (routed to
their month partition) and their sums are upserted into the hourly rollup. Idempotency holds across
batches, files and concurrent loads: usage_request_keys admits each (org, request_id) once, and a
concurrent loader waits on the other's uncommitted keys and then skips them.
"""

from __future__ import annotations

import gc
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec
import psycopg
from psycopg.types.json import Jsonb
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.db import Database
from core.pricing.book import PriceBook
from core.pricing.rates import pico_decimal
from core.usage.events import InvalidEvent, UsageEvent, canonical_tokens, utc
from core.usage.models import ROLLUP_DIMENSIONS
from core.usage.rollups import MEASURES, UPSERT_DAILY_FROM_BATCH, UPSERT_HOURLY_FROM_BATCH

MAX_REPORTED_REJECTIONS = 10_000
ANALYZE_AFTER_ROWS = 20_000  # a load at least this big refreshes the planner's statistics
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
_ROLLUP_KEY = ("hour", *ROLLUP_DIMENSIONS)
ROLLUP_TYPES = ("timestamptz", *["text"] * len(ROLLUP_DIMENSIONS), *["int8"] * 6, "numeric", "int8", "float8", "int8")

SETUP_TEMP_TABLES = f"""
CREATE TEMP TABLE IF NOT EXISTS tt_keys (request_id text, timestamp timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS tt_rollup (
    hour timestamptz, {", ".join(f"{d} text" for d in ROLLUP_DIMENSIONS)},
    requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint,
    cache_write_tokens bigint, reasoning_tokens bigint, cost numeric, unpriced_requests bigint,
    latency_ms_sum float8, latency_count bigint
) ON COMMIT DELETE ROWS;
"""
# Claims the batch's request ids and returns only those seen before (normally none), so the common case
# sends nothing back.
CLAIM_KEYS = """
WITH claimed AS (
    INSERT INTO usage_request_keys (organization_id, request_id, timestamp)
    SELECT %(org)s, request_id, timestamp FROM tt_keys ORDER BY request_id
    ON CONFLICT DO NOTHING
    RETURNING request_id
)
SELECT k.request_id FROM tt_keys k WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE c.request_id = k.request_id)
"""
UNPRICED_ALERT = """
INSERT INTO alert_events (organization_id, type, severity, title, message, data, dedupe_key)
VALUES (%(org)s, 'unpriced_model', 'warning', 'Unpriced model: ' || %(provider)s || '/' || %(model)s,
        'Requests of ' || %(provider)s || '/' || %(model)s || ' have no price; they are counted as unpriced, '
        || 'not $0. Add a price (tokentra prices set) and they are repriced.',
        jsonb_build_object('provider', %(provider)s, 'model', %(model)s),
        'unpriced:' || %(provider)s || '/' || %(model)s)
ON CONFLICT (organization_id, dedupe_key) DO UPDATE SET status = 'active', resolved_at = NULL
"""


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
    cost = None if price_id is None else book.rates[price_id].cost_pico(
        tokens.input, tokens.output, tokens.cache_read, tokens.cache_write, tokens.reasoning, event.batch
    )  # fmt: skip
    row = (
        org_id, moment, event.request_id, provider, event.model, event.endpoint,
        tokens.input, tokens.output, tokens.cache_read, tokens.cache_write, tokens.reasoning,
        event.batch, event.latency_ms, event.ttft_ms, event.status, event.error_code or None, event.attempt,
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
    measures = (1, tokens.input, tokens.output, tokens.cache_read, tokens.cache_write, tokens.reasoning,
                cost or 0, 1 if cost is None else 0, latency or 0.0, 0 if latency is None else 1)  # fmt: skip
    return StagedEvent(event.request_id, moment, row, key, measures, (provider, event.model) if cost is None else None)


def aggregate(events: Iterable[StagedEvent]) -> dict[tuple[Any, ...], list[float]]:
    """Rollup sums per key; the key's first item is the hour as hours since the epoch."""
    sums: dict[tuple[Any, ...], list[float]] = {}
    for staged in events:
        current = sums.get(staged.rollup_key)
        if current is None:
            sums[staged.rollup_key] = list(staged.measures)
        else:
            for index, value in enumerate(staged.measures):
                current[index] += value
    return sums


class _Writer(threading.Thread):
    """Stores batches handed over through a small queue, so parsing and the database overlap."""

    def __init__(self, db: Database, org_id: uuid.UUID, result: IngestResult) -> None:
        super().__init__(name="tokentra-ingest-writer", daemon=True)
        self.db, self.org_id, self.result = db, org_id, result
        self.batches: queue.Queue[list[StagedEvent] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.months: set[date] = set()  # month partitions ensured (and written to) by this load

    def run(self) -> None:
        try:
            with self.db.connect_raw() as conn:
                conn.execute(SETUP_TEMP_TABLES)
                conn.commit()
                while (batch := self.batches.get()) is not None:
                    self._store(conn, batch)
        except BaseException as exc:  # handed to the parsing thread, which re-raises it
            self.error = exc
            while self.batches.get() is not None:  # drain so the producer never blocks
                pass

    def _ensure_partitions(self, conn: psycopg.Connection[Any], batch: list[StagedEvent]) -> None:
        months = {staged.timestamp.date().replace(day=1) for staged in batch} - self.months
        for month in sorted(months):
            conn.execute("SELECT tt_ensure_usage_partition(%s)", (month,))
            conn.commit()
        self.months |= months

    @retry(
        retry=retry_if_exception_type((psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)),
        stop=stop_after_attempt(5),
        wait=wait_exponential(multiplier=0.05, max=2),
        reraise=True,
    )
    def _store(self, conn: psycopg.Connection[Any], batch: list[StagedEvent]) -> None:
        self._ensure_partitions(conn, batch)
        params = {"org": self.org_id}
        try:
            with conn.cursor() as cur:
                with cur.copy("COPY tt_keys (request_id, timestamp) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "timestamptz"])
                    for staged in batch:
                        copy.write_row((staged.request_id, staged.timestamp))
                seen = {row[0] for row in cur.execute(CLAIM_KEYS, params).fetchall()}
                fresh = [staged for staged in batch if staged.request_id not in seen] if seen else batch
                if fresh:
                    self._copy_events(cur, fresh)
                    unpriced = {staged.unpriced for staged in fresh if staged.unpriced is not None}
                    for provider, model in sorted(unpriced):
                        cur.execute(UNPRICED_ALERT, {**params, "provider": provider, "model": model})
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        self.result.accepted += len(fresh)
        self.result.unpriced += sum(1 for staged in fresh if staged.unpriced is not None)
        self.result.duplicates += len(batch) - len(fresh)

    def _copy_events(self, cur: psycopg.Cursor[Any], fresh: list[StagedEvent]) -> None:
        with cur.copy(f"COPY usage_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(EVENT_TYPES)
            for staged in fresh:
                copy.write_row(staged.row)
        columns = f"{', '.join(_ROLLUP_KEY)}, {', '.join(MEASURES)}"
        with cur.copy(f"COPY tt_rollup ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(ROLLUP_TYPES)
            for (hour, *dims), sums in aggregate(fresh).items():
                start = datetime.fromtimestamp(hour * 3600, UTC)
                copy.write_row((start, *dims, *sums[:6], pico_decimal(int(sums[6])), sums[7], float(sums[8]), sums[9]))
        cur.execute(UPSERT_HOURLY_FROM_BATCH, {"org": self.org_id})
        cur.execute(UPSERT_DAILY_FROM_BATCH, {"org": self.org_id})


Parser = Callable[[Any], UsageEvent]


def ingest(
    db: Database,
    *,
    org_id: uuid.UUID,
    items: Iterable[tuple[int, Any]],
    parse: Parser,
    book: PriceBook,
    batch_rows: int = 25_000,
) -> IngestResult:
    """Ingest (position, raw) items; `parse` turns a raw item into a UsageEvent (raising on bad input).

    Every valid event is stored unless its request_id was seen before (in this load, an earlier one or a
    concurrent one); every invalid one is reported with its position and reason.
    """
    with _cyclic_gc_paused():
        return _ingest(db, org_id=org_id, items=items, parse=parse, book=book, batch_rows=batch_rows)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Batches keep ~10^5 live objects; the cyclic collector would rescan them every few thousand
    allocations and halve throughput. Events form no reference cycles (refcounting frees them)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _ingest(
    db: Database, *, org_id: uuid.UUID, items: Iterable[tuple[int, Any]], parse: Parser, book: PriceBook,
    batch_rows: int,
) -> IngestResult:  # fmt: skip
    result = IngestResult()
    # One writer, so batches commit in file order: the first occurrence of a request_id wins.
    writer = _Writer(db, org_id, result)
    writer.start()
    ingested_at = datetime.now(UTC)
    batch: dict[str, StagedEvent] = {}
    repeats = 0  # in-load repeats, counted here; the writer thread counts ids stored before
    try:
        for position, raw in items:
            try:
                # Only an escaped NUL can reach a JSON line's text; other inputs are checked field by field.
                check_text = not isinstance(raw, bytes) or b"\\u0000" in raw
                staged = stage_event(parse(raw), book, org_id, ingested_at, check_text=check_text)
            except ValueError as exc:  # InvalidEvent and the cross-field rules
                result.reject(position, str(exc))
                continue
            if staged.request_id in batch:
                repeats += 1  # the first occurrence in a load wins
                continue
            batch[staged.request_id] = staged
            if len(batch) >= batch_rows:
                _hand_over(writer, list(batch.values()))
                batch = {}
        if batch:
            _hand_over(writer, list(batch.values()))
    finally:
        writer.batches.put(None)
        writer.join()
    if writer.error is not None:
        raise writer.error
    result.duplicates += repeats
    if result.accepted >= ANALYZE_AFTER_ROWS:
        _refresh_statistics(db, writer.months)
    return result


def _refresh_statistics(db: Database, months: set[date]) -> None:
    """A bulk load changes the tables faster than autovacuum notices; analyses that follow right away would be
    planned on stale row counts (a nested loop over a million rows instead of a hash join). Only the month
    partitions this load wrote are sampled again."""
    partitions = [f"usage_events_{month:%Y%m}" for month in sorted(months)]
    with db.connect_raw(autocommit=True) as conn:
        conn.execute(f"ANALYZE {', '.join([*partitions, 'usage_request_keys'])}")


def _hand_over(writer: _Writer, batch: list[StagedEvent]) -> None:
    """A writer's failure stops the load."""
    if writer.error is not None:
        raise writer.error
    writer.batches.put(batch)
