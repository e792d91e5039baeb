"""Storing a staged batch of one org in one transaction: the step shared by file ingest and the track endpoint.

A batch's request ids are claimed first: the ids this org stored before are looked up (index probes, no
writes), and the others are COPYed into `usage_request_keys`, whose primary key admits each (org, request_id)
once. Then only the fresh events are COPYed into `usage_events` (routed to their month partition) and their
hourly and daily sums, added up here, are COPYed into the append-only rollups (migration 0010). Upserting
them cost about half the Postgres time of an event; the rows a group gets from several batches are merged
by `compact_rollups` every `COMPACT_EVERY_SECONDS` of writing, and when a load ends (`BatchStore.compact`).

Plain COPY instead of `INSERT … ON CONFLICT` for the keys: a speculative insertion writes two WAL records
per row and cannot use multi-row inserts, and the keys table is written once per event. The price is a
race: a concurrent load that claimed one of the ids after the lookup makes the COPY fail with a unique
violation (after waiting for that load to commit); the batch is then rolled back and stored again, and the
lookup sees the other load's ids this time. Retries on deadlocks and serialization failures likewise.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

import psycopg
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.pricing.rates import pico_decimal
from core.usage.models import ROLLUP_DIMENSIONS
from core.usage.rollups import MEASURES, compact_rollups
from core.usage.staging import EVENT_COLUMNS, EVENT_TYPES, IngestResult, StagedEvent

# The org id is sent as its 16 bytes typed bytea: a uuid's binary COPY form is those bytes, and psycopg dumps
# bytes in C while every uuid.UUID goes through a Python dumper (about a microsecond per row).
_KEY_TYPES = ("bytea", "text", "timestamptz")
ROLLUP_TYPES = (
    "bytea", "timestamptz", *["text"] * len(ROLLUP_DIMENSIONS), *["int8"] * 6, "numeric", "int8", "numeric", "int8",
)  # fmt: skip
COMPACT_EVERY_SECONDS = 30.0

# Kept until its callers stop running it on new connections: the store needs no per-connection setup now.
SETUP_TEMP_TABLES = "SELECT 1"
FIND_STORED_KEYS = "SELECT request_id FROM usage_request_keys WHERE organization_id = %s AND request_id = ANY(%s)"
COPY_KEYS = "COPY usage_request_keys (organization_id, request_id, timestamp) FROM STDIN (FORMAT BINARY)"
COPY_EVENTS = f"COPY usage_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_ROLLUP_COLUMNS = f"{', '.join(ROLLUP_DIMENSIONS)}, {', '.join(MEASURES)}"
COPY_HOURLY = f"COPY usage_rollup_hourly (organization_id, hour, {_ROLLUP_COLUMNS}) FROM STDIN (FORMAT BINARY)"
COPY_DAILY = f"COPY usage_rollup_daily (organization_id, day, {_ROLLUP_COLUMNS}) FROM STDIN (FORMAT BINARY)"
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


_Sums = dict[tuple[Any, ...], list[float]]
_MILLI = Decimal("0.001")


def aggregate_hourly(events: Iterable[StagedEvent]) -> _Sums:
    """Rollup sums per key; the key's first item is the hour as hours since the epoch."""
    sums: _Sums = {}
    for staged in events:
        current = sums.get(staged.rollup_key)
        if current is None:
            sums[staged.rollup_key] = list(staged.measures)
        else:
            sums[staged.rollup_key] = [a + b for a, b in zip(current, staged.measures, strict=True)]
    return sums


