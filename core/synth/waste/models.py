"""Waste that a different model, provider or price tier removes; the tokens stay the same.

Each planter's savings formula is its docstring's first line.
"""

from __future__ import annotations

from typing import Any

from core.synth.manifest import SavingsBasis, token_row
from core.synth.profiles import FeatureProfile, Rhythm, Tokens
from core.synth.waste.base import PlantContext, Planted, WasteKind, billed, median


def _swap(
    ctx: PlantContext,
    kind: WasteKind,
    profile: FeatureProfile,
    *,
    title: str,
    formula: str,
    details: dict[str, Any],
    **changes: Any,
) -> Planted:
    """The feature's billed calls are all wasteful; the fix changes only pricing fields (`changes`)."""
    events = ctx.traffic.calls(profile)
    paid = billed(events)
    savings = SavingsBasis.of(formula, paid, token_row, **changes)
    details = {
        **details,
        "task_type": profile.task_type,
        "task_category": profile.category,
        "median_input_tokens": median([e.input_tokens for e in paid]),
        "median_output_tokens": median([e.output_tokens for e in paid]),
    }
    return ctx.item(kind, profile=profile, title=title, events=events, affected=paid, savings=savings, details=details)


def plant_model_downgrade(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e on the target model): a simple classification on a mid-tier model."""
    profile = FeatureProfile(
        "lead-scoring", "sales", "crm", "classification", "anthropic", "claude-sonnet-4-6",
        daily_rate=260, input=Tokens(2_800, 0.5, 300, 12_000), output=Tokens(12, 0.3, 2, 40),
        system_prompt_tokens=650, rhythm=Rhythm.service, max_tokens=64, users=None,
    )  # fmt: skip
    target = "claude-haiku-4-5"
    return _swap(
        ctx,
        WasteKind.model_downgrade,
        profile,
        title="Lead classification (a budget-tier task) runs on claude-sonnet-4-6; claude-haiku-4-5 suffices",
        formula=plant_model_downgrade.__doc__ or "",
        details={"target_model": target, "target_provider": "anthropic"},
        model=target,
    )


def plant_quality_cost_pareto(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e on the mid-tier model): a premium model writing marketing blog posts."""
    profile = FeatureProfile(
        "blog-writer", "growth", "web", "content_generation", "anthropic", "claude-opus-4-6",
        daily_rate=180, input=Tokens(900, 0.5, 100, 6_000), output=Tokens(2_200, 0.4, 200, 4_000),
        system_prompt_tokens=800, max_tokens=4_096, streaming=True,
    )  # fmt: skip
    target = "claude-sonnet-4-6"
    return _swap(
        ctx,
        WasteKind.quality_cost_pareto,
        profile,
        title="Blog drafts (content, not reasoning or coding) use premium claude-opus-4-6; claude-sonnet-4-6 "
        "is on the quality-cost frontier for content",
        formula=plant_quality_cost_pareto.__doc__ or "",
        details={
            "target_model": target,
            "target_provider": "anthropic",
            "current_tier": "premium",
            "target_tier": "mid",
        },
        model=target,
    )


def plant_provider_arbitrage(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e via the cheaper provider): the same model bought through a pricier route."""
    profile = FeatureProfile(
        "docs-localization", "support", "self-service", "translation", "azure_ai", "mistral-large-latest",
        daily_rate=200, input=Tokens(1_500, 0.5, 100, 12_000), output=Tokens(1_500, 0.5, 100, 12_000),
        system_prompt_tokens=400, rhythm=Rhythm.service, max_tokens=16_384, users=None,
    )  # fmt: skip
    return _swap(
        ctx,
        WasteKind.provider_arbitrage,
        profile,
        title="mistral-large-latest is bought through Azure AI; Mistral's own API lists the same model cheaper",
        formula=plant_provider_arbitrage.__doc__ or "",
        details={"target_provider": "mistral", "target_model": profile.model},
        provider="mistral",
    )


def plant_model_version_upgrade(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e on the successor): a legacy model whose successor is cheaper and better."""
    profile = FeatureProfile(
        "case-summaries", "support", "helpdesk", "summarization", "openai", "gpt-4-turbo",
        daily_rate=170, input=Tokens(2_500, 0.5, 300, 30_000), output=Tokens(280, 0.4, 60, 1_000),
        system_prompt_tokens=500, rhythm=Rhythm.service, max_tokens=1_024, users=None,
    )  # fmt: skip
    target = "gpt-4.1"
    return _swap(
        ctx,
        WasteKind.model_version_upgrade,
        profile,
        title="Case summaries still call legacy gpt-4-turbo; its successor gpt-4.1 is cheaper",
        formula=plant_model_version_upgrade.__doc__ or "",
        details={"target_model": target, "target_provider": "openai", "legacy_model": profile.model},
        model=target,
    )


def plant_embedding_optimization(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e on the small embedding model): 3072-dim large embeddings where small suffices."""
    profile = FeatureProfile(
        "semantic-search-index", "data", "knowledge", "information_lookup", "openai", "text-embedding-3-large",
        daily_rate=200, input=Tokens(80_000, 0.7, 500, 250_000), output=Tokens(0, 0.0, 0, 0),
        endpoint="embeddings", rhythm=Rhythm.service, users=None, embedding_dimensions=3_072, error_rate=0.003,
    )  # fmt: skip
    target = "text-embedding-3-small"
    return _swap(
        ctx,
        WasteKind.embedding_optimization,
        profile,
        title="The search index embeds with text-embedding-3-large; text-embedding-3-small (already used by "
        "doc-indexer) suffices",
        formula=plant_embedding_optimization.__doc__ or "",
        details={"target_model": target, "target_provider": "openai", "dimensions": 3_072, "target_dimensions": 1_536},
        model=target,
        embedding_dimensions=1_536,
    )


def plant_batch_api(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e with batch=True): a nightly, non-interactive job not using the batch API."""
    profile = FeatureProfile(
        "nightly-report", "finance", "reporting", "summarization", "openai", "gpt-4.1",
        daily_rate=200, input=Tokens(5_000, 0.5, 300, 30_000), output=Tokens(600, 0.4, 80, 2_000),
        system_prompt_tokens=800, rhythm=Rhythm.nightly, max_tokens=2_048, users=None, environment="batch",
    )  # fmt: skip
    return _swap(
        ctx,
        WasteKind.batch_api,
        profile,
        title="The nightly report job (01:00-05:00, no user waiting) calls the synchronous API; the batch API "
        "halves the price",
        formula=plant_batch_api.__doc__ or "",
        details={"target_batch": True, "hours_utc": [1, 5], "environment": "batch", "interactive": False},
        batch=True,
    )
