"""Waste detectors: one module per recommendation type, each with `detect(ctx) -> list[Finding]`.

findings = run_all(DetectorContext(conn, org_id, start, end))

runner.py runs them (several at once on their own connections when that cannot change a result).
"""

from __future__ import annotations

from core.detectors.waste import (
    abandoned_requests,
    batch_api,
    cost_per_outcome,
    deduplication,
    embedding_optimization,
    model_downgrade,
    model_version_upgrade,
    output_length,
    prompt_caching,
    prompt_compression,
    provider_arbitrage,
    quality_cost_pareto,
    rate_limit,
    response_caching,
    retry_storm,
    timeout_waste,
)
from core.detectors.waste.base import DetectorContext, Evidence, Finding
from core.detectors.waste.dedupe import dedupe_findings
from core.detectors.waste.runner import Detector, run_detectors

DETECTORS: dict[str, Detector] = {
    "retry_storm": retry_storm.detect,
    "prompt_caching": prompt_caching.detect,
    "response_caching": response_caching.detect,
    "batch_api": batch_api.detect,
    "model_version_upgrade": model_version_upgrade.detect,
    "provider_arbitrage": provider_arbitrage.detect,
    "timeout_waste": timeout_waste.detect,
    "abandoned_requests": abandoned_requests.detect,
    "deduplication": deduplication.detect,
    "model_downgrade": model_downgrade.detect,
    "quality_cost_pareto": quality_cost_pareto.detect,
    "rate_limit": rate_limit.detect,
    "output_length": output_length.detect,
    "prompt_compression": prompt_compression.detect,
    "embedding_optimization": embedding_optimization.detect,
    "cost_per_outcome": cost_per_outcome.detect,
}


def run_all(ctx: DetectorContext, only: list[str] | None = None, *, dedupe: bool = True) -> list[Finding]:
    """Every registered detector (or those named in `only`), de-duplicated (dedupe.py: no two findings claim
    the same calls' dollars), sorted by monthly savings, largest first."""
    chosen = {name: detect for name, detect in DETECTORS.items() if only is None or name in only}
    findings = [finding for found in run_detectors(ctx, chosen).values() for finding in found]
    if dedupe:
        findings = dedupe_findings(findings)
    return sorted(findings, key=lambda f: f.estimated_monthly_savings, reverse=True)


__all__ = ["DETECTORS", "Detector", "DetectorContext", "Evidence", "Finding", "dedupe_findings", "run_all"]
