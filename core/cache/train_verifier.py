"""Build data/verifier-<embedder>.json: `python -m core.cache.train_verifier [--pairs N] [--embedder local]`.

Only the *train* split of the dev pairs is used (pairs.split: disjoint in questions from the held-out split the
eval suite reports on). Within it, question groups are cut again (seeded) into:
- fit (60%): the trees are grown on it;
- stop (15%): early stopping of the trees, and the dev figures in the artifact;
- calibration (25%): the Platt map from the trees' log-odds to P(same question).
The same recipe is cross-fitted over 4 folds of question groups to get every train pair a probability from a
fit that never saw it; the default threshold is the lowest one at which those reach PRECISION_TARGET.
The embedding model (logistic regression over u*v, |u-v|) enters the trees as a feature through out-of-fold
predictions (4 folds by question group); the artifact holds its fit on all the pairs.
Deterministic: same data, same embedder, same artifact. `--vectors FILE.npz` reuses (and extends) saved
embeddings so a rebuild does not re-embed 20k+ texts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.cache.features import FEATURES, document_frequencies, pair_features
from core.cache.pairs import SPLIT_SEED, Pair, group_buckets, read_pairs, shuffled, split
from core.cache.trees import Forest, Platt, fit_forest, fit_platt
from core.cache.verifier import Linear, Verifier, artifact_path, embedding_features, word_table
from core.datasets import shared_data_dir
from core.routing.embeddings import Embedder, HashingEmbedder, get_embedder

DEFAULT_DATA = shared_data_dir() / "cache" / "qqp_pairs_dev.jsonl"
FIT_SEED = "tokentra-cache-fit-v2"
L2 = 0.3
STEPS = 400
FOLDS = 4
OPERATING_POINTS = (0.5, 0.8, 0.9, 0.92, 0.93, 0.94, 0.95, 0.96)
PRECISION_TARGET = 0.955  # the default threshold's precision on cross-fitted dev pairs (0.95 wanted, + margin)
MIN_HITS = 100  # fewer hits than this say too little about a threshold's precision
Vectors = dict[str, NDArray[np.float32]]


def embed_pairs(embedder: Embedder, pairs: list[Pair], *, vectors: Vectors | None = None) -> Vectors:
    """Every text of the pairs → its embedding (reusing `vectors` for texts already embedded)."""
    known = dict(vectors or {})
    todo = sorted({t for p in pairs for t in (p.text_a, p.text_b)} - known.keys())
    for start in range(0, len(todo), 512):
        chunk = todo[start : start + 512]
        known.update(zip(chunk, embedder.embed(chunk), strict=True))
    return known


def fit_linear(x: NDArray[np.float64], y: NDArray[np.float64], *, l2: float = L2) -> Linear:
    """L2-regularized logistic regression by full-batch Adam on standardized features."""
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
    for step in range(1, STEPS + 1):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        grad_w = z.T @ (p - y) / len(y) + l2 * w
        grad_b = float(np.mean(p - y))
        m_w, v_w = 0.9 * m_w + 0.1 * grad_w, 0.999 * v_w + 0.001 * grad_w**2
        m_b, v_b = 0.9 * m_b + 0.1 * grad_b, 0.999 * v_b + 0.001 * grad_b**2
        lr = 0.05 * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        w -= lr * m_w / (np.sqrt(v_w) + 1e-8)
        b -= float(lr * m_b / (np.sqrt(v_b) + 1e-8))
    return Linear(mean=mean, scale=scale, weights=w, bias=b)


def out_of_fold(x: NDArray[np.float64], y: NDArray[np.float64], buckets: NDArray[np.int64]) -> NDArray[np.float64]:
    """The embedding model's log-odds for every pair from a fit that did not see the pair's question group."""
    out = np.zeros(len(y))
    for fold in range(FOLDS):
        held = buckets % FOLDS == fold
        out[held] = fit_linear(x[~held], y[~held]).margin(x[held])
    return out


def operating_points(probability: NDArray[np.float64], y: NDArray[np.float64]) -> dict[str, dict[str, float]]:
    points = {}
    for t in OPERATING_POINTS:
        hits = probability >= t
        points[str(t)] = {"hits": int(hits.sum()), "precision": round(float(y[hits].mean()), 4) if hits.any() else 0.0,
                          "recall": round(float((hits & (y == 1)).sum() / max((y == 1).sum(), 1)), 4)}  # fmt: skip
    return points


def fit_scorer(
    x: NDArray[np.float64], y: NDArray[np.float64], buckets: NDArray[np.int64]
) -> tuple[Forest, Platt, float]:
    """Trees on the fit groups (early-stopped on the stop groups), Platt map on the calibration groups;
    and the best stop-set log loss."""
    calib, stop = buckets < 25, (buckets >= 25) & (buckets < 40)
    fit = ~(calib | stop)
    forest, losses = fit_forest(x[fit], y[fit], valid=(x[stop], y[stop]))
    return forest, fit_platt(forest.margin(x[calib]), y[calib]), min(losses)


def cross_fitted(x: NDArray[np.float64], y: NDArray[np.float64], buckets: NDArray[np.int64]) -> NDArray[np.float64]:
    """Every pair's calibrated probability from the whole recipe fitted without its question group (4 folds)."""
    out = np.zeros(len(y))
    for fold in range(FOLDS):
        held = buckets % FOLDS == fold
        forest, calibration, _ = fit_scorer(x[~held], y[~held], buckets[~held])
        out[held] = calibration(forest.margin(x[held]))
    return out


