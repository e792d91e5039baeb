"""Planted anomalies: a runaway agent, a team's level shift and a provider's error-rate spike.

The level shift and the error spike change baseline traffic (as `Modifier`s the baseline generator applies);
the runaway agent adds its own calls. Each comes with the drivers a good explanation should name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.synth.calls import Traffic
from core.synth.manifest import AnomalyItem
from core.synth.profiles import BASELINE, FeatureProfile, Tokens
from core.synth.records import SynthEvent, to_datetime
from core.synth.timeline import HOUR, Modifier, Window

SHIFT_FEATURE = "code-review"  # engineering onboards its monorepo: code reviews x3 from a day on
SHIFT_FACTOR = 3.0
OUTAGE_PROVIDER = "gemini"
OUTAGE_ERROR_RATE = 0.35
AGENT_FEATURE = "research-agent"


@dataclass(frozen=True)
class AnomalyPlan:
    """Where the anomalies go in this window."""

    window: Window
    shift: Modifier
    outage: Modifier
    runaway_start: float
    runaway_end: float
    runaway_user: str

    @property
    def modifiers(self) -> tuple[Modifier, ...]:
        return (self.shift, self.outage)


def _profile(feature: str) -> FeatureProfile:
    return next(p for p in BASELINE if p.feature == feature)


def plan_anomalies(window: Window, *, runaway_user: str) -> AnomalyPlan:
    """A level shift 6 days before the end, an outage 9 days before, a runaway agent 4 days before."""
    days = int(window.days)
    shift_day, outage_day, runaway_day = (window.weekday_day(max(1, days - back)) for back in (6, 9, 4))
    shift = Modifier("level_shift", window.at(shift_day), window.t1, feature=SHIFT_FEATURE, volume_factor=SHIFT_FACTOR)
    outage = Modifier(
        "error_rate",
        window.at(outage_day, 14),
        window.at(outage_day, 17),
        provider=OUTAGE_PROVIDER,
        error_rate=OUTAGE_ERROR_RATE,
        error_code="server_error",
    )
    return AnomalyPlan(window, shift, outage, window.at(runaway_day, 13), window.at(runaway_day, 18), runaway_user)


def runaway_agent(plan: AnomalyPlan, traffic: Traffic) -> list[SynthEvent]:
    """One analyst's research agent loops for five hours: long traces whose context keeps growing."""
    base = _profile(AGENT_FEATURE)
    looping = replace(
        base, input=Tokens(12_000, 0.3, 4_000, 40_000), steps=(25, 40), step_growth=1_200, environment="production"
    )
    n = max(1, round(2.5 * _hours(plan) * traffic.scale))  # a new trace every ~24 minutes, each 25-40 steps
    starts = np.linspace(plan.runaway_start, plan.runaway_end - 900, n) + traffic.rng.uniform(0, 120, size=n)
    events = [e for e in traffic.calls(looping, times=starts) if e.ts < plan.runaway_end]
    for event in events:
        event.user_id = plan.runaway_user
    return events


def _hours(plan: AnomalyPlan) -> float:
    return (plan.runaway_end - plan.runaway_start) / HOUR


def _tokens(events: Sequence[SynthEvent]) -> int:
    return sum(e.input_tokens + e.output_tokens for e in events)


def anomaly_items(
    plan: AnomalyPlan, baseline: Sequence[SynthEvent], runaway: Sequence[SynthEvent]
) -> list[AnomalyItem]:
    return [_spike_item(plan, baseline, runaway), _shift_item(plan, baseline), _outage_item(plan, baseline)]


def _spike_item(plan: AnomalyPlan, baseline: Sequence[SynthEvent], runaway: Sequence[SynthEvent]) -> AnomalyItem:
    usual_per_hour = _usual_tokens_per_hour(plan, [e for e in baseline if e.feature == AGENT_FEATURE])
    start = min((e.ts for e in runaway), default=plan.runaway_start)
    end = max((e.ts for e in runaway), default=plan.runaway_end)
    return AnomalyItem(
        type="spending_spike",
        metric="cost",
        title=f"Runaway research agent: one user's agent loops for {_hours(plan):.0f} hours",
        window=Window(to_datetime(start), to_datetime(end)),
        scope={"feature": AGENT_FEATURE},
        drivers=[
            {"dimension": "feature", "value": AGENT_FEATURE},
            {"dimension": "user_id", "value": plan.runaway_user},
            {"dimension": "model", "value": _profile(AGENT_FEATURE).model},
            {"dimension": "team", "value": _profile(AGENT_FEATURE).team},
        ],
        affected_request_ids=[e.request_id for e in runaway],
        details={
            "extra_calls": len(runaway),
            "detection_methods": ["z_score", "seasonal"],
            # the feature's tokens per hour during the spike / on other weekdays at the same hours
            "feature_token_factor": round(_tokens(runaway) / _hours(plan) / max(usual_per_hour, 1.0), 1),
        },
    )


def _usual_tokens_per_hour(plan: AnomalyPlan, events: Sequence[SynthEvent]) -> float:
    spike_day = to_datetime(plan.runaway_start).date()
    first, last = to_datetime(plan.runaway_start).hour, to_datetime(plan.runaway_end).hour
    usual = [
        e
        for e in events
        if first <= e.timestamp.hour < last and e.timestamp.weekday() < 5 and e.timestamp.date() != spike_day
    ]
    days = {e.timestamp.date() for e in usual}
    return _tokens(usual) / (len(days) * (last - first)) if days else 1.0


def _shift_item(plan: AnomalyPlan, baseline: Sequence[SynthEvent]) -> AnomalyItem:
    shift = plan.shift
    profile = _profile(SHIFT_FEATURE)
    after = [e for e in baseline if e.feature == SHIFT_FEATURE and e.ts >= shift.start]
    return AnomalyItem(
        type="level_shift",
        metric="cost",
        title=f"{profile.team} spend steps up: {SHIFT_FEATURE} calls x{SHIFT_FACTOR} "
        f"from {to_datetime(shift.start):%Y-%m-%d}",
        window=Window(to_datetime(shift.start), to_datetime(shift.end)),
        scope={"team": profile.team},
        drivers=[
            {"dimension": "feature", "value": SHIFT_FEATURE},
            {"dimension": "project", "value": profile.project},
            {"dimension": "model", "value": profile.model},
        ],
        affected_request_ids=[e.request_id for e in after],
        details={"volume_factor": SHIFT_FACTOR, "calls_after_shift": len(after), "detection_methods": ["change_point"]},
    )


def _outage_item(plan: AnomalyPlan, baseline: Sequence[SynthEvent]) -> AnomalyItem:
    outage = plan.outage
    inside = [e for e in baseline if e.provider == OUTAGE_PROVIDER and outage.start <= e.ts < outage.end]
    failed = [e for e in inside if e.status != "success"]
    return AnomalyItem(
        type="error_rate",
        metric="error_rate",
        title=f"{OUTAGE_PROVIDER} returns server errors on {OUTAGE_ERROR_RATE:.0%} of calls for 3 hours",
        window=Window(to_datetime(outage.start), to_datetime(outage.end)),
        scope={"provider": OUTAGE_PROVIDER},
        drivers=[
            {"dimension": "provider", "value": OUTAGE_PROVIDER},
            {"dimension": "error_code", "value": outage.error_code},
        ],
        affected_request_ids=[e.request_id for e in failed],
        details={
            "error_rate": round(len(failed) / max(len(inside), 1), 3),
            "calls": len(inside),
            "detection_methods": ["threshold", "z_score"],
        },
    )
