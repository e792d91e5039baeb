"""De-duplication: no two findings claim the same dollars of the same calls.

Some recommendation types are alternative fixes for the same calls: each re-prices a slice's calls on another
model or provider (EXCLUSIVE_GROUPS["model_choice"]); a call can only move once, so their savings do not add
up. Two findings conflict when they are in the same exclusive group and their claimed slices (team, project,
feature, provider, model of the calls whose cost the savings come from) overlap, or when they have the same
fingerprint (type + scope). Of conflicting findings the best is kept: the lowest risk level first (a version
upgrade or a rate-limit fix keeps the task on a model of the same quality; a downgrade needs an A/B test),
then the largest monthly savings, then the highest confidence. The others are dropped; a rerun after the fix
finds what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core.detectors.waste.base import Finding

log = logging.getLogger(__name__)

EXCLUSIVE_GROUPS: dict[str, frozenset[str]] = {
    "model_choice": frozenset(
        {
            "model_downgrade",
            "quality_cost_pareto",
            "model_version_upgrade",
            "provider_arbitrage",
            "rate_limit",
            "embedding_optimization",
        }
    ),
    "call_removal": frozenset({"response_caching", "deduplication"}),
}
_RISK_RANK = {"low": 0, "medium": 1, "high": 2}
_SLICE_KEYS = ("team", "project", "feature", "provider", "model")

Slice = tuple[str | None, ...]


def _group(finding: Finding) -> str:
    for name, types in EXCLUSIVE_GROUPS.items():
        if finding.type in types:
            return name
    return "type:" + finding.type  # only identical fingerprints conflict


def _slices(finding: Finding) -> set[Slice]:
    claims: Iterable[dict[str, str]] = finding.claims or [finding.scope]
    return {tuple(claim.get(k) for k in _SLICE_KEYS) for claim in claims}


def rank(finding: Finding) -> tuple[int, float, float]:
    """Sort key, best first: lowest risk, then largest savings, then highest confidence."""
    return (_RISK_RANK.get(finding.risk_level, 3), -float(finding.estimated_monthly_savings), -finding.confidence)


def conflicts(a: Finding, b: Finding) -> bool:
    if a.fingerprint == b.fingerprint:
        return True
    return _group(a) == _group(b) and not _group(a).startswith("type:") and bool(_slices(a) & _slices(b))


def dedupe_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings without conflicts (best of each conflicting set kept), in their original order."""
    items = list(findings)
    kept: list[Finding] = []
    for finding in sorted(items, key=rank):
        rival = next((k for k in kept if conflicts(k, finding)), None)
        if rival is None:
            kept.append(finding)
        else:
            log.debug("dropped %s (claims the calls of %s)", finding.fingerprint, rival.fingerprint)
    keep_ids = {id(f) for f in kept}
    return [f for f in items if id(f) in keep_ids]
