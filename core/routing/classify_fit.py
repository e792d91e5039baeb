"""Fitting the learned part of the router score (classify_model) on RouteLLM outcomes, honestly.

Data: ../shared/data/routing (RouteLLM evals: did Mixtral-8x7B / GPT-4-1106 answer each prompt correctly).
Split (fixed, no randomness to re-roll): GSM8K by prompt (sha256 of the prompt, even first byte = fit half);
MMLU by subject (the subjects ordered by sha256 of their name, every other one = fit half), so the reported
half holds subjects the model never saw. Contaminated rows are dropped. Only the fit half is used here; the
routing eval suite reports the other half.

Target: gain = strong_correct - weak_correct (in {-1, 0, 1}); the best router sends prompts to the strong model
in decreasing order of expected gain. Model: one ridge regression on standardized features (numpy, closed form)
per head of classify_model: `choice` on the fit rows the classifier sends to it (MMLU), `math` likewise (GSM8K),
`general` on all fit rows. Each head's ridge penalty and learned slope (classify.route_score) are chosen by
cross-validation inside the fit half (folds grouped by MMLU subject, so a fold's subjects are unseen, like the
reported half's): the pair with the best pooled out-of-fold APGR (RouteLLM's metric, core/routing/
classify_metrics), averaged over the datasets.

Run `python -m core.routing.classify_fit` to rewrite core/routing/classify_weights.py.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.datasets import shared_data_dir
from core.routing import classify_model
from core.routing.classify import LEARNED_SPAN, PRIOR_SLOPE, head_inputs
from core.routing.classify_metrics import apgr, curve

DATA_DIR = shared_data_dir() / "routing"
WEIGHTS_FILE = Path(__file__).resolve().parent / "classify_weights.py"
DATASETS = ("gsm8k", "mmlu")
_FILES = {"gsm8k": "gsm8k.csv", "mmlu": "mmlu_dev.csv"}
RIDGE = 3.0
RIDGES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)  # candidate penalties
LEARNED_SLOPES = (0.0, 1.0, 2.5, 5.0, 10.0, 20.0)  # candidate slopes of the learned delta (classify.route_score)
FOLDS, REPEATS = 5, 3
MIN_ROWS = 100  # a head with fewer fit rows is left out (the prior alone scores its prompts)
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Row:
    dataset: str
    group: str  # MMLU subject; GSM8K: "gsm8k"
    prompt: str
    weak: bool
    strong: bool

    @property
    def gain(self) -> int:
        return int(self.strong) - int(self.weak)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def load_rows(dataset: str, *, data_dir: Path = DATA_DIR) -> list[Row]:
    """A dataset's uncontaminated rows, in file order."""
    with (data_dir / _FILES[dataset]).open(newline="") as handle:
        return [
            Row(dataset, raw.get("subject") or dataset, raw["prompt"], raw["weak_correct"] == "True",
                raw["strong_correct"] == "True")
            for raw in csv.DictReader(handle)
            if raw["contaminated"] != "True"
        ]  # fmt: skip


def fit_subjects(rows: list[Row]) -> frozenset[str]:
    """MMLU subjects in the fit half: ordered by sha256 of the name, every other one."""
    ordered = sorted({row.group for row in rows}, key=lambda name: _digest(name))
    return frozenset(ordered[::2])


def split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """(fit, report) halves of one dataset's rows (see the module docstring)."""
    if not rows:
        return [], []
    if rows[0].dataset == "mmlu":
        chosen = fit_subjects(rows)
        in_fit = [row.group in chosen for row in rows]
    else:
        in_fit = [_digest(row.prompt)[0] % 2 == 0 for row in rows]
    fit = [row for row, flag in zip(rows, in_fit, strict=True) if flag]
    report = [row for row, flag in zip(rows, in_fit, strict=True) if not flag]
    return fit, report


@dataclass(frozen=True)
class Prepared:
    """Fit rows of every dataset with what the classifier computes for them."""

    rows: list[Row]
    heads: list[str]  # the head the classifier sends each row to
    inputs: list[list[float]]  # that head's inputs
    general: Floats  # the general inputs
    prior: Floats  # the seed prior


def prepare(rows_by_dataset: dict[str, list[Row]]) -> Prepared:
    rows = [row for dataset_rows in rows_by_dataset.values() for row in split(dataset_rows)[0]]
    found = [head_inputs(row.prompt) for row in rows]
    return Prepared(
        rows, [f[0] for f in found], [f[1] for f in found], np.array([f[2] for f in found], dtype=np.float64),
        np.array([f[3] for f in found], dtype=np.float64),
    )  # fmt: skip


def fit_ridge(x: Floats, y: Floats, w: Floats, *, ridge: float = RIDGE) -> tuple[Floats, Floats, Floats, float]:
    """(coefficients, mean, scale, intercept) of a row-weighted ridge regression on standardized features;
    `ridge` is the penalty per unit of total row weight (weights are normalized to sum to 1)."""
    w = w / w.sum()
    mean = np.asarray(w @ x, dtype=np.float64)
    scale = np.asarray(np.sqrt(w @ (x - mean) ** 2), dtype=np.float64)
    scale[scale < 1e-6] = 1.0  # constant (or nearly) in the fit data: left unscaled
    z = (x - mean) / scale
    intercept = float(w @ y)
    gram = (z * w[:, None]).T @ z + ridge / 100.0 * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, (z * w[:, None]).T @ (y - intercept))
    return np.asarray(coef, dtype=np.float64), mean, scale, intercept


