"""Waste detectors against synthetic orgs with planted, known waste (core.synth) loaded through real ingest.

For every implemented detector: the planted item is found, with the planted feature/provider/model as
scope, and its estimated monthly savings are within ±15% of the manifest's expected savings at list prices.
The healthy control org yields no finding worth more than 2% of its spend.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from synth_fixtures import Loaded

from core.detectors.waste import DETECTORS, Finding
from core.synth import expected_savings
from core.synth.manifest import PriceFn

TOLERANCE = Decimal("0.15")
CONTROL_MAX_SHARE = Decimal("0.02")


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
            monthly_spend = wasteful.monthly_spend
            assert finding.estimated_monthly_savings <= CONTROL_MAX_SHARE * monthly_spend, finding


def test_control_org_has_no_material_findings(control: Loaded) -> None:
    monthly_spend = control.monthly_spend
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
