"""Detections per slice and metric, and incidents: the detections of one event across slices, merged.

Spend family (cost, requests, tokens): seasonal spikes (hourly z-scores, `hourly.spike_runs`) and level shifts
(`hourly.level_shifts`), computed on all slices at once. Error rate and latency (org, provider, model, feature):
a deviation from the slice's own recent baseline (the trailing week), judged against the slice's own hour-to-hour
noise (steady, bursty waste such as retry storms widens that noise, so it is not an anomaly), plus fixed
thresholds. A detection counts only if material: its slice's extra spend in the window is at least MIN_USD and
MIN_DAILY_SHARE of the org's usual daily spend (or, for error rate / latency, enough calls are affected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.detectors.anomaly.drivers import Deviation, deviation
from core.detectors.anomaly.hourly import Array, Run, expect, level_shifts, spike_runs, z_scores
from core.detectors.anomaly.slices import Series, SliceData

MIN_USD = 1.0
MIN_DAILY_SHARE = 0.01
RATE_SLICES = (None, "provider", "model", "feature")
MIN_CALLS = 20  # calls in an hour before its latency is judged
MIN_HOUR_CALLS = 3  # calls in an hour before its error rate counts; the run as a whole must pass RATE_Z
PHI_CALLS = 10  # calls in an hour before it counts towards the slice's overdispersion
MIN_EXTRA_ERRORS = 5  # failed calls above the usual rate over the run
ERROR_RATE_FLOOR = 0.10  # fixed threshold: an error rate below this is never an anomaly
LATENCY_FACTOR = 1.5
RATE_Z = 5.0
TRAILING = 7 * 24  # hours of the error-rate baseline before each hour
CHI2_99 = 6.63  # 99% quantile of a chi-square with one degree of freedom
MERGE_GAP = 3
HISTORY_FACTOR = 1.5  # incidents of one slice this many hours apart or closer are one incident


@dataclass
class Detection:
    series: Series
    metric: str  # cost | requests | tokens | error_rate | latency
    family: str  # spend | error_rate | latency
    run: Run
    actual: float
    expected: float
    z: float
    excess_usd: float  # the slice's extra spend over the window (spend), the extra failed calls' cost (errors)


@dataclass
class Incident:
    family: str
    detections: list[Detection] = field(default_factory=list)

    @property
    def first(self) -> int:
        return min(d.run.first for d in self.detections)

    @property
    def last(self) -> int:
        return max(d.run.last for d in self.detections)


def _units(data: SliceData, measure: str) -> Array:
    calls = data.matrix["requests"].sum(axis=1)
    total = data.matrix[measure].sum(axis=1)
    return np.where(calls > 0, total / np.maximum(calls, 1.0), 1.0)


def spend_detections(data: SliceData, *, first: int, daily_usd: float) -> list[Detection]:
    """Spikes and level shifts of cost, requests and tokens, every slice at once."""
    found: list[Detection] = []
    floor = max(MIN_USD, MIN_DAILY_SHARE * daily_usd)
    for metric in ("cost", "requests", "tokens"):
        values = data.matrix[metric]
        unit = _units(data, metric)
        exp = expect(values, weekend=data.weekend, unit=unit)
        excess = values - np.nan_to_num(exp.expected)
        for series in data.series:
            series.excess[metric] = excess[series.index]
        z = z_scores(values, exp)
        shifts = level_shifts(values, weekend=data.weekend, first=first, unit=unit)
        hot = set(np.flatnonzero(z[:, first:].max(axis=1, initial=0.0) >= 5.0).tolist()) | set(shifts)
        for row in sorted(hot):
            series = data.series[row]
            runs = spike_runs(z[row], first=first) + ([shifts[row]] if row in shifts else [])
            for run in runs:
                cost = deviation(series, "cost", data, run.first, run.last)
                if cost.excess < floor or not _beyond_history(excess[row], run, first):
                    continue
                dev = cost if metric == "cost" else deviation(series, metric, data, run.first, run.last)
                score = run.peak_z if run.method == "change_point" else _run_z(excess[row], exp.sigma[row], run)
                found.append(Detection(series, metric, "spend", run, dev.actual, dev.expected, score, cost.excess))
    return found


def _beyond_history(excess: Array, run: Run, first: int) -> bool:
    """A spike's summed excess must exceed HISTORY_FACTOR x the largest summed excess of the slice
    over runs of the same length before `first` (a bursty slice's usual bursts are its baseline, not
    anomalies). Level shifts are judged on daily totals instead."""
    if run.method == "change_point":
        return True
    length = run.last - run.first + 1
    past = np.nan_to_num(excess[:first])
    if past.size < 2 * length:
        return True
    sums = np.convolve(past, np.ones(length), mode="valid")
    return float(excess[run.first : run.last + 1].sum()) > HISTORY_FACTOR * max(float(sums.max()), 0.0)


def _run_z(excess: Array, sigma: Array, run: Run) -> float:
    """The z-score of the run as a whole: its summed excess over the root of its summed variances (a six-hour
    rise of 3 sigmas an hour is stronger evidence than one hour at 5)."""
    window = slice(run.first, run.last + 1)
    return max(run.peak_z, float(excess[window].sum()) / float(np.sqrt(np.sum(sigma[window] ** 2))))


def _trailing(values: Array) -> Array:
    """Per hour t, the sum over the TRAILING hours before t."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    t = np.arange(len(values))
    return np.asarray(total[t] - total[np.maximum(t - TRAILING, 0)], dtype=np.float64)


