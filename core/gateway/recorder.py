"""Usage of gateway calls, recorded in the background in batches through the COPY ingest (core/usage/ingest.py).

The request path only appends the event's plain fields (priced: the budget settles on the request path) to an
in-memory list; every `flush_seconds` a background task builds the events in a worker thread (the UsageEvent
model, the prompt hashes, the task type from the classifier: all kept off the request path), stores each org's
batch with `ingest(...)`, then tells the budget enforcer the stored costs (under its lock, see
core/budgets/enforce).
Cache hits are recorded too: zero tokens, the saving in metadata.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from core.budgets.enforce import BudgetEnforcer
from core.db import Database
from core.errors import DatabaseUnavailable
from core.gateway.request import Facts, sha256
from core.pricing.book import PriceBook
from core.pricing.rates import pico_decimal
from core.usage.events import UsageEvent
from core.usage.ingest import IngestResult, ingest

log = logging.getLogger(__name__)
MAX_PENDING = 200_000  # beyond this (database down for long) the oldest events are dropped, and counted


@dataclass
class PendingEvent:
    fields: dict[str, Any]  # UsageEvent fields known on the request path (not the hashes nor the task type)
    attributes: Mapping[str, str | None]  # for the budget counters
    cost: Decimal  # what settle() counted (0 when unpriced)
    facts: Facts | None = None  # the prompt: hashed and classified at flush time (classification memoized)

    def event(self) -> UsageEvent:
        """The usage event (built in the flush's worker thread)."""
        fields, facts = self.fields, self.facts
        if facts is not None:
            fields["prompt_hash"] = sha256(facts.request.messages)
            fields["system_prompt_hash"] = sha256(facts.system) if facts.system else None
            if facts.prompt:
                fields["task_type"] = facts.classification.task_type
            elif facts.classified is not None:
                fields["task_type"] = facts.classified.task_type
        return UsageEvent(**fields)


class Pricer:
    """Costs from the price catalogue snapshot (the same integer maths as ingest)."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book

    def cost(
        self,
        org_id: uuid.UUID,
        provider: str,
        model: str,
        *,
        at: datetime,
        input_tokens: int,
        output_tokens: int,
        cache_read: int = 0,
        reasoning: int = 0,
    ) -> Decimal | None:
        price_id = self.book.resolve(org_id, provider, model, at)
        if price_id is None:
            return None
        pico = self.book.rates[price_id].cost_pico(input_tokens, output_tokens, cache_read, 0, reasoning, False)
        return pico_decimal(pico)


class UsageRecorder:
    def __init__(self, db: Database, *, enforcer: BudgetEnforcer, pricer: Pricer, executor: ThreadPoolExecutor) -> None:
        self._db = db
        self._enforcer = enforcer
        self.pricer = pricer
        self._executor = executor
        self._pending: dict[uuid.UUID, list[PendingEvent]] = {}
        self._count = 0
        self.dropped = 0
        self.invalid = 0
        self.stored = 0

    def record(self, org_id: uuid.UUID, item: PendingEvent) -> None:
        if self._count >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.setdefault(org_id, []).append(item)
        self._count += 1

    async def flush(self) -> None:
        """Store everything recorded so far (one ingest per org)."""
        batches, self._pending, self._count = self._pending, {}, 0
        loop = asyncio.get_running_loop()
        for org_id, items in batches.items():
            async with self._enforcer.lock:
                try:
                    result = await loop.run_in_executor(self._executor, self._store, org_id, items)
                except (psycopg.Error, SQLAlchemyError, DatabaseUnavailable):  # keep them for the next flush
                    log.exception("storing %d gateway usage events failed; retrying at the next flush", len(items))
                    for item in items:
                        self.record(org_id, item)
                    continue
                self._enforcer.on_stored(org_id, [(item.attributes, item.cost) for item in items])
            self.stored += result.accepted
            if result.rejected_count:
                log.error("gateway usage events rejected: %s", result.rejected[:3])

    def _store(self, org_id: uuid.UUID, items: list[PendingEvent]) -> IngestResult:
        events = []
        for item in items:
            try:
                events.append(item.event())
            except ValidationError:  # a bug of ours, not the client's: logged with the fields, counted
                log.exception("gateway usage event not valid, not stored: %s", item.fields)
                self.invalid += 1
        return ingest(self._db, org_id=org_id, items=enumerate(events), parse=_same, book=self.pricer.book)


def _same(event: Any) -> UsageEvent:
    assert isinstance(event, UsageEvent)
    return event
