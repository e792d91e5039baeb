"""Waste in whole requests: repeats a cache would serve, duplicates, retries, timeouts, rate-limit fallbacks,
drafts nobody uses.

Each planter's savings formula is its docstring's first line.
"""

from __future__ import annotations

import numpy as np

from core.synth.manifest import SavingsBasis, token_row
from core.synth.profiles import FeatureProfile, Rhythm, Tokens
from core.synth.records import SynthEvent
from core.synth.timeline import DAY
from core.synth.waste.base import PlantContext, Planted, WasteKind, billed, is_billed, median


def _none(_: SynthEvent) -> None:
    return None


def plant_response_caching(ctx: PlantContext) -> Planted:
    """Σ price of calls repeating a prompt_hash within the cache TTL (3,600 s for summaries) of its cached call."""
    ttl = 3_600.0
    profile = FeatureProfile(
        "article-digest", "growth", "web", "summarization", "openai", "gpt-4.1",
        daily_rate=400, input=Tokens(2_800, 0.4, 500, 12_000), output=Tokens(280, 0.3, 80, 800),
        system_prompt_tokens=400, rhythm=Rhythm.service, max_tokens=1_024, users="customers",
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    articles: dict[tuple[int, int], tuple[str, int]] = {}
    cached_at: dict[str, float] = {}
    repeats: list[SynthEvent] = []
    popularity = 1.0 / np.arange(1, 31) ** 1.2
    picks = ctx.rng.choice(30, size=len(events), p=popularity / popularity.sum()).tolist()
    article_of: dict[str | None, tuple[int, int]] = {}  # a retry asks for the same article
    for event, pick in zip(events, picks, strict=True):  # readers want a summary of one of today's 30 articles
        key = article_of.setdefault(event.trace_id, (int(event.ts // DAY), pick))
        if key not in articles:
            articles[key] = (ctx.traffic.ids.hash(), int(ctx.rng.integers(1_500, 6_000)) + 400)
        event.prompt_hash, size = articles[key]
        if event.input_tokens:
            event.input_tokens = size
        if event.status != "success":
            continue
        if event.ts - cached_at.get(event.prompt_hash, -1e18) < ttl:
            repeats.append(event)
        else:
            cached_at[event.prompt_hash] = event.ts
    details = {
        "ttl_seconds": int(ttl),
        "distinct_prompts": len(articles),
        "repeat_share": round(len(repeats) / max(len(billed(events)), 1), 3),
    }
    return ctx.item(
        WasteKind.response_caching,
        profile=profile,
        events=events,
        affected=repeats,
        details=details,
        title="Readers request the same article summaries over and over; a response cache would serve most",
        savings=SavingsBasis.of(plant_response_caching.__doc__ or "", repeats, _none),
    )


def plant_deduplication(ctx: PlantContext) -> Planted:
    """Σ price of the identical copies sent within seconds of the original (double submits)."""
    profile = FeatureProfile(
        "insight-cards", "product", "insights", "pattern_recognition", "anthropic", "claude-sonnet-4-6",
        daily_rate=220, input=Tokens(4_000, 0.5, 300, 20_000), output=Tokens(380, 0.4, 60, 1_500),
        system_prompt_tokens=900, max_tokens=2_048,
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    copies: list[SynthEvent] = []
    for event in billed(events):
        if ctx.rng.random() >= 0.3:
            continue
        for _ in range(int(ctx.rng.integers(1, 3))):
            output = max(1, round(event.output_tokens * ctx.rng.uniform(0.9, 1.1)))
            trace = ctx.traffic.ids.trace_ids(1)[0]
            copies.append(
                ctx.traffic.respawn(
                    event, event.ts + float(ctx.rng.uniform(0.05, 2.5)), output_tokens=output, trace_id=trace, attempt=1
                )
            )
    details = {
        "duplicate_share": round(len(copies) / max(len(events), 1), 3),
        "max_gap_seconds": 2.5,
        "same": ["prompt_hash", "model", "user_id"],
    }
    return ctx.item(
        WasteKind.deduplication,
        profile=profile,
        events=[*events, *copies],
        affected=copies,
        details=details,
        title="The insights dashboard double-submits: identical requests in flight within 2.5 s",
        savings=SavingsBasis.of(plant_deduplication.__doc__ or "", copies, _none),
    )


def plant_retry_storm(ctx: PlantContext) -> Planted:
    """Σ price of the failed, billed attempts after the second: retrying a malformed tool call immediately."""
    profile = FeatureProfile(
        "pr-bot", "engineering", "platform", "code_generation", "anthropic", "claude-sonnet-4-6",
        daily_rate=120, input=Tokens(7_000, 0.5, 800, 40_000), output=Tokens(300, 0.5, 40, 2_000),
        system_prompt_tokens=900, max_tokens=4_096, users=None,
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    healthy = [e for e in billed(events) if e.attempt == 1]
    picks = ctx.rng.choice(len(healthy), size=min(len(healthy), ctx.per_window(22, minimum=12)), replace=False)
    storm_events: list[SynthEvent] = []
    attempts: list[int] = []
    for index in sorted(picks.tolist()):
        storm = _storm(ctx, healthy[index])  # the first attempt is the (now failing) healthy call itself
        storm_events.extend(storm)
        attempts.append(len(storm))
    wasted = [e for e in storm_events if e.status != "success" and e.attempt > 2]
    details = {
        "traces": len(picks),
        "max_attempts": max(attempts),
        "median_attempts": median(attempts),
        "error_code": "invalid_tool_call",
        "retry_delay_seconds": [0.3, 2.0],
    }
    return ctx.item(
        WasteKind.retry_storm,
        profile=profile,
        events=[*events, *(e for e in storm_events if e.attempt > 1)],
        affected=storm_events,
        title="pr-bot retries a malformed tool call immediately, up to 14 times, paying for every attempt",
        savings=SavingsBasis.of(plant_retry_storm.__doc__ or "", wasted, _none),
        details=details,
    )


def _storm(ctx: PlantContext, first: SynthEvent) -> list[SynthEvent]:
    """`first` fails; the client resends the same prompt 4-13 more times; 60% of storms end in a success."""
    n = int(ctx.rng.integers(5, 15))
    ok_at_end = ctx.rng.random() < 0.6
    out: list[SynthEvent] = []
    ts = first.ts
    for attempt in range(1, n + 1):
        output = int(max(20, round(first.output_tokens * ctx.rng.uniform(0.6, 1.3))))
        event = first if attempt == 1 else ctx.traffic.respawn(first, ts, attempt=attempt)
        event.output_tokens, event.cache_read_tokens, event.cache_write_tokens = output, 0, 0
        if attempt < n or not ok_at_end:
            ctx.traffic.as_error(event, "invalid_tool_call", billed=True)
            event.latency_ms = round(1_000 + output * 14.0, 1)
        out.append(event)
        ts += (event.latency_ms or 1_000.0) / 1_000 + float(ctx.rng.uniform(0.3, 2.0))
    return out


def plant_timeout_waste(ctx: PlantContext) -> Planted:
    """Σ price of the calls that timed out after the provider had billed them (the client threw the work away)."""
    timeout_ms = 60_000.0
    profile = FeatureProfile(
        "report-writer", "finance", "reporting", "content_generation", "openai", "gpt-5",
        daily_rate=200, input=Tokens(5_000, 0.5, 500, 40_000), output=Tokens(1_800, 0.35, 400, 6_000),
        system_prompt_tokens=900, max_tokens=32_000, reasoning_ratio=1.5,
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    timed_out: list[SynthEvent] = []
    retries: list[SynthEvent] = []
    for event in billed(events):
        if ctx.rng.random() >= 0.22:
            continue
        retries.append(ctx.traffic.respawn(event, event.ts + timeout_ms / 1_000 + 1.0, attempt=event.attempt + 1))
        ctx.traffic.as_error(event, "timeout", billed=True)
        event.latency_ms = timeout_ms
        timed_out.append(event)
    details = {
        "client_timeout_ms": int(timeout_ms),
        "timeout_share": round(len(timed_out) / max(len(events), 1), 3),
        "median_billed_output_tokens": median([e.output_tokens for e in timed_out]),
        "streaming": False,
    }
    return ctx.item(
        WasteKind.timeout_waste,
        profile=profile,
        events=[*events, *retries],
        affected=timed_out,
        details=details,
        title="report-writer's 60 s client timeout cuts off long gpt-5 generations that are billed anyway",
        savings=SavingsBasis.of(plant_timeout_waste.__doc__ or "", timed_out, _none),
    )


def plant_rate_limit(ctx: PlantContext) -> Planted:
    """Σ price(fallback on gpt-4.1) − Σ price(same call on gpt-4.1-mini): bursts hit 429s and fall back upmarket."""
    profile = FeatureProfile(
        "bulk-tagger", "data", "pipelines", "entity_extraction", "openai", "gpt-4.1-mini",
        daily_rate=0, input=Tokens(12_000, 0.4, 1_000, 60_000), output=Tokens(350, 0.4, 40, 1_200),
        system_prompt_tokens=700, max_tokens=2_048, users=None, error_rate=0.0,
    )  # fmt: skip
    events = ctx.traffic.calls(profile, times=_burst_times(ctx))
    limited = [e for e in events if ctx.rng.random() < 0.45]
    fallbacks = []
    for event in limited:
        fallbacks.append(
            ctx.traffic.respawn(event, event.ts + float(ctx.rng.uniform(0.2, 1.0)), attempt=2, model="gpt-4.1")
        )
        ctx.traffic.as_error(event, "rate_limited")
        event.latency_ms = round(float(ctx.rng.uniform(40, 150)), 1)
    details = {
        "primary_model": profile.model,
        "fallback_model": "gpt-4.1",
        "burst_size": 40,
        "rate_limited_share": 0.45,
        "bursts": "top of every second office hour, weekdays",
    }
    return ctx.item(
        WasteKind.rate_limit,
        profile=profile,
        events=[*events, *fallbacks],
        affected=[*limited, *fallbacks],
        title="bulk-tagger fires 40 requests at once; 45% are rate-limited and fall back to pricier gpt-4.1",
        savings=SavingsBasis.of(plant_rate_limit.__doc__ or "", fallbacks, token_row, model=profile.model),
        details=details,
    )


def _burst_times(ctx: PlantContext) -> np.ndarray:
    """40 (scaled) arrivals within 20 s at 09:00, 11:00 … 17:00 on weekdays."""
    size = max(3, round(40 * ctx.traffic.scale))
    starts = [
        ctx.window.at(day, hour)
        for day in range(int(np.ceil(ctx.window.days)) + 1)
        for hour in (9, 11, 13, 15, 17)
        if (ctx.window.start.weekday() + day) % 7 < 5
    ]
    inside = sorted({s for s in starts if ctx.window.t0 <= s < ctx.window.t1 - 60})
    return np.sort(np.concatenate([s + ctx.rng.uniform(0, 20, size=size) for s in inside] or [np.empty(0)]))


def plant_cost_per_outcome(ctx: PlantContext) -> Planted:
    """Σ price of the drafts marked metadata.outcome = "discarded": four drafts per lead, one is sent."""
    variants = 4
    profile = FeatureProfile(
        "sdr-email-writer", "sales", "crm", "copywriting", "anthropic", "claude-sonnet-4-6",
        daily_rate=60 * variants, input=Tokens(1_800, 0.5, 200, 8_000), output=Tokens(380, 0.3, 80, 1_000),
        system_prompt_tokens=700, max_tokens=1_024, steps=(variants, variants), error_rate=0.0,
    )  # fmt: skip
    events = ctx.traffic.calls(profile)
    by_trace: dict[str | None, list[SynthEvent]] = {}
    for event in events:
        by_trace.setdefault(event.trace_id, []).append(event)
    discarded: list[SynthEvent] = []
    for drafts in by_trace.values():
        sent = int(ctx.rng.integers(0, len(drafts))) if ctx.rng.random() < 0.8 else -1
        for i, draft in enumerate(drafts):
            draft.metadata = {"variant": i + 1, "outcome": "sent" if i == sent else "discarded"}
            if i != sent and is_billed(draft):
                discarded.append(draft)
    details = {
        "variants_per_lead": variants,
        "outcome_field": "metadata.outcome",
        "leads": len(by_trace),
        "sent": sum(1 for d in events if (d.metadata or {}).get("outcome") == "sent"),
    }
    return ctx.item(
        WasteKind.cost_per_outcome,
        profile=profile,
        events=events,
        affected=discarded,
        details=details,
        title="sdr-email-writer drafts four emails per lead and sends at most one: cost per sent email is 4x+",
        savings=SavingsBasis.of(plant_cost_per_outcome.__doc__ or "", discarded, _none),
    )
