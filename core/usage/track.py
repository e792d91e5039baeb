"""The track endpoint's core: a batch of usage events (CONTRACT section 5) validated, priced and stored.

Each event is checked on its own: a bad one is reported with its index and reason, the good ones are
kept, and a repeated `request_id` (in the batch, an earlier batch or a concurrent one) is counted as a
duplicate and never stored twice. Storage is the bulk COPY ingest's batch store (core.usage.store).

The hot path avoids per-request set-up: the JSON body is decoded with msgspec into one raw slice per
event (so a malformed event cannot spoil the others), each slice is decoded straight into a UsageEvent,
and the PriceBook is cached per process and reloaded only when the catalogue changes.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.db import Database
from core.errors import InvalidInput, TokentraError
from core.pricing.book import PriceBook
from core.usage import track_store
from core.usage.events import UsageEvent, decode_json, from_dict
from core.usage.staging import IngestResult, Stager

log = logging.getLogger(__name__)

MAX_EVENTS = 10_000
MAX_BODY_BYTES = 64 * 1024 * 1024  # ~10,000 events with large metadata; anything bigger is refused unread


class BatchTooLarge(InvalidInput):
    """More events (or bytes) than one request may carry; the API answers 413."""

    code = "payload_too_large"


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


class _ValidBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: list[UsageEvent]


_batch_decoder = msgspec.json.Decoder(_Batch)
_valid_batch_decoder = msgspec.json.Decoder(_ValidBatch)


def too_large_message(count: int) -> str:
    return (
        f"a batch holds at most {MAX_EVENTS:,} events, this one has {count:,}; "
        f"split it into batches of {MAX_EVENTS:,} or fewer (nothing of this batch was stored)"
    )


def decode_batch(body: bytes) -> list[msgspec.Raw]:
    """`{"events": [...]}` → one raw JSON slice per event; raises InvalidInput / BatchTooLarge."""
    if len(body) > MAX_BODY_BYTES:
        raise BatchTooLarge(f"the body has {len(body):,} bytes, more than the {MAX_BODY_BYTES:,} allowed")
    try:
        events = _batch_decoder.decode(body).events
    except msgspec.ValidationError as exc:
        raise InvalidInput(f'the body must be {{"events": [event, ...]}}: {exc}') from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if len(events) > MAX_EVENTS:
        raise BatchTooLarge(too_large_message(len(events)))
    return events


class PriceBookCache:
    """One PriceBook per process, reloaded when the catalogue changes (a price added or edited).

    The check is one index-free aggregate over the catalogue (a few thousand rows, well under a
    millisecond); `max_age` bounds how long a book is trusted without checking at all.
    """

    FINGERPRINT = "SELECT count(*), coalesce(max(id), 0), coalesce(max(xmin::text::bigint), 0) FROM price_catalogue"

    def __init__(self, *, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._book: PriceBook | None = None
        self._fingerprint: tuple[Any, ...] | None = None
        self._checked = 0.0

    def current(self, db: Database) -> PriceBook:
        with self._lock:
            now = time.monotonic()
            if self._book is not None and now - self._checked < self.max_age:
                return self._book
            with db.session() as session:
                fingerprint = tuple(session.execute(text(self.FINGERPRINT)).one())
                if self._book is None or fingerprint != self._fingerprint:
                    self._book = PriceBook.load(session)
                    self._fingerprint = fingerprint
            self._checked = now
            return self._book

    def invalidate(self) -> None:
        with self._lock:
            self._book = None


PRICE_BOOKS = PriceBookCache()


def track_body(db: Database, *, org_id: uuid.UUID, body: bytes, book: PriceBook | None = None) -> IngestResult:
    """Ingest a raw `{"events": [...]}` request body; per-event errors are reported by index.

    The common case, a batch whose events all match the schema, is decoded in one msgspec call; only when
    that fails is the body split into one raw slice per event, so each bad event is reported on its own."""
    if len(body) <= MAX_BODY_BYTES:
        try:
            events = _valid_batch_decoder.decode(body).events
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass  # some event (or the body) is invalid: find which, one by one
        else:
            if len(events) > MAX_EVENTS:
                raise BatchTooLarge(too_large_message(len(events)))
            return store_items(db, org_id=org_id, items=enumerate(events), parse=_same, book=book, count=len(events),
                               check_text=b"\\u0000" in body)  # fmt: skip
    raws = decode_batch(body)
    return store_items(db, org_id=org_id, items=enumerate(raws), parse=decode_json, book=book, count=len(raws),
                       check_text=b"\\u0000" in body)  # fmt: skip


def _same(event: UsageEvent) -> UsageEvent:
    return event


def track_events(
    db: Database, *, org_id: uuid.UUID, events: list[dict[str, Any]], book: PriceBook | None = None
) -> IngestResult:
    """Ingest already-decoded event dicts (OTLP spans, SDK batches); per-event errors by index."""
    if len(events) > MAX_EVENTS:
        raise BatchTooLarge(too_large_message(len(events)))
    return store_items(db, org_id=org_id, items=enumerate(events), parse=from_dict, book=book, count=len(events))


def store_items(
    db: Database, *, org_id: uuid.UUID, items: Iterable[tuple[int, Any]], parse: Callable[[Any], UsageEvent],
    book: PriceBook | None, count: int, check_text: bool = True,
) -> IngestResult:  # fmt: skip
    """ingest()'s staging loop (validate, price, first occurrence wins) for one request-sized batch, then
    stored by core/usage/track_store.py (pooled connections, concurrent requests merged: group commit)."""
    result = IngestResult()
    if count == 0:
        return result
    stager = Stager(org_id=org_id, book=book if book is not None else PRICE_BOOKS.current(db), result=result,
                    check_text=check_text)  # fmt: skip
    for batch in stager.batches(items, parse, batch_rows=count):  # one batch: first occurrence in the request wins
        track_store.committer(db).store(org_id, batch, result)
    result.duplicates += stager.repeats
    return result


def close_pools() -> None:
    """Close the track connection pools (at shutdown, or when a test database goes away)."""
    track_store.close_all()


def result_document(result: IngestResult) -> dict[str, Any]:
    """The track endpoint's answer (CONTRACT section 4)."""
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [{"index": r.position, "error": r.error} for r in result.rejected],
        "unpriced": result.unpriced,
    }