@dataclass(frozen=True)
class HeadData:
    x: Floats
    y: Floats  # gain
    w: Floats  # row weight: each dataset weighted equally
    rows: list[Row]
    prior: Floats


def head_data(prepared: Prepared, head: str) -> HeadData:
    """The fit rows of a head (`general`: all rows, on the general inputs) and their targets and weights."""
    chosen = [i for i, name in enumerate(prepared.heads) if head == "general" or name == head]
    rows = [prepared.rows[i] for i in chosen]
    x = prepared.general[chosen] if head == "general" else np.array([prepared.inputs[i] for i in chosen])
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row.dataset] = sizes.get(row.dataset, 0) + 1
    w = np.array([1.0 / sizes[row.dataset] for row in rows])
    y = np.array([row.gain for row in rows], dtype=np.float64)
    return HeadData(np.asarray(x, dtype=np.float64), y, w, rows, prepared.prior[chosen])


def squash(prior: Floats, gain_delta: Floats, learned_slope: float) -> Floats:
    """classify.route_score over arrays (without its rounding)."""
    logit = PRIOR_SLOPE * (prior - 0.5) + LEARNED_SPAN * np.tanh(learned_slope * gain_delta)
    return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float64)


def pooled_apgr(scores: Floats, rows: list[Row]) -> float:
    """APGR of the scores on these rows, per dataset, averaged over the datasets present."""
    values = []
    for dataset in sorted({row.dataset for row in rows}):
        mask = np.array([row.dataset == dataset for row in rows])
        weak = np.array([row.weak for row in rows], dtype=np.float64)[mask]
        strong = np.array([row.strong for row in rows], dtype=np.float64)[mask]
        values.append(apgr(curve(scores[mask], weak, strong)))
    return float(np.mean(values))


def out_of_fold(data: HeadData, ridge: float, *, seed: int, folds: int = FOLDS) -> Floats:
    """Out-of-fold predicted gains; folds grouped by MMLU subject (GSM8K: by prompt), shuffled by `seed`."""
    groups = sorted({row.group if row.dataset == "mmlu" else row.prompt for row in data.rows})
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of = {groups[g]: k % folds for k, g in enumerate(order)}
    fold = np.array([fold_of[row.group if row.dataset == "mmlu" else row.prompt] for row in data.rows])
    predicted = np.zeros(len(data.rows))
    for k in range(folds):
        test = fold == k
        coef, mean, scale, intercept = fit_ridge(data.x[~test], data.y[~test], data.w[~test], ridge=ridge)
        predicted[test] = intercept + ((data.x[test] - mean) / scale) @ coef
    return predicted


def choose(data: HeadData) -> tuple[float, float, float]:
    """(ridge, learned slope, cross-validated APGR): the best mean out-of-fold APGR over REPEATS shuffles."""
    results: dict[tuple[float, float], list[float]] = {}
    for seed in range(REPEATS):
        for ridge in RIDGES:
            delta = out_of_fold(data, ridge, seed=seed) - float((data.w / data.w.sum()) @ data.y)
            for weight in LEARNED_SLOPES:
                score = pooled_apgr(squash(data.prior, delta, weight), data.rows)
                results.setdefault((ridge, weight), []).append(score)
    (ridge, weight), scores = max(results.items(), key=lambda item: float(np.mean(item[1])))
    return ridge, weight, float(np.mean(scores))


def fit(rows_by_dataset: dict[str, list[Row]]) -> dict[str, object]:
    """Fit every head on the fit halves (see the module docstring)."""
    prepared = prepare(rows_by_dataset)
    heads: dict[str, object] = {}
    for head in classify_model.HEADS:
        data = head_data(prepared, head)
        if len(data.rows) < MIN_ROWS:
            continue
        ridge, slope, cv_apgr = choose(data)
        coef, mean, scale, intercept = fit_ridge(data.x, data.y, data.w, ridge=ridge)
        deltas = ((data.x - mean) / scale) @ coef
        heads[head] = {
            "names": list(classify_model.HEAD_FEATURES[head]), "mean": _rounded(mean), "scale": _rounded(scale),
            "coef": _rounded(coef), "intercept": round(intercept, 6), "ridge": ridge, "learned_slope": slope,
            "low": _rounded(data.x.min(axis=0)), "high": _rounded(data.x.max(axis=0)),
            "delta_range": _rounded(np.array([deltas.min(), deltas.max()])),
            "cv_apgr": round(cv_apgr, 4), "fit_rows": _counts(data.rows),
        }  # fmt: skip
    return {"heads": heads}


def _rounded(values: Floats) -> list[float]:
    return [round(float(v), 6) for v in values]


def _counts(rows: list[Row]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.dataset] = counts.get(row.dataset, 0) + 1
    return counts


def write_weights(model: dict[str, object], path: Path = WEIGHTS_FILE) -> None:
    body = json.dumps(model, indent=1)
    header = '"""Generated by `python -m core.routing.classify_fit` (fit halves of the RouteLLM data); do not edit."""'
    path.write_text(f"{header}\n\nfrom typing import Any\n\nMODEL: dict[str, Any] = {body}\n")


def main() -> None:
    rows = {name: load_rows(name) for name in DATASETS}
    model = fit(rows)
    write_weights(model)
    summary = {name: {k: v for k, v in head.items() if k in ("ridge", "learned_slope", "cv_apgr", "fit_rows")}
               for name, head in dict(model["heads"]).items()}  # type: ignore[call-overload]  # fmt: skip
    print(json.dumps({"written": str(WEIGHTS_FILE), "heads": summary}))


if __name__ == "__main__":
    main()
