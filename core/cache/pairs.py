"""Labelled question pairs (Quora, via GPTCache: shared/data/cache/qqp_pairs_dev.jsonl) and their split.

The split is by *question*: pairs that share a question (directly or through a chain of pairs) form one
group, and a whole group goes to `train` or to `heldout` by a seeded hash. So no question the verifier was
fitted on appears in the held-out pairs the eval suite reports on.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

SPLIT_SEED = "tokentra-cache-v1"
HELDOUT_SHARE = 50  # percent of question groups held out


@dataclass(frozen=True)
class Pair:
    text_a: str
    text_b: str
    label: int


def read_pairs(path: Path) -> list[Pair]:
    pairs = []
    with path.open() as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                pairs.append(Pair(row["text_a"], row["text_b"], int(row["label"])))
    return pairs


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _groups(pairs: list[Pair]) -> list[str]:
    """For each pair, a name of its connected group of questions (union-find over normalized texts)."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    for pair in pairs:
        a, b = find(_norm(pair.text_a)), find(_norm(pair.text_b))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [find(_norm(pair.text_a)) for pair in pairs]


def group_buckets(pairs: list[Pair], *, seed: str = SPLIT_SEED) -> list[int]:
    """Per pair, a bucket 0-99 of its question group (same group, same bucket), decided by `seed` only."""
    return [
        int.from_bytes(hashlib.blake2b(f"{seed}:{group}".encode(), digest_size=4).digest(), "big") % 100
        for group in _groups(pairs)
    ]


def split(pairs: list[Pair]) -> tuple[list[Pair], list[Pair]]:
    """(train, heldout): disjoint in questions, decided by SPLIT_SEED only."""
    train: list[Pair] = []
    heldout: list[Pair] = []
    for pair, bucket in zip(pairs, group_buckets(pairs), strict=True):
        (heldout if bucket < HELDOUT_SHARE else train).append(pair)
    return train, heldout


def shuffled(pairs: list[Pair], size: int | None, *, seed: int = 7) -> list[Pair]:
    """The first `size` pairs of a seeded shuffle (a larger size keeps the smaller one's pairs)."""
    out = list(pairs)
    random.Random(seed).shuffle(out)
    return out if size is None else out[:size]


def sample(pairs: list[Pair], size: int | None, *, seed: int = 7) -> list[Pair]:
    """A seeded random sample (all pairs when size is None or larger than the list)."""
    if size is None or size >= len(pairs):
        return list(pairs)
    return random.Random(seed).sample(pairs, size)
