"""What every planter shares: the waste kinds, their categories, and the planting context."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from core.detectors.categories import CATEGORY
from core.synth.calls import Traffic
from core.synth.manifest import SavingsBasis, WasteItem
from core.synth.profiles import FeatureProfile
from core.synth.records import SynthEvent
from core.synth.timeline import Window


class WasteKind(StrEnum):
    """The recommendation types (CONTRACT section 6) that usage data can show, one planter each."""

    model_downgrade = "model_downgrade"
    quality_cost_pareto = "quality_cost_pareto"
    provider_arbitrage = "provider_arbitrage"
    model_version_upgrade = "model_version_upgrade"
    output_length = "output_length"
    prompt_caching = "prompt_caching"
    prompt_compression = "prompt_compression"
    response_caching = "response_caching"
    deduplication = "deduplication"
    retry_storm = "retry_storm"
    timeout_waste = "timeout_waste"
    rate_limit = "rate_limit"
    abandoned_requests = "abandoned_requests"
    embedding_optimization = "embedding_optimization"
    batch_api = "batch_api"
    cost_per_outcome = "cost_per_outcome"


# Types we do not plant, and why usage events cannot show them.
NOT_PLANTED: dict[str, str] = {
    "output_format": "needs the response body (prose vs. JSON) or the requested response_format; a usage "
    "event only has token counts, so verbose formats are indistinguishable from long answers "
    "(which output_length already covers)",
    "partial_caching": "needs the content of responses to find shared sub-results; usage events carry "
    "only whole-prompt hashes, so reusable partial responses leave no trace in them",
}


@dataclass(frozen=True)
class Planted:
    """A planter's output: the events it adds to the org and the manifest item describing them."""

    events: list[SynthEvent]
    item: WasteItem


@dataclass
class PlantContext:
    """What a planter gets: the org's window, and a Traffic on the planter's own random stream whose window
    ends a little earlier, so that follow-up calls (retries, duplicates) still fall inside the org's."""

    traffic: Traffic
    window: Window

    @property
    def rng(self) -> np.random.Generator:
        return self.traffic.rng

    def per_window(self, per_day: float, *, minimum: int = 1) -> int:
        """How many of something happen over the window at `per_day` (scaled), at least `minimum`."""
        return max(minimum, round(per_day * self.traffic.scale * self.window.days))

    def item(
        self,
        kind: WasteKind,
        *,
        profile: FeatureProfile,
        title: str,
        events: Sequence[SynthEvent],
        affected: Sequence[SynthEvent],
        savings: SavingsBasis,
        details: dict[str, Any],
    ) -> Planted:
        item = WasteItem(
            kind=kind.value,
            category=CATEGORY[kind.value],
            title=title,
            scope=scope_of(profile),
            window=self.window,
            affected_request_ids=[e.request_id for e in sorted(affected, key=lambda e: e.ts)],
            details=details,
            savings=savings,
            planted_events=len(events),
        )
        return Planted(list(events), item)


Planter = Callable[[PlantContext], Planted]


def scope_of(profile: FeatureProfile) -> dict[str, str]:
    return {
        "team": profile.team,
        "project": profile.project,
        "feature": profile.feature,
        "provider": profile.provider,
        "model": profile.model,
    }


def is_billed(event: SynthEvent) -> bool:
    """Charged for: a successful (or cancelled) call with tokens."""
    return event.status in ("success", "cancelled") and event.input_tokens > 0


def billed(events: Sequence[SynthEvent]) -> list[SynthEvent]:
    return [e for e in events if is_billed(e)]


def median(values: Sequence[int]) -> int:
    return int(np.median(values)) if values else 0
