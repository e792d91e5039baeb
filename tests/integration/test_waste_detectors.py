"""Waste detectors against synthetic orgs with planted, known waste (core.synth) loaded through real ingest.

For every implemented detector: the planted item is found, with the planted feature/provider/model as
scope, and its estimated monthly savings are within ±15% of the manifest's expected savings at list prices.
The healthy control org yields no finding worth more than 2% of its spend.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.detectors.waste import DETECTORS, DetectorContext, Finding, run_all
from core.pricing.book import PriceBook
from core.pricing.rates import pico_decimal
from core.synth import SyntheticOrg, expected_savings, generate_org
from core.synth.manifest import PriceFn

END = datetime(2026, 3, 1, tzinfo=UTC)
SEED = 7
SCALE = 0.2
TOLERANCE = Decimal("0.15")
CONTROL_MAX_SHARE = Decimal("0.02")


@dataclass
class Loaded:
    org: SyntheticOrg
    org_id: uuid.UUID
    findings: list[Finding]
    seconds: float
    spend: Decimal


def _load(db: Any, org: SyntheticOrg) -> Loaded:
    from core.orgs.service import create_org
    from core.usage.events import decode_json
    from core.usage.ingest import ingest

    with db.session() as session:
        org_id = create_org(session, slug=f"{org.slug}-{uuid.uuid4().hex[:8]}").id
        book = PriceBook.load(session)
    lines = enumerate(org.events.jsonl(), start=1)
    ingest(db, org_id=org_id, items=lines, parse=decode_json, book=book)
    window = org.manifest.window
    with db.engine.connect() as conn:
        ctx = DetectorContext(conn, org_id, window.start, window.end)
        started = time.perf_counter()
        findings = run_all(ctx)
        seconds = time.perf_counter() - started
        spend = ctx.query(
            "SELECT coalesce(sum(cost), 0) AS cost FROM usage_events e WHERE "
            "e.organization_id = :org AND e.timestamp >= :start AND e.timestamp < :end",
            "spend",
        ).rows[0]["cost"]
    return Loaded(org, org_id, findings, seconds, Decimal(spend))


@pytest.fixture(scope="module")
def wasteful(db: Any) -> Loaded:
    return _load(db, generate_org(seed=SEED, end=END, scale=SCALE))


@pytest.fixture(scope="module")
def control(db: Any) -> Loaded:
    return _load(db, generate_org(seed=SEED, end=END, scale=SCALE, healthy=True))


@pytest.fixture(scope="module")
def price_fn(db: Any) -> PriceFn:
    """Prices one event dict at list prices: the PriceBook's price version, exactly as tt_cost() computes."""
    with db.session() as session:
        book = PriceBook.load(session)

    def price(event: dict[str, Any]) -> Decimal | None:
        price_id = book.resolve(None, event["provider"], event["model"], event["timestamp"])
        if price_id is None:
            return None
        rates = book.rates[price_id]
        pico = rates.cost_pico(
            event.get("input_tokens", 0),
            event.get("output_tokens", 0),
            event.get("cache_read_tokens", 0),
            event.get("cache_write_tokens", 0),
            event.get("reasoning_tokens", 0),
            bool(event.get("batch")),
        )
        return pico_decimal(pico)

    return price


def _matching(loaded: Loaded, kind: str) -> list[Finding]:
    scope = loaded.org.manifest.waste_item(kind).scope
    return [
        f
        for f in loaded.findings
        if f.type == kind and all(f.scope.get(k) == scope[k] for k in ("feature", "provider", "model"))
    ]


@pytest.mark.parametrize("kind", list(DETECTORS))
def test_planted_waste_is_found_with_its_savings(kind: str, wasteful: Loaded, price_fn: PriceFn) -> None:
    item = wasteful.org.manifest.waste_item(kind)
    found = _matching(wasteful, kind)
    assert len(found) == 1, f"{kind}: expected one finding for {item.scope}, got {[f.scope for f in found]}"
    finding = found[0]
    expected = expected_savings(item, price_fn)
    measured = finding.estimated_monthly_savings
    print(f"\n{kind}: measured {measured} vs expected {expected} ({(measured / expected - 1) * 100:+.1f}%)")
    assert abs(measured - expected) <= TOLERANCE * expected
    assert finding.scope["team"] == item.scope["team"]
    assert finding.scope["project"] == item.scope["project"]
    assert finding.current_monthly_cost >= finding.estimated_monthly_savings > 0
    assert finding.projected_monthly_cost == finding.current_monthly_cost - finding.estimated_monthly_savings
    assert finding.evidence
    assert all(e.sql and "organization_id" in e.sql for e in finding.evidence)
    assert set(finding.sample_request_ids) <= _request_ids(wasteful)


def _request_ids(loaded: Loaded) -> set[str]:
    return {event.request_id for event in loaded.org.events.records}


def test_no_false_positives_on_other_features(wasteful: Loaded) -> None:
    """Each type's findings are about its planted feature (a few other, small ones are tolerated)."""
    for finding in wasteful.findings:
        item = wasteful.org.manifest.waste_item(finding.type)
        if finding.scope.get("feature") != item.scope["feature"]:
            monthly_spend = wasteful.spend * 30 / Decimal(wasteful.org.manifest.window.days)
            assert finding.estimated_monthly_savings <= CONTROL_MAX_SHARE * monthly_spend, finding


def test_control_org_has_no_material_findings(control: Loaded) -> None:
    monthly_spend = control.spend * 30 / Decimal(control.org.manifest.window.days)
    big = [f for f in control.findings if f.estimated_monthly_savings > CONTROL_MAX_SHARE * monthly_spend]
    print(
        f"\ncontrol: spend {monthly_spend:.2f}/month, {len(control.findings)} findings: "
        f"{[(f.type, f.scope.get('feature'), f.estimated_monthly_savings) for f in control.findings]}"
    )
    assert not big


def test_findings_are_complete_recommendations(wasteful: Loaded) -> None:
    print(f"\nrun_all: {wasteful.seconds:.2f}s over {len(wasteful.org.events)} events")
    for finding in wasteful.findings:
        data = finding.to_dict()
        assert data["category"]
        assert data["priority"] in ("critical", "high", "medium", "low")
        assert data["risk_level"] in ("low", "medium", "high")
        assert data["implementation_steps"]
        for evidence in data["evidence"]:
            assert set(evidence) == {"type", "title", "query", "data"}
            assert set(evidence["query"]) == {"sql", "params"}
