"""Semantic matching: embeddings narrow the candidates (pgvector cosine), the verifier decides.

`SemanticMatcher` scores one pair of texts (the probe and the eval suite use it directly); `SemanticIndex`
finds, among the stored entries of one scope (org, model, system prompt + earlier turns + parameters), the
nearest prompts by cosine and returns the first whose verifier score reaches the threshold.

Search is exact within the scope (filtered by the (organization_id, model, system_prompt_hash) index, then
ordered by distance): scopes hold thousands of entries at most (100k per org), where an approximate index
would add recall loss under the filter for little gain.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from core.cache.keys import DEFAULT_SIMILARITY_THRESHOLD
from core.cache.verifier import Verifier, load_verifier
from core.routing.embeddings import Embedder

# Candidates below this cosine are never verified: a cheap pre-filter (the verifier's scores for pairs this far
# apart are low anyway) that keeps the pgvector scan and the verifier calls few.
CANDIDATE_COSINE = 0.75
CANDIDATES = 5

_SEARCH = text("""
SELECT id, prompt_text, response, cost, embedding, 1 - (embedding <=> CAST(:q AS vector)) AS cosine
FROM response_cache
WHERE organization_id = :org AND model = :model AND system_prompt_hash = :scope AND expires_at > now()
  AND embedding IS NOT NULL AND prompt_text IS NOT NULL
  AND (embedding <=> CAST(:q AS vector)) <= :max_distance
ORDER BY embedding <=> CAST(:q AS vector)
LIMIT :limit
""")


def vector_literal(vector: NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector.tolist()) + "]"


class SemanticMatcher:
    """Scores whether a cache holding text_a may answer text_b (embedder + its verifier)."""

    def __init__(self, embedder: Embedder, verifier: Verifier | None = None) -> None:
        self.embedder = embedder
        self.verifier = verifier if verifier is not None else load_verifier(embedder.name)
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, NDArray[np.float32]] = OrderedDict()

    def embed_one(self, prompt: str) -> NDArray[np.float32]:
        """One embedding, remembered for a while (a miss is embedded for lookup, then again for store)."""
        with self._lock:
            cached = self._recent.get(prompt)
        if cached is not None:
            return cached
        vector: NDArray[np.float32] = self.embedder.embed([prompt])[0]
        with self._lock:
            self._recent[prompt] = vector
            while len(self._recent) > 256:
                self._recent.popitem(last=False)
        return vector

    def score(self, text_a: str, text_b: str, u: NDArray[np.float32], v: NDArray[np.float32]) -> float:
        """Similarity in [0, 1]: the verifier's probability of a true repeat (0 below CANDIDATE_COSINE)."""
        if text_a.strip() == text_b.strip():
            return 1.0
        if self.verifier is None or float(np.dot(u, v)) < CANDIDATE_COSINE:
            return 0.0
        return self.verifier.score(text_a, text_b, u, v)

    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[float]:
        vectors = self.embedder.embed([t for pair in pairs for t in pair])
        return [self.score(a, b, vectors[2 * i], vectors[2 * i + 1]) for i, (a, b) in enumerate(pairs)]

    @staticmethod
    def hit(similarity: float, threshold: float = DEFAULT_SIMILARITY_THRESHOLD) -> bool:
        return similarity >= threshold


@dataclass(frozen=True)
class SemanticMatch:
    entry_id: uuid.UUID
    response: dict[str, Any]
    cost: Decimal | None
    similarity: float


class SemanticIndex:
    def __init__(self, embedder: Embedder) -> None:
        self.matcher = SemanticMatcher(embedder)

    def embedding_literal(self, prompt: str) -> str:
        return vector_literal(self.matcher.embed_one(prompt))

    def search(self, conn: Connection, *, org_id: uuid.UUID, model: str, scope: str, prompt: str,
               threshold: float) -> SemanticMatch | None:  # fmt: skip
        if self.matcher.verifier is None:
            return None
        query = self.matcher.embed_one(prompt)
        rows = conn.execute(_SEARCH, {"q": vector_literal(query), "org": org_id, "model": model, "scope": scope,
                                      "max_distance": 1 - CANDIDATE_COSINE, "limit": CANDIDATES}).all()  # fmt: skip
        best: SemanticMatch | None = None
        for row in rows:
            stored = np.asarray(_parse_vector(row.embedding), dtype=np.float32)
            similarity = self.matcher.score(row.prompt_text, prompt, stored, query)
            if similarity >= threshold and (best is None or similarity > best.similarity):
                best = SemanticMatch(entry_id=row.id, response=row.response, cost=row.cost, similarity=similarity)
        return best


def _parse_vector(value: Any) -> list[float]:
    if isinstance(value, str):  # without pgvector's type registration the driver returns the text form
        return [float(x) for x in value.strip("[]").split(",")]
    return [float(x) for x in value]
