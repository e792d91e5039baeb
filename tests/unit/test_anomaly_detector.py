"""The streaming point detector: spikes, level shifts, flat lines, daily patterns, bounds, no look-ahead."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from core.detectors.anomaly import PointDetector, PointDetectorConfig, score_series
from core.detectors.anomaly.point_novelty import ContextNovelty
from core.errors import InvalidInput

FIVE_MINUTES = np.timedelta64(300, "s")
NO_REST = PointDetectorConfig(rest=0)  # raw scores, so the tests see the statistic itself
WARM_UP = 200  # points in which the range is still being learnt (NAB does not score its first 15% either)


def _times(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2024-01-01T00:00:00") + np.arange(n) * FIVE_MINUTES


def _noise(n: int, seed: int = 1) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


def _daily(days: int) -> npt.NDArray[np.float64]:
    hours = (np.arange(288 * days) % 288) / 12.0
    return np.where((hours >= 1) & (hours < 5), 20.0, 100.0) + _noise(288 * days)


def test_single_spike_scores_one_and_noise_rarely_alerts() -> None:
    values = 100.0 + _noise(600)
    values[400] += 15.0
    scores = score_series(_times(600), values)
    assert scores[400] == 1.0
    assert int((scores[WARM_UP:] >= 0.75).sum()) <= 3  # the spike, and at most a rare record of the noise


def test_scores_stay_in_unit_interval() -> None:
    values = np.concatenate([_noise(300), 1e6 + _noise(300), np.zeros(200)])
    for config in (PointDetectorConfig(), NO_REST):
        scores = score_series(_times(800), values, config)
        assert scores.min() >= 0.0
        assert scores.max() <= 1.0


def test_level_shift_is_flagged_then_becomes_normal() -> None:
    values = 50.0 + _noise(1000)
    values[500:] += 20.0
    scores = score_series(_times(1000), values, NO_REST)
    assert scores[500] == 1.0
    assert scores[600:].mean() < 0.05  # the new level is the new normal


def test_night_dip_of_a_daily_pattern_is_not_flagged() -> None:
    values = _daily(14)
    n = len(values)
    values[n - 100] += 30.0  # a real spike on the last day, as a yardstick
    scores = score_series(_times(n), values, NO_REST)
    hours = (np.arange(n) % 288) / 12.0
    last_days = slice(288 * 10, n)
    night = ((hours >= 1.5) & (hours < 4.5))[last_days]
    assert scores[last_days][night].max() < 0.4
    assert scores[n - 100] > scores[last_days][night].max()


def test_one_alert_per_incident() -> None:
    values = 10.0 + _noise(900, seed=2)
    values[600:610] += 50.0  # a burst of ten high points
    raw = score_series(_times(900), values, NO_REST)
    scores = score_series(_times(900), values)
    assert raw[600] == scores[600] == 1.0
    assert raw[601:610].max() > 0.5  # the burst goes on being novel for a while ...
    assert scores[601:675].max() == 0.0  # ... but the rest that follows an alert keeps it to one alert


def test_fixed_limits_score_one() -> None:
    values = 10.0 + _noise(100)
    values[80] = 1000.0
    scores = score_series(_times(100), values, PointDetectorConfig(upper_limit=500.0, rest=0))
    assert scores[80] == 1.0
    values[80] = -1000.0
    scores = score_series(_times(100), values, PointDetectorConfig(lower_limit=-500.0))
    assert scores[80] == 1.0


def test_no_look_ahead() -> None:
    values = 10.0 + _noise(900)
    values[300:] += 5.0
    values[700] += 40.0
    full = score_series(_times(900), values)
    for cut in (150, 450, 701):
        np.testing.assert_array_equal(score_series(_times(cut), values[:cut]), full[:cut])


def test_grid_narrows_after_an_old_spike_leaves_the_memory() -> None:
    novelty = ContextNovelty(resolutions=(8,), order=3, margin=0.05, memory=300, min_history=20)
    series = np.concatenate([_noise(100), [1000.0], _noise(1000, seed=2)])
    for value in series:
        novelty.score(float(value))
    assert novelty.high - novelty.low < 100.0  # the spike no longer sets the grid


def test_update_is_fast() -> None:
    detector = PointDetector()
    values = (100.0 + _noise(5000)).tolist()
    start = time.perf_counter()
    for second, value in enumerate(values):
        detector.update(second * 300, value)
    per_point = (time.perf_counter() - start) / len(values)
    assert per_point < 1e-3


def test_rejects_non_finite_values_and_bad_config() -> None:
    detector = PointDetector()
    with pytest.raises(InvalidInput):
        detector.update(0, float("nan"))
    with pytest.raises(InvalidInput):
        PointDetectorConfig(resolutions=())
