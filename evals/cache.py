"""`tokentra eval --suite cache`: does the semantic cache answer only true repeats?

On a seeded sample of the *held-out* split of the Quora question pairs (shared/data/cache, split by question
so none was seen by the verifier's fit): precision (share of hits that are true repeats), recall (share of true
repeats served) and false-hit rate (share of different-question pairs served) of the cache matcher at several
thresholds and at the default one; the same for a plain embedding-cosine threshold, the anchor to beat
(all-MiniLM-L6-v2 at 0.92: ~0.82 precision in DESIGN.md). `verify_us`: CPU µs per verifier call (features,
trees, calibration; the embeddings are computed before), the cost a semantic lookup adds per candidate.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.cache.keys import DEFAULT_SIMILARITY_THRESHOLD
from core.cache.pairs import Pair, read_pairs, sample, split
from core.cache.semantic import CANDIDATE_COSINE, SemanticMatcher
from core.datasets import shared_data_dir
from core.routing.embeddings import get_embedder
from evals.harness import suite
from evals.suite_evaluators import cache_rates, cache_results

DATA = shared_data_dir() / "cache" / "qqp_pairs_dev.jsonl"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.95, 0.97)


def rates(pairs: list[Pair], scores: NDArray[np.float64], threshold: float) -> dict[str, float | int | None]:
    """Hits, precision, recall and false-hit rate of `scores >= threshold` (the CacheHit evaluator's means)."""
    return cache_rates(cache_results(pairs, scores, threshold))


def average_precision(scores: NDArray[np.float64], labels: NDArray[np.int64]) -> float:
    """Mean over true repeats of the precision above each one, ranked by score (ranking quality, all pairs)."""
    order = np.argsort(-scores, kind="stable")
    ranked = labels[order] == 1
    if not ranked.any():
        return 0.0
    precision_at = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)
    return round(float(precision_at[ranked].mean()), 4)


def score_pairs(matcher: SemanticMatcher, pairs: list[Pair]) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """(matcher similarity, plain cosine) per pair, and the mean CPU µs of one verifier call."""
    vectors = matcher.embedder.embed([t for p in pairs for t in (p.text_a, p.text_b)])
    u, v = vectors[0::2], vectors[1::2]
    cosine = np.sum(u * v, axis=1).astype(np.float64)
    started = time.process_time()
    similarity = np.array([matcher.score(p.text_a, p.text_b, u[i], v[i]) for i, p in enumerate(pairs)])
    spent = time.process_time() - started
    verified = int(np.sum((cosine >= CANDIDATE_COSINE) & (similarity < 1.0)))  # the calls that ran the verifier
    return similarity, cosine, round(spent / max(verified, 1) * 1e6, 1)


def best_recall(similarity: NDArray[np.float64], labels: NDArray[np.int64], precision: float) -> dict[str, float]:
    """The lowest threshold (and its recall) whose hits reach `precision`: what the data allows, not a setting."""
    order = np.argsort(-similarity, kind="stable")
    right = np.cumsum(labels[order] == 1)
    reached = np.flatnonzero(right / np.arange(1, len(order) + 1) >= precision)
    if not len(reached):
        return {"threshold": 1.0, "recall": 0.0}
    k = int(reached[-1])
    return {
        "threshold": round(float(similarity[order][k]), 4),
        "recall": round(int(right[k]) / max(int(labels.sum()), 1), 4),
    }


def evaluate(pairs: list[Pair], *, embedder: str | None = None, thresholds: tuple[float, ...] = THRESHOLDS,
             default: float = DEFAULT_SIMILARITY_THRESHOLD) -> dict[str, Any]:  # fmt: skip
    matcher = SemanticMatcher(get_embedder(embedder))
    labels = np.array([p.label for p in pairs], dtype=np.int64)
    similarity, cosine, verify_us = score_pairs(matcher, pairs)
    at_default = cache_results(pairs, similarity, default)
    return {
        "embedder": matcher.embedder.name,
        "verifier": matcher.verifier is not None,
        "pairs": len(pairs),
        "true_repeats": int(labels.sum()),
        "default_threshold": default,
        "average_precision": average_precision(similarity, labels),
        "cosine_only_average_precision": average_precision(cosine, labels),
        "at_default": cache_rates(at_default),
        "at_default_precision_95ci": wilson_interval(
            int(at_default.total("precision")), int(at_default.weight("precision"))
        ),
        "cosine_only_at_default": rates(pairs, cosine, default),
        "verify_us": verify_us,
        "best_recall_at_precision_0.95": best_recall(similarity, labels, 0.95),
        "cosine_only_best_recall_at_precision_0.95": best_recall(cosine, labels, 0.95),
        "by_threshold": {str(t): rates(pairs, similarity, t) for t in thresholds},
        "cosine_only_by_threshold": {str(t): rates(pairs, cosine, t) for t in thresholds},
        "failures": at_default.failures(limit=10),
    }


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of a proportion: with a few dozen hits, precision moves by several points."""
    if trials == 0:
        return None
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    margin = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [round(centre - margin, 4), round(centre + margin, 4)]


@suite("cache", about="semantic cache matcher on held-out Quora question pairs", pairs=6000, seed=11,
       embedder=None, data=str(DATA))  # fmt: skip
def cache_suite(config: dict[str, Any]) -> dict[str, Any]:
    heldout = split(read_pairs(Path(config["data"])))[1]
    chosen = sample(heldout, config["pairs"], seed=int(config["seed"]))
    return {"split": "heldout", **evaluate(chosen, embedder=config["embedder"])}
