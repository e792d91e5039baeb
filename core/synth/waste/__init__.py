"""Planted waste: one planter per recommendation type that usage data can show."""

from __future__ import annotations

from core.detectors.categories import CATEGORY
from core.synth.waste.base import NOT_PLANTED, PlantContext, Planted, Planter, WasteKind
from core.synth.waste.models import (
    plant_batch_api,
    plant_embedding_optimization,
    plant_model_downgrade,
    plant_model_version_upgrade,
    plant_provider_arbitrage,
    plant_quality_cost_pareto,
)
from core.synth.waste.requests import (
    plant_cost_per_outcome,
    plant_deduplication,
    plant_rate_limit,
    plant_response_caching,
    plant_retry_storm,
    plant_timeout_waste,
)
from core.synth.waste.tokens import (
    plant_abandoned_requests,
    plant_output_length,
    plant_prompt_caching,
    plant_prompt_compression,
)

PLANTERS: dict[WasteKind, Planter] = {
    WasteKind.model_downgrade: plant_model_downgrade,
    WasteKind.quality_cost_pareto: plant_quality_cost_pareto,
    WasteKind.provider_arbitrage: plant_provider_arbitrage,
    WasteKind.model_version_upgrade: plant_model_version_upgrade,
    WasteKind.output_length: plant_output_length,
    WasteKind.prompt_caching: plant_prompt_caching,
    WasteKind.prompt_compression: plant_prompt_compression,
    WasteKind.response_caching: plant_response_caching,
    WasteKind.deduplication: plant_deduplication,
    WasteKind.retry_storm: plant_retry_storm,
    WasteKind.timeout_waste: plant_timeout_waste,
    WasteKind.rate_limit: plant_rate_limit,
    WasteKind.abandoned_requests: plant_abandoned_requests,
    WasteKind.embedding_optimization: plant_embedding_optimization,
    WasteKind.batch_api: plant_batch_api,
    WasteKind.cost_per_outcome: plant_cost_per_outcome,
}

__all__ = ["CATEGORY", "NOT_PLANTED", "PLANTERS", "PlantContext", "Planted", "Planter", "WasteKind"]
