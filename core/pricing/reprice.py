"""Adding a price and repricing the events it affects (unpriced ones included), rollups kept exact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.pricing.book import Period, PriceBook
from core.pricing.catalogue import EPOCH
from core.pricing.models import PRICE_FIELDS, Price
from core.pricing.providers import canonical_model, canonical_provider
from core.usage.rollups import rebuild_rollups

_UPDATE_SEGMENT = """
WITH changed AS (
    UPDATE usage_events e
    SET price_id = p.id,
        cost = CASE WHEN p.id IS NULL THEN NULL ELSE tt_cost(p, e.input_tokens, e.output_tokens,
               e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens, e.batch) END,
        cost_status = CASE WHEN p.id IS NULL THEN 'unpriced' ELSE 'priced' END
    FROM (SELECT CAST(:price_id AS bigint) AS wanted) w
    LEFT JOIN price_catalogue p ON p.id = w.wanted
    WHERE e.organization_id = :org AND e.provider = :provider AND e.model = :model
      AND e.timestamp >= :start AND e.timestamp < :end
      AND (e.price_id IS DISTINCT FROM w.wanted OR e.price_id = :touched)
    RETURNING e.timestamp
)
SELECT count(*), min(timestamp), max(timestamp) FROM changed
"""

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=EPOCH.tzinfo)
_BEFORE_ALL = EPOCH - timedelta(days=1)


@dataclass(frozen=True)
class PriceInput:
    provider: str
    model: str
    rates: dict[str, Decimal | None]
    effective_from: datetime | None = None
    organization_id: uuid.UUID | None = None
    long_context_threshold: int | None = None


def add_price(session: Session, price: PriceInput) -> Price:
    """Store a manual price version. Without a date, a model never priced before is priced from the start
    of time (so its unpriced history gets a price); a model with prices changes from now on."""
    for name, value in price.rates.items():
        if name not in PRICE_FIELDS:
            raise InvalidInput(f"unknown rate {name!r}")
        if value is not None and value < 0:
            raise InvalidInput(f"{name} must not be negative")
    if price.rates.get("input") is None or price.rates.get("output") is None:
        raise InvalidInput("a price needs at least an input and an output rate")
    provider = canonical_provider(price.provider)
    model = canonical_model(provider, price.model)
    book = PriceBook.load(session)
    provider, model = book.catalogue_key(provider, model)
    effective_from = price.effective_from or _default_start(book, price.organization_id, provider, model)
    row = session.scalar(
        select(Price).where(
            Price.organization_id.is_(None) if price.organization_id is None
            else Price.organization_id == price.organization_id,
            Price.provider == provider, Price.model == model, Price.effective_from == effective_from,
        )
    )  # fmt: skip
    if row is None:
        row = Price(organization_id=price.organization_id, provider=provider, model=model,
                    effective_from=effective_from, source="manual")  # fmt: skip
        session.add(row)
    for name in PRICE_FIELDS:
        setattr(row, name, price.rates.get(name))
    row.long_context_threshold = price.long_context_threshold
    row.source = "manual"
    session.flush()
    return row


def _default_start(book: PriceBook, org_id: uuid.UUID | None, provider: str, model: str) -> datetime:
    return datetime.now(EPOCH.tzinfo) if book.periods(org_id, provider, model) else EPOCH


def _segments(periods: list[Period]) -> list[tuple[datetime, datetime, int | None]]:
    """Periods as [start, end) segments covering all time; None = no price there (all time without periods)."""
    first = periods[0].start if periods else _FAR_FUTURE
    segments: list[tuple[datetime, datetime, int | None]] = [(_BEFORE_ALL, first, None)]
    segments += [(p.start, p.end or _FAR_FUTURE, p.price_id) for p in periods]
    return segments


def reprice(conn: Connection, book: PriceBook, *, provider: str, model: str,
            org_id: uuid.UUID | None = None, touched_price_id: int | None = None) -> int:  # fmt: skip
    """Re-resolve the price of every stored event that `provider/model` may price; returns events changed.

    Events already on `touched_price_id` (a version whose rates were just edited) are recomputed too."""
    key = book.catalogue_key(provider, model)
    pairs = conn.execute(
        text("SELECT DISTINCT organization_id, provider, model FROM usage_rollup_hourly"
             + (" WHERE organization_id = :org" if org_id else "")),
        {"org": org_id},
    ).all()  # fmt: skip
    changed = 0
    for org, event_provider, event_model in pairs:
        if book.catalogue_key(event_provider, event_model) != key:
            continue
        periods = book.periods(org, event_provider, event_model)
        for start, end, price_id in _segments(periods):
            count, first, last = conn.execute(
                text(_UPDATE_SEGMENT),
                {"price_id": price_id, "org": org, "provider": event_provider, "model": event_model,
                 "start": start, "end": end, "touched": touched_price_id},
            ).one()  # fmt: skip
            if count:
                changed += count
                rebuild_rollups(conn, org, first, last)
        _resolve_unpriced_alert(conn, org, event_provider, event_model)
    return changed


def _resolve_unpriced_alert(conn: Connection, org: uuid.UUID, provider: str, model: str) -> None:
    conn.execute(
        text("""
        UPDATE alert_events SET status = 'resolved', resolved_at = now()
        WHERE organization_id = :org AND dedupe_key = :key AND status = 'active'
          AND NOT EXISTS (SELECT 1 FROM usage_rollup_hourly WHERE organization_id = :org AND provider = :provider
                          AND model = :model AND unpriced_requests > 0)
        """),
        {"org": org, "key": f"unpriced:{provider}/{model}", "provider": provider, "model": model},
    )
