"""Waste in the token counts of otherwise sensible calls: too much output, uncached or bloated prompts,
output nobody reads.

Each planter's savings formula is its docstring's first line.
"""

from __future__ import annotations

from dataclasses import replace

from core.synth.calls import apply_caching
from core.synth.manifest import SavingsBasis, TokenRow, token_row
from core.synth.profiles import Caching, FeatureProfile, Rhythm, Tokens
from core.synth.records import SynthEvent
from core.synth.waste.base import PlantContext, Planted, WasteKind, billed, median


def plant_output_length(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e with output capped at what the task needs): rambling, max_tokens-hitting output."""
    needed = 220
    profile = FeatureProfile(
        "product-descriptions", "growth", "web", "expansion", "openai", "gpt-4.1",
        daily_rate=200, input=Tokens(160, 0.4, 30, 800), output=Tokens(1_800, 0.4, 400, 6_000),
        system_prompt_tokens=140, rhythm=Rhythm.service, max_tokens=2_048, users=None,
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    paid = billed(events)
    wasteful = [e for e in paid if e.output_tokens > needed]

    def capped(e: SynthEvent) -> TokenRow:
        return (e.input_tokens, needed, e.cache_read_tokens, e.cache_write_tokens, 0)

    details = {
        "needed_output_tokens": needed,
        "median_output_tokens": median([e.output_tokens for e in paid]),
        "median_input_tokens": median([e.input_tokens for e in paid]),
        "max_tokens": profile.max_tokens,
        "length_finish_share": round(sum(e.finish_reason == "length" for e in paid) / max(len(paid), 1), 3),
        "task_type": profile.task_type,
    }
    return ctx.item(
        WasteKind.output_length,
        profile=profile,
        events=events,
        affected=wasteful,
        details=details,
        title="Product descriptions run to ~1,800 tokens (a third hit max_tokens) where ~220 are needed",
        savings=SavingsBasis.of(plant_output_length.__doc__ or "", wasteful, capped),
    )


def plant_prompt_caching(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e with cache reads, a 1.25x write after 5 idle minutes): a 14k system prompt resent."""
    profile = FeatureProfile(
        "policy-assistant", "support", "helpdesk", "customer_support", "anthropic", "claude-sonnet-4-6",
        daily_rate=420, input=Tokens(350, 0.5, 20, 3_000), output=Tokens(260, 0.5, 40, 1_200),
        system_prompt_tokens=14_000, streaming=True, max_tokens=1_024, steps=(2, 9), step_growth=450,
        step_pause=(15.0, 150.0),
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    paid = [e for e in billed(events) if e.cache_read_tokens == 0]
    cached = {e.request_id: replace(e) for e in paid}
    apply_caching(list(cached.values()), Caching.explicit)
    details = {
        "system_prompt_tokens": profile.system_prompt_tokens,
        "system_prompt_hash": ctx.traffic.system_prompt_hash(profile.feature),
        "cache_ttl_seconds": 300,
        "cache_read_tokens": 0,
        "cacheable_share": round(sum(c.cache_read_tokens > 0 for c in cached.values()) / max(len(paid), 1), 3),
    }
    return ctx.item(
        WasteKind.prompt_caching,
        profile=profile,
        events=events,
        affected=paid,
        details=details,
        title="A 14,000-token system prompt is resent on every policy-assistant call without prompt caching",
        savings=SavingsBasis.of(plant_prompt_caching.__doc__ or "", paid, lambda e: token_row(cached[e.request_id])),
    )


def plant_prompt_compression(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e with the prompt cut to its relevant 30%): whole contracts sent for short answers."""
    keep = 0.3
    profile = FeatureProfile(
        "contract-review", "legal", "contracts", "data_extraction", "openai", "gpt-4.1",
        daily_rate=70, input=Tokens(55_000, 0.4, 20_000, 150_000), output=Tokens(90, 0.5, 10, 400),
        system_prompt_tokens=600, max_tokens=1_024,
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    paid = billed(events)

    def compressed(e: SynthEvent) -> TokenRow:
        return (round(e.input_tokens * keep), e.output_tokens, 0, 0, e.reasoning_tokens)

    details = {
        "kept_share": keep,
        "median_input_tokens": median([e.input_tokens for e in paid]),
        "median_output_tokens": median([e.output_tokens for e in paid]),
        "task_type": profile.task_type,
    }
    return ctx.item(
        WasteKind.prompt_compression,
        profile=profile,
        events=events,
        affected=paid,
        details=details,
        title="Contract review sends whole contracts (~55k tokens) to extract a ~90-token answer",
        savings=SavingsBasis.of(plant_prompt_compression.__doc__ or "", paid, compressed),
    )


def plant_abandoned_requests(ctx: PlantContext) -> Planted:
    """Σ price(e) − Σ price(e with only the output streamed before the user left): cancelled streams billed in full."""
    profile = FeatureProfile(
        "writing-assistant", "growth", "web", "content_generation", "anthropic", "claude-sonnet-4-6",
        daily_rate=250, input=Tokens(700, 0.5, 50, 6_000), output=Tokens(1_600, 0.5, 150, 4_000),
        system_prompt_tokens=500, streaming=True, max_tokens=4_096,
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    abandoned = [e for e in billed(events) if e.status == "success" and ctx.rng.random() < 0.28]
    shown: dict[str, int] = {}
    for event in abandoned:
        shown[event.request_id] = min(event.output_tokens, int(ctx.rng.integers(20, 120)))
        event.status, event.finish_reason = "cancelled", None
        event.latency_ms = round((event.ttft_ms or 400.0) + shown[event.request_id] * 11.0, 1)

    def seen(e: SynthEvent) -> TokenRow:
        return (e.input_tokens, shown[e.request_id], e.cache_read_tokens, e.cache_write_tokens, 0)

    details = {
        "cancelled_share": round(len(abandoned) / max(len(billed(events)), 1), 3),
        "median_billed_output_tokens": median([e.output_tokens for e in abandoned]),
        "median_streamed_before_cancel": median(list(shown.values())),
    }
    return ctx.item(
        WasteKind.abandoned_requests,
        profile=profile,
        events=events,
        affected=abandoned,
        details=details,
        title="28% of writing-assistant streams are cancelled by the user but keep generating (and billing)",
        savings=SavingsBasis.of(plant_abandoned_requests.__doc__ or "", abandoned, seen),
    )