class Throttle:
    """Runs a job per key at most once every `interval` seconds; a call inside the interval schedules one
    trailing run at its end (so the last load is always followed by an evaluation)."""

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[Any, float] = {}
        self._pending: dict[Any, threading.Timer] = {}

    def run(self, key: Any, job: Callable[[], None]) -> bool:
        """True when the job ran now (in this thread)."""
        with self._lock:
            now = time.monotonic()
            waited = now - self._last.get(key, float("-inf"))
            if waited >= self.interval:
                self._last[key] = now
            else:
                if key not in self._pending:
                    timer = threading.Timer(self.interval - waited, self._trailing, (key, job))
                    timer.daemon = True
                    self._pending[key] = timer
                    timer.start()
                return False
        job()
        return True

    def _trailing(self, key: Any, job: Callable[[], None]) -> None:
        with self._lock:
            if self._pending.pop(key, None) is None:
                return  # cancelled
            self._last[key] = time.monotonic()
        job()

    def cancel(self) -> None:
        """Drop the scheduled trailing runs (at shutdown, before the database goes away)."""
        with self._lock:
            for timer in self._pending.values():
                timer.cancel()
            self._pending.clear()


AFTER_INGEST = Throttle(interval=5.0)


def after_ingest(db: Database, *, org_id: uuid.UUID) -> None:
    """Evaluate the org's budgets and deliver pending alerts, at most once every few seconds per org."""
    AFTER_INGEST.run(org_id, lambda: _evaluate_and_deliver(db, org_id))


def _evaluate_and_deliver(db: Database, org_id: uuid.UUID) -> None:
    from core.alerts.delivery import deliver_pending

    try:
        evaluate = _budget_evaluator()
        if evaluate is not None:
            evaluate(db, org_id=org_id, as_of=datetime.now(UTC))
        deliver_pending(db, org_id=org_id)
    except (TokentraError, SQLAlchemyError, psycopg.Error) as exc:  # background job: logged with its traceback
        log.exception("budget evaluation / alert delivery after ingest failed for org %s: %s", org_id, exc)


def _budget_evaluator() -> Callable[..., Any] | None:
    """core.budgets.evaluate.evaluate_budgets, when that module is installed."""
    try:
        module = importlib.import_module("core.budgets.evaluate")
    except ModuleNotFoundError as exc:
        if exc.name != "core.budgets.evaluate":
            raise
        return None
    evaluate: Callable[..., Any] = module.evaluate_budgets
    return evaluate
