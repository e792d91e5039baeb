"""The model-choice, token and outcome detectors against synthetic orgs with planted waste, and dedupe.

Each planted item is found once with its scope and monthly savings within ±15% of the manifest's expected
savings at list prices; the healthy control org gets no finding worth more than 2% of its spend; no two
findings claim the same calls' dollars.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from synth_fixtures import Loaded

from core.detectors.waste import Finding, dedupe_findings
from core.detectors.waste.base import Finding as BaseFinding
from core.detectors.waste.dedupe import conflicts
from core.detectors.waste.quality import REGISTRY, TASK_CATEGORY, quality_drop
from core.synth import expected_savings
from core.synth.manifest import PriceFn

TOLERANCE = Decimal("0.15")
CONTROL_MAX_SHARE = Decimal("0.02")
NEW_KINDS = (
    "model_downgrade",
    "quality_cost_pareto",
    "rate_limit",
    "output_length",
    "prompt_compression",
    "embedding_optimization",
    "cost_per_outcome",
)


def _matching(loaded: Loaded, kind: str) -> list[Finding]:
    scope = loaded.org.manifest.waste_item(kind).scope
    keys = ("team", "project", "feature", "provider", "model")
    return [f for f in loaded.findings if f.type == kind and all(f.scope.get(k) == scope[k] for k in keys)]


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_planted_item_found_with_scope_and_savings(kind: str, wasteful: Loaded, price_fn: PriceFn) -> None:
    found = _matching(wasteful, kind)
    assert len(found) == 1, [(f.type, f.scope) for f in wasteful.findings]
    finding = found[0]
    expected = expected_savings(wasteful.org.manifest.waste_item(kind), price_fn)
    measured = finding.estimated_monthly_savings
    print(f"\n{kind}: measured {measured} vs expected {expected} ({(measured / expected - 1) * 100:+.1f}%)")
    assert abs(measured - expected) <= TOLERANCE * expected
    assert finding.current_monthly_cost >= measured > 0
    assert finding.projected_monthly_cost == finding.current_monthly_cost - measured
    assert finding.category
    assert finding.implementation_steps
    assert finding.evidence
    assert all("organization_id" in e.sql for e in finding.evidence)


def test_control_org_has_no_material_findings(control: Loaded) -> None:
    limit = CONTROL_MAX_SHARE * control.monthly_spend
    print(f"\ncontrol: {[(f.type, f.scope.get('feature'), f.estimated_monthly_savings) for f in control.raw]}")
    assert not [f for f in control.raw if f.estimated_monthly_savings > limit]


def test_run_all_dedupes_rate_limit_fallbacks(wasteful: Loaded) -> None:
    """bulk-tagger's gpt-4.1 fallbacks are claimed by rate_limit (low risk) and model_downgrade (high risk)."""
    raw = [f for f in wasteful.raw if f.scope.get("feature") == "bulk-tagger"]
    assert {f.type for f in raw} >= {"rate_limit", "model_downgrade"}
    kept = [f for f in wasteful.findings if f.scope.get("feature") == "bulk-tagger"]
    assert [f.type for f in kept] == ["rate_limit"]
    for i, a in enumerate(wasteful.findings):
        for b in wasteful.findings[i + 1 :]:
            assert not conflicts(a, b), (a.fingerprint, b.fingerprint)
    print(f"\nrun_all: {wasteful.seconds:.2f}s over {len(wasteful.org.events)} events")


def _finding(kind: str, model: str, savings: str, risk: str, also_claims: str | None = None) -> BaseFinding:
    scope = {"team": "t", "project": "p", "feature": "f", "provider": "openai", "model": model}
    return BaseFinding(
        type=kind, category="c", title=kind, description="", scope=scope, target={},
        current_monthly_cost=Decimal(100), projected_monthly_cost=Decimal(100) - Decimal(savings),
        estimated_monthly_savings=Decimal(savings), savings_percent=0.0, confidence=0.8, priority="low",
        risk_level=risk, effort="hours", evidence=[], affected_requests=1, sample_request_ids=[],
        implementation_steps=["x"],
        claims=[scope, *([{**scope, "model": also_claims}] if also_claims else [])],
    )  # fmt: skip


def test_dedupe_keeps_lowest_risk_then_largest_savings() -> None:
    upgrade = _finding("model_version_upgrade", "gpt-4-turbo", "20", "low")
    downgrade = _finding("model_downgrade", "gpt-4-turbo", "60", "high")
    pareto = _finding("quality_cost_pareto", "gpt-4-turbo", "70", "high")
    caching = _finding("prompt_caching", "gpt-4-turbo", "30", "low")  # another lever: not exclusive
    other = _finding("model_downgrade", "gpt-4.1", "10", "high")  # another slice
    assert dedupe_findings([downgrade, upgrade, pareto, caching, other]) == [upgrade, caching, other]
    assert dedupe_findings([downgrade, pareto]) == [pareto]
    # a claim on another slice (fallback calls) overlaps that slice's findings
    limited = _finding("rate_limit", "gpt-4.1-mini", "8", "low", also_claims="gpt-4.1")
    assert dedupe_findings([other, limited]) == [limited]
    # the same fingerprint twice: the better one stays
    twice = _finding("prompt_caching", "gpt-4-turbo", "40", "low")
    assert dedupe_findings([caching, twice]) == [twice]


def test_quality_registry_is_consistent() -> None:
    categories = set(TASK_CATEGORY.values())
    assert len(TASK_CATEGORY) == 47
    assert len(categories) == 6
    for model, (tier, scores) in REGISTRY.items():
        assert tier in ("budget", "mid", "premium"), model
        assert set(scores) == categories, model
        assert all(0 < s <= 100 for s in scores.values()), model
    assert quality_drop("claude-sonnet-4-6", "claude-haiku-4-5", "analysis") == 9
    assert quality_drop("unknown-model", "gpt-4.1", "chat") is None
