"""Storing request-sized batches for the track endpoint: pooled connections and group commit.

core.usage.ingest.ingest() opens a connection, a writer thread and its temp tables per call: right for
files, too much per HTTP request (a new Postgres backend per request costs the server CPU as well). Here a
per-process pool keeps connections whose temp tables already exist, and batches are stored by the same
core.usage.store.BatchStore as file ingest (key claim, COPY into usage_events, rollup upserts, unpriced
alerts, retries).

Group commit: each transaction has a fixed cost in Postgres (the key claim, two rollup upserts, the commit)
that is about as large as storing 1,000 events. Concurrent requests of the same org are therefore merged:
the first becomes the leader and stores every batch queued for that org in one transaction, then hands the
leadership to the next waiting request if more arrived meanwhile. Each request still gets its own counts
(accepted = its events that were fresh; a request id repeated across merged requests counts for the later
one as a duplicate, exactly as if they had been stored one after the other).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from core.db import Database
from core.usage.staging import IngestResult, StagedEvent
from core.usage.store import SETUP_TEMP_TABLES, BatchStore

APPLICATION_NAME = "tokentra-track"  # names the pool's backends (the track benchmark reads their CPU)
MAX_MERGED_EVENTS = 20_000  # events per merged transaction (a single request may bring up to 10,000)


@dataclass
class _Job:
    batch: list[StagedEvent]
    result: IngestResult
    lead: bool = False
    finished: bool = False
    error: BaseException | None = None
    ids: set[str] = field(default_factory=set)


class GroupCommitter:
    """Merges concurrent batches of one org into one transaction (see the module docstring)."""

    def __init__(self, db: Database, *, pool_size: int = 4) -> None:
        self.db = db
        self.pool = ConnectionPool(db.uri, min_size=1, max_size=pool_size, configure=_setup_connection, open=True,
                                   name="tokentra-track", kwargs={"application_name": APPLICATION_NAME})  # fmt: skip
        self._cond = threading.Condition()
        self._pending: dict[uuid.UUID, list[_Job]] = {}
        self._busy: set[uuid.UUID] = set()
        self._months: set[date] = set()

    def store(self, org_id: uuid.UUID, batch: list[StagedEvent], result: IngestResult) -> None:
        """Store one request's staged, in-request-deduplicated batch; counts go into `result`."""
        job = _Job(batch, result)
        with self._cond:
            self._pending.setdefault(org_id, []).append(job)
            if org_id not in self._busy:
                self._busy.add(org_id)
                job.lead = True
            while not job.lead and not job.finished:
                self._cond.wait()
            jobs = [] if job.finished else self._take(org_id)
        if jobs:
            self._lead(org_id, jobs)
        if job.error is not None:
            raise job.error

    def _take(self, org_id: uuid.UUID) -> list[_Job]:
        queue = self._pending[org_id]
        taken: list[_Job] = []
        events = 0
        while queue and (not taken or events + len(queue[0].batch) <= MAX_MERGED_EVENTS):
            events += len(queue[0].batch)
            taken.append(queue.pop(0))
        return taken

    def _lead(self, org_id: uuid.UUID, jobs: list[_Job]) -> None:
        try:
            self._write(org_id, jobs)
        except BaseException as exc:  # every request of the merged transaction gets the failure
            for job in jobs:
                job.error = exc
        finally:
            with self._cond:
                for job in jobs:
                    job.finished = True
                queue = self._pending.get(org_id)
                if queue:
                    queue[0].lead = True  # the next waiting request stores what has queued up since
                else:
                    self._pending.pop(org_id, None)
                    self._busy.discard(org_id)
                self._cond.notify_all()

    def _write(self, org_id: uuid.UUID, jobs: list[_Job]) -> None:
        merged: dict[str, StagedEvent] = {}
        for job in jobs:
            for staged in job.batch:
                if staged.request_id not in merged:  # an earlier request of this round has it: a duplicate
                    merged[staged.request_id] = staged
                    job.ids.add(staged.request_id)
        store = BatchStore(org_id, known_months=self._months)
        with self.pool.connection() as conn:
            stored = store.store(conn, list(merged.values()), IngestResult())
        fresh = {staged.request_id: staged for staged in stored}
        for job in jobs:
            mine = [fresh[rid] for rid in job.ids if rid in fresh]
            job.result.accepted += len(mine)
            job.result.unpriced += sum(1 for staged in mine if staged.unpriced is not None)
            job.result.duplicates += len(job.batch) - len(mine)

    def close(self) -> None:
        self.pool.close()


def _setup_connection(conn: psycopg.Connection[Any]) -> None:
    conn.execute(SETUP_TEMP_TABLES)
    conn.commit()


_committers: dict[str, GroupCommitter] = {}
_lock = threading.Lock()


def committer(db: Database) -> GroupCommitter:
    """The process's GroupCommitter for this database (built on first use)."""
    with _lock:
        found = _committers.get(db.uri)
        if found is None:
            found = _committers[db.uri] = GroupCommitter(db)
        return found


def close_all() -> None:
    """Close the pools (at shutdown, or when a test database goes away)."""
    with _lock:
        for found in _committers.values():
            found.close()
        _committers.clear()
