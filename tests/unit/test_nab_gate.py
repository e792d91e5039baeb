"""Regression gate: the point detector on a fast slice of NAB (20 files, ~60k points, a few seconds).

The slice is every realAdExchange and artificialWithAnomaly file and the seven ec2_cpu_utilization files
of realAWSCloudwatch; the threshold is optimised over the slice, as NAB does over its corpus. The floors sit
just below the slice's figures when they were set (standard 74.09, low-FP 69.48, low-FN 77.52), so a change
that makes the detector worse fails here. The whole corpus: `tokentra eval --suite nab`.
"""

from __future__ import annotations

import pytest

from evals.nab import DATA_DIR, corpus_files, load_weights, load_windows, run_detector, score_results

pytestmark = pytest.mark.skipif(not (DATA_DIR / "labels").is_dir(), reason="NAB data not present")

SLICE = ("realAdExchange/", "artificialWithAnomaly/", "realAWSCloudwatch/ec2_cpu_utilization")
FLOORS = {"standard": 72.5, "reward_low_FP_rate": 67.5, "reward_low_FN_rate": 75.5}


@pytest.fixture(scope="module")
def slice_scores() -> dict[str, float]:
    windows = load_windows(DATA_DIR)
    names = [name for name in corpus_files(DATA_DIR, windows) if name.startswith(SLICE)]
    assert len(names) == 20
    results = run_detector(DATA_DIR, names, {}, workers=1)
    evaluations = score_results(results, windows, load_weights(DATA_DIR))
    return {profile: float(evaluation["score"]) for profile, evaluation in evaluations.items()}


@pytest.mark.parametrize("profile", sorted(FLOORS))
def test_nab_slice_score_does_not_regress(slice_scores: dict[str, float], profile: str) -> None:
    assert slice_scores[profile] >= FLOORS[profile], f"{profile}: {slice_scores[profile]:.2f} < {FLOORS[profile]}"
