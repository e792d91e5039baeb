"""Bulk ingest: validate and price events in Python, COPY them into a staging table, and in one
set-based statement per batch drop duplicates, store new events and add them to the hourly rollup.

Parsing (this thread) and database work (a writer thread) overlap. Idempotency holds across batches,
files and concurrent loads: usage_request_keys admits each (org, request_id) once.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
import psycopg
from pydantic import ValidationError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.db import Database
from core.pricing.book import PriceBook
from core.usage.events import UsageEvent, canonical_tokens, utc
from core.usage.rollups import rollup_upsert

MAX_REPORTED_REJECTIONS = 10_000

STAGE_COLUMNS = (
    "request_id", "timestamp", "provider", "model", "endpoint",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "batch", "latency_ms", "ttft_ms", "status", "error_code", "attempt", "trace_id", "streaming",
    "max_tokens", "finish_reason", "prompt_hash", "system_prompt_hash", "system_prompt_tokens",
    "task_type", "team", "project", "feature", "user_id", "environment", "api_key_id",
    "embedding_dimensions", "reported_cost", "price_id", "metadata",
)  # fmt: skip
_OPTIONAL_TEXT = (
    "error_code", "trace_id", "finish_reason", "prompt_hash", "system_prompt_hash", "task_type",
    "team", "project", "feature", "user_id", "environment", "api_key_id",
)  # fmt: skip

CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS tt_stage (
    ord bigint, request_id text, timestamp timestamptz, provider text, model text, endpoint text,
    input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint,
    reasoning_tokens bigint, batch boolean, latency_ms real, ttft_ms real, status text, error_code text,
    attempt smallint, trace_id text, streaming boolean, max_tokens integer, finish_reason text,
    prompt_hash text, system_prompt_hash text, system_prompt_tokens integer, task_type text, team text,
    project text, feature text, user_id text, environment text, api_key_id text,
    embedding_dimensions integer, reported_cost numeric, price_id bigint, metadata jsonb
) ON COMMIT DELETE ROWS
"""

_EVENT_COLUMNS = ", ".join(STAGE_COLUMNS)
_STAGED = ", ".join(f"b.{col}" for col in STAGE_COLUMNS)
STORE_BATCH = f"""
WITH batch AS (
    SELECT DISTINCT ON (request_id) * FROM tt_stage ORDER BY request_id, ord
), fresh AS (
    INSERT INTO usage_request_keys (organization_id, request_id, timestamp)
    SELECT %(org)s, request_id, timestamp FROM batch ORDER BY request_id
    ON CONFLICT DO NOTHING
    RETURNING request_id
), stored AS (
    INSERT INTO usage_events (organization_id, {_EVENT_COLUMNS}, cost, cost_status, ingested_at)
    SELECT %(org)s, {_STAGED},
           CASE WHEN p.id IS NULL THEN NULL ELSE tt_cost(p, b.input_tokens, b.output_tokens,
                b.cache_read_tokens, b.cache_write_tokens, b.reasoning_tokens, b.batch) END,
           CASE WHEN p.id IS NULL THEN 'unpriced' ELSE 'priced' END,
           now()
    FROM batch b JOIN fresh f USING (request_id) LEFT JOIN price_catalogue p ON p.id = b.price_id
    RETURNING *
), rolled AS (
    {rollup_upsert("stored")}
    RETURNING 1
)
SELECT count(*), count(*) FILTER (WHERE cost IS NULL) FROM stored
"""

