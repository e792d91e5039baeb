"""The Numenta Anomaly Benchmark, scored as NAB v1.1 scores it (nab/sweeper.py, nab/runner.py).

Per file: the first 15% of rows (at most 750) are probationary and not scored. A detection inside a
labelled window scores tpWeight * S(position) / S(-1) (only the window's best, i.e. earliest, one counts);
a window without one costs -fnWeight; a detection outside any window costs fpWeight * S(distance after
the preceding window, in window widths), or -fpWeight before the first window. S(x) = 2*sigmoid(-5x) - 1.
The threshold is chosen over the whole corpus to maximise the profile's raw score, then
normalised: 100 * (raw - null) / (perfect - null), null = no detections, perfect = tpWeight * windows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.datasets import shared_data_dir
from core.detectors.anomaly import PointDetectorConfig, read_series_csv, score_series
from evals.evaluators import Example, Results, Score
from evals.evaluators import evaluate as evaluate_examples

DATA_DIR = shared_data_dir() / "anomaly" / "nab"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
PUBLISHED_STANDARD = {
    "numenta_htm": 70.5, "cad_ose": 69.9, "earthgecko_skyline": 58.2, "knn_cad": 58.0,
    "relative_entropy": 54.6, "random_cut_forest": 51.7, "twitter_advec": 47.1,
    "windowed_gaussian": 39.6, "bayesian_changepoint": 17.7, "random": 11.0,
}  # fmt: skip
Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]
Windows = list[tuple[np.datetime64, np.datetime64]]


@dataclass(frozen=True)
class Weights:
    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class FileSweep:
    """One file's scorable rows (after probation): anomaly score, unweighted sigmoid, window id or -1."""

    anomaly: Floats
    sigmoid: Floats
    window: npt.NDArray[np.int64]
    windows_total: int

    @property
    def windows_scored(self) -> int:
        return len(set(self.window[self.window >= 0].tolist()))


def scaled_sigmoid(position: Floats) -> Floats:
    """NAB's S(x): ~0.987 at a window's left edge (-1), 0 at its right edge, -1 from 3 widths after it."""
    out = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, out)


def probation_length(rows: int, percent: float = 0.15) -> float:
    return min(math.floor(percent * rows), percent * 5000)


def sweep_file(timestamps: Times, anomaly: Floats, windows: Windows, *, probation: float = 0.15) -> FileSweep:
    """Label every row: in which window (if any) and its unweighted TP/FP sigmoid value."""
    rows = len(timestamps)
    window_id = np.full(rows, -1, dtype=np.int64)
    position = np.full(rows, 3.0)  # before the first window: an FP at full cost
    bounds = [_window_indices(timestamps, start, end) for start, end in windows]
    index = np.arange(rows)
    for number, (left, right) in enumerate(bounds):
        width = right - left + 1
        inside = slice(left, right + 1)
        window_id[inside] = number
        position[inside] = -(right - index[inside] + 1) / width
        next_left = bounds[number + 1][0] if number + 1 < len(bounds) else rows
        after = slice(right + 1, next_left)
        position[after] = np.abs(right - index[after]) / max(width - 1, 1)
    first = math.ceil(probation_length(rows, probation))
    return FileSweep(
        anomaly[first:].astype(np.float64), scaled_sigmoid(position)[first:], window_id[first:], len(windows)
    )


def _window_indices(timestamps: Times, start: np.datetime64, end: np.datetime64) -> tuple[int, int]:
    left = int(np.searchsorted(timestamps, start, side="left"))
    right = int(np.searchsorted(timestamps, end, side="right")) - 1
    return left, max(left, right)


def _events(sweep: FileSweep, weights: Weights) -> tuple[Floats, Floats]:
    """(anomaly score, change of the raw score when the threshold drops to it) for every scorable row."""
    outside = sweep.window < 0
    scores = [sweep.anomaly[outside]]
    deltas = [sweep.sigmoid[outside] * weights.fp]
    max_tp = float(scaled_sigmoid(np.array([-1.0]))[0])
    for number in np.unique(sweep.window[~outside]):
        rows = np.flatnonzero(sweep.window == number)
        order = rows[np.argsort(-sweep.anomaly[rows], kind="stable")]
        best = np.maximum.accumulate(sweep.sigmoid[order] * weights.tp / max_tp)
        scores.append(sweep.anomaly[order])
        deltas.append(np.diff(best, prepend=-weights.fn))
    return np.concatenate(scores), np.concatenate(deltas)


