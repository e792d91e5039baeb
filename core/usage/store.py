"""Storing a staged batch of one org in one transaction: the step shared by file ingest and the track endpoint.

A batch's request ids are claimed first: the ids this org stored before are looked up (index probes, no
writes), and the others are COPYed into `usage_request_keys`, whose primary key admits each (org, request_id)
once. Then only the fresh events are COPYed into `usage_events` (routed to their month partition) and their
sums are upserted into the hourly and daily rollups.

Plain COPY instead of `INSERT … ON CONFLICT` for the keys: a speculative insertion writes two WAL records
per row and cannot use multi-row inserts, and the keys table is written once per event. The price is a
race: a concurrent load that claimed one of the ids after the lookup makes the COPY fail with a unique
violation (after waiting for that load to commit); the batch is then rolled back and stored again, and the
lookup sees the other load's ids this time. Retries on deadlocks and serialization failures likewise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

import psycopg
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.pricing.rates import pico_decimal
from core.usage.models import ROLLUP_DIMENSIONS
from core.usage.rollups import MEASURES, UPSERT_DAILY_FROM_BATCH, UPSERT_HOURLY_FROM_BATCH
from core.usage.staging import EVENT_COLUMNS, EVENT_TYPES, IngestResult, StagedEvent

_ROLLUP_KEY = ("hour", *ROLLUP_DIMENSIONS)
ROLLUP_TYPES = ("timestamptz", *["text"] * len(ROLLUP_DIMENSIONS), *["int8"] * 6, "numeric", "int8", "float8", "int8")

# Per connection, once: the batch's rollup sums travel through this temp table.
SETUP_TEMP_TABLES = f"""
CREATE TEMP TABLE IF NOT EXISTS tt_rollup (
    hour timestamptz, {", ".join(f"{d} text" for d in ROLLUP_DIMENSIONS)},
    requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint,
    cache_write_tokens bigint, reasoning_tokens bigint, cost numeric, unpriced_requests bigint,
    latency_ms_sum float8, latency_count bigint
) ON COMMIT DELETE ROWS;
"""
FIND_STORED_KEYS = "SELECT request_id FROM usage_request_keys WHERE organization_id = %s AND request_id = ANY(%s)"
COPY_KEYS = "COPY usage_request_keys (organization_id, request_id, timestamp) FROM STDIN (FORMAT BINARY)"
COPY_EVENTS = f"COPY usage_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_ROLLUP = f"COPY tt_rollup ({', '.join(_ROLLUP_KEY)}, {', '.join(MEASURES)}) FROM STDIN (FORMAT BINARY)"
UNPRICED_ALERT = """
INSERT INTO alert_events (organization_id, type, severity, title, message, data, dedupe_key)
VALUES (%(org)s, 'unpriced_model', 'warning', 'Unpriced model: ' || %(provider)s || '/' || %(model)s,
        'Requests of ' || %(provider)s || '/' || %(model)s || ' have no price; they are counted as unpriced, '
        || 'not $0. Add a price (tokentra prices set) and they are repriced.',
        jsonb_build_object('provider', %(provider)s, 'model', %(model)s),
        'unpriced:' || %(provider)s || '/' || %(model)s)
ON CONFLICT (organization_id, dedupe_key) DO UPDATE SET status = 'active', resolved_at = NULL
"""
_RETRIED = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure, psycopg.errors.UniqueViolation)
_timestamp = attrgetter("timestamp")


def aggregate(events: Iterable[StagedEvent]) -> dict[tuple[Any, ...], list[float]]:
    """Rollup sums per key; the key's first item is the hour as hours since the epoch."""
    sums: dict[tuple[Any, ...], list[float]] = {}
    for staged in events:
        current = sums.get(staged.rollup_key)
        if current is None:
            sums[staged.rollup_key] = list(staged.measures)
        else:
            sums[staged.rollup_key] = [a + b for a, b in zip(current, staged.measures, strict=True)]
    return sums


