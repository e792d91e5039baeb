"""Build data/verifier-<embedder>.json: `python -m core.cache.train_verifier [--pairs N] [--embedder local]`.

Fits the verifier's logistic regression on the *train* split of the dev pairs (pairs.split, seeded, disjoint in
questions from the held-out split the eval suite reports on). The L2 strength is chosen on a seeded 15% of
the train split; the final fit uses all of it. Deterministic: same data, same embedder, same artifact.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.cache.pairs import SPLIT_SEED, Pair, read_pairs, sample, split
from core.cache.verifier import HAND_FEATURES, Verifier, artifact_path, pair_features
from core.datasets import shared_data_dir
from core.routing.embeddings import Embedder, get_embedder

DEFAULT_DATA = shared_data_dir() / "cache" / "qqp_pairs_dev.jsonl"
L2_CHOICES = (0.1, 0.3, 1.0)
STEPS = 800
HAND = len(HAND_FEATURES)


def embed_pairs(embedder: Embedder, pairs: list[Pair], *, vectors: dict[str, NDArray[np.float32]] | None = None
                ) -> dict[str, NDArray[np.float32]]:  # fmt: skip
    """Every text of the pairs → its embedding (reusing `vectors` for texts already embedded)."""
    known = dict(vectors or {})
    todo = sorted({t for p in pairs for t in (p.text_a, p.text_b)} - known.keys())
    for start in range(0, len(todo), 512):
        chunk = todo[start : start + 512]
        known.update(zip(chunk, embedder.embed(chunk), strict=True))
    return known


def feature_matrix(pairs: list[Pair], vectors: dict[str, NDArray[np.float32]]) -> NDArray[np.float64]:
    return np.stack([pair_features(p.text_a, p.text_b, vectors[p.text_a], vectors[p.text_b]) for p in pairs])


def fit(x: NDArray[np.float64], y: NDArray[np.float64], *, l2: float, embedder: str) -> Verifier:
    """L2-regularized logistic regression by full-batch Adam on standardized features."""
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    # the hand features are few and meaningful: shrink them far less than the 768 embedding products
    penalty = np.full(z.shape[1], l2)
    penalty[:HAND] = l2 * 0.01
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
    for step in range(1, STEPS + 1):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        grad_w = z.T @ (p - y) / len(y) + penalty * w
        grad_b = float(np.mean(p - y))
        m_w, v_w = 0.9 * m_w + 0.1 * grad_w, 0.999 * v_w + 0.001 * grad_w**2
        m_b, v_b = 0.9 * m_b + 0.1 * grad_b, 0.999 * v_b + 0.001 * grad_b**2
        lr = 0.05 * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        w -= lr * m_w / (np.sqrt(v_w) + 1e-8)
        b -= float(lr * m_b / (np.sqrt(v_b) + 1e-8))
    return Verifier(embedder=embedder, mean=mean, scale=scale, weights=w, bias=b)


def log_loss(verifier: Verifier, x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    p = np.clip(verifier.probability(x), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train(*, data: Path, pairs: int | None, embedder: Embedder,
          vectors: dict[str, NDArray[np.float32]] | None = None) -> tuple[Verifier, dict[str, object]]:  # fmt: skip
    chosen = sample(split(read_pairs(data))[0], pairs)
    known = embed_pairs(embedder, chosen, vectors=vectors)
    x, y = feature_matrix(chosen, known), np.array([p.label for p in chosen], dtype=np.float64)
    validation = np.zeros(len(chosen), dtype=bool)
    validation[np.random.default_rng(7).permutation(len(chosen))[: len(chosen) * 15 // 100]] = True
    losses = {}
    for l2 in L2_CHOICES:
        candidate = fit(x[~validation], y[~validation], l2=l2, embedder=embedder.name)
        losses[l2] = log_loss(candidate, x[validation], y[validation])
    best = min(losses, key=lambda l2: losses[l2])
    verifier = fit(x, y, l2=best, embedder=embedder.name)
    about = {"split_seed": SPLIT_SEED, "train_pairs": len(chosen), "l2": best,
             "validation_log_loss": {str(k): round(v, 4) for k, v in losses.items()}}  # fmt: skip
    return verifier, about


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=int, default=8000, help="train-split pairs to fit on (seeded sample)")
    parser.add_argument("--embedder", default="local")
    args = parser.parse_args()
    embedder = get_embedder(args.embedder)
    verifier, about = train(data=args.data, pairs=args.pairs, embedder=embedder)
    path = artifact_path(embedder.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(verifier.to_json(**about) + "\n")
    print(json.dumps({"artifact": str(path), **about}))


if __name__ == "__main__":
    main()