def score_curve(sweeps: list[FileSweep], weights: Weights) -> tuple[Floats, Floats]:
    """Raw corpus score at every candidate threshold (1.1, then each distinct anomaly score, descending)."""
    parts = [_events(sweep, weights) for sweep in sweeps]
    scores = np.concatenate([p[0] for p in parts])
    deltas = np.concatenate([p[1] for p in parts])
    order = np.argsort(-scores, kind="stable")
    scores, total = scores[order], np.cumsum(deltas[order])
    last_of_group = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    base = -weights.fn * sum(sweep.windows_scored for sweep in sweeps)
    thresholds = np.concatenate([[1.1], scores[last_of_group]])
    return thresholds, np.concatenate([[base], base + total[last_of_group]])


def raw_score(sweep: FileSweep, threshold: float, weights: Weights) -> float:
    """One file's raw score when rows with anomaly score >= threshold are detections."""
    scores, deltas = _events(sweep, weights)
    return -weights.fn * sweep.windows_scored + float(deltas[scores >= threshold].sum())


def normalized(raw: float, sweeps: list[FileSweep], weights: Weights) -> float:
    null = -weights.fn * sum(s.windows_scored for s in sweeps)
    perfect = weights.tp * sum(s.windows_total for s in sweeps)
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else float("nan")


def evaluate(sweeps: Mapping[str, FileSweep], weights: Weights) -> dict[str, Any]:
    """Optimise the threshold over the corpus; the normalised score, overall and per category."""
    files = list(sweeps.values())
    thresholds, raws = score_curve(files, weights)
    best = int(np.argmax(raws))  # ties: the highest threshold, as NAB's stable sort keeps it
    threshold = float(thresholds[best])
    categories: dict[str, dict[str, float | None]] = {}
    for category in sorted({name.split("/")[0] for name in sweeps}):
        members = [s for name, s in sweeps.items() if name.split("/")[0] == category]
        raw = sum(raw_score(s, threshold, weights) for s in members)
        score = normalized(raw, members, weights)  # NaN when the category has no windows: only FPs count
        categories[category] = {"raw": round(raw, 3), "score": None if math.isnan(score) else round(score, 2)}
    return {"threshold": threshold, "score": normalized(float(raws[best]), files, weights), "categories": categories,
            "files": {name: file_report(s, threshold, weights) for name, s in sweeps.items()}}  # fmt: skip


def file_report(sweep: FileSweep, threshold: float, weights: Weights) -> dict[str, float]:
    """What the corpus threshold did in one file: windows found, false positives (rows), its raw score."""
    detected = sweep.anomaly >= threshold
    found = len(set(sweep.window[detected & (sweep.window >= 0)].tolist()))
    false_positives = int((detected & (sweep.window < 0)).sum())
    return {"windows": sweep.windows_total, "found": found, "false_positives": false_positives,
            "raw": round(raw_score(sweep, threshold, weights), 3)}  # fmt: skip


@dataclass(frozen=True)
class FileEvaluator:
    """One NAB file at the profile's corpus threshold (evals/evaluators.py signature): inputs = the file's name,
    outputs = the detector's scores on it (a FileSweep), reference = its labelled windows."""

    threshold: float
    weights: Weights

    def __call__(self, *, inputs: str, outputs: FileSweep, reference: Windows) -> list[Score]:
        report = file_report(outputs, self.threshold, self.weights)
        windows, found, fps = len(reference), int(report["found"]), int(report["false_positives"])
        comment = f"found {found} of {windows} windows, {fps} false-positive rows, raw {report['raw']}"
        recall = Score("window_recall", found / windows, comment, windows, found == windows) if windows else None
        return [recall or Score.skip("window_recall"), Score("false_positives", fps, comment),
                Score("raw", report["raw"], comment)]  # fmt: skip


