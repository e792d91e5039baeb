"""Fixtures shared by the waste-detector tests: one synthetic wasteful org and one healthy control org,
loaded through the real ingest path and analysed once per worker, and a list-price function for events."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.detectors.waste import DetectorContext, Finding, run_all
from core.pricing.book import PriceBook
from core.synth import SyntheticOrg, generate_org
from core.synth.manifest import PriceFn
from evals.agents import list_price_function

SYNTH_END = datetime(2026, 3, 1, tzinfo=UTC)
SYNTH_SEED = 7
SYNTH_SCALE = 0.2

_SPEND = (
    "SELECT coalesce(sum(cost), 0) AS cost FROM usage_events e WHERE "
    "e.organization_id = :org AND e.timestamp >= :start AND e.timestamp < :end"
)


@dataclass
class Loaded:
    org: SyntheticOrg
    org_id: uuid.UUID
    findings: list[Finding]
    raw: list[Finding]  # before de-duplication
    seconds: float  # run_all with de-duplication
    spend: Decimal  # over the window

    @property
    def monthly_spend(self) -> Decimal:
        return self.spend * 30 / Decimal(self.org.manifest.window.days)


def load_synthetic(db: Any, org: SyntheticOrg) -> Loaded:
    from core.orgs.service import create_org
    from core.usage.events import decode_json
    from core.usage.ingest import ingest

    with db.session() as session:
        org_id = create_org(session, slug=f"{org.slug}-{uuid.uuid4().hex[:8]}").id
        book = PriceBook.load(session)
    ingest(db, org_id=org_id, items=enumerate(org.events.jsonl(), start=1), parse=decode_json, book=book)
    window = org.manifest.window
    with db.engine.connect() as conn:
        ctx = DetectorContext(conn, org_id, window.start, window.end)
        started = time.perf_counter()
        findings = run_all(ctx)
        seconds = time.perf_counter() - started
        raw = run_all(ctx, dedupe=False)
        spend = ctx.query(_SPEND, "spend").rows[0]["cost"]
    return Loaded(org, org_id, findings, raw, seconds, Decimal(spend))


@pytest.fixture(scope="session")
def wasteful(db: Any) -> Loaded:
    return load_synthetic(db, generate_org(seed=SYNTH_SEED, end=SYNTH_END, scale=SYNTH_SCALE))


@pytest.fixture(scope="session")
def control(db: Any) -> Loaded:
    return load_synthetic(db, generate_org(seed=SYNTH_SEED, end=SYNTH_END, scale=SYNTH_SCALE, healthy=True))


@pytest.fixture(scope="session")
def price_fn(db: Any) -> PriceFn:
    """One event dict at list prices, exactly as tt_cost() computes (the PriceBook's price version)."""
    price: PriceFn = list_price_function(db)
    return price