UNPRICED_ALERT = """
INSERT INTO alert_events (organization_id, type, severity, title, message, data, dedupe_key)
SELECT %(org)s, 'unpriced_model', 'warning', 'Unpriced model: ' || provider || '/' || model,
       count(*) || ' request(s) of ' || provider || '/' || model || ' have no price; they are counted as '
       || 'unpriced, not $0. Add a price with `tokentra prices set` and they are repriced.',
       jsonb_build_object('provider', provider, 'model', model), 'unpriced:' || provider || '/' || model
FROM tt_unpriced GROUP BY provider, model
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


def describe(error: ValidationError) -> str:
    """A pydantic error as one line: `field: message; field: message`."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "event"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def event_row(event: UsageEvent, book: PriceBook, org_id: uuid.UUID) -> tuple[Any, ...]:
    """The staging row of one validated event (without `ord`); raises ValueError on cross-field errors."""
    tokens = canonical_tokens(event)
    moment = utc(event.timestamp)
    texts = {name: getattr(event, name) or None for name in _OPTIONAL_TEXT}
    return (
        event.request_id, moment, event.provider.lower(), event.model, event.endpoint.value,
        tokens.input, tokens.output, tokens.cache_read, tokens.cache_write, tokens.reasoning,
        event.batch, event.latency_ms, event.ttft_ms, event.status.value, texts["error_code"], event.attempt,
        texts["trace_id"], event.streaming, event.max_tokens, texts["finish_reason"], texts["prompt_hash"],
        texts["system_prompt_hash"], event.system_prompt_tokens, texts["task_type"], texts["team"],
        texts["project"], texts["feature"], texts["user_id"], texts["environment"], texts["api_key_id"],
        event.embedding_dimensions, event.reported_cost,
        book.resolve(org_id, event.provider, event.model, moment),
        orjson.dumps(event.metadata).decode() if event.metadata else None,
    )  # fmt: skip


class _Writer(threading.Thread):
    """Stores batches handed over through a small queue, so parsing and the database overlap."""

    def __init__(self, db: Database, org_id: uuid.UUID, result: IngestResult) -> None:
        super().__init__(name="tokentra-ingest-writer", daemon=True)
        self.db, self.org_id, self.result = db, org_id, result
        self.batches: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self._months: set[date] = set()

    def run(self) -> None:
        try:
            with self.db.connect_raw() as conn:
                conn.execute(CREATE_STAGE)
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS tt_unpriced (provider text, model text)")
                conn.commit()
                while (rows := self.batches.get()) is not None:
                    self._store(conn, rows)
        except BaseException as exc:  # handed to the parsing thread, which re-raises it
            self.error = exc
            while self.batches.get() is not None:  # drain so the producer never blocks
                pass

    def _ensure_partitions(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
        months = {row[2].date().replace(day=1) for row in rows} - self._months
        for month in sorted(months):
            conn.execute("SELECT tt_ensure_usage_partition(%s)", (month,))
            conn.commit()
        self._months |= months

    @retry(
        retry=retry_if_exception_type((psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)),
        stop=stop_after_attempt(5),
        wait=wait_exponential(multiplier=0.05, max=2),
        reraise=True,
    )
    def _store(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
        self._ensure_partitions(conn, rows)
        try:
            with conn.cursor() as cur:
                with cur.copy(f"COPY tt_stage (ord, {_EVENT_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                stored = cur.execute(STORE_BATCH, {"org": self.org_id}).fetchone()
                assert stored is not None
                if stored[1]:
                    cur.execute(
                        "INSERT INTO tt_unpriced SELECT DISTINCT provider, model FROM tt_stage WHERE price_id IS NULL"
                    )
                    cur.execute(UNPRICED_ALERT, {"org": self.org_id})
                    cur.execute("TRUNCATE tt_unpriced")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        self.result.accepted += stored[0]
        self.result.unpriced += stored[1]
        self.result.duplicates += len(rows) - stored[0]


Parser = Callable[[Any], UsageEvent]


def ingest(
    db: Database,
    *,
    org_id: uuid.UUID,
    items: Iterable[tuple[int, Any]],
    parse: Parser,
    book: PriceBook,
    batch_rows: int = 50_000,
) -> IngestResult:
    """Ingest (position, raw) items; `parse` turns a raw item into a UsageEvent (raising on bad input).

    Every valid event is stored unless its request_id was seen before; every invalid one is reported
    with its position and reason. Returns the counts.
    """
    result = IngestResult()
    writer = _Writer(db, org_id, result)
    writer.start()
    rows: list[tuple[Any, ...]] = []
    try:
        for position, raw in items:
            try:
                rows.append((position, *event_row(parse(raw), book, org_id)))
            except ValidationError as exc:
                result.reject(position, describe(exc))
            except ValueError as exc:
                result.reject(position, str(exc))
            if len(rows) >= batch_rows:
                _hand_over(writer, rows)
                rows = []
        if rows:
            _hand_over(writer, rows)
    finally:
        writer.batches.put(None)
        writer.join()
    if writer.error is not None:
        raise writer.error
    return result


def _hand_over(writer: _Writer, rows: list[tuple[Any, ...]]) -> None:
    if writer.error is not None:
        raise writer.error
    writer.batches.put(rows)
