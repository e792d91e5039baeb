"""Fitting the learned part of the router score (classify_model) on RouteLLM outcomes, honestly.

Data: ../shared/data/routing (RouteLLM evals: did Mixtral-8x7B / GPT-4-1106 answer each prompt correctly).
Split (fixed, no randomness to re-roll): GSM8K by prompt (sha256 of the prompt, even first byte = fit half);
MMLU by subject (the subjects ordered by sha256 of their name, every other one = fit half), so the reported
half holds subjects the model never saw. Contaminated rows are dropped. Only the fit half is used here; the
routing eval suite reports the other half.

Target: gain = strong_correct - weak_correct (in {-1, 0, 1}); the best router sends prompts to the strong model
in decreasing order of expected gain. Model: ridge regression on standardized features (numpy, closed form).

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
from core.routing.classify import feature_vector

DATA_DIR = shared_data_dir() / "routing"
WEIGHTS_FILE = Path(__file__).resolve().parent / "classify_weights.py"
DATASETS = ("gsm8k", "mmlu")
_FILES = {"gsm8k": "gsm8k.csv", "mmlu": "mmlu_dev.csv"}
RIDGE = 3.0
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


def feature_matrix(rows: list[Row]) -> Floats:
    return np.array([feature_vector(row.prompt) for row in rows], dtype=np.float64)


def fit_ridge(x: Floats, y: Floats, w: Floats, *, ridge: float = RIDGE) -> tuple[Floats, Floats, Floats, float]:
    """(coefficients, mean, scale, intercept) of a row-weighted ridge regression on standardized features;
    `ridge` is the penalty per unit of total row weight (weights are normalized to sum to 1)."""
    w = w / w.sum()
    mean = np.asarray(w @ x, dtype=np.float64)
    scale = np.asarray(np.sqrt(w @ (x - mean) ** 2), dtype=np.float64)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    intercept = float(w @ y)
    gram = (z * w[:, None]).T @ z + ridge / 100.0 * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, (z * w[:, None]).T @ (y - intercept))
    return np.asarray(coef, dtype=np.float64), mean, scale, intercept


def fit(rows_by_dataset: dict[str, list[Row]], *, ridge: float = RIDGE) -> dict[str, object]:
    """Fit on the fit halves of all datasets, each dataset weighted equally."""
    parts, targets, weights_per_row = [], [], []
    for rows in rows_by_dataset.values():
        fit_rows, _ = split(rows)
        parts.append(feature_matrix(fit_rows))
        targets.append(np.array([row.gain for row in fit_rows], dtype=np.float64))
        weights_per_row.append(np.full(len(fit_rows), 1.0 / len(fit_rows)))
    x, y, w = np.vstack(parts), np.concatenate(targets), np.concatenate(weights_per_row)
    coef, mean, scale, intercept = fit_ridge(x, y, w, ridge=ridge)
    return {
        "names": list(classify_model.FEATURE_NAMES),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in coef],
        "intercept": round(intercept, 6),
        "ridge": ridge,
        "fit_rows": {name: len(split(rows)[0]) for name, rows in rows_by_dataset.items()},
    }


def write_weights(model: dict[str, object], path: Path = WEIGHTS_FILE) -> None:
    body = json.dumps(model, indent=1)
    header = '"""Generated by `python -m core.routing.classify_fit` (fit halves of the RouteLLM data); do not edit."""'
    path.write_text(f"{header}\n\nfrom typing import Any\n\nMODEL: dict[str, Any] = {body}\n")


def main() -> None:
    rows = {name: load_rows(name) for name in DATASETS}
    model = fit(rows)
    write_weights(model)
    print(json.dumps({"written": str(WEIGHTS_FILE), "fit_rows": model["fit_rows"]}))


if __name__ == "__main__":
    main()
