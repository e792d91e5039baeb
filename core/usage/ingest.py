"""Bulk ingest at COPY speed.

This thread validates, prices (exact integers, as tt_cost()) and formats each event as a COPY row
(core/usage/staging.py). A writer thread stores each batch in one transaction (core/usage/store.py): the
batch's request ids are claimed first, then only the new events are COPYed into `usage_events` (routed to
their month partition) and their sums are upserted into the hourly and daily rollups. Idempotency holds
across batches, files and concurrent loads: usage_request_keys admits each (org, request_id) once.
"""

from __future__ import annotations

import gc
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from core.db import Database
from core.pricing.book import PriceBook
from core.usage.events import UsageEvent
from core.usage.staging import IngestResult, Rejection, StagedEvent, Stager
from core.usage.store import SETUP_TEMP_TABLES, BatchStore

__all__ = ["IngestResult", "Rejection", "StagedEvent", "ingest"]

ANALYZE_AFTER_ROWS = 20_000  # a load at least this big refreshes the planner's statistics


class _Writer(threading.Thread):
    """Stores batches handed over through a small queue, so parsing and the database overlap."""

    def __init__(self, db: Database, org_id: uuid.UUID, result: IngestResult) -> None:
        super().__init__(name="tokentra-ingest-writer", daemon=True)
        self.db, self.result = db, result
        self.store = BatchStore(org_id)
        self.batches: queue.Queue[list[StagedEvent] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.db.connect_raw() as conn:
                conn.execute(SETUP_TEMP_TABLES)
                conn.commit()
                while (batch := self.batches.get()) is not None:
                    self.store.store(conn, batch, self.result)
        except BaseException as exc:  # handed to the parsing thread, which re-raises it
            self.error = exc
            while self.batches.get() is not None:  # drain so the producer never blocks
                pass


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
    stager = Stager(org_id=org_id, book=book, result=result)
    try:
        for batch in stager.batches(items, parse, batch_rows=batch_rows):
            _hand_over(writer, batch)
    finally:
        writer.batches.put(None)
        writer.join()
    if writer.error is not None:
        raise writer.error
    result.duplicates += stager.repeats  # the first occurrence in a load wins
    if result.accepted >= ANALYZE_AFTER_ROWS:
        _refresh_statistics(db, writer.store.months)
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
