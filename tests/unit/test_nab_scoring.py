"""Our NAB scorer against NAB's own anchors, on the real label files: perfect 100, null 0, random ~11."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from core.detectors.anomaly.series_csv import read_series_csv
from evals.nab import (
    DATA_DIR,
    Times,
    Weights,
    corpus_files,
    evaluate,
    load_weights,
    load_windows,
    scaled_sigmoid,
    score_results,
    sweep_file,  # fmt: skip
)

pytestmark = pytest.mark.skipif(not (DATA_DIR / "labels").is_dir(), reason="NAB data not present")


@cache
def _timestamps() -> dict[str, Times]:
    windows = load_windows(DATA_DIR)
    return {name: read_series_csv(DATA_DIR / "data" / name)[1][0] for name in corpus_files(DATA_DIR, windows)}


def _scores(detector: dict[str, np.ndarray]) -> dict[str, float]:
    results = {name: (ts, detector[name]) for name, ts in _timestamps().items()}
    evaluations = score_results(results, load_windows(DATA_DIR), load_weights(DATA_DIR))
    return {profile: e["score"] for profile, e in evaluations.items()}


def test_scaled_sigmoid_matches_nab() -> None:
    values = scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 3.0]))
    np.testing.assert_allclose(values, [0.98661, 0.84828, 0.0, -0.98661, -1.0], atol=1e-5)


def test_detection_at_each_window_start_scores_100() -> None:
    windows = load_windows(DATA_DIR)
    detector = {}
    for name, ts in _timestamps().items():
        scores = np.zeros(len(ts))
        scores[[int(np.searchsorted(ts, start)) for start, _ in windows[name]]] = 1.0
        detector[name] = scores
    assert all(score == pytest.approx(100.0, abs=0.5) for score in _scores(detector).values())


def test_null_detector_scores_0() -> None:
    assert _scores({name: np.zeros(len(ts)) for name, ts in _timestamps().items()}) == {
        "standard": 0.0, "reward_low_FP_rate": 0.0, "reward_low_FN_rate": 0.0}  # fmt: skip


def test_random_detector_lands_near_nabs_random_score() -> None:
    standard = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        standard.append(_scores({name: rng.random(len(ts)) for name, ts in _timestamps().items()})["standard"])
    assert 6.0 < float(np.mean(standard)) < 17.0  # NAB publishes 11.0 for its random detector


def test_late_detection_and_false_positive_weights() -> None:
    ts = np.datetime64("2024-01-01T00:00") + np.arange(1000) * np.timedelta64(1, "m")
    window = [(ts[500], ts[599])]
    scores = np.zeros(1000)
    scores[[549, 700]] = 1.0  # halfway into the window; one window-width after it
    sweep = sweep_file(ts, scores, window)
    result = evaluate({"x/a.csv": sweep}, Weights(tp=1.0, fp=0.11, fn=1.0))
    tp, fp, max_tp = scaled_sigmoid(np.array([-51 / 100, 101 / 99, -1.0]))  # NAB's positions for rows 549 and 700
    expected_raw = float(tp / max_tp + 0.11 * fp)
    assert result["threshold"] == 1.0
    assert result["score"] == pytest.approx(100 * (expected_raw + 1.0) / 2.0, abs=0.01)
    report = result["files"]["x/a.csv"]
    assert (report["windows"], report["found"], report["false_positives"]) == (1, 1, 1)
    assert report["raw"] == pytest.approx(expected_raw, abs=1e-3)