def choose_threshold(probability: NDArray[np.float64], y: NDArray[np.float64], *, target: float) -> float:
    """The lowest threshold on a 0.01 grid whose hits, and those of every higher threshold with at least
    MIN_HITS hits, reach precision `target`; 1.0 (no semantic hits) when none does."""
    chosen = 1.0
    for t in np.round(np.arange(0.99, 0.49, -0.01), 2):
        hits = probability >= t
        if hits.sum() < MIN_HITS:
            continue
        if float(y[hits].mean()) < target:
            break
        chosen = float(t)
    return chosen


def train(*, data: Path, pairs: int | None, embedder: Embedder,
          vectors: Vectors | None = None) -> tuple[Verifier, dict[str, Any], Vectors]:  # fmt: skip
    chosen = shuffled(split(read_pairs(data))[0], pairs)
    known = embed_pairs(embedder, chosen, vectors=vectors)
    u = np.stack([known[p.text_a] for p in chosen])
    v = np.stack([known[p.text_b] for p in chosen])
    y = np.array([p.label for p in chosen], dtype=np.float64)
    buckets = np.array(group_buckets(chosen, seed=FIT_SEED))
    emb = embedding_features(u, v)
    model = out_of_fold(emb, y, buckets)
    idf, unknown = document_frequencies(t for p in chosen for t in (p.text_a, p.text_b))
    words = word_table(idf, unknown, word_vectors=not isinstance(embedder, HashingEmbedder))
    cosine = np.sum(u * v, axis=1)
    x = np.array([pair_features(p.text_a, p.text_b, float(cosine[i]), words, model=float(model[i]))
                  for i, p in enumerate(chosen)])  # fmt: skip
    forest, calibration, stop_loss = fit_scorer(x, y, buckets)
    oof = cross_fitted(x, y, buckets)
    threshold = choose_threshold(oof, y, target=PRECISION_TARGET)
    verifier = Verifier(embedder=embedder.name, embedding_model=fit_linear(emb, y), forest=forest,
                        calibration=calibration, words=words, default_threshold=threshold)  # fmt: skip
    about = {
        "split_seed": SPLIT_SEED, "fit_seed": FIT_SEED, "train_pairs": len(chosen),
        "trees": int(forest.leaves.shape[0]), "stop_log_loss": round(stop_loss, 4),
        "precision_target": PRECISION_TARGET, "cross_fitted_operating_points": operating_points(oof, y),
    }  # fmt: skip
    return verifier, about, known


def _load_vectors(path: Path | None) -> Vectors:
    if path is None or not path.exists():
        return {}
    saved = np.load(path)
    return dict(zip(saved["texts"].tolist(), saved["vectors"], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=int, help="train-split pairs to fit on (seeded shuffle; default: all 19,731)")
    parser.add_argument("--embedder", default="local")
    parser.add_argument("--vectors", type=Path, help="an .npz of saved embeddings to reuse and extend")
    args = parser.parse_args()
    embedder = get_embedder(args.embedder)
    saved = _load_vectors(args.vectors)
    verifier, about, known = train(data=args.data, pairs=args.pairs, embedder=embedder, vectors=saved)
    if args.vectors is not None and len(known) > len(saved):
        texts = sorted(known)
        np.savez(args.vectors, texts=np.array(texts), vectors=np.stack([known[t] for t in texts]))
    path = artifact_path(embedder.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(verifier.to_json(**about) + "\n")
    print(json.dumps({"artifact": str(path), "features": len(FEATURES), **about}))


if __name__ == "__main__":
    main()
