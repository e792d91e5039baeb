"""The verifier's view of one pair of questions: what an embedding cosine misses.

Token-level alignment (the share of each side's content words, weighted by rarity, that the other side has
exactly, as the same stem, or as a near word in MiniLM's word-piece embedding space), the rarest word one side
lacks, numbers, negation, question word, named entities, length and order of the shared words. Every feature
is a number; the tree model (trees.py) learns which combinations make a repeat.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from core.routing.embeddings import minilm_dir

FEATURES = (
    "cosine", "embedding_model", "jaccard", "bigram_jaccard", "exact_share_min", "exact_share_max",
    "soft_share_min", "soft_share_max", "idf_unmatched_min", "idf_unmatched_max", "rarest_unmatched_idf",
    "worst_word_similarity", "unmatched_min", "unmatched_max", "unmatched_vectors_cosine", "numbers_differ",
    "numbers_one_side", "numbers_same", "negation_differ", "question_word_a", "question_word_b",
    "question_word_differ", "entities_differ", "entity_missing", "entities_same", "tokens_min", "tokens_max",
    "length_ratio", "order_discordance", "first_word_same", "last_word_same",
)  # fmt: skip
NEAR_WORD = 0.55  # word-piece cosine at which two different words count as a near match

_STOP = frozenset(
    [
        "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be", "been",
        "being", "do", "does", "did", "i", "you", "he", "she", "it", "we", "they", "me", "my", "your", "its", "our",
        "their", "this", "that", "these", "those", "there", "at", "by", "with", "from", "as", "can", "could",
        "should", "would", "will", "what", "how", "why", "when", "where", "who", "which", "whom", "whose", "if", "so",
        "about", "into", "than", "then", "also", "just", "get", "am", "has", "have", "had", "any", "some", "one",
        "ones",
    ]
)  # fmt: skip
NEGATIONS = frozenset(["not", "no", "never", "without", "nothing", "none", "nobody", "cannot", "nor", "neither"])
QUESTION_WORDS = ("what", "how", "why", "when", "where", "who", "which", "whom", "whose", "can", "could", "should",
                  "would", "is", "are", "do", "does", "did", "will", "was", "were", "have", "has")  # fmt: skip
_QUESTION_INDEX = {word: i + 1 for i, word in enumerate(QUESTION_WORDS)}
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CAPITALIZED = re.compile(r"\b[A-Z][A-Za-z0-9+#]*")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("n't", " not").replace("cannot", "can not"))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude suffix strip so "study"/"studying"/"studies" match (matching only, never shown)."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def entities(text: str) -> set[str]:
    """Capitalized words that do not start a sentence (names, places, products), lowercased; not "I"."""
    found = set()
    for match in _CAPITALIZED.finditer(text):
        before = text[: match.start()].rstrip()
        if before and before[-1] not in '.?!:"(' and match.group() != "I":
            found.add(match.group().lower())
    return found


@dataclass
class WordTable:
    """Inverse document frequencies of words (from the fitting texts) and, optionally, word-piece vectors."""

    idf: dict[str, float]
    unknown_idf: float
    vectors: NDArray[np.float32] | None = None  # MiniLM's input word-piece embeddings, rows unit length
    _ids: dict[str, NDArray[np.float32]] = field(default_factory=dict, repr=False)

    def weight(self, word: str) -> float:
        return self.idf.get(word, self.unknown_idf)

    def vector(self, word: str) -> NDArray[np.float32] | None:
        if self.vectors is None:
            return None
        found = self._ids.get(word)
        if found is None:
            ids = _piece_ids(word)
            mean = self.vectors[list(ids)].mean(axis=0) if ids else np.zeros(self.vectors.shape[1], np.float32)
            found = (mean / max(float(np.linalg.norm(mean)), 1e-6)).astype(np.float32)
            if len(self._ids) < 200_000:
                self._ids[word] = found
        return found

    def matrix(self, words: Iterable[str]) -> NDArray[np.float32] | None:
        rows = [self.vector(w) for w in words]
        return np.stack(rows) if rows and rows[0] is not None else None  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _tokenizer() -> object:
    from tokenizers import Tokenizer

    folder = minilm_dir()
    assert folder is not None
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


def _piece_ids(word: str) -> tuple[int, ...]:
    encoding = _tokenizer().encode(word, add_special_tokens=False)  # type: ignore[attr-defined]
    return tuple(int(i) for i in encoding.ids)


@lru_cache(maxsize=1)
def word_piece_vectors() -> NDArray[np.float32] | None:
    """MiniLM's input embedding table (30522 x 384), rows normalized; None without the MiniLM package."""
    folder = minilm_dir()
    if folder is None:
        return None
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="numpy") as weights:
        table = np.asarray(weights.get_tensor("embeddings.word_embeddings.weight"), dtype=np.float32)
    normalized: NDArray[np.float32] = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-6)
    return normalized