def months_of(batch: list[StagedEvent]) -> list[date]:
    """First days of the months the batch's events fall in. Usually one: min/max (in C) tell, and only a batch
    spanning months is walked (never the months between, which would create partitions for empty months)."""
    stamps = list(map(_timestamp, batch))
    first, last = min(stamps), max(stamps)
    if (first.year, first.month) == (last.year, last.month):
        return [date(first.year, first.month, 1)]
    return sorted({date(stamp.year, stamp.month, 1) for stamp in stamps})


class BatchStore:
    """Stores staged batches of one org on a caller's connection (which ran SETUP_TEMP_TABLES).

    `known_months` is the set of month partitions already ensured; it may be shared between stores of one
    process, and grows with the partitions this store creates. `months` holds those this store wrote to.
    """

    def __init__(self, org_id: uuid.UUID, *, known_months: set[date] | None = None) -> None:
        self.org_id = org_id
        self.known_months = known_months if known_months is not None else set()
        self.months: set[date] = set()

    @retry(retry=retry_if_exception_type(_RETRIED), stop=stop_after_attempt(8),
           wait=wait_exponential(multiplier=0.05, max=2), reraise=True)  # fmt: skip
    def store(self, conn: psycopg.Connection[Any], batch: list[StagedEvent], result: IngestResult) -> list[StagedEvent]:
        """Store the batch's fresh events in one transaction (retried whole); counts go into `result`.

        Returns the fresh events (those whose request id this org had not stored before)."""
        if not batch:
            return []
        self._ensure_partitions(conn, batch)
        try:
            with conn.cursor() as cur:
                fresh = self._claim(cur, batch)
                if fresh:
                    self._copy_events(cur, fresh)
                    unpriced = {staged.unpriced for staged in fresh if staged.unpriced is not None}
                    for provider, model in sorted(unpriced):
                        cur.execute(UNPRICED_ALERT, {"org": self.org_id, "provider": provider, "model": model})
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        result.accepted += len(fresh)
        result.unpriced += sum(1 for staged in fresh if staged.unpriced is not None)
        result.duplicates += len(batch) - len(fresh)
        return fresh

    def _ensure_partitions(self, conn: psycopg.Connection[Any], batch: list[StagedEvent]) -> None:
        months = months_of(batch)
        self.months.update(months)
        for month in months:
            if month not in self.known_months:
                conn.execute("SELECT tt_ensure_usage_partition(%s)", (month,))
                conn.commit()
                self.known_months.add(month)

    def _claim(self, cur: psycopg.Cursor[Any], batch: list[StagedEvent]) -> list[StagedEvent]:
        ids = [staged.request_id for staged in batch]
        seen = {row[0] for row in cur.execute(FIND_STORED_KEYS, (self.org_id, ids))}
        fresh = [staged for staged in batch if staged.request_id not in seen] if seen else batch
        with cur.copy(COPY_KEYS) as copy:
            copy.set_types(["uuid", "text", "timestamptz"])
            org_id = self.org_id
            for staged in fresh:
                copy.write_row((org_id, staged.request_id, staged.timestamp))
        return fresh

    def _copy_events(self, cur: psycopg.Cursor[Any], fresh: list[StagedEvent]) -> None:
        with cur.copy(COPY_EVENTS) as copy:
            copy.set_types(EVENT_TYPES)
            for staged in fresh:
                copy.write_row(staged.row)
        hours: dict[int, datetime] = {}  # many rollup rows share an hour
        with cur.copy(COPY_ROLLUP) as copy:
            copy.set_types(ROLLUP_TYPES)
            for (hour, *dims), sums in aggregate(fresh).items():
                start = hours.get(hour)
                if start is None:
                    start = hours[hour] = datetime.fromtimestamp(hour * 3600, UTC)
                copy.write_row((start, *dims, *sums[:6], pico_decimal(int(sums[6])), sums[7], float(sums[8]), sums[9]))
        cur.execute(UPSERT_HOURLY_FROM_BATCH, {"org": self.org_id})
        cur.execute(UPSERT_DAILY_FROM_BATCH, {"org": self.org_id})
