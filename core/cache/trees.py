"""Gradient-boosted oblivious trees (numpy only) and a Platt calibration, both serializable to JSON.

Oblivious trees (every node of a level splits on the same feature and threshold, as in CatBoost) make a tree a
`depth`-bit index into its leaves, so scoring one row over all trees is a few vectorized numpy operations
(tens of µs for hundreds of trees): cheap enough for the gateway's request path.
Training is histogram-based: features are cut into at most `bins` quantile bins once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Forest:
    features: NDArray[np.int64]  # (trees, depth)
    thresholds: Floats  # (trees, depth): go right when x[feature] > threshold
    leaves: Floats  # (trees, 2**depth)
    base: float

    def margin(self, x: Floats) -> Floats:
        """Log-odds for one row (shape (features,)) or a matrix of rows."""
        rows = np.atleast_2d(x)
        bits = rows[:, self.features] > self.thresholds  # (n, trees, depth)
        index = bits.astype(np.int64) @ (1 << np.arange(self.features.shape[1]))
        out = self.base + self.leaves[np.arange(self.leaves.shape[0]), index].sum(axis=1)
        return np.asarray(out if x.ndim == 2 else out[:1], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features.tolist(), "thresholds": np.round(self.thresholds, 6).tolist(),
                "leaves": np.round(self.leaves, 6).tolist(), "base": round(self.base, 6)}  # fmt: skip

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Forest:
        return cls(features=np.array(raw["features"], dtype=np.int64), thresholds=np.array(raw["thresholds"]),
                   leaves=np.array(raw["leaves"]), base=float(raw["base"]))  # fmt: skip


def _edges(x: Floats, bins: int) -> list[Floats]:
    """Per feature, the distinct quantile cut points (a value goes right of edge e when > e)."""
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    return [np.unique(np.quantile(x[:, j], qs)) for j in range(x.shape[1])]


def _binned(x: Floats, edges: list[Floats]) -> NDArray[np.int64]:
    return np.stack([np.searchsorted(e, x[:, j], side="left") for j, e in enumerate(edges)], axis=1)


def _best_split(binned: NDArray[np.int64], leaf: NDArray[np.int64], g: Floats, h: Floats, leaves: int,
                edges: list[Floats], l2: float, used: set[int]) -> tuple[int, int, float]:  # fmt: skip
    """(feature, edge index, gain) of the best level split over all current leaves."""
    best = (-1, -1, 0.0)
    for j, e in enumerate(edges):
        if len(e) == 0 or j in used:
            continue
        width = len(e) + 1
        key = leaf * width + binned[:, j]
        gs = np.bincount(key, weights=g, minlength=leaves * width).reshape(leaves, width).cumsum(axis=1)
        hs = np.bincount(key, weights=h, minlength=leaves * width).reshape(leaves, width).cumsum(axis=1)
        gl, hl = gs[:, :-1], hs[:, :-1]  # left = bins 0..k (x <= edge k)
        gr, hr = gs[:, -1:] - gl, hs[:, -1:] - hl
        gain = (gl**2 / (hl + l2) + gr**2 / (hr + l2) - gs[:, -1:] ** 2 / (hs[:, -1:] + l2)).sum(axis=0)
        k = int(np.argmax(gain))
        if gain[k] > best[2]:
            best = (j, k, float(gain[k]))
    return best


def fit_forest(x: Floats, y: Floats, *, trees: int = 600, depth: int = 5, learning_rate: float = 0.05,
               l2: float = 3.0, bins: int = 48, valid: tuple[Floats, Floats] | None = None,
               seed: int = 0, subsample: float = 0.8) -> tuple[Forest, list[float]]:  # fmt: skip
    """Boosted oblivious trees for log loss; with `valid`, keeps the prefix with the best validation loss."""
    rng = np.random.default_rng(seed)
    edges = _edges(x, bins)
    binned = _binned(x, edges)
    prior = float(np.clip(y.mean(), 1e-4, 1 - 1e-4))
    base = float(np.log(prior / (1 - prior)))
    margin = np.full(len(y), base)
    vmargin = np.full(len(valid[1]), base) if valid is not None else None
    feats, thresholds, values, losses = [], [], [], []
    for _ in range(trees):
        p = 1 / (1 + np.exp(-margin))
        g, h = p - y, p * (1 - p)
        keep = rng.random(len(y)) < subsample
        g, h = g * keep, h * keep
        leaf = np.zeros(len(y), dtype=np.int64)
        tree_f: list[int] = []
        tree_t: list[float] = []
        for level in range(depth):
            j, k, _ = _best_split(binned, leaf, g, h, 1 << level, edges, l2, set(tree_f))
            j, k = (j, k) if j >= 0 else (tree_f[-1] if tree_f else 0, 0)
            threshold = float(edges[j][k]) if len(edges[j]) else 0.0
            tree_f.append(j)
            tree_t.append(threshold)
            leaf = leaf | ((x[:, j] > threshold).astype(np.int64) << level)
        size = 1 << depth
        leaf_g = np.bincount(leaf, weights=g, minlength=size)
        leaf_h = np.bincount(leaf, weights=h, minlength=size)
        value = -learning_rate * leaf_g / (leaf_h + l2)
        margin += value[leaf]
        feats.append(tree_f)
        thresholds.append(tree_t)
        values.append(value)
        if valid is not None and vmargin is not None:
            one = Forest(np.array([tree_f]), np.array([tree_t]), np.array([value]), 0.0)
            vmargin += one.margin(valid[0])
            losses.append(log_loss(vmargin, valid[1]))
    count = int(np.argmin(losses)) + 1 if losses else trees
    forest = Forest(np.array(feats[:count], dtype=np.int64), np.array(thresholds[:count]),
                    np.array(values[:count]), base)  # fmt: skip
    return forest, losses


def log_loss(margin: Floats, y: Floats) -> float:
    p = np.clip(1 / (1 + np.exp(-margin)), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass(frozen=True)
class Platt:
    """P = sigmoid(slope * margin + intercept): a monotone map that keeps the trees' ranking at the top (an
    isotonic map pools the top scores into one flat block, and the highest thresholds then all mean the same)."""

    slope: float
    intercept: float

    def __call__(self, margin: Floats | float) -> Floats:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * np.asarray(margin) + self.intercept))), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"slope": round(self.slope, 6), "intercept": round(self.intercept, 6)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Platt:
        return cls(slope=float(raw["slope"]), intercept=float(raw["intercept"]))


def fit_platt(margin: Floats, y: Floats, *, steps: int = 50) -> Platt:
    """Logistic regression of the labels on the margin (Newton's method, a tiny ridge for stability)."""
    a, b = 1.0, 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(a * margin + b)))
        w = p * (1 - p) + 1e-9
        grad = np.array([np.sum((p - y) * margin) + 1e-3 * a, np.sum(p - y)])
        hess = np.array([[np.sum(w * margin * margin) + 1e-3, np.sum(w * margin)], [np.sum(w * margin), np.sum(w)]])
        step = np.linalg.solve(hess, grad)
        a, b = a - float(step[0]), b - float(step[1])
        if float(np.abs(step).max()) < 1e-8:
            break
    return Platt(slope=a, intercept=b)