def rate_detections(data: SliceData, series: Series, *, first: int) -> list[Detection]:
    if series.dimension not in RATE_SLICES:
        return []
    return _error_detections(data, series, first) + _latency_detections(data, series, first)


def _error_detections(data: SliceData, series: Series, first: int) -> list[Detection]:
    """Hours whose error rate is far above the slice's trailing-week rate, in units of the slice's own noise:
    binomial, widened by its overdispersion (the 99th percentile of squared hourly z-scores before `first`)."""
    v = series.values
    calls, errors = v["requests"], v["errors"]
    base_calls = _trailing(calls)
    base = np.where(base_calls > 0, _trailing(errors) / np.maximum(base_calls, 1.0), 0.0)
    p = np.maximum(base, 0.01)
    with np.errstate(all="ignore"):
        rate = np.where(calls > 0, errors / np.maximum(calls, 1.0), 0.0)
        z = (rate - base) / np.sqrt(p * (1 - p) / np.maximum(calls, 1.0))
    seen = (np.arange(len(calls)) < first) & (calls >= PHI_CALLS) & (base_calls > 0)  # normal approximation holds
    phi = max(1.0, float(np.quantile(z[seen] ** 2, 0.99)) / CHI2_99) if seen.sum() >= 24 else 1.0
    z = z / np.sqrt(phi)
    flagged = (calls >= MIN_HOUR_CALLS) & (rate >= np.maximum(ERROR_RATE_FLOOR, 3 * base)) & (z >= RATE_Z / 2)
    found = []
    for run in _runs(flagged, first):
        window = slice(run[0], run[1] + 1)
        n = float(calls[window].sum())
        usual = float((base[window] * calls[window]).sum()) / n
        actual = float(errors[window].sum()) / n
        q = max(usual, 0.01)
        score = (actual - usual) * n / float(np.sqrt(phi * q * (1 - q) * n))
        if (actual - usual) * n < MIN_EXTRA_ERRORS or score < RATE_Z:
            continue
        excess_usd = (actual - usual) * float(v["cost"][window].sum())  # extra failed calls x cost per call
        found.append(Detection(series, "error_rate", "error_rate", Run(run[0], run[1], score, "threshold"),
                               actual, usual, score, excess_usd))  # fmt: skip
    return found


