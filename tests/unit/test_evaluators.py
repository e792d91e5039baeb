"""The one evaluator signature (evals/evaluators.py): (inputs, outputs, reference) → named Score(s) with a comment,
aggregated over a dataset, and the failed examples' comments reaching the Markdown report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evals import harness
from evals.evaluators import Evaluator, Example, Score, evaluate, run_target


def exact_match(*, inputs: Any, outputs: Any, reference: Any) -> Score:
    ok = outputs == reference
    return Score.check("exact", ok, "" if ok else f"{inputs!r}: got {outputs!r}, expected {reference!r}")


def length_error(*, inputs: Any, outputs: Any, reference: Any) -> list[Score]:
    if outputs is None:
        return [Score.skip("length_error")]
    return [Score("length_error", abs(len(str(outputs)) - len(str(reference))), f"{outputs!r}")]


DATASET = [Example("a", "2+2", "4", "4"), Example("b", "3*3", "6", "9"), Example("c", "1-1", None, "0")]


def test_plain_functions_and_callables_share_the_signature() -> None:
    class Contains:
        def __call__(self, *, inputs: Any, outputs: Any, reference: Any) -> Score:
            return Score.check("contains", str(reference) in str(outputs))

    evaluators: list[Evaluator] = [exact_match, length_error, Contains()]
    results = evaluate(DATASET, evaluators)
    assert [s.example for s in results.scored] == ["a", "a", "a", "b", "b", "b", "c", "c", "c"]
    assert results.by_example("contains") == {"a": 1.0, "b": 0.0, "c": 0.0}


def test_mean_skips_scores_that_do_not_apply() -> None:
    results = evaluate(DATASET, [exact_match, length_error])
    assert results.mean("exact", 4) == pytest.approx(0.3333)
    assert results.values("length_error") == [0.0, 0.0]  # c's output is None: skipped, not counted as 0
    assert results.mean("length_error") == 0.0
    assert results.mean("unknown") is None
    assert results.mean("unknown", default=1.0) == 1.0
    assert not results.all_passed("exact")


def test_weighted_mean_is_a_ratio_of_sums() -> None:
    scores = [Example("x", None, (9, 10), None), Example("y", None, (0, 0), None), Example("z", None, (1, 2), None)]

    def grounded(*, inputs: Any, outputs: tuple[int, int], reference: Any) -> Score:
        good, numbers = outputs
        return Score("grounded", good / numbers if numbers else 1.0, weight=numbers, passed=good == numbers)

    results = evaluate(scores, [grounded])
    assert results.mean("grounded") == pytest.approx(10 / 12)  # not the mean of 0.9, 1.0 and 0.5
    assert results.weight("grounded") == 12
    assert results.failures() == ["x: grounded", "z: grounded"]


def test_worst_and_total() -> None:
    rows = [Example(k, None, v, None) for k, v in (("p", 0.2), ("q", 0.7), ("r", 0.7))]
    results = evaluate(rows, [lambda *, inputs, outputs, reference: Score("err", outputs)])
    worst = results.worst("err")
    assert worst is not None
    assert (worst.example, worst.score.value) == ("q", 0.7)  # the first on ties
    best = results.worst("err", highest=False)
    assert best is not None
    assert best.example == "p"
    assert results.total("err") == pytest.approx(1.6)


def test_a_failing_example_keeps_its_comment() -> None:
    results = evaluate(DATASET, [exact_match])
    assert results.failures() == ["b: exact: '3*3': got '6', expected '9'", "c: exact: '1-1': got None, expected '0'"]
    assert results.failures(limit=1) == ["b: exact: '3*3': got '6', expected '9'", "… and 1 more"]


def test_run_target_builds_examples_from_the_system_under_test() -> None:
    examples = run_target([("sq2", 2, 4), ("sq3", 3, 10)], lambda x: x * x)
    results = evaluate(examples, [exact_match])
    assert results.by_example("exact") == {"sq2": 1.0, "sq3": 0.0}


def test_the_markdown_report_lists_failed_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "REPORTS", tmp_path)
    results = evaluate(DATASET, [exact_match])
    metrics = {"exact": results.mean("exact", 4), "offline.failures": results.failures(),
               "explain": {"recall": 1.0, "failures": ["spike: missed"]}}  # fmt: skip
    path = harness.write_report([{"name": "toy", "config": {}, "metrics": metrics}])
    markdown = path.with_suffix(".md").read_text()
    assert "| exact | 0.3333 |" in markdown
    assert "- b: exact: '3*3': got '6', expected '9'" in markdown
    assert "- spike: missed" in markdown
    assert "| offline.failures |" not in markdown  # the comments are listed under the table, not in it
    assert json.loads(path.read_text())["suites"][0]["metrics"]["offline.failures"] == results.failures()


def _counted_rates(hits: Any, labels: Any) -> dict[str, float | int | None]:
    """Precision, recall and false-hit rate counted directly from arrays (independent of the evaluators)."""
    true_hits = int(np.sum(hits & (labels == 1)))
    return {
        "hits": int(hits.sum()),
        "precision": round(true_hits / int(hits.sum()), 4) if hits.any() else None,
        "recall": round(true_hits / max(int(np.sum(labels == 1)), 1), 4),
        "false_hit_rate": round(int(np.sum(hits & (labels == 0))) / max(int(np.sum(labels == 0)), 1), 4),
    }


def test_cache_hit_scores_give_the_cache_suites_rates() -> None:
    from core.cache.pairs import Pair
    from evals.suite_evaluators import cache_rates, cache_results

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    similarity = np.clip(0.6 + 0.3 * labels + rng.normal(0, 0.15, 300), 0, 1)
    pairs = [Pair(f"q{i}", f"p{i}", int(label)) for i, label in enumerate(labels)]
    for threshold in (0.5, 0.8, 0.95, 2.0):
        results = cache_results(pairs, similarity, threshold)
        assert cache_rates(results) == _counted_rates(similarity >= threshold, labels.astype(np.int64))
    assert all(
        line.split(": ", 2)[1] == "precision" for line in cache_results(pairs, similarity, 0.5).failures(limit=300)
    )


def test_router_curve_and_targets() -> None:
    from evals.routing_metrics import curve, summary
    from evals.suite_evaluators import PERF_TARGETS, Target, check_targets, quantile, router_curve

    rng = np.random.default_rng(5)
    weak, strong = rng.integers(0, 2, 200).astype(float), rng.integers(0, 2, 200).astype(float)
    scores = strong - weak + rng.normal(0, 0.5, 200)
    named = {s.name: s.value for s in router_curve(inputs=None, outputs=scores, reference=(weak, strong))}
    assert named == summary(curve(scores, weak, strong))
    p99 = Target("gateway_overhead_p99_ms", 10.0, unit=" ms")
    missed = p99(inputs=None, outputs=145.0)
    assert (missed.value, missed.passed, missed.comment) == (0.0, False, "145 ms misses the target ≤ 10 ms")
    assert Target("ingest_events_per_s", 100_000, higher=True)(inputs=None, outputs=120_000.0).passed
    assert Target("x", 1.0)(inputs=None, outputs=None).value is None
    assert quantile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    measured = {"ingest_events_per_s": 21_000, "costs_by_model_p95_ms": 16.0, "gateway_overhead_p99_ms": 145.0}
    assert check_targets(measured, PERF_TARGETS) == [
        "ingest_events_per_s: 21000 events/s misses the target ≥ 100000 events/s",
        "gateway_overhead_p99_ms: 145 ms misses the target ≤ 10 ms",
    ]


def test_nab_file_evaluator_names_a_missed_window() -> None:
    from evals.nab import FileEvaluator, Weights, sweep_file

    ts = np.datetime64("2024-01-01T00:00") + np.arange(1000) * np.timedelta64(1, "m")
    windows = [(ts[300], ts[399]), (ts[700], ts[799])]
    scores = np.zeros(1000)
    scores[[320, 900]] = 1.0  # the first window found early, the second missed, one false positive after it
    scored = FileEvaluator(1.0, Weights(tp=1.0, fp=0.11, fn=1.0))(
        inputs="x/a.csv", outputs=sweep_file(ts, scores, windows), reference=windows
    )
    recall = next(s for s in scored if s.name == "window_recall")
    assert (recall.value, recall.passed) == (0.5, False)
    assert recall.comment.startswith("found 1 of 2 windows, 1 false-positive rows")
