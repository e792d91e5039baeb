"""LiteLLM's complexity router as a scorer (the baseline our classifier is measured against), and token counting
with the tokenizer files LiteLLM bundles (tiktoken, offline).

Both of LiteLLM's local classifiers are called directly, offline, with no deployment and no model call:
- `heuristic` (the default): ComplexityRouter.classify -> (tier, weighted score, signals); the weighted score is
  the router score (higher = harder).
- `heuristic_v2`: the bundled trained tier predictor (artifacts/ultrafeedback_tiers.json); the router score is
  1 - P(the SIMPLE tier succeeds), its own forecast that a cheap model fails.
Its other classifiers (llm, llm_v2, capability, oss_classifier, hybrid, heuristic_first) call an LLM.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Protocol


class _Encoding(Protocol):
    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...


@lru_cache(maxsize=2)
def _router(classifier_type: str) -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from litellm.router import Router
    from litellm.router_strategy.complexity_router.complexity_router import ComplexityRouter

    config = None if classifier_type == "heuristic" else {"classifier_type": classifier_type}
    return ComplexityRouter(
        model_name="tokentra-eval", litellm_router_instance=Router(model_list=[]), complexity_router_config=config
    )


def litellm_complexity(prompt: str, system: str | None = None) -> tuple[str, float]:
    """(tier, weighted score) of LiteLLM's default rule-based complexity classifier."""
    tier, score, _signals = _router("heuristic").classify(prompt, system)
    return str(tier.value), float(score)


def litellm_complexity_v2(prompt: str) -> tuple[str, float]:
    """(tier, 1 - P(SIMPLE succeeds)) of LiteLLM's trained heuristic_v2 tier predictor."""
    outcome = _router("heuristic_v2")._classify_locally(prompt, None)
    forecast = outcome.heuristic_v2_forecast
    return str(outcome.tier.value), 1.0 - float(forecast["probabilities"]["SIMPLE"])


@lru_cache(maxsize=4)
def _encoding(name: str) -> _Encoding:
    from importlib import resources

    import litellm

    # LiteLLM ships tiktoken's BPE files; point tiktoken at them so nothing is downloaded.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(resources.files(litellm).joinpath("litellm_core_utils/tokenizers")))
    import tiktoken

    encoding: _Encoding = tiktoken.get_encoding(name)
    return encoding


def count_tokens(text: str, *, encoding: str = "cl100k_base") -> int:
    """Tokens of `text` with a tiktoken encoding (cl100k_base: GPT-4's)."""
    return len(_encoding(encoding).encode(text, disallowed_special=()))