def _latency_detections(data: SliceData, series: Series, first: int) -> list[Detection]:
    v = series.values
    history = slice(0, first)
    with np.errstate(all="ignore"):
        latency = np.where(v["latency_n"] > 0, v["latency_sum"] / np.maximum(v["latency_n"], 1.0), np.nan)
    known = latency[history][v["latency_n"][history] >= MIN_CALLS]
    if known.size < 24:
        return []
    usual = float(np.median(known))
    sigma = max(1.4826 * float(np.median(np.abs(known - usual))), 0.05 * usual, 1e-9)
    lz = np.nan_to_num((latency - usual) / sigma)
    limit = max(LATENCY_FACTOR * usual, HISTORY_FACTOR * float(known.max()))  # beyond the slice's own worst hour
    slow = (v["latency_n"] >= MIN_CALLS) & (np.nan_to_num(latency) >= limit) & (lz >= RATE_Z)
    found = []
    for a, b in _runs(slow, first):
        window = slice(a, b + 1)
        actual = float(v["latency_sum"][window].sum() / max(v["latency_n"][window].sum(), 1.0))
        run = Run(a, b, float(np.max(lz[window])), "threshold")
        found.append(Detection(series, "latency", "latency", run, actual, usual, run.peak_z, 0.0))
    return found


def _runs(flagged: np.ndarray, first: int) -> list[tuple[int, int]]:
    """Maximal runs of consecutive flagged hours from `first` on, as (first, last) inclusive."""
    hot = np.flatnonzero(flagged[first:]) + first
    if hot.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hot) > 1)
    return [(int(hot[a]), int(hot[b])) for a, b in zip(np.r_[0, breaks + 1], np.r_[breaks, hot.size - 1], strict=True)]


def _overlap(a: Run, b: Run) -> tuple[int, int] | None:
    first, last = max(a.first, b.first), min(a.last, b.last)
    return (first, last) if first <= last else None


def _same_event(seed: Detection, other: Detection) -> bool:
    """Same family and kind (a level shift never absorbs a spike inside it), overlapping windows and (spend) a
    similar extra spend over the overlap."""
    if seed.family != other.family or (seed.run.method == "change_point") != (other.run.method == "change_point"):
        return False
    both = _overlap(seed.run, other.run)
    if both is None:
        return False
    if seed.family == "latency":
        return True
    measure = "cost" if seed.family == "spend" else "errors"
    a = _excess(seed.series, measure, both)
    b = _excess(other.series, measure, both)
    return a > 0 and b > 0 and 0.4 <= a / b <= 2.5


def _excess(series: Series, measure: str, hours: tuple[int, int]) -> float:
    """Seasonal extra spend over the hours, or (errors) the failed calls there."""
    window = slice(hours[0], hours[1] + 1)
    source = series.excess if measure == "cost" else series.values
    return float(source[measure][window].sum())


def incidents(detections: list[Detection]) -> list[Incident]:
    """Greedy: the detection with the largest extra spend seeds an incident; the ones of the same event join.
    Then incidents of one family that share a slice and lie at most MERGE_GAP hours apart are merged (a runaway
    agent that pauses for an hour is one incident)."""
    pending = sorted(detections, key=lambda d: (-d.excess_usd, -d.z))
    result: list[Incident] = []
    while pending:
        seed = pending.pop(0)
        incident = Incident(seed.family, [seed])
        rest: list[Detection] = []
        for other in pending:
            (incident.detections if _same_event(seed, other) else rest).append(other)
        pending = rest
        result.append(incident)
    return _merge_near(result)


def _shift(incident: Incident) -> bool:
    return any(d.run.method == "change_point" for d in incident.detections)


def _merge_near(found: list[Incident]) -> list[Incident]:
    """Spikes (not level shifts) of one family that share a slice and lie at most MERGE_GAP hours apart."""
    merged: list[Incident] = []
    for incident in found:
        keys = {(d.series.dimension, d.series.value) for d in incident.detections}
        for kept in merged:
            near = kept.first - MERGE_GAP - 1 <= incident.last and incident.first <= kept.last + MERGE_GAP + 1
            alike = kept.family == incident.family and not _shift(kept) and not _shift(incident)
            if alike and near and keys & {(d.series.dimension, d.series.value) for d in kept.detections}:
                kept.detections.extend(incident.detections)
                break
        else:
            merged.append(incident)
    return merged


def org_daily_usd(data: SliceData, first: int) -> float:
    """The org's usual daily spend: the median day before the detection range."""
    days = data.org().values["cost"][: (first // 24) * 24].reshape(-1, 24).sum(axis=1)
    return float(np.median(days)) if days.size else 0.0


__all__ = [
    "Detection",
    "Deviation",
    "Incident",
    "incidents",
    "org_daily_usd",
    "rate_detections",
    "spend_detections",
]  # fmt: skip
