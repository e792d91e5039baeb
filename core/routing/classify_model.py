"""The learned part of the router score: a linear estimate of how much a strong model gains over a weak one
on a prompt, from cheap surface features (length, numbers, symbols, question shape).

Weights come from classify_weights.py, written by `python -m core.routing.classify_fit` from the fit half of
the RouteLLM outcomes (see classify_fit for the split); the other half is what the routing eval reports.
Without weights the learned part is 0 and the score is the seed's prior alone.
"""

from __future__ import annotations

import math
import re
import string
from functools import lru_cache

FEATURE_NAMES = (
    "log_chars", "log_words", "log_numbers", "distinct_numbers", "sentences", "digit_share", "symbol_share",
    "avg_word_len", "questions", "multiple_choice", "option_len", "option_numeric", "negation", "statements",
    "latex_math", "money_percent", "long_words",
    # from the classifier: the seed prior, its regex counts, the category
    "prior", "math_hits", "code_hits", "reasoning", "coding", "chat",
)  # fmt: skip

_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_OPTION = re.compile(r"^\s*([A-D])[.)]\s*(.*)$", re.MULTILINE)
_NEGATION = frozenset({"not", "except", "least", "false", "never", "none", "incorrect"})
_LATEX = re.compile(r"[\^=<>√∫∑π]|\\[a-z]+|\b(?:sqrt|log|sin|cos)\b")
_DROP_DIGITS = str.maketrans("", "", string.digits)
_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)
MAX_SCAN = 8000


def features(prompt: str, words: list[str], *, prior: float, math_hits: int, code_hits: int,
             category: str) -> list[float]:  # fmt: skip
    """The features of FEATURE_NAMES, in order: the prompt's surface and what the classifier found.
    `words`: the classifier's lower-cased word tokens of the prompt."""
    text = prompt[:MAX_SCAN]
    chars = max(len(text), 1)
    numbers = [word for word in words if word[0].isdigit()]
    letters = [word for word in words if not word[0].isdigit()]
    options = [body for _, body in _OPTION.findall(text)]
    option_len = sum(len(body) for body in options) / len(options) if options else 0.0
    option_numeric = sum(any(ch.isdigit() for ch in body) for body in options) / len(options) if options else 0.0
    lower = text.lower()
    return [
        math.log1p(len(text)),
        math.log1p(len(letters)),
        math.log1p(len(numbers)),
        float(min(len(set(numbers)), 20)),
        float(min(len(_SENTENCE.findall(text)), 30)),
        (len(text) - len(text.translate(_DROP_DIGITS))) / chars,
        (len(text) - len(text.translate(_DROP_PUNCTUATION))) / chars,
        sum(len(word) for word in letters) / max(len(letters), 1),
        float(min(text.count("?"), 5)),
        1.0 if len(options) >= 3 else 0.0,
        math.log1p(option_len),
        option_numeric,
        float(min(sum(word in _NEGATION for word in letters), 5)),
        float(min(lower.count("statement 1") + lower.count("statement 2"), 2)),
        float(min(len(_LATEX.findall(text)), 20)),
        float(min(text.count("$") + text.count("%") + lower.count("percent"), 10)),
        sum(len(word) >= 10 for word in letters) / max(len(letters), 1),
        prior,
        float(min(math_hits, 10)),
        float(min(code_hits, 10)),
        float(category == "reasoning"),
        float(category == "coding"),
        float(category == "chat"),
    ]


@lru_cache(maxsize=1)
def _model() -> tuple[list[float], list[float], list[float], float] | None:
    try:
        from core.routing.classify_weights import MODEL
    except ImportError:
        return None
    if list(MODEL["names"]) != list(FEATURE_NAMES):
        return None  # weights of another feature set: refit with classify_fit
    return list(MODEL["mean"]), list(MODEL["scale"]), list(MODEL["coef"]), float(MODEL["intercept"])


def estimate_gain(values: list[float]) -> float | None:
    """The fitted expected strong-minus-weak gain for a feature vector, or None without weights."""
    model = _model()
    if model is None:
        return None
    mean, scale, coef, intercept = model
    return intercept + sum(c * (v - m) / s for c, v, m, s in zip(coef, values, mean, scale, strict=True))


def gain_delta(values: list[float]) -> float:
    """How far the fitted gain of this prompt is above the fit data's average (0 without weights)."""
    model = _model()
    gain = estimate_gain(values)
    return 0.0 if model is None or gain is None else gain - model[3]
