"""Would an answer to question A answer question B? A small logistic model over one pair.

Embedding cosine alone is not precise enough for a cache (all-MiniLM-L6-v2 at 0.92: ~0.82-0.88 precision on
Quora question pairs): "How do I lose 5 kg?" and "How do I lose 15 kg?" sit at 0.95. The verifier adds what
cosine misses: numbers, negation, question word, named entities, words one side has and the other lacks,
word order, and the element-wise product and difference of the two embeddings. Its output is a probability
that the pair asks the same thing; the cache's similarity threshold applies to it.

The weights are in data/verifier-<embedder>.json, built by `python -m core.cache.train_verifier` (fixed seed,
on a split of the dev pairs disjoint from the held-out split the eval suite reports on).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DATA = Path(__file__).resolve().parent / "data"
VETOED_SCORE = 0.49  # below the lowest threshold a rule may set (0.5)
HAND_FEATURES = (
    "cosine", "cosine_over_0_9", "jaccard", "bigram_jaccard", "unmatched_share", "unmatched_count",
    "numbers_differ", "numbers_one_side", "negation_differ", "question_word_differ", "entities_differ",
    "length_ratio", "order_differs",
)  # fmt: skip

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "me",
        "my",
        "your",
        "its",
        "our",
        "their",
        "this",
        "that",
        "these",
        "those",
        "there",
        "at",
        "by",
        "with",
        "from",
        "as",
        "can",
        "could",
        "should",
        "would",
        "will",
        "what",
        "how",
        "why",
        "when",
        "where",
        "who",
        "which",
        "whom",
        "whose",
        "if",
        "so",
        "about",
        "into",
        "than",
        "then",
        "also",
        "just",
        "get",
    ]
)
_NEGATIONS = frozenset(["not", "no", "never", "without", "nothing", "none", "nobody", "cannot", "nor", "neither"])
_QUESTION_WORDS = frozenset(
    [
        "what",
        "how",
        "why",
        "when",
        "where",
        "who",
        "whom",
        "whose",
        "which",
        "can",
        "could",
        "should",
        "would",
        "is",
        "are",
        "do",
        "does",
        "did",
        "will",
        "was",
        "were",
        "have",
        "has",
    ]
)
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CAPITALIZED = re.compile(r"\b[A-Z][A-Za-z0-9+#]*")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("n't", " not").replace("cannot", "can not"))


def _entities(text: str) -> set[str]:
    """Capitalized words that do not start a sentence (names, places, products), lowercased; not "I"."""
    found = set()
    for match in _CAPITALIZED.finditer(text):
        before = text[: match.start()].rstrip()
        if before and before[-1] not in '.?!:"(' and match.group() != "I":
            found.add(match.group().lower())
    return found


def vetoed(text_a: str, text_b: str) -> bool:
    """Hard rules: different numbers, a name one side lacks, or different negation never make a repeat."""
    if set(_NUMBER.findall(text_a)) != set(_NUMBER.findall(text_b)):
        return True
    ta, tb = _tokens(text_a), _tokens(text_b)
    if sum(t in _NEGATIONS for t in ta) != sum(t in _NEGATIONS for t in tb):
        return True
    joined_a, joined_b = " ".join(ta), " ".join(tb)
    missing_in_b = any(_tokens(e) and " ".join(_tokens(e)) not in joined_b for e in _entities(text_a))
    missing_in_a = any(_tokens(e) and " ".join(_tokens(e)) not in joined_a for e in _entities(text_b))
    return missing_in_b or missing_in_a


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def hand_features(text_a: str, text_b: str, cosine: float) -> list[float]:
    ta, tb = _tokens(text_a), _tokens(text_b)
    ca, cb = [t for t in ta if t not in _STOP], [t for t in tb if t not in _STOP]
    sa, sb = set(ca), set(cb)
    unmatched = len(sa ^ sb)
    na, nb = set(_NUMBER.findall(text_a)), set(_NUMBER.findall(text_b))
    ea, eb = _entities(text_a), _entities(text_b)
    qa = next((t for t in ta if t in _QUESTION_WORDS), "")
    qb = next((t for t in tb if t in _QUESTION_WORDS), "")
    return [
        cosine,
        max(0.0, cosine - 0.9),
        _jaccard(sa, sb),
        _jaccard(set(itertools.pairwise(ta)), set(itertools.pairwise(tb))),  # type: ignore[arg-type]
        unmatched / max(len(sa) + len(sb), 1),
        float(min(unmatched, 6)),
        float(na != nb),
        float(bool(na) != bool(nb)),
        float(sum(t in _NEGATIONS for t in ta) != sum(t in _NEGATIONS for t in tb)),
        float(qa != qb),
        float(min(len(ea ^ eb), 3)),
        min(len(ta), len(tb)) / max(len(ta), len(tb), 1),
        float(sa == sb and ca != cb),
    ]


def pair_features(text_a: str, text_b: str, u: NDArray[np.float32], v: NDArray[np.float32]) -> NDArray[np.float64]:
    """Hand features, then u*v and |u-v| of the two unit embeddings."""
    cosine = float(np.dot(u, v))
    return np.concatenate([np.array(hand_features(text_a, text_b, cosine)), u * v, np.abs(u - v)]).astype(np.float64)


@dataclass(frozen=True)
class Verifier:
    embedder: str
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    weights: NDArray[np.float64]
    bias: float

    def probability(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(same question) for one feature row or a matrix of them."""
        z = ((features - self.mean) / self.scale) @ self.weights + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def score(self, text_a: str, text_b: str, u: NDArray[np.float32], v: NDArray[np.float32]) -> float:
        """P(same question); at most VETOED_SCORE when a hard rule says they differ."""
        probability = float(self.probability(pair_features(text_a, text_b, u, v)))
        return min(probability, VETOED_SCORE) if vetoed(text_a, text_b) else probability

    def to_json(self, **about: object) -> str:
        return json.dumps({"embedder": self.embedder, "mean": _rounded(self.mean), "scale": _rounded(self.scale),
                           "weights": _rounded(self.weights), "bias": round(self.bias, 6), **about})  # fmt: skip


def _rounded(values: NDArray[np.float64]) -> list[float]:
    return [round(float(x), 6) for x in values]


def artifact_path(embedder: str) -> Path:
    return DATA / f"verifier-{embedder}.json"


@lru_cache(maxsize=4)
def load_verifier(embedder: str) -> Verifier | None:
    """The committed verifier for an embedder, or None when there is none (then no semantic hits)."""
    path = artifact_path(embedder)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Verifier(embedder=raw["embedder"], mean=np.array(raw["mean"]), scale=np.array(raw["scale"]),
                    weights=np.array(raw["weights"]), bias=float(raw["bias"]))  # fmt: skip
