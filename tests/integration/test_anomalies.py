"""Anomaly detection: planted anomalies found with the right drivers, a healthy org stays quiet (nothing above
info), reruns do not duplicate, and two independent scenarios (not core/synth) are explained right: a flat-rate org
whose tokens per call triple, and a runaway agent on a seasonal org with steady retry waste."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from synth_fixtures import SYNTH_END, Loaded

from core.detectors.anomaly.run import find_anomalies
from core.detectors.models import Anomaly

_RANK = {"info": 0, "warning": 1, "critical": 2}


@pytest.fixture(scope="module")
def synth_anomalies(db: Any, wasteful: Loaded) -> list[dict[str, Any]]:
    return find_anomalies(db, org_id=wasteful.org_id, as_of=SYNTH_END)


def _overlaps(anomaly: dict[str, Any], start: datetime, end: datetime) -> bool:
    a_start = datetime.fromisoformat(anomaly["window"]["start"].replace("Z", "+00:00"))
    a_end = datetime.fromisoformat(anomaly["window"]["end"].replace("Z", "+00:00"))
    return a_start < end and start < a_end


def _driver_values(anomaly: dict[str, Any]) -> set[tuple[str, str]]:
    return {(d["dimension"], d["value"]) for d in anomaly["drivers"]}


def _planted(loaded: Loaded, kind: str) -> Any:
    return next(item for item in loaded.org.manifest.anomalies if item.type == kind)


def test_runaway_agent_spike_found_with_its_drivers(synth_anomalies: list[dict[str, Any]], wasteful: Loaded) -> None:
    planted = _planted(wasteful, "spending_spike")
    found = [a for a in synth_anomalies if a["metric"] in ("cost", "tokens", "requests")
             and _overlaps(a, planted.window.start, planted.window.end) and a["type"] == "spending_spike"]  # fmt: skip
    assert len(found) == 1, [(a["type"], a["scope"], a["window"]) for a in synth_anomalies]  # one incident, merged
    spike = found[0]
    start = datetime.fromisoformat(spike["window"]["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(spike["window"]["end"].replace("Z", "+00:00"))
    assert abs(start - planted.window.start) <= timedelta(hours=1)
    assert abs(end - planted.window.end) <= timedelta(hours=1)
    assert all(d["unit"] == "USD" for d in spike["drivers"])
    assert _RANK[spike["severity"]] >= _RANK["warning"]
    wanted = {(d["dimension"], d["value"]) for d in planted.drivers}
    assert ("feature", "research-agent") in _driver_values(spike)
    top = spike["top_driver"]
    assert (top["dimension"], top["value"]) in wanted
    assert spike["drivers"][0]["share"] >= 0.5
    contributions = [d["contribution"] for d in spike["drivers"]]
    assert contributions == sorted(contributions, reverse=True)
    assert "explains" in spike["explanation"]


def test_level_shift_and_error_spike_found(synth_anomalies: list[dict[str, Any]], wasteful: Loaded) -> None:
    shift = _planted(wasteful, "level_shift")
    shifts = [a for a in synth_anomalies if a["detection_method"] == "change_point"
              and _overlaps(a, shift.window.start, shift.window.end)]  # fmt: skip
    assert any(("feature", "code-review") in _driver_values(a) for a in shifts), shifts
    outage = _planted(wasteful, "error_rate")
    errors = [a for a in synth_anomalies if a["metric"] == "error_rate"
              and _overlaps(a, outage.window.start, outage.window.end)]  # fmt: skip
    assert len(errors) == 1, errors
    (error,) = errors
    assert error["scope"].get("provider") == "gemini" or ("provider", "gemini") in _driver_values(error)
    # drivers within the anomaly's own scope: the other providers' errors are not named
    assert {d["value"] for d in error["drivers"] if d["dimension"] == "provider"} <= {"gemini"}
    assert all(d["unit"] == "USD" and "extra_errors" in d for d in error["drivers"])


def test_steady_waste_is_not_an_error_anomaly(synth_anomalies: list[dict[str, Any]], wasteful: Loaded) -> None:
    """The planted retry storms and rate-limit bursts run all month: the slices' own baseline, not anomalies."""
    outage = _planted(wasteful, "error_rate")
    others = [(a["severity"], a["scope"], a["window"]) for a in synth_anomalies if a["metric"] == "error_rate"
              and not _overlaps(a, outage.window.start, outage.window.end)]  # fmt: skip
    assert others == []
    assert not [a for a in synth_anomalies if a["severity"] == "critical" and a["metric"] != "cost"]