def _jaccard(a: set[object], b: set[object]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _alignment(ca: list[str], cb: list[str], table: WordTable) -> tuple[list[float], list[float], list[float]]:
    """Per side: best match of each content word in the other side (1 exact/stem, else word-vector cosine)."""
    sa, sb = {stem(w) for w in ca}, {stem(w) for w in cb}
    best_a = [1.0 if stem(w) in sb else 0.0 for w in ca]
    best_b = [1.0 if stem(w) in sa else 0.0 for w in cb]
    ma, mb = table.matrix(ca), table.matrix(cb)
    if ma is not None and mb is not None:
        sims = ma @ mb.T
        best_a = [max(x, float(s)) for x, s in zip(best_a, sims.max(axis=1), strict=True)]
        best_b = [max(x, float(s)) for x, s in zip(best_b, sims.max(axis=0), strict=True)]
    return best_a, best_b, [table.weight(w) for w in ca + cb]


def _side(words: list[str], best: list[float], table: WordTable) -> tuple[float, float, float, list[str]]:
    """(exact share, soft share, idf share unmatched, unmatched words) of one side."""
    if not words:
        return 1.0, 1.0, 0.0, []
    weights = [table.weight(w) for w in words]
    total = sum(weights)
    exact = sum(wt for wt, b in zip(weights, best, strict=True) if b >= 1.0) / total
    soft = sum(wt * min(b, 1.0) for wt, b in zip(weights, best, strict=True)) / total
    unmatched = [w for w, b in zip(words, best, strict=True) if b < NEAR_WORD]
    return exact, soft, sum(table.weight(w) for w in unmatched) / total, unmatched


def _discordance(ta: list[str], tb: list[str]) -> float:
    """Share of pairs of shared words that the two texts order differently."""
    pos_b = {w: i for i, w in enumerate(tb)}
    shared = [pos_b[w] for w in dict.fromkeys(ta) if w in pos_b and w not in _STOP]
    pairs = list(itertools.combinations(shared, 2))
    return sum(x > y for x, y in pairs) / len(pairs) if pairs else 0.0


def _unmatched_cosine(ua: list[str], ub: list[str], table: WordTable) -> float:
    if not ua or not ub:
        return 1.0 if not ua and not ub else -1.0
    ma, mb = table.matrix(ua), table.matrix(ub)
    if ma is None or mb is None:
        return 0.0
    a, b = ma.mean(axis=0), mb.mean(axis=0)
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-6))


def pair_features(text_a: str, text_b: str, cosine: float, table: WordTable, *, model: float = 0.0) -> list[float]:
    """FEATURES of one pair, in order (`model`: the embedding model's own score of the pair)."""
    ta, tb = tokens(text_a), tokens(text_b)
    ca, cb = [t for t in ta if t not in _STOP], [t for t in tb if t not in _STOP]
    best_a, best_b, _ = _alignment(ca, cb, table)
    exact_a, soft_a, idf_a, un_a = _side(ca, best_a, table)
    exact_b, soft_b, idf_b, un_b = _side(cb, best_b, table)
    na, nb = set(_NUMBER.findall(text_a)), set(_NUMBER.findall(text_b))
    ea, eb = entities(text_a), entities(text_b)
    ja, jb = " ".join(ta), " ".join(tb)
    missing = any(" ".join(tokens(e)) not in jb for e in ea) or any(" ".join(tokens(e)) not in ja for e in eb)
    qa = next((_QUESTION_INDEX[t] for t in ta if t in _QUESTION_INDEX), 0)
    qb = next((_QUESTION_INDEX[t] for t in tb if t in _QUESTION_INDEX), 0)
    return [
        cosine, model,
        _jaccard({stem(w) for w in ca}, {stem(w) for w in cb}),
        _jaccard(set(itertools.pairwise(ta)), set(itertools.pairwise(tb))),
        min(exact_a, exact_b), max(exact_a, exact_b), min(soft_a, soft_b), max(soft_a, soft_b),
        min(idf_a, idf_b), max(idf_a, idf_b),
        max((table.weight(w) for w in un_a + un_b), default=0.0),
        min(best_a + best_b, default=1.0),
        float(min(len(un_a), len(un_b))), float(max(len(un_a), len(un_b))),
        _unmatched_cosine(un_a, un_b, table),
        float(na != nb), float(bool(na) != bool(nb)), float(bool(na) and na == nb),
        float(sum(t in NEGATIONS for t in ta) != sum(t in NEGATIONS for t in tb)),
        float(qa), float(qb), float(qa != qb),
        float(min(len(ea ^ eb), 3)), float(missing), float(bool(ea) and ea == eb),
        float(min(len(ta), len(tb))), float(max(len(ta), len(tb))),
        min(len(ta), len(tb)) / max(len(ta), len(tb), 1),
        _discordance(ta, tb),
        float(bool(ta) and bool(tb) and ta[0] == tb[0]),
        float(bool(ca) and bool(cb) and stem(ca[-1]) == stem(cb[-1])),
    ]  # fmt: skip


def document_frequencies(texts: Iterable[str]) -> tuple[dict[str, float], float]:
    """(idf of every word seen in at least 2 texts, idf of an unseen word) over distinct texts."""
    counts: dict[str, int] = {}
    total = 0
    for text in set(texts):
        total += 1
        for word in set(tokens(text)):
            counts[word] = counts.get(word, 0) + 1
    idf = {w: round(math.log((total + 1) / (c + 1)) + 1.0, 3) for w, c in counts.items() if c >= 2}
    return dict(sorted(idf.items())), round(math.log(total + 1) + 1.0, 3)
