"""The streaming point detector: spikes, level shifts, seasonality, bounds, no look-ahead."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.detectors.anomaly import PointDetectorConfig, score_series

FIVE_MINUTES = np.timedelta64(300, "s")
NO_SUPPRESSION = PointDetectorConfig(suppress=0)  # raw scores, so the tests see the statistics themselves


def _times(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2024-01-01T00:00:00") + np.arange(n) * FIVE_MINUTES


def _noise(n: int, seed: int = 1) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


def test_single_spike_gets_the_highest_score() -> None:
    values = 100.0 + _noise(600)
    values[400] += 15.0
    scores = score_series(_times(600), values)
    assert int(np.argmax(scores)) == 400
    assert scores[400] > 0.5


def test_scores_stay_in_unit_interval() -> None:
    values = np.concatenate([_noise(300), 1e6 + _noise(300), np.zeros(200)])
    for config in (PointDetectorConfig(), NO_SUPPRESSION):
        scores = score_series(_times(800), values, config)
        assert scores.min() >= 0.0
        assert scores.max() <= 1.0


def test_level_shift_is_flagged_then_rebaselined() -> None:
    values = 50.0 + _noise(1000)
    values[500:] += 20.0
    scores = score_series(_times(1000), values, NO_SUPPRESSION)
    assert scores[500:505].max() > 0.6
    assert scores[600:].max() < 0.5  # the new level is the new normal


def test_night_dip_of_a_daily_pattern_is_not_flagged() -> None:
    n = 288 * 14  # two weeks of 5-minute points
    hours = (np.arange(n) % 288) / 12.0
    values = np.where((hours >= 1) & (hours < 5), 20.0, 100.0) + _noise(n)
    values[n - 100] += 30.0  # a real spike on the last day, as a yardstick
    scores = score_series(_times(n), values, NO_SUPPRESSION)
    last_days = slice(288 * 10, n)
    night = ((hours >= 1.5) & (hours < 4.5))[last_days]
    assert scores[last_days][night].max() < 0.4
    assert scores[n - 100] > scores[last_days][night].max()


def test_fixed_limits_score_one() -> None:
    values = 10.0 + _noise(100)
    values[80] = 1000.0
    scores = score_series(_times(100), values, PointDetectorConfig(upper_limit=500.0))
    assert scores[80] == 1.0


def test_no_look_ahead() -> None:
    values = 10.0 + _noise(900)
    values[300:] += 5.0
    values[700] += 40.0
    full = score_series(_times(900), values)
    for cut in (150, 450, 701):
        np.testing.assert_array_equal(score_series(_times(cut), values[:cut]), full[:cut])
