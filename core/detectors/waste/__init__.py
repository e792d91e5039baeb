"""Waste detectors: one module per recommendation type, each with `detect(ctx) -> list[Finding]`.

findings = run_all(DetectorContext(conn, org_id, start, end))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from core.detectors.waste import (
    abandoned_requests,
    batch_api,
    deduplication,
    model_version_upgrade,
    prompt_caching,
    provider_arbitrage,
    response_caching,
    retry_storm,
    timeout_waste,
)
from core.detectors.waste.base import DetectorContext, Evidence, Finding

log = logging.getLogger(__name__)

Detector = Callable[[DetectorContext], list[Finding]]

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
}


def run_all(ctx: DetectorContext, only: list[str] | None = None) -> list[Finding]:
    """Every registered detector (or those named in `only`), findings sorted by monthly savings, largest first."""
    findings: list[Finding] = []
    for name, detect in DETECTORS.items():
        if only is None or name in only:
            started = time.perf_counter()
            found = detect(ctx)
            log.debug("waste detector %s: %d findings in %.2fs", name, len(found), time.perf_counter() - started)
            findings.extend(found)
    return sorted(findings, key=lambda f: f.estimated_monthly_savings, reverse=True)


__all__ = ["DETECTORS", "Detector", "DetectorContext", "Evidence", "Finding", "run_all"]
