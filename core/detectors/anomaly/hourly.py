"""Seasonal, robust statistics on hourly series: expectations, z-scores, spike runs and level shifts.

Every function takes a (slices x hours) matrix and works on all slices at once (numpy); the series start at a UTC
midnight, and `weekend` says per day whether it is a Saturday/Sunday.

Expected value of hour t: the median of the same hour of day on the most recent `REF_DAYS` earlier days of the
same kind (weekday or weekend), from history before t only. Scale: a robust (median/MAD) relative residual
scale of the whole series, floored by compound-Poisson noise (sqrt of expected calls times the cost of one, times
the series' burstiness), so small slices are not judged by a few calls. Level shifts: daily totals compared with
the median of the same kind of day in the two weeks before (change point), which a seasonal median alone would
absorb within days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
REF_DAYS = 5  # same-kind days the expectation is the median of
MIN_REFS = 3
MAD_TO_SIGMA = 1.4826
SPIKE_Z = 5.0  # an hour at or above this z-score starts a spike
RUN_Z = 3.0  # neighbouring hours at or above this join the run
SHIFT_RATIO = 1.4  # each of the first days after a level shift is at least this x its usual level
SHIFT_Z = 4.0
SHIFT_DAYS = 2  # days a shift must last to be one
STAY_RATIO = 1.2  # a shift lasts while days stay above this ratio
SHIFT_LOOKBACK = 14  # days before a candidate shift day that form its reference


@dataclass(frozen=True)
class Expectation:
    expected: Array  # (slices, hours); NaN where there is not enough history
    sigma: Array


@dataclass(frozen=True)
class Run:
    first: int  # hour index, inclusive
    last: int  # inclusive
    peak_z: float
    method: str  # z_score | seasonal | change_point | threshold


def ref_days(weekend: Mask, day: int, *, limit: int = REF_DAYS) -> list[int]:
    """The most recent days before `day` of the same kind (weekday/weekend), at most `limit`."""
    return [u for u in range(day - 1, -1, -1) if weekend[u] == weekend[day]][:limit]


def _by_day(values: Array) -> Array:
    """(slices, hours) -> (slices, days, 24), NaN-padded."""
    slices, hours = values.shape
    days = -(-hours // 24)
    flat = np.full((slices, days * 24), np.nan)
    flat[:, :hours] = values
    return flat.reshape(slices, days, 24)


def seasonal_expected(values: Array, *, weekend: Mask) -> Array:
    """Per hour, the median of the same hour on the REF_DAYS earlier same-kind days; NaN with too little history."""
    cube = _by_day(values)
    rows = np.full(cube.shape, np.nan)
    for d in range(cube.shape[1]):
        refs = ref_days(weekend, d)
        if len(refs) >= MIN_REFS:
            rows[:, d] = np.median(cube[:, refs], axis=1)
    return rows.reshape(values.shape[0], -1)[:, : values.shape[1]]


def expect(values: Array, *, weekend: Mask, unit: Array) -> Expectation:
    """Expected value and robust scale of each hour (`unit`: per slice, the measure's size of one call)."""
    expected = seasonal_expected(values, weekend=weekend)
    known = ~np.isnan(expected)
    filled = np.nan_to_num(expected)
    positive = np.where(values > 0, values, np.nan)
    with np.errstate(all="ignore"):
        level = np.nan_to_num(np.nanmedian(positive, axis=1))
    base = np.maximum(filled, 0.25 * level[:, None])
    rel = np.where(known, np.abs(values - filled) / np.maximum(base, 1e-12), np.nan)
    with np.errstate(all="ignore"):
        rel_sigma = np.where(known.any(axis=1), MAD_TO_SIGMA * np.nanmedian(rel, axis=1), 0.5)
    u = np.maximum(unit, 1e-12)[:, None]
    poisson = np.sqrt(2.0 * u * dispersion(values, expected, unit)[:, None] * np.maximum(base, u))
    sigma = np.maximum(np.maximum(np.nan_to_num(rel_sigma, nan=0.5), 0.05)[:, None] * base, poisson)
    return Expectation(expected, sigma)


def dispersion(values: Array, expected: Array, unit: Array) -> Array:
    """Per slice, how much burstier than independent calls it is (>= 1): calls arriving in bursts (an agent's
    trace of 30 steps) make an hour's total vary ~30x more than a Poisson count of single calls would. The index
    of dispersion sum((x - e)^2) / sum(unit * e) is 1 for Poisson counts of single calls (the top 1% of squared
    residuals is left out: they may be the very incidents we look for)."""
    known = ~np.isnan(expected) & (np.nan_to_num(expected) > 0)
    squares = np.where(known, (values - np.nan_to_num(expected)) ** 2, np.nan)
    result = np.ones(values.shape[0])
    rows = np.flatnonzero(known.any(axis=1))
    if rows.size == 0:
        return result
    cut = np.nanquantile(squares[rows], 0.99, axis=1)
    kept = known[rows] & (np.nan_to_num(squares[rows], nan=np.inf) <= cut[:, None])
    num = np.where(kept, squares[rows], 0.0).sum(axis=1)
    den = np.maximum(unit[rows], 1e-12) * np.where(kept, expected[rows], 0.0).sum(axis=1) + 1e-12
    result[rows] = np.maximum(1.0, num / den)
    return result


def z_scores(values: Array, exp: Expectation) -> Array:
    with np.errstate(all="ignore"):
        z = (values - exp.expected) / exp.sigma
    return np.where(np.isnan(z), 0.0, z)


def spike_runs(z: Array, *, first: int) -> list[Run]:
    """Runs of hours (from index `first` on) of one series with z >= RUN_Z holding at least one hour >= SPIKE_Z;
    a gap of up to two quiet hours does not end a run."""
    runs: list[Run] = []
    hot = np.flatnonzero(z[first:] >= RUN_Z) + first
    if hot.size == 0:
        return runs
    breaks = np.flatnonzero(np.diff(hot) > 3)  # hours more than two apart start a new run
    for a, b in zip(np.r_[0, breaks + 1], np.r_[breaks, hot.size - 1], strict=True):
        t, end = int(hot[a]), int(hot[b])
        peak = float(z[t : end + 1].max())
        if peak >= SPIKE_Z:
            runs.append(Run(t, end, peak, "seasonal"))
    return runs


def daily(values: Array) -> Array:
    """(slices, hours) -> (slices, whole days) totals."""
    days = values.shape[-1] // 24
    return np.asarray(values[..., : days * 24].reshape(*values.shape[:-1], days, 24).sum(axis=-1), dtype=np.float64)


def level_shifts(values: Array, *, weekend: Mask, first: int, unit: Array) -> dict[int, Run]:
    """Per slice (row), the first upward level shift at a day boundary at or after hour `first`, as a Run over
    its days: SHIFT_DAYS days each >= SHIFT_RATIO x and SHIFT_Z sigmas above the median of same-kind days in the
    SHIFT_LOOKBACK days before the shift; it lasts while later days stay >= STAY_RATIO x that level."""
    days = daily(values)
    n = days.shape[1]
    found: dict[int, Run] = {}
    for k in range(max(first // 24, 7), n - SHIFT_DAYS + 1):
        ratios, zs, valid = _day_scores(days, weekend[:n], k, unit)
        head = valid[:SHIFT_DAYS].all()
        if not head:
            continue
        hit = (ratios[:, :SHIFT_DAYS] >= SHIFT_RATIO).all(axis=1) & (zs[:, :SHIFT_DAYS].min(axis=1) >= SHIFT_Z)
        for row in np.flatnonzero(hit):
            if int(row) in found:
                continue
            stay = (ratios[row] >= STAY_RATIO) & valid
            last = k + SHIFT_DAYS - 1
            while last + 1 < n and stay[last + 1 - k]:
                last += 1
            found[int(row)] = Run(k * 24, last * 24 + 23, float(zs[row, :SHIFT_DAYS].min()), "change_point")
    return found


def _day_scores(days: Array, weekend: Mask, k: int, unit: Array) -> tuple[Array, Array, Mask]:
    """Ratios and z-scores of days k, k+1, … (columns) against the median of same-kind days in the lookback
    before k; `valid` per column: enough reference days (and every earlier column valid too)."""
    pre = np.arange(max(0, k - SHIFT_LOOKBACK), k)
    tables: dict[bool, tuple[Array, Array] | None] = {}
    for kind in (False, True):
        refs = pre[weekend[pre] == kind]
        if len(refs) < MIN_REFS:
            tables[kind] = None
            continue
        ref = days[:, refs]
        median = np.median(ref, axis=1)
        mad = MAD_TO_SIGMA * np.median(np.abs(ref - median[:, None]), axis=1)
        poisson = np.sqrt(2.0 * np.maximum(unit, 1e-12) * np.maximum(median, unit))
        sigma = np.maximum.reduce([mad, 0.05 * median, poisson])
        tables[kind] = (median, sigma)
    later = days[:, k:]
    kinds = weekend[k:]
    valid = np.cumprod([tables[bool(w)] is not None for w in kinds]).astype(bool)
    median = np.stack([_pick(tables, bool(w), 0, days.shape[0]) for w in kinds], axis=1)
    sigma = np.stack([_pick(tables, bool(w), 1, days.shape[0]) for w in kinds], axis=1)
    with np.errstate(all="ignore"):
        ratios = np.where(median > 0, later / median, np.inf)
        zs = (later - median) / sigma
    return ratios, np.nan_to_num(zs, nan=0.0), valid


def _pick(tables: dict[bool, tuple[Array, Array] | None], kind: bool, part: int, size: int) -> Array:
    table = tables[kind]
    return np.full(size, np.nan) if table is None else table[part]


def window_expected(values: Array, *, weekend: Mask, first: int, last: int) -> Array:
    """Expected value of each hour in [first, last] (columns) of each row, from the days before the window only
    (a frozen baseline: a level shift must not become its own baseline): per hour of day, the median of the same
    hour on the REF_DAYS most recent earlier days of the same kind. NaN where there is too little history."""
    cube = _by_day(np.atleast_2d(values))
    first_day = first // 24
    tables = {}
    for kind in (False, True):
        refs = [u for u in range(first_day - 1, -1, -1) if weekend[u] == kind][:REF_DAYS]
        tables[kind] = np.median(cube[:, refs], axis=1) if len(refs) >= MIN_REFS else np.full(cube[:, 0].shape, np.nan)
    hours = np.arange(first, last + 1)
    day_kind = weekend[hours // 24]
    out = np.where(day_kind[None, :], tables[True][:, hours % 24], tables[False][:, hours % 24])
    return out if np.ndim(values) == 2 else out[0]
