"""The learned part of the router score: a linear estimate of how much a strong model gains over a weak one
on a prompt, from cheap surface features. One linear head per kind of prompt (`head_for`):
- `choice`: multiple-choice questions (options A-D), fitted on the fit half of MMLU, over FEATURE_NAMES;
- `math`: maths word problems without options, fitted on the fit half of GSM8K, over classify_math's features;
- `general`: everything else, fitted on both fit halves (each dataset weighted equally), over FEATURE_NAMES.

Weights come from classify_weights.py, written by `python -m core.routing.classify_fit` from the fit half of
the RouteLLM outcomes (see classify_fit for the split); the other half is what the routing eval reports.
Without weights (or for a head missing from them) the learned part is 0 and the score is the seed's prior alone.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from functools import lru_cache

from core.routing.classify_math import MATH_FEATURE_NAMES, math_features

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
HEADS = ("general", "choice", "math")
HEAD_FEATURES = {"general": FEATURE_NAMES, "choice": FEATURE_NAMES, "math": MATH_FEATURE_NAMES}


def head_for(*, multiple_choice: bool, category: str, math_task: bool, numbers: int, question: bool) -> str:
    """Which learned head scores a prompt: options -> `choice`; a maths task or a question with two or more
    numbers (not code) -> `math`; anything else -> `general`."""
    if multiple_choice:
        return "choice"
    if category != "coding" and (math_task or (numbers >= 2 and question)):
        return "math"
    return "general"


def head_features(head: str, prompt: str, words: list[str], general: list[float]) -> list[float]:
    """The input vector of a head: the general features, or for `math` the word-problem features."""
    return math_features(prompt, words) if head == "math" else general


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


@dataclass(frozen=True)
class Head:
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float  # the average gain of the head's fit rows
    learned_slope: float  # weight of the gain delta in the score (classify.route_score)
    low: list[float]  # each input's range in the fit rows: inputs are clipped to it
    high: list[float]
    delta_range: tuple[float, float]  # the fit rows' gain deltas: a delta is clipped to it

    def delta(self, values: list[float]) -> float:
        """Fitted gain minus the head's average, inputs and result kept within what the fit data showed (a
        linear model must not extrapolate on prompts unlike its data)."""
        terms = zip(self.coef, values, self.mean, self.scale, self.low, self.high, strict=True)
        raw = sum(c * (min(max(v, lo), hi) - m) / s for c, v, m, s, lo, hi in terms)
        return float(min(max(raw, self.delta_range[0]), self.delta_range[1]))


@lru_cache(maxsize=1)
def _model() -> dict[str, Head]:
    """Head name -> head from classify_weights, keeping only heads of the current features."""
    try:
        from core.routing.classify_weights import MODEL
    except ImportError:
        return {}
    heads = {
        name: Head(list(raw["mean"]), list(raw["scale"]), list(raw["coef"]), float(raw["intercept"]),
                   float(raw["learned_slope"]), list(raw["low"]), list(raw["high"]),
                   (float(raw["delta_range"][0]), float(raw["delta_range"][1])))
        for name, raw in dict(MODEL.get("heads", {})).items()
        if name in HEAD_FEATURES and list(raw["names"]) == list(HEAD_FEATURES[name])
    }  # fmt: skip
    return heads


def head(name: str) -> Head | None:
    return _model().get(name)


def estimate_gain(values: list[float], head_name: str = "general") -> float | None:
    """The fitted expected strong-minus-weak gain for a head's feature vector, or None without its weights."""
    found = head(head_name)
    return None if found is None else found.intercept + found.delta(values)


def gain_delta(values: list[float], head_name: str = "general") -> float:
    """How far the fitted gain of this prompt is above its head's average (0 without weights)."""
    found = head(head_name)
    return 0.0 if found is None else found.delta(values)