def test_rerun_does_not_duplicate(db: Any, wasteful: Loaded, synth_anomalies: list[dict[str, Any]]) -> None:
    again = find_anomalies(db, org_id=wasteful.org_id, as_of=SYNTH_END)
    assert {a["id"] for a in again} == {a["id"] for a in synth_anomalies}
    with db.session() as session:
        stored = session.scalar(select(func.count()).where(Anomaly.organization_id == wasteful.org_id))
    assert stored == len(synth_anomalies)


def test_control_org_stays_quiet(db: Any, control: Loaded) -> None:
    found = find_anomalies(db, org_id=control.org_id, as_of=SYNTH_END, store=False)
    loud = [(a["severity"], a["type"], a["scope"], a["window"], a["z_score"], a["explanation"]) for a in found
            if a["severity"] != "info"]  # fmt: skip
    assert loud == []


# --- an independent scenario: a flat-rate org, one feature's tokens per call triple for 6 hours ----------


def _flat_org(provider: str, end: datetime, rng: np.random.Generator) -> list[dict[str, Any]]:
    features = {"search": (60, 800), "chat": (40, 1500), "tagging": (90, 300)}  # calls per hour, input tokens
    spike_start = end - timedelta(hours=20)
    events = []
    for hour in range(21 * 24):
        at = end - timedelta(days=21) + timedelta(hours=hour)
        for feature, (rate, tokens) in features.items():
            size = tokens * (3 if feature == "chat" and spike_start <= at < spike_start + timedelta(hours=6) else 1)
            for i in range(int(rng.poisson(rate))):
                events.append({
                    "request_id": f"{feature}-{hour}-{i}", "timestamp": (at + timedelta(seconds=i * 7)).isoformat(),
                    "provider": provider, "model": f"m-{feature}", "input_tokens": int(size * rng.uniform(0.8, 1.2)),
                    "output_tokens": 100, "feature": feature, "team": f"team-{feature}", "user_id": f"u{i % 5}",
                    "latency_ms": float(rng.uniform(300, 500)),
                })  # fmt: skip
    return events


def test_flat_org_tokens_per_call_tripling(db: Any, org: Any, load_jsonl: Any, set_price: Callable[..., int]) -> None:
    provider = f"flat-{uuid.uuid4().hex[:8]}"
    for feature in ("search", "chat", "tagging"):
        set_price(provider, f"m-{feature}", {"input": "2", "output": "8"})
    end = datetime(2026, 9, 10, 12, tzinfo=UTC)
    load_jsonl(org.id, _flat_org(provider, end, np.random.default_rng(11)))
    found = find_anomalies(db, org_id=org.id, as_of=end, window_days=14)
    loud = [a for a in found if a["severity"] != "info"]
    assert len(loud) == 1, [(a["severity"], a["scope"], a["window"], a["metric"]) for a in found]
    (spike,) = loud
    assert (spike["top_driver"]["dimension"], spike["top_driver"]["value"]) in {("feature", "chat"),
                                                                                ("model", "m-chat"),
                                                                                ("team", "team-chat")}  # fmt: skip
    assert spike["drivers"][0]["value"] in ("chat", "m-chat", "team-chat")
    assert "tokens per call" in spike["explanation"]
    assert _overlaps(spike, end - timedelta(hours=20), end - timedelta(hours=14))


# --- an independent scenario: a seasonal org with steady retry waste; one user's agent loops for 4 hours -----

_FEATURES = {"assist": (14, 1200, "m-big"), "summarize": (10, 3000, "m-big"), "classify": (18, 400, "m-small")}
_USERS = [f"user-{i}" for i in range(12)]


def _call(rng: np.random.Generator, provider: str, at: datetime, rid: str, feature: str, user: str,
          **extra: Any) -> dict[str, Any]:  # fmt: skip
    _, tokens, model = _FEATURES[feature]
    return {"request_id": rid, "timestamp": at.isoformat(), "provider": provider, "model": model,
            "input_tokens": int(tokens * rng.uniform(0.7, 1.3)), "output_tokens": int(rng.uniform(80, 300)),
            "feature": feature, "team": f"team-{feature}", "user_id": user, "latency_ms": float(rng.uniform(400, 900)),
            **extra}  # fmt: skip


