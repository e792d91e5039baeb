"""Synthetic organisations with planted, known waste and anomalies, plus the ground-truth manifest.

org = generate_org(seed=7, end=datetime(2026, 11, 1, tzinfo=UTC))     # 30 days, every waste kind
control = generate_org(seed=7, end=..., healthy=True)                  # nothing planted
for event in org.events: ...                                           # dicts for UsageEvent
expected_savings(org.manifest.waste_item("prompt_caching"), price)     # monthly, at list prices
write_jsonl(org, "demo.jsonl")                                         # + demo.jsonl.manifest.json
"""

from core.synth.generator import EventStream, SyntheticOrg, generate_org, write_jsonl
from core.synth.manifest import (
    AnomalyItem,
    Manifest,
    PriceFn,
    SavingsBasis,
    WasteItem,
    expected_savings,
    window_savings,
)
from core.synth.waste import CATEGORY, NOT_PLANTED, WasteKind

__all__ = [
    "CATEGORY",
    "NOT_PLANTED",
    "AnomalyItem",
    "EventStream",
    "Manifest",
    "PriceFn",
    "SavingsBasis",
    "SyntheticOrg",
    "WasteItem",
    "WasteKind",
    "expected_savings",
    "generate_org",
    "window_savings",
    "write_jsonl",
]
