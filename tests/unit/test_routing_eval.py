"""The routing suite: RouteLLM's metrics computed right, and a regression gate on a slice of the reported half."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.routing.classify_fit import DATA_DIR, Row
from evals.routing import paired_bootstrap
from evals.routing_metrics import apgr, cpt, curve

# Figures of the 400-row slice (every k-th row of the reported half) when these thresholds were set:
# tokentra APGR gsm8k 0.601 (LiteLLM complexity 0.565), mmlu 0.595 (LiteLLM 0.500); full reported half: see the
# routing suite / the report.
GATE = {"gsm8k": 0.58, "mmlu": 0.57}


def test_constant_score_is_the_random_router() -> None:
    rng = np.random.default_rng(7)
    weak, strong = rng.integers(0, 2, 500).astype(float), rng.integers(0, 2, 500).astype(float)
    strong[weak == 0] = 1.0  # make the strong model better on average
    c = curve(np.zeros(500), weak, strong)
    assert apgr(c) == pytest.approx(0.5, abs=1e-9)
    assert cpt(c, 0.5) == pytest.approx(0.5, abs=0.01)


def test_oracle_beats_random_and_reaches_full_pgr_early() -> None:
    weak = np.array([1, 0, 0, 1, 0, 1, 0, 0], dtype=float)
    strong = np.array([1, 1, 1, 1, 0, 1, 1, 0], dtype=float)
    c = curve(strong - weak, weak, strong)
    assert c.accuracy[0] == pytest.approx(weak.mean())
    assert c.accuracy[-1] == pytest.approx(strong.mean())
    assert cpt(c, 1.0) == pytest.approx(3 / 8)  # the three prompts only the strong model gets right
    assert apgr(c) > 0.8


def test_reversed_router_is_worse_than_random() -> None:
    weak = np.array([1, 0, 0, 1, 0, 1, 0, 0], dtype=float)
    strong = np.array([1, 1, 1, 1, 0, 1, 1, 0], dtype=float)
    assert apgr(curve(weak - strong, weak, strong)) < 0.5


@pytest.fixture(scope="module")
def slice_metrics() -> dict[str, Any]:
    if not (DATA_DIR / "gsm8k.csv").is_file():
        pytest.skip(f"RouteLLM outcomes not present at {DATA_DIR} (set TOKENTRA_DATA_DIR)")
    from evals.harness import run_suite

    config = {"limit": 400, "chart": False, "random_seeds": 3, "bootstrap": 50}
    metrics: dict[str, Any] = run_suite("routing", config)["metrics"]
    return metrics


@pytest.mark.parametrize("dataset", ["gsm8k", "mmlu"])
def test_routing_regression_gate(slice_metrics: dict[str, Any], dataset: str) -> None:
    report = slice_metrics["datasets"][dataset]
    ours = report["routers"]["tokentra"]
    assert report["rows"] == 400
    assert ours["apgr"] >= GATE[dataset]
    assert ours["apgr"] > report["routers"]["litellm_complexity"]["apgr"]
    assert report["tokentra_vs_litellm_complexity"]["draws"] == 50
    assert report["routers"]["oracle"]["apgr"] > ours["apgr"]
    assert 0.0 < ours["cost_saved_at_95"] < 1.0
    assert report["classify_latency"]["p50_us"] < 2000


def test_paired_bootstrap_of_a_router_against_itself_and_against_the_oracle() -> None:
    rng = np.random.default_rng(3)
    weak, strong = rng.random(300) < 0.5, rng.random(300) < 0.8
    rows = [Row("gsm8k", "gsm8k", f"p{i}", bool(w), bool(s)) for i, (w, s) in enumerate(zip(weak, strong, strict=True))]
    noise = rng.random(300)
    same = paired_bootstrap(noise, noise, rows, draws=40)
    assert same["apgr_diff"] == 0.0
    assert same["ci95"] == [0.0, 0.0]
    oracle = strong.astype(float) - weak.astype(float)
    better = paired_bootstrap(oracle, noise, rows, draws=40)
    assert better["apgr_diff"] > 0.2
    assert better["ci95"][0] > 0.0
    assert better["share_of_resamples_ours_higher"] == 1.0
