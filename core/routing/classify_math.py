"""Features of a maths word problem that predict whether a weak model gets it wrong and a strong one right: how
much there is to read, how many quantities and of which kind (decimals, large numbers, fractions, percentages),
which operations the wording implies (rates, comparisons, remainders, money, time, conditions) and what the
question asks for. The router's `math` head (classify_model) is a linear model over these, fitted by
classify_fit on the fit half of GSM8K only.
"""

from __future__ import annotations

import math
import re

# A quantity as written: $1,200.50, 25%, 3/4, 12.
_NUMBER = re.compile(r"(?<![\w.])\$?\d[\d,]*(?:\.\d+)?%?|\b\d+/\d+\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")  # a capitalized word inside a sentence: a person or a thing
_NUMBER_WORDS = frozenset(
    ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "fifteen", "twenty",
     "thirty", "forty", "fifty", "hundred", "thousand", "million", "dozen", "dozens")
)  # fmt: skip
# Phrases of the operations a problem needs (counted as substrings of the lower-cased text).
_OPERATIONS: dict[str, tuple[str, ...]] = {
    "rate": ("per ", "each", "every", "an hour", "a day", "a week", "a month", "a year"),
    "compare": ("more than", "less than", "fewer than", "times as", "as many", "older than", "younger than",
                "longer than", "shorter than", "taller", "faster", "slower", "times more"),
    "remain": ("left", "remaining", "rest", "remainder", "leftover", "still"),
    "money": ("$", "cost", "price", "pay", "paid", "spend", "spent", "earn", "profit", "sell", "sold", "buy",
              "bought", "discount", "save", "tip", "tax", "change"),
    "time": ("hour", "minute", "second", "day", "week", "month", "year", "o'clock"),
    "percent": ("%", "percent"),
    "fraction": ("half", "third", "quarter", "fourth", "fifth", "/"),
    "condition": ("if ", "after", "before", "then", "until", "while", "when"),
    "units": ("dozen", "feet", "inch", "mile", "pound", "ounce", "gallon", "liter", "meter", "kilogram", "gram",
              "cup"),
    "average": ("average", "mean", "ratio", "proportion", "rate"),
    "multiple": ("half", "third", "quarter", "twice", "double", "triple", "thrice", "percent", "%"),
}  # fmt: skip
MATH_FEATURE_NAMES = (
    "log_chars", "words", "sentences", "numbers", "distinct_numbers", "number_words", "max_magnitude", "decimals",
    "large_numbers", "question_words", "question_numbers", "names",
    *(f"op_{name}" for name in _OPERATIONS),
    "how_many", "how_much", "what_percent", "total_asked", "all_together",
)  # fmt: skip
MAX_SCAN = 4000


def _value(token: str) -> float | None:
    cleaned = token.replace("$", "").replace(",", "").replace("%", "")
    try:
        if "/" in cleaned:
            top, bottom = cleaned.split("/")
            return float(top) / float(bottom) if float(bottom) else None
        return float(cleaned)
    except ValueError:
        return None


def math_features(prompt: str, words: list[str]) -> list[float]:
    """The features of MATH_FEATURE_NAMES, in order. `words`: the classifier's lower-cased word tokens."""
    text = prompt[:MAX_SCAN].strip()
    lower = text.lower()
    numbers = _NUMBER.findall(text)
    values = [v for v in map(_value, numbers) if v is not None]
    sentences = [part for part in _SENTENCE_END.split(text) if part]
    question = sentences[-1] if sentences else text
    asked = question.lower()
    return [
        math.log1p(len(text)),
        float(min(len(words), 400)),
        float(min(len(sentences), 30)),
        float(min(len(numbers), 30)),
        float(min(len(set(numbers)), 30)),
        float(sum(word in _NUMBER_WORDS for word in words)),
        math.log10(1.0 + min(max(values), 1e12)) if values else 0.0,
        float(sum("." in number for number in numbers)),
        float(sum(value >= 1000 for value in values)),
        float(min(len(question.split()), 100)),
        float(len(_NUMBER.findall(question))),
        float(len(set(_NAME.findall(text)))),
        *(float(sum(lower.count(phrase) for phrase in phrases)) for phrases in _OPERATIONS.values()),
        float("how many" in lower),
        float("how much" in lower),
        float("what percent" in lower or "percentage" in lower),
        float("total" in asked),
        float("altogether" in lower or "in all" in lower or "combined" in lower),
    ]
