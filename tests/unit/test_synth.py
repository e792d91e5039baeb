"""core.synth: deterministic synthetic orgs whose planted waste and anomalies are really in the events."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInput, NotFound
from core.synth import (
    CATEGORY,
    NOT_PLANTED,
    Manifest,
    SyntheticOrg,
    WasteItem,
    WasteKind,
    expected_savings,
    generate_org,
    write_jsonl,
)
from core.synth.records import SynthEvent
from core.usage.events import canonical_tokens, decode_json, from_dict

END = datetime(2026, 11, 23, tzinfo=UTC)
SCALE = 0.05

# CONTRACT section 6: recommendation type -> category.
CONTRACT_TYPES = {
    "model_downgrade": "task_aware_routing",
    "quality_cost_pareto": "quality_cost_pareto",
    "provider_arbitrage": "provider_arbitrage",
    "model_version_upgrade": "model_version_optimization",
    "output_length": "io_ratio_optimization",
    "prompt_caching": "context_window_efficiency",
    "prompt_compression": "prompt_compression",
    "output_format": "output_format_optimization",
    "response_caching": "semantic_caching",
    "partial_caching": "partial_response_caching",
    "deduplication": "request_deduplication",
    "retry_storm": "retry_storm_detection",
    "timeout_waste": "timeout_cost_analysis",
    "rate_limit": "rate_limit_optimization",
    "abandoned_requests": "abandoned_request_detection",
    "embedding_optimization": "embedding_optimization",
    "batch_api": "time_based_optimization",
    "cost_per_outcome": "business_outcome_attribution",
}

# $ per 1M tokens: input, output, cache read, cache write (a simple stand-in for the price catalogue).
FAKE_PRICES: dict[tuple[str, str], tuple[float, float, float, float]] = {
    ("anthropic", "claude-sonnet-4-6"): (3.0, 15.0, 0.3, 3.75),
    ("anthropic", "claude-haiku-4-5"): (1.0, 5.0, 0.1, 1.25),
    ("anthropic", "claude-opus-4-6"): (5.0, 25.0, 0.5, 6.25),
    ("openai", "gpt-4.1"): (2.0, 8.0, 0.5, 2.0),
    ("openai", "gpt-4.1-mini"): (0.4, 1.6, 0.1, 0.4),
    ("openai", "gpt-4-turbo"): (10.0, 30.0, 10.0, 10.0),
    ("openai", "gpt-5"): (1.25, 10.0, 0.125, 1.25),
    ("openai", "text-embedding-3-large"): (0.13, 0.0, 0.13, 0.13),
    ("openai", "text-embedding-3-small"): (0.02, 0.0, 0.02, 0.02),
    ("azure_ai", "mistral-large-latest"): (2.0, 6.0, 2.0, 2.0),
    ("mistral", "mistral-large-latest"): (0.5, 1.5, 0.05, 0.5),
}


def fake_price(event: dict[str, Any]) -> Decimal | None:
    rates = FAKE_PRICES.get((event["provider"], event["model"]))
    if rates is None:
        return None
    rate_in, rate_out, rate_read, rate_write = rates
    read, write = event.get("cache_read_tokens", 0), event.get("cache_write_tokens", 0)
    fresh = event["input_tokens"] - read - write
    cost = (fresh * rate_in + read * rate_read + write * rate_write + event["output_tokens"] * rate_out) / 1e6
    return Decimal(repr(cost / 2 if event.get("batch") else cost))


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(seed=11, end=END, scale=SCALE)


@pytest.fixture(scope="module")
def control() -> SyntheticOrg:
    return generate_org(seed=11, end=END, scale=SCALE, healthy=True)


@pytest.fixture(scope="module")
def by_id(org: SyntheticOrg) -> dict[str, SynthEvent]:
    return {e.request_id: e for e in org.events.records}


def affected(org: SyntheticOrg, by_id: dict[str, SynthEvent], kind: str) -> list[SynthEvent]:
    events = [by_id[rid] for rid in org.manifest.waste_item(kind).affected_request_ids]
    assert len(events) >= 10, f"{kind}: too few affected events to show a pattern"
    return events


# --- determinism and schema ---------------------------------------------------------------------------


def test_same_seed_gives_identical_events_and_manifest(org: SyntheticOrg) -> None:
    again = generate_org(seed=11, end=END, scale=SCALE)
    assert list(again.events) == list(org.events)
    assert again.manifest.to_json() == org.manifest.to_json()


def test_another_seed_gives_other_events(org: SyntheticOrg) -> None:
    other = generate_org(seed=12, end=END, scale=SCALE)
    assert {e.request_id for e in other.events.records}.isdisjoint(e.request_id for e in org.events.records)


def test_waste_kinds_do_not_disturb_each_other_or_the_baseline() -> None:
    one = generate_org(seed=3, end=END, scale=SCALE, waste=["prompt_caching"], anomalies=False)
    two = generate_org(seed=3, end=END, scale=SCALE, waste=["prompt_caching", "retry_storm"], anomalies=False)
    ids_one = {e.request_id for e in one.events.records}
    assert ids_one <= {e.request_id for e in two.events.records}
    assert [i.kind for i in two.manifest.waste] == ["prompt_caching", "retry_storm"]
    assert one.manifest.waste[0].to_dict() == two.manifest.waste[0].to_dict()


def test_every_event_validates_and_request_ids_are_unique(org: SyntheticOrg) -> None:
    ids = set()
    for event in org.events:
        canonical_tokens(from_dict(event))  # the ingest path: schema, then the cross-field token rules
        ids.add(event["request_id"])
    assert len(ids) == len(org.events) == org.manifest.totals["events"]


def test_events_are_sorted_inside_the_window(org: SyntheticOrg) -> None:
    stamps = [e.ts for e in org.events.records]
    assert stamps == sorted(stamps)
    assert END.timestamp() - 30 * 86_400 <= stamps[0]
    assert stamps[-1] < END.timestamp()


def test_base_traffic_is_varied(control: SyntheticOrg) -> None:
    events = list(control.events)
    assert len({(e["provider"], e["model"]) for e in events}) >= 10
    assert len({e["team"] for e in events}) >= 5
    assert len({e["feature"] for e in events}) >= 15
    assert {"production", "staging", "batch"} <= {e["environment"] for e in events}
    assert any(e.get("cache_read_tokens") for e in events)
    assert any(e.get("reasoning_tokens") for e in events)
    errors = sum(e["status"] in ("error", "timeout") for e in events) / len(events)
    assert 0.003 < errors < 0.015
    users = Counter(e["user_id"] for e in events if e["team"] == "engineering" and "user_id" in e)
    heaviest, median_user = users.most_common()[0][1], sorted(users.values())[len(users) // 2]
    assert heaviest > 5 * median_user  # a few heavy users, a long tail


def test_volume_scales_linearly() -> None:
    small = generate_org(seed=5, end=END, days=7, scale=0.05, healthy=True)
    double = generate_org(seed=5, end=END, days=7, scale=0.1, healthy=True)
    assert 1.7 < len(double.events) / len(small.events) < 2.3


# --- seasonality ----------------------------------------------------------------------------------------


def test_daytime_busier_than_night_and_weekdays_busier_than_weekends(control: SyntheticOrg) -> None:
    by_hour: Counter[int] = Counter()
    by_day: dict[bool, Counter[str]] = defaultdict(Counter)
    for event in control.events.records:
        moment = event.timestamp
        by_hour[moment.hour] += 1
        by_day[moment.weekday() >= 5][moment.date().isoformat()] += 1
    day = sum(by_hour[h] for h in range(9, 18)) / 9
    night = sum(by_hour[h] for h in range(0, 6)) / 6
    assert day > 2 * night
    weekday = sum(by_day[False].values()) / len(by_day[False])
    weekend = sum(by_day[True].values()) / len(by_day[True])
    assert weekday > 1.5 * weekend


# --- the manifest -----------------------------------------------------------------------------------------


def test_every_waste_kind_is_planted_with_its_contract_category(org: SyntheticOrg) -> None:
    assert CATEGORY == CONTRACT_TYPES
    assert {w.value for w in WasteKind} | set(NOT_PLANTED) == set(CONTRACT_TYPES)
    kinds = [item.kind for item in org.manifest.waste]
    assert sorted(kinds) == sorted(w.value for w in WasteKind)
    for item in org.manifest.waste:
        assert item.category == CONTRACT_TYPES[item.kind]
        assert {"team", "feature", "model", "provider"} <= set(item.scope)
        assert item.affected_requests > 0
        assert item.savings.lines
        assert item.savings.formula
        assert item.window.start == END - timedelta(days=30)
        assert item.window.end == END
    assert org.manifest.totals["waste_events"].keys() == set(kinds)


def test_affected_events_belong_to_the_scope(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    for item in org.manifest.waste:
        for event in (by_id[rid] for rid in item.affected_request_ids):
            assert event.feature == item.scope["feature"]
            assert event.team == item.scope["team"]


def test_manifest_round_trips_through_json(org: SyntheticOrg) -> None:
    text = org.manifest.to_json()
    again = Manifest.from_json(text)
    assert again.to_json() == text
    data = json.loads(text)
    assert data["anomalies"][0]["expected_top_driver"] == {"dimension": "feature", "value": "research-agent"}


def test_healthy_org_plants_nothing(control: SyntheticOrg) -> None:
    assert control.manifest.items == []
    assert control.manifest.totals["waste_events"] == {}
    assert control.manifest.totals["anomaly_events"] == 0
    assert control.slug.endswith("-control")


# --- each planted pattern is really in the events -----------------------------------------------------------


def test_model_swaps(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    downgrade = affected(org, by_id, "model_downgrade")
    assert {(e.model, e.task_type) for e in downgrade} == {("claude-sonnet-4-6", "classification")}
    assert sorted(e.input_tokens for e in downgrade)[len(downgrade) // 2] < 4_000
    assert all(e.output_tokens < 50 for e in downgrade)
    pareto = affected(org, by_id, "quality_cost_pareto")
    assert {e.model for e in pareto} == {"claude-opus-4-6"}
    assert {e.task_type for e in pareto} == {"content_generation"}
    arbitrage = affected(org, by_id, "provider_arbitrage")
    target = org.manifest.waste_item("provider_arbitrage").savings.counterfactual_template
    assert {(e.provider, e.model) for e in arbitrage} == {("azure_ai", "mistral-large-latest")}
    assert (target["provider"], target["model"]) == ("mistral", "mistral-large-latest")
    assert {e.model for e in affected(org, by_id, "model_version_upgrade")} == {"gpt-4-turbo"}
    embeddings = affected(org, by_id, "embedding_optimization")
    assert {(e.endpoint, e.model, e.embedding_dimensions) for e in embeddings} == {
        ("embeddings", "text-embedding-3-large", 3_072)
    }


def test_output_length(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "output_length")
    needed = org.manifest.waste_item("output_length").details["needed_output_tokens"]
    assert all(e.output_tokens > needed for e in events)
    assert sum(e.finish_reason == "length" for e in events) > 0.2 * len(events)
    assert sum(e.output_tokens > 5 * e.input_tokens for e in events) > 0.5 * len(events)


def test_prompt_caching(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "prompt_caching")
    assert len({e.system_prompt_hash for e in events}) == 1
    assert all(e.system_prompt_tokens and e.system_prompt_tokens >= 10_000 for e in events)
    assert all(e.cache_read_tokens == 0 and e.cache_write_tokens == 0 for e in events)
    assert {e.provider for e in events} == {"anthropic"}


def test_prompt_compression(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "prompt_compression")
    assert all(e.input_tokens > 20_000 and e.output_tokens < 0.02 * e.input_tokens for e in events)


def test_response_caching_repeats_within_ttl(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "response_caching")
    ttl = org.manifest.waste_item("response_caching").details["ttl_seconds"]
    feature = [e for e in org.events.records if e.feature == "article-digest" and e.status == "success"]
    first_seen: dict[str | None, float] = {}
    for event in feature:
        first_seen.setdefault(event.prompt_hash, event.ts)
    assert all(e.ts - first_seen[e.prompt_hash] > 0 for e in events)
    assert all(any(0 < e.ts - o.ts < ttl and o.prompt_hash == e.prompt_hash for o in feature) for e in events[:50])


def test_deduplication_copies_are_seconds_apart(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "deduplication")
    originals = defaultdict(list)
    for event in org.events.records:
        if event.feature == "insight-cards":
            originals[event.prompt_hash].append(event)
    for copy in events:
        twins = [o for o in originals[copy.prompt_hash] if o.request_id != copy.request_id and o.ts <= copy.ts]
        assert twins
        assert copy.ts - min(t.ts for t in twins) <= 5.0
        assert all(t.model == copy.model and t.user_id == copy.user_id for t in twins)


def test_retry_storm_traces_have_many_failed_billed_attempts(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    traces = defaultdict(list)
    for event in affected(org, by_id, "retry_storm"):
        traces[event.trace_id].append(event)
    assert len(traces) >= 10
    for attempts in traces.values():
        failed = [e for e in attempts if e.status in ("error", "timeout") and e.input_tokens > 0]
        assert len(failed) >= 4
        assert sorted(e.attempt for e in attempts) == list(range(1, len(attempts) + 1))
        assert len({e.prompt_hash for e in attempts}) == 1


def test_timeouts_billed(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "timeout_waste")
    assert all(e.status == "timeout" and e.input_tokens > 0 and e.output_tokens > 0 for e in events)


def test_rate_limit_bursts_fall_back_to_a_pricier_model(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "rate_limit")
    limited = [e for e in events if e.error_code == "rate_limited"]
    fallbacks = [e for e in events if e.status == "success"]
    assert limited
    assert len(fallbacks) == len(limited)
    assert {e.model for e in fallbacks} == {"gpt-4.1"}
    assert {e.model for e in limited} == {"gpt-4.1-mini"}
    assert {e.trace_id for e in fallbacks} == {e.trace_id for e in limited}
    for event in limited:  # bursts: within 20 s of 09:00, 11:00 … 17:00 on weekdays
        moment = event.timestamp
        assert moment.weekday() < 5
        assert moment.hour in (9, 11, 13, 15, 17)
        assert moment.minute == 0
        assert moment.second < 21


def test_abandoned_streams_billed_output(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "abandoned_requests")
    assert all(e.status == "cancelled" and e.streaming and e.output_tokens >= 150 for e in events)


def test_batch_api_candidates_are_nightly_and_unbatched(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "batch_api")
    assert all(not e.batch and e.environment == "batch" and e.user_id is None for e in events)
    assert all(1 <= e.timestamp.hour < 5 for e in events)


def test_cost_per_outcome(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    events = affected(org, by_id, "cost_per_outcome")
    assert all(e.metadata and e.metadata["outcome"] == "discarded" for e in events)


# --- anomalies ---------------------------------------------------------------------------------------------


def test_anomalies_are_in_the_events(org: SyntheticOrg, by_id: dict[str, SynthEvent]) -> None:
    spike, shift, outage = org.manifest.anomalies
    assert (spike.type, shift.type, outage.type) == ("spending_spike", "level_shift", "error_rate")
    runaway = [by_id[rid] for rid in spike.affected_request_ids]
    user = next(d["value"] for d in spike.drivers if d["dimension"] == "user_id")
    assert runaway
    assert all(e.user_id == user and e.feature == "research-agent" for e in runaway)
    assert all(spike.window.start <= e.timestamp <= spike.window.end for e in runaway)
    assert spike.details["feature_token_factor"] > 5

    reviews = [e for e in org.events.records if e.feature == "code-review"]
    start = shift.window.start.timestamp()
    before = sum(e.ts < start for e in reviews) / ((start - reviews[0].ts) / 86_400)
    after = sum(e.ts >= start for e in reviews) / ((END.timestamp() - start) / 86_400)
    assert after > 2 * before

    failed = [by_id[rid] for rid in outage.affected_request_ids]
    assert failed
    assert all(e.provider == "gemini" and e.status == "error" for e in failed)
    assert outage.details["error_rate"] > 0.15


def test_anomalies_can_be_switched_off() -> None:
    quiet = generate_org(seed=11, end=END, scale=SCALE, waste=[], anomalies=False)
    assert quiet.manifest.items == []


# --- the healthy control looks healthy ----------------------------------------------------------------------


def test_healthy_baseline_shows_no_waste_patterns(control: SyntheticOrg) -> None:
    events = control.events.records
    assert max(e.attempt for e in events) <= 2
    assert not [e for e in events if e.status != "success" and e.status != "cancelled" and e.input_tokens]
    assert max(e.output_tokens for e in events if e.status == "cancelled") < 100
    assert sum(e.finish_reason == "length" for e in events) < 0.005 * len(events)
    first_attempts = Counter(e.prompt_hash for e in events if e.attempt == 1)
    assert first_attempts.most_common(1)[0][1] == 1
    assert all(e.batch for e in events if e.environment == "batch")
    assert {e.model for e in events}.isdisjoint({"gpt-4-turbo", "gpt-4", "text-embedding-3-large"})
    big_prompts = [e for e in events if (e.system_prompt_tokens or 0) >= 1_024 and e.status == "success"]
    by_feature: dict[str | None, list[SynthEvent]] = defaultdict(list)
    for event in big_prompts:
        by_feature[event.feature].append(event)
    for feature, calls in by_feature.items():
        assert any(e.cache_read_tokens or e.cache_write_tokens for e in calls), feature


# --- savings ground truth -----------------------------------------------------------------------------------


def test_expected_savings_are_positive_and_below_the_affected_spend(org: SyntheticOrg) -> None:
    for item in org.manifest.waste:
        assert Decimal(0) < expected_savings(item, fake_price) <= _monthly_billed(item), item.kind


def test_expected_savings_match_the_formulas(org: SyntheticOrg) -> None:
    downgrade = org.manifest.waste_item("model_downgrade")  # sonnet -> haiku: a third of the price
    assert abs(expected_savings(downgrade, fake_price) - _monthly_billed(downgrade) * 2 / 3) < Decimal("0.001")

    batch = org.manifest.waste_item("batch_api")  # the batch API halves the price
    assert abs(expected_savings(batch, fake_price) - _monthly_billed(batch) / 2) < Decimal("0.001")

    storm = org.manifest.waste_item("retry_storm")  # the wasted attempts are not needed at all
    assert all(line.counterfactual is None for line in storm.savings.lines)
    assert expected_savings(storm, fake_price) == _monthly_billed(storm)

    caching = org.manifest.waste_item("prompt_caching")  # reads 90% off, the first call after 5 idle min 25% dearer
    share = expected_savings(caching, fake_price) / _monthly_billed(caching)
    assert Decimal("0.4") < share < Decimal("0.9")


def _monthly_billed(item: WasteItem) -> Decimal:
    keys = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
    total = Decimal(0)
    for line in item.savings.lines:
        total += fake_price({**item.savings.template, **dict(zip(keys, line.actual, strict=True))}) or Decimal(0)
    return (total * 30 / Decimal(repr(item.window.days))).quantize(Decimal("0.000001"))


def test_expected_savings_from_json_and_unpriced_models(org: SyntheticOrg) -> None:
    item = org.manifest.waste_item("model_downgrade")
    from_json = json.loads(org.manifest.to_json())["waste"][0]
    assert expected_savings(from_json, fake_price) == expected_savings(item, fake_price)
    with pytest.raises(NotFound):
        expected_savings(item, lambda event: None)


# --- files and arguments -------------------------------------------------------------------------------------


def test_write_jsonl(tmp_path: Path) -> None:
    small = generate_org(seed=2, end=END, days=2, scale=0.02)
    events_path, manifest_path = write_jsonl(small, tmp_path / "demo.jsonl")
    lines = events_path.read_text().splitlines()
    assert len(lines) == len(small.events)
    for line in lines:
        assert json.loads(line)["timestamp"].endswith("Z")
        canonical_tokens(decode_json(line))
    assert manifest_path.name == "demo.jsonl.manifest.json"
    assert Manifest.from_json(manifest_path.read_text()).to_json() == small.manifest.to_json()


def test_short_windows_still_work() -> None:
    short = generate_org(seed=4, end=END, days=3, scale=0.05)
    assert short.manifest.waste
    assert len(short.manifest.anomalies) == 3
    assert all(END - timedelta(days=3) <= e.timestamp < END for e in short.events.records)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"end": datetime(2026, 11, 23)},  # naive
        {"end": END, "days": 0},
        {"end": END, "scale": 0},
        {"end": END, "waste": ["output_format"]},  # not plantable
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        generate_org(seed=1, **kwargs)