def _seasonal_org(provider: str, end: datetime, spike: tuple[datetime, datetime], rng: np.random.Generator
                  ) -> list[dict[str, Any]]:  # fmt: skip
    """21 days: office-hours seasonality, a weekend dip; `classify` retries rate-limited calls all the time (a
    storm of 3-6 failed attempts in ~15% of hours); user-3's `assist` agent makes 20x its calls during `spike`."""
    events: list[dict[str, Any]] = []
    start = end - timedelta(days=21)
    for hour in range(21 * 24):
        at = start + timedelta(hours=hour)
        season = (0.3 + 0.7 * np.exp(-(((at.hour - 14) / 4.0) ** 2))) * (0.5 if at.weekday() >= 5 else 1.0)
        for feature, (rate, _, _) in _FEATURES.items():
            for i in range(int(rng.poisson(rate * season))):
                user = _USERS[int(rng.integers(len(_USERS)))]
                events.append(_call(rng, provider, at + timedelta(seconds=int(rng.uniform(0, 3500))),
                                    f"{feature}-{hour}-{i}", feature, user))  # fmt: skip
        if rng.uniform() < 0.15:  # a retry storm: rate-limited attempts of one trace, then a success
            attempts = int(rng.integers(3, 7))
            for k in range(attempts + 1):
                failed = k < attempts
                events.append(_call(rng, provider, at + timedelta(seconds=60 + 5 * k), f"storm-{hour}-{k}", "classify",
                                    _USERS[0], attempt=k + 1, trace_id=f"storm-{hour}",
                                    status="error" if failed else "success",
                                    error_code="rate_limited" if failed else None))  # fmt: skip
        if spike[0] <= at < spike[1]:  # user-3 usually makes ~1 assist call an hour at this time; now 20x
            for i in range(int(20 * _FEATURES["assist"][0] * season / len(_USERS))):
                events.append(_call(rng, provider, at + timedelta(seconds=int(rng.uniform(0, 3500))),
                                    f"agent-{hour}-{i}", "assist", "user-3", trace_id=f"agent-{hour}"))  # fmt: skip
    return [{k: v for k, v in e.items() if v is not None} for e in events]


def test_runaway_agent_on_seasonal_org_with_steady_retry_waste(db: Any, org: Any, load_jsonl: Any,
                                                                 set_price: Callable[..., int]) -> None:  # fmt: skip
    provider = f"season-{uuid.uuid4().hex[:8]}"
    set_price(provider, "m-big", {"input": "15", "output": "75"})
    set_price(provider, "m-small", {"input": "0.2", "output": "0.8"})
    end = datetime(2026, 9, 17, 0, tzinfo=UTC)  # a Thursday
    spike = (datetime(2026, 9, 15, 11, tzinfo=UTC), datetime(2026, 9, 15, 15, tzinfo=UTC))
    load_jsonl(org.id, _seasonal_org(provider, end, spike, np.random.default_rng(5)))
    found = find_anomalies(db, org_id=org.id, as_of=end, window_days=14, store=False)
    loud = [a for a in found if a["severity"] != "info"]
    assert len(loud) == 1, [(a["severity"], a["metric"], a["scope"], a["window"]) for a in found]
    (agent,) = loud
    assert agent["type"] == "spending_spike"
    assert agent["metric"] in ("cost", "tokens", "requests")
    start = datetime.fromisoformat(agent["window"]["start"].replace("Z", "+00:00"))
    stop = datetime.fromisoformat(agent["window"]["end"].replace("Z", "+00:00"))
    assert abs(start - spike[0]) <= timedelta(hours=1)
    assert abs(stop - spike[1]) <= timedelta(hours=1)
    top = (agent["top_driver"]["dimension"], agent["top_driver"]["value"])
    assert top in {("user_id", "user-3"), ("feature", "assist")}, (agent["top_driver"], agent["drivers"])
    assert (agent["drivers"][0]["dimension"], agent["drivers"][0]["value"]) in {("user_id", "user-3"),
                                                                               ("feature", "assist")}  # fmt: skip
    assert {("user_id", "user-3"), ("feature", "assist")} <= _driver_values(agent)
    assert agent["drivers"][0]["unit"] == "USD"
    assert agent["drivers"][0]["share"] >= 0.8
    # the USD contributions are the extra spend: the top one is most of the window's extra cost
    assert (
        agent["drivers"][0]["contribution"] >= 0.8 * (agent["current_value"] - agent["expected_value"])
        if agent["metric"] == "cost"
        else agent["drivers"][0]["contribution"] > 0
    )
    assert not [a for a in found if a["metric"] == "error_rate"], "steady retry waste is not an anomaly"
