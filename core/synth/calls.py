"""Turning a FeatureProfile into calls: token shapes, latency, users, errors, cancels and prompt caching."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.synth.profiles import (
    CUSTOMERS,
    DEFAULT_SPEED,
    ENVIRONMENT_MIX,
    MODEL_SPEED,
    TEAMS,
    Caching,
    FeatureProfile,
    Tokens,
)
from core.synth.records import Ids, SynthEvent
from core.synth.timeline import Modifier, Window, arrivals

CACHE_TTL_S = 300.0  # provider prompt caches live ~5 minutes after the last hit
MIN_CACHEABLE = 1_024  # providers cache prefixes of at least this many tokens
# Baseline error codes and their shares (errors of the healthy org bill no tokens).
ERROR_MIX: tuple[tuple[str, float], ...] = (
    ("server_error", 0.72),
    ("timeout", 0.12),
    ("rate_limited", 0.08),
    ("context_length_exceeded", 0.08),
)


@dataclass(frozen=True, slots=True)
class People:
    """Employees per team (heaviest user first) and the customers of customer-facing features."""

    employees: dict[str, list[str]]
    customers: list[str]

    @classmethod
    def build(cls, ids: Ids) -> People:
        employees = {team: [f"u_{h}" for h in ids.hexes(size, 4)] for team, (_, size) in TEAMS.items()}
        return cls(employees=employees, customers=[f"cus_{h}" for h in ids.hexes(CUSTOMERS, 5)])

    def pool(self, profile: FeatureProfile) -> list[str] | None:
        if profile.users == "customers":
            return self.customers
        return self.employees[profile.team] if profile.users == "team" else None


def zipf_weights(n: int, exponent: float = 1.1) -> np.ndarray:
    """A few heavy users, a long tail."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return np.asarray(weights / weights.sum(), dtype=float)


def sample_tokens(rng: np.random.Generator, spec: Tokens, n: int) -> np.ndarray:
    if spec.median <= 0:
        return np.zeros(n, dtype=np.int64)
    values = rng.lognormal(np.log(spec.median), spec.sigma, size=n)
    return np.clip(np.rint(values), spec.low, spec.high).astype(np.int64)