def file_results(sweeps: Mapping[str, FileSweep], windows: Mapping[str, Windows], threshold: float,
                 weights: Weights) -> Results:  # fmt: skip
    """Every file's scores at the corpus threshold; failures name the files with a missed window."""
    examples = [Example(name, name, sweep, windows[name]) for name, sweep in sweeps.items()]
    return evaluate_examples(examples, (FileEvaluator(threshold, weights),))


def load_weights(data_dir: Path) -> dict[str, Weights]:
    profiles = json.loads((data_dir / "config" / "profiles.json").read_text())
    return {name: Weights(m["tpWeight"], m["fpWeight"], m["fnWeight"])
            for name, p in profiles.items() for m in [p["CostMatrix"]]}  # fmt: skip


def load_windows(data_dir: Path) -> dict[str, Windows]:
    labels = json.loads((data_dir / "labels" / "combined_windows.json").read_text())
    return {name: [(_stamp(a), _stamp(b)) for a, b in spans] for name, spans in labels.items()}


def _stamp(text: str) -> np.datetime64:
    return np.datetime64(text.replace(" ", "T")[:19], "s")


def corpus_files(data_dir: Path, windows: Mapping[str, Windows], only: str | None = None) -> list[str]:
    """Relative names ('realTweets/Twitter_volume_AAPL.csv') of the labelled files, optionally filtered."""
    names = sorted(n for n in windows if (data_dir / "data" / n).is_file())
    return [n for n in names if only is None or only in n]


def _detect(args: tuple[Path, dict[str, Any]]) -> tuple[Times, Floats]:
    path, detector_config = args
    _, (timestamps, values) = read_series_csv(path)
    return timestamps, score_series(timestamps, values, PointDetectorConfig(**detector_config))


def run_detector(data_dir: Path, names: list[str], detector_config: dict[str, Any], *,
                 workers: int = 2) -> dict[str, tuple[Times, Floats]]:  # fmt: skip
    jobs = [(data_dir / "data" / name, detector_config) for name in names]
    if workers <= 1:
        return dict(zip(names, map(_detect, jobs), strict=True))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(zip(names, pool.map(_detect, jobs), strict=True))


def score_results(results: Mapping[str, tuple[Times, Floats]], windows: Mapping[str, Windows],
                  weights: Mapping[str, Weights]) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Every profile's evaluation of one detector's per-file scores."""
    sweeps = {name: sweep_file(ts, scores, windows[name]) for name, (ts, scores) in results.items()}
    return {profile: evaluate(sweeps, w) for profile, w in weights.items()}


def nab_suite(config: dict[str, Any]) -> dict[str, Any]:
    """Run the point detector on NAB and score it. config: data_dir, detector (PointDetectorConfig
    fields), workers, only (substring filter on file names, for quick looks)."""
    data_dir = Path(config.get("data_dir") or DATA_DIR)
    windows = load_windows(data_dir)
    names = corpus_files(data_dir, windows, config.get("only"))
    results = run_detector(data_dir, names, dict(config.get("detector") or {}), workers=int(config.get("workers", 2)))
    evaluations = score_results(results, windows, load_weights(data_dir))
    metrics: dict[str, Any] = {p: round(e["score"], 2) for p, e in evaluations.items()}
    metrics |= {f"threshold_{p}": round(e["threshold"], 4) for p, e in evaluations.items()}
    metrics["threshold"] = metrics.get("threshold_standard")
    metrics["files"] = len(names)
    metrics["categories_standard"] = {c: v["score"] for c, v in evaluations["standard"]["categories"].items()}
    metrics["categories_standard_raw"] = {c: v["raw"] for c, v in evaluations["standard"]["categories"].items()}
    metrics["files_standard"] = evaluations["standard"]["files"]
    metrics["published_standard"] = PUBLISHED_STANDARD
    sweeps = {name: sweep_file(ts, scores, windows[name]) for name, (ts, scores) in results.items()}
    per_file = file_results(sweeps, windows, evaluations["standard"]["threshold"], load_weights(data_dir)["standard"])
    metrics["failures"] = per_file.failures(limit=15)
    return metrics
