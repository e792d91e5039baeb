"""RouteLLM's router metrics, computed exactly (no threshold grid): a router is a score per prompt; sending the
k highest-scored prompts to the strong model, for k = 0..n, traces accuracy against strong-call share.

PGR(k) = (acc(k) - acc_weak) / (acc_strong - acc_weak). CPT(x) = the smallest strong-call share whose PGR
reaches x. APGR = area under PGR over the share in [0, 1] (trapezoids over every k). Prompts with equal scores
are one block: inside a block the router cannot choose, so the curve is the block's average (a straight line),
which is also the expectation over random tie-breaking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Curve:
    share: Floats  # strong-call share, k/n for k = 0..n
    accuracy: Floats  # accuracy at each share
    acc_weak: float
    acc_strong: float

    @property
    def pgr(self) -> Floats:
        span = self.acc_strong - self.acc_weak
        return (self.accuracy - self.acc_weak) / span if span else np.zeros_like(self.accuracy)


def curve(scores: Floats, weak: Floats, strong: Floats) -> Curve:
    """The accuracy-vs-share curve of a router with these scores (higher = strong first)."""
    n = len(scores)
    gain = strong - weak
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_gain = scores[order], gain[order]
    # Replace each tied block's gains by their mean: expected curve under random tie-breaking.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    sums = np.add.reduceat(sorted_gain, starts)
    sizes = np.diff(np.r_[starts, n])
    smoothed = np.repeat(sums / sizes, sizes)
    accuracy = (weak.sum() + np.r_[0.0, np.cumsum(smoothed)]) / n
    return Curve(np.arange(n + 1) / n, accuracy, float(weak.mean()), float(strong.mean()))


def apgr(c: Curve) -> float:
    return float(np.trapezoid(c.pgr, c.share))


def cpt(c: Curve, target: float) -> float:
    """Smallest strong-call share with PGR >= target (1.0 if never reached)."""
    reached = np.flatnonzero(c.pgr >= target - 1e-12)
    return float(c.share[reached[0]]) if len(reached) else 1.0


def share_for_accuracy(c: Curve, accuracy: float) -> float | None:
    """Smallest strong-call share reaching the accuracy (None if no share does)."""
    reached = np.flatnonzero(c.accuracy >= accuracy - 1e-12)
    return float(c.share[reached[0]]) if len(reached) else None


def summary(c: Curve) -> dict[str, float]:
    return {"apgr": round(apgr(c), 4), "cpt50": round(cpt(c, 0.5), 4), "cpt80": round(cpt(c, 0.8), 4)}
