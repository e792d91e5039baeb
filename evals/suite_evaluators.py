"""Evaluators (evals/evaluators.py signature) for the cache, routing and measurement suites (cache, routing,
gateway, perf, track), written apart from those suites' modules so they can be ported one small edit at a time.

- `CacheHit(threshold)`: one Quora pair (inputs), the matcher's similarity (outputs), its label (reference): the
  means of its scores are precision, recall and false-hit rate exactly as evals/cache.py's `rates` computes them.
- `router_curve`: one dataset (inputs: its rows), a router's scores (outputs), the weak/strong outcomes
  (reference): RouteLLM's APGR, CPT(50%), CPT(80%) (evals/routing_metrics.py).
- `Target(name, limit)`: a measured figure (outputs) against its target (reference, or `limit`): a check whose
  comment says by how much a target is missed (perf, gateway, track).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.cache.pairs import Pair
from evals.evaluators import Example, Results, Score, evaluate
from evals.routing_metrics import Floats, curve, summary


@dataclass(frozen=True)
class CacheHit:
    threshold: float

    def __call__(self, *, inputs: Pair, outputs: float, reference: int) -> list[Score]:
        hit, same = outputs >= self.threshold, reference == 1
        seen = f"{outputs:.3f} at {self.threshold}: {inputs.text_a[:60]!r} ~ {inputs.text_b[:60]!r}"
        return [
            Score("hits", float(hit)),
            Score.check("precision", same, f"false hit {seen}") if hit else Score.skip("precision"),
            Score("recall", float(hit), f"missed repeat {seen}") if same else Score.skip("recall"),
            Score("false_hit_rate", float(hit)) if not same else Score.skip("false_hit_rate"),
        ]


def cache_results(pairs: Sequence[Pair], similarity: Floats, threshold: float) -> Results:
    examples = [Example(str(i), p, float(s), p.label) for i, (p, s) in enumerate(zip(pairs, similarity, strict=True))]
    return evaluate(examples, (CacheHit(threshold),))


def cache_rates(results: Results) -> dict[str, float | int | None]:
    """The figures of evals/cache.py's `rates` from CacheHit scores."""
    return {
        "hits": int(results.total("hits")),
        "precision": results.mean("precision", 4),
        "recall": results.mean("recall", 4, default=0.0),
        "false_hit_rate": results.mean("false_hit_rate", 4, default=0.0),
    }


def router_curve(*, inputs: Any, outputs: Floats, reference: tuple[Floats, Floats]) -> list[Score]:
    """APGR and CPT(50/80%) of a router's scores on one dataset; the comment puts APGR against random (0.5)."""
    figures = summary(curve(outputs, *reference))
    comment = f"APGR {figures['apgr']} vs 0.5 for a random router"
    return [Score("apgr", figures["apgr"], comment, passed=figures["apgr"] > 0.5),
            Score("cpt50", figures["cpt50"]), Score("cpt80", figures["cpt80"])]  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A measured figure against its target: at most `limit` (latency, memory) or, `higher`, at least (rates)."""

    name: str
    limit: float | None = None
    higher: bool = False
    unit: str = ""

    def __call__(self, *, inputs: Any, outputs: float | None, reference: float | None = None) -> Score:
        limit = self.limit if reference is None else reference
        if outputs is None or limit is None or np.isnan(outputs):
            return Score.skip(self.name, "not measured")
        ok = outputs >= limit if self.higher else outputs <= limit
        sign = "≥" if self.higher else "≤"
        verdict = "meets" if ok else "misses"
        return Score.check(self.name, ok, f"{outputs:g}{self.unit} {verdict} the target {sign} {limit:g}{self.unit}")


def check_targets(metrics: Mapping[str, Any], targets: Sequence[Target]) -> list[str]:
    """Each measured metric against its target; `name: comment` of those missed (a suite's `failures`)."""
    scores = [t(inputs=t.name, outputs=metrics[t.name]) for t in targets if metrics.get(t.name) is not None]
    return [f"{s.name}: {s.comment}" for s in scores if s.passed is False]


# The issue's targets (issue 7 item 3 and the data-plane / gateway / agents issues), by the suites' metric names.
PERF_TARGETS = (
    Target("ingest_events_per_s", 100_000, higher=True, unit=" events/s"),
    Target("costs_by_model_p95_ms", 150, unit=" ms"),
    Target("costs_by_feature_p95_ms", 150, unit=" ms"),
    Target("gateway_overhead_p50_ms", 2, unit=" ms"),
    Target("gateway_overhead_p99_ms", 10, unit=" ms"),
    Target("nightly_seconds", 60, unit=" s"),
)
TRACK_TARGETS = (Target("events_per_second", 30_000, higher=True, unit=" events/s"),)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) of measured values, rounded to 3 places, as the perf suites report them."""
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 3) if len(values) else None