def to_daily(hourly: _Sums) -> _Sums:
    """The hourly sums added up per UTC day (days since the epoch first)."""
    sums: _Sums = {}
    for (hour, *dims), measures in hourly.items():
        key = (hour // 24, *dims)
        current = sums.get(key)
        sums[key] = list(measures) if current is None else [a + b for a, b in zip(current, measures, strict=True)]
    return sums


def months_of(batch: list[StagedEvent]) -> list[date]:
    """First days of the months the batch's events fall in. Usually one: min/max (in C) tell, and only a batch
    spanning months is walked (never the months between, which would create partitions for empty months)."""
    stamps = list(map(_timestamp, batch))
    first, last = min(stamps), max(stamps)
    if (first.year, first.month) == (last.year, last.month):
        return [date(first.year, first.month, 1)]
    return sorted({date(stamp.year, stamp.month, 1) for stamp in stamps})


@dataclass
class RollupSpan:
    """Which hours of one org's rollups have groups split over several rows, as far as its writers know.

    An hour is split when a second batch writes it, and stays so until the next compaction. The first and
    last hours a store wrote since then are compacted too: another load of the same org most likely met
    this one there. Memory: a set of hours, not of groups or events."""

    written: set[int] = field(default_factory=set)  # hours since the epoch, ever written through this span
    split: set[int] = field(default_factory=set)
    first: int | None = None
    last: int | None = None
    compacted_at: float = field(default_factory=time.monotonic)

    def add(self, hours: Iterable[int]) -> None:
        for hour in hours:
            if hour in self.written:
                self.split.add(hour)
            else:
                self.written.add(hour)
            self.first = hour if self.first is None else min(self.first, hour)
            self.last = hour if self.last is None else max(self.last, hour)

    def compact(self, conn: psycopg.Connection[Any], org_id: uuid.UUID) -> None:
        """Merge the split rollup groups (commits), and start again."""
        edges = {hour for hour in (self.first, self.last) if hour is not None}
        compact_rollups(conn, org_id, [_start_of(hour, 3600) for hour in sorted(self.split | edges)])
        self.split.clear()
        self.first = self.last = None
        self.compacted_at = time.monotonic()


class BatchStore:
    """Stores staged batches of one org on a caller's connection.

    `known_months` is the set of month partitions already ensured; it may be shared between stores of one
    process, and grows with the partitions this store creates. `months` holds those this store wrote to.
    `span` tracks what the rollups need compacted; stores that write one org in turn may share it.
    """

    def __init__(self, org_id: uuid.UUID, *, known_months: set[date] | None = None,
                 span: RollupSpan | None = None) -> None:  # fmt: skip
        self.org_id = org_id
        self.known_months = known_months if known_months is not None else set()
        self.months: set[date] = set()
        self.span = span if span is not None else RollupSpan()
        self._look_up_first = False

    def compact(self, conn: psycopg.Connection[Any]) -> None:
        """Merge the rollup rows this store's batches split since the last compaction (commits)."""
        self.span.compact(conn, self.org_id)

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
        if time.monotonic() - self.span.compacted_at >= COMPACT_EVERY_SECONDS:
            self.compact(conn)
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
        """Claim the batch's ids; returns the events whose id this org had not stored before.

        Optimistic while no id was ever found stored: the whole batch is COPYed into the keys at once (no
        lookup), inside a savepoint. The first unique violation (a reload, an overlapping file, a concurrent
        load) rolls that back, and from then on the stored ids are looked up first."""
        if not self._look_up_first:
            # Plain SQL savepoints: psycopg's transaction() would commit on its own if none were open yet.
            cur.execute("SAVEPOINT optimistic_claim")
            try:
                self._copy_keys(cur, batch)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT optimistic_claim")
                self._look_up_first = True
            else:
                cur.execute("RELEASE SAVEPOINT optimistic_claim")
                return batch
        ids = [staged.request_id for staged in batch]
        seen = {row[0] for row in cur.execute(FIND_STORED_KEYS, (self.org_id, ids))}
        fresh = [staged for staged in batch if staged.request_id not in seen] if seen else batch
        self._copy_keys(cur, fresh)
        return fresh

    def _copy_keys(self, cur: psycopg.Cursor[Any], batch: list[StagedEvent]) -> None:
        with cur.copy(COPY_KEYS) as copy:
            copy.set_types(_KEY_TYPES)
            org = self.org_id.bytes
            for staged in batch:
                copy.write_row((org, staged.request_id, staged.timestamp))

    def _copy_events(self, cur: psycopg.Cursor[Any], fresh: list[StagedEvent]) -> None:
        with cur.copy(COPY_EVENTS) as copy:
            copy.set_types(EVENT_TYPES)
            for staged in fresh:
                copy.write_row(staged.row)
        hourly = aggregate_hourly(fresh)
        self._copy_rollup(cur, COPY_HOURLY, hourly, 3600)
        self._copy_rollup(cur, COPY_DAILY, to_daily(hourly), 86_400)
        self.span.add({key[0] for key in hourly})

    def _copy_rollup(self, cur: psycopg.Cursor[Any], statement: str, sums: _Sums, seconds: int) -> None:
        starts: dict[int, datetime] = {}  # many rows share a time bucket
        org_id = self.org_id.bytes
        with cur.copy(statement) as copy:
            copy.set_types(ROLLUP_TYPES)
            for (bucket, *dims), total in sums.items():
                start = starts.get(bucket)
                if start is None:
                    start = starts[bucket] = _start_of(bucket, seconds)
                latency = Decimal(total[8]).quantize(_MILLI)
                copy.write_row((org_id, start, *dims, *total[:6], pico_decimal(int(total[6])), total[7], latency,
                                total[9]))  # fmt: skip


def _start_of(bucket: int, seconds: int) -> datetime:
    return datetime.fromtimestamp(bucket * seconds, UTC)