class Traffic:
    """Makes the calls of features over one window, from one random stream."""

    def __init__(self, *, window: Window, scale: float, people: People, rng: np.random.Generator, org: str):
        self.window, self.scale, self.people, self.rng, self.org = window, scale, people, rng, org
        self.ids = Ids(rng)
        self._spare_ids: dict[tuple[str, str], list[str]] = {}

    def system_prompt_hash(self, feature: str, version: str = "v1") -> str:
        return hashlib.sha256(f"{self.org}:{feature}:system:{version}".encode()).hexdigest()

    def calls(
        self, profile: FeatureProfile, *, modifiers: tuple[Modifier, ...] = (), times: np.ndarray | None = None
    ) -> list[SynthEvent]:
        """The feature's calls (in time order) at Poisson arrival times or at `times`: ordinary errors and
        cancels included, prompt caching applied."""
        mods = tuple(m for m in modifiers if m.applies(profile))
        low, high = profile.steps
        if times is None:
            per_trace = profile.daily_rate * self.scale / ((low + high) / 2.0)
            times = arrivals(self.window, profile.rhythm, per_trace, self.rng, mods)
        steps = self.rng.integers(low, high + 1, size=times.size)
        events = self._noise(profile, self._build(profile, times, steps), mods)
        events = [e for e in events if self.window.t0 <= e.ts < self.window.t1]  # agent steps, retry backoffs
        events.sort(key=lambda e: e.ts)
        apply_caching(events, profile.caching)
        return events

    def respawn(self, event: SynthEvent, ts: float, **changes: Any) -> SynthEvent:
        """A copy of `event` at `ts` with a fresh request id (and whatever else `changes` says)."""
        spare = self._spare_ids.setdefault((event.provider, event.endpoint), [])
        if not spare:
            spare.extend(reversed(self.ids.request_ids(event.provider, event.endpoint, 256)))
        return replace(event, ts=ts, request_id=spare.pop(), **changes)

    def _build(self, profile: FeatureProfile, starts: np.ndarray, steps: np.ndarray) -> list[SynthEvent]:
        rng, n_traces = self.rng, starts.size
        trace_of = np.repeat(np.arange(n_traces), steps)
        step = np.arange(trace_of.size) - np.repeat(np.cumsum(steps) - steps, steps)
        n = trace_of.size
        inputs, outputs, reasoning, capped = self._token_counts(profile, step)
        ttft, latency = self._latency(profile, inputs, outputs, reasoning)
        # the next step starts when the previous one has answered, plus tool time or the user's reply time
        pause = rng.uniform(*profile.step_pause, size=n)
        gaps = np.where(step > 0, pause + latency / 1000.0, 0.0)
        times = starts[trace_of] + _cumsum_by_trace(gaps, steps)
        ttft_list = [None] * n if ttft is None else np.round(ttft, 1).tolist()
        rows = zip(
            times.tolist(),
            self.ids.request_ids(profile.provider, profile.endpoint, n),
            inputs.tolist(),
            outputs.tolist(),
            reasoning.tolist(),
            np.round(latency, 1).tolist(),
            ttft_list,
            _finish_reasons(profile, capped),
            self._users(profile, n_traces, trace_of),
            self._environments(profile, n_traces, trace_of),
            _spread(self.ids.trace_ids(n_traces), trace_of),
            self.ids.hexes(n, 32),
            strict=True,
        )
        common = _common_fields(profile, self.system_prompt_hash(profile.feature))
        return [
            SynthEvent(
                ts=ts,
                request_id=rid,
                input_tokens=inp,
                output_tokens=out,
                reasoning_tokens=rsn,
                latency_ms=lat,
                ttft_ms=first,
                finish_reason=finish,
                user_id=user,
                environment=env,
                trace_id=trace,
                prompt_hash=ph,
                api_key_id=f"key_{profile.team}_{env}",
                **common,
            )
            for ts, rid, inp, out, rsn, lat, first, finish, user, env, trace, ph in rows
        ]

    def _token_counts(
        self, profile: FeatureProfile, step: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Input (system prompt and context growth included), output (reasoning included), reasoning, capped."""
        rng, n = self.rng, step.size
        inputs = sample_tokens(rng, profile.input, n) + step * profile.step_growth + profile.system_prompt_tokens
        visible = sample_tokens(rng, profile.output, n)
        reasoning = np.rint(visible * profile.reasoning_ratio * rng.lognormal(0.0, 0.35, size=n)).astype(np.int64)
        outputs = visible + reasoning
        if profile.max_tokens is None:
            return inputs, outputs, reasoning, np.zeros(n, dtype=bool)
        capped = outputs >= profile.max_tokens
        outputs = np.minimum(outputs, profile.max_tokens)
        return inputs, outputs, np.minimum(reasoning, outputs), capped

    def _noise(self, profile: FeatureProfile, events: list[SynthEvent], mods: tuple[Modifier, ...]) -> list[SynthEvent]:
        """Ordinary failures (retried once) and streams the user stopped; modifiers may raise the error rate."""
        n = len(events)
        ts = np.fromiter((e.ts for e in events), dtype=float, count=n)
        rates = np.full(n, profile.error_rate)
        names = [code for code, _ in ERROR_MIX]
        codes = [names[i] for i in self.rng.choice(len(names), size=n, p=[p for _, p in ERROR_MIX]).tolist()]
        for mod in mods:
            if mod.error_rate is not None:
                inside = (ts >= mod.start) & (ts < mod.end)
                rates[inside] = mod.error_rate
                codes = [mod.error_code if i else c for c, i in zip(codes, inside.tolist(), strict=True)]
        failed = (self.rng.random(n) < rates).tolist()
        cancelled = (self.rng.random(n) < (profile.cancel_rate if profile.streaming else 0.0)).tolist()
        out: list[SynthEvent] = []
        for event, fail, code, cancel, rate in zip(events, failed, codes, cancelled, rates.tolist(), strict=True):
            if fail:
                out.extend(self._fail(event, code, retry_fails=rate / 2.0))
                continue
            if cancel:
                self._cancel(event)
            out.append(event)
        return out

    def _fail(self, event: SynthEvent, code: str, *, retry_fails: float) -> list[SynthEvent]:
        if code == "context_length_exceeded":  # not retried: the same prompt would fail again
            self.as_error(event, code)
            return [event]
        first = self.respawn(event, event.ts - float(self.rng.uniform(0.3, 4.0)), attempt=1)
        self.as_error(first, code)
        event.attempt = 2
        if self.rng.random() < retry_fails:
            self.as_error(event, code)
        return [first, event]

    def as_error(self, event: SynthEvent, code: str, *, billed: bool = False) -> None:
        """Turn `event` into a failure; unless `billed`, the provider charged nothing for it."""
        event.status = "timeout" if code == "timeout" else "error"
        event.error_code = code
        event.finish_reason = event.ttft_ms = None
        timeout = code == "timeout"
        event.latency_ms = round(float(self.rng.uniform(30_000, 60_000) if timeout else self.rng.uniform(60, 1_500)), 1)
        if not billed:
            event.input_tokens = event.output_tokens = event.reasoning_tokens = 0
            event.cache_read_tokens = event.cache_write_tokens = 0

    def _cancel(self, event: SynthEvent) -> None:
        """The user stopped the stream right away: only the first few tokens were generated."""
        shown = int(self.rng.integers(5, 60))
        event.output_tokens = min(event.output_tokens, shown)
        event.reasoning_tokens = min(event.reasoning_tokens, event.output_tokens)
        event.status, event.finish_reason = "cancelled", None
        event.latency_ms = round((event.ttft_ms or 300.0) + shown * 12.0, 1)

    def _latency(
        self, profile: FeatureProfile, inputs: np.ndarray, outputs: np.ndarray, reasoning: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray]:
        first, per_token = MODEL_SPEED.get(profile.model, DEFAULT_SPEED)
        n = inputs.size
        if profile.endpoint == "embeddings":
            return None, (first + inputs * 0.004) * self.rng.lognormal(0.0, 0.2, size=n)
        ttft = (first + inputs * 0.015 + reasoning * per_token) * self.rng.lognormal(0.0, 0.25, size=n)
        latency = ttft + (outputs - reasoning) * per_token * self.rng.lognormal(0.0, 0.15, size=n)
        return (ttft if profile.streaming else None), latency

    def _users(self, profile: FeatureProfile, n_traces: int, trace_of: np.ndarray) -> list[str | None]:
        pool = self.people.pool(profile)
        if pool is None:
            return [None] * trace_of.size
        picks = self.rng.choice(len(pool), size=n_traces, p=zipf_weights(len(pool)))
        return [pool[i] for i in picks[trace_of].tolist()]

    def _environments(self, profile: FeatureProfile, n_traces: int, trace_of: np.ndarray) -> list[str]:
        if profile.environment is not None:
            return [profile.environment] * trace_of.size
        names = [name for name, _ in ENVIRONMENT_MIX]
        picks = self.rng.choice(len(names), size=n_traces, p=[share for _, share in ENVIRONMENT_MIX])
        return [names[i] for i in picks[trace_of].tolist()]


def _spread(values: list[str], index: np.ndarray) -> list[str]:
    return [values[i] for i in index.tolist()]


def _cumsum_by_trace(gaps: np.ndarray, steps: np.ndarray) -> np.ndarray:
    total = np.cumsum(gaps)
    offsets = np.repeat(total[np.cumsum(steps) - steps] - gaps[np.cumsum(steps) - steps], steps)
    return np.asarray(total - offsets, dtype=float)


def _finish_reasons(profile: FeatureProfile, capped: np.ndarray) -> list[str | None]:
    if profile.endpoint == "embeddings":
        return [None] * capped.size
    return ["length" if c else "stop" for c in capped.tolist()]


def _common_fields(profile: FeatureProfile, system_hash: str) -> dict[str, Any]:
    has_system = profile.system_prompt_tokens > 0
    return {
        "provider": profile.provider,
        "model": profile.model,
        "endpoint": profile.endpoint,
        "batch": profile.batch,
        "streaming": None if profile.endpoint == "embeddings" else profile.streaming,
        "max_tokens": profile.max_tokens,
        "system_prompt_hash": system_hash if has_system else None,
        "system_prompt_tokens": profile.system_prompt_tokens if has_system else None,
        "task_type": profile.task_type,
        "team": profile.team,
        "project": profile.project,
        "feature": profile.feature,
        "embedding_dimensions": profile.embedding_dimensions,
        "metadata": dict(profile.metadata) or None,
    }


def apply_caching(events: Sequence[SynthEvent], caching: Caching) -> None:
    """Give each billed call the cache reads/writes its provider would report for the system prompt."""
    if caching is Caching.none:
        return
    last_hit: dict[str | None, float] = {}
    for event in sorted(events, key=lambda e: e.ts):
        size = event.system_prompt_tokens or 0
        if size < MIN_CACHEABLE or event.input_tokens < size or event.status not in ("success", "cancelled"):
            continue
        warm = event.ts - last_hit.get(event.environment, -1e18) <= CACHE_TTL_S
        last_hit[event.environment] = event.ts
        if caching is Caching.explicit:
            event.cache_read_tokens, event.cache_write_tokens = (size, 0) if warm else (0, size)
        elif warm:
            event.cache_read_tokens = size // 128 * 128
