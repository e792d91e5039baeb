"""The offline assistant's reading of a question: what is asked (kind, measure, grouping, top N), about what
(filters matched against the org's actual dimension values) and when (agents/periods.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agents.periods import Period, find_periods

KINDS = ("total", "breakdown", "why", "forecast", "budgets", "anomalies", "recommendations", "unsupported")
DIM_WORDS = {
    "model": r"models?|llms?",
    "team": r"teams?",
    "feature": r"features?",
    "project": r"projects?",
    "user_id": r"users?|people|customers?",
    "provider": r"providers?|vendors?",
    "environment": r"environments?|envs?",
    "task_type": r"task[ _-]?types?",
    "status": r"status(?:es)?",
    "day": r"day",
    "hour": r"hour",
}
_GROUP_TRIGGER = r"\b(?:by|per|each|which|what|top|most|biggest|largest|breakdown|break down|split|across|every|list)\b"
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "twenty": 20}  # fmt: skip
_OUT_OF_SCOPE = (
    r"\b(?:revenue|profit|margin|latency|accuracy|quality|satisfaction|carbon|emissions?|salary|salaries|"
    r"headcount|employees|weather|stock|churn|conversion|next (?:year|quarter|week))\b"
)
_DOMAIN = (
    r"spen[dt]|\bcosts?\b|\bbill|expensive|cheap|money|dollars?|\$|\busd\b|budget|forecast|anomal|"
    r"recommend|saving|\bsave\b|waste|requests?|tokens?|\bcalls?\b|usage|\bused?\b|price|pay|paid|charge"
)


@dataclass
class Intent:
    kind: str
    question: str
    measure: str = "cost"  # cost | requests | tokens
    group_by: str | None = None
    top_n: int | None = None
    filters: dict[str, str] = field(default_factory=dict)
    periods: list[Period] = field(default_factory=list)
    reason: str = ""  # why it is unsupported


def _kind(q: str) -> str:
    if re.search(r"\b(?:why|what (?:caused|drove|explains)|explain|reason)\b", q) or re.search(
        r"\b(?:compare|compared|vs\.?|versus|doubled?|tripled?|jump(?:ed)?|spike[sd]?|increase[sd]?|decrease[sd]?|"
        r"(?:go|went|gone) (?:up|down)|ris(?:e|en)|rose|grow|grew|drop(?:ped)?|change[sd]?)\b", q
    ):  # fmt: skip
        if re.search(r"\b(?:any|list|show|were there|detected)\b.*\banomal", q) and not re.search(r"\bwhy\b", q):
            return "anomalies"
        return "why"
    checks = [
        (
            "forecast",
            r"forecast|project(?:ed|ion)|on track|end of (?:the )?month|month[- ]end|will we spend|run[- ]rate",
        ),
        ("budgets", r"budget"),
        ("anomalies", r"anomal|unusual|outlier|abnormal"),
        ("recommendations", r"recommend|sav(?:e|ings?)|optimi[sz]|reduce|cut (?:costs?|spend)|waste|cheaper"),
    ]
    for kind, pattern in checks:
        if re.search(pattern, q):
            return kind
    return "total"


def _measure(q: str) -> str:
    if re.search(r"\bhow many (?:requests|calls)\b|\b(?:number|count) of (?:requests|calls)\b", q):
        return "requests"
    if re.search(r"\bhow many tokens\b|\btokens? (?:did|were|used)\b|\btoken usage\b", q):
        return "tokens"
    return "cost"


def _filters(q: str, vocab: Mapping[str, Sequence[str]]) -> tuple[dict[str, str], str]:
    """Dimension values named in the question (longest names first; each span used once), and the rest."""
    candidates = sorted(((value, dim) for dim, values in vocab.items() for value in values if len(value) >= 2),
                        key=lambda item: -len(item[0]))  # fmt: skip
    found: dict[str, str] = {}
    rest = q
    for value, dim in candidates:
        pattern = r"(?<![\w\-.])" + re.escape(value.lower()) + r"(?![\w\-])"
        match = re.search(pattern, rest)
        if match and dim not in found:
            found[dim] = value
            rest = rest[: match.start()] + " " * len(value) + rest[match.end() :]
    return found, rest


def _group_by(rest: str, filters: Mapping[str, str]) -> str | None:
    best: tuple[int, str] | None = None
    for dim, words in DIM_WORDS.items():
        if dim in filters:
            continue
        if dim in ("day", "hour"):  # "last 7 days" names a period, not a grouping
            adverb = "daily" if dim == "day" else "hourly"
            pattern = rf"\b(?:by|per|each|every|a)\s+(?:the\s+)?{dim}\b|\b{adverb}\b|\b{dim}[- ]by[- ]{dim}\b"
            match = re.search(pattern, rest)
        else:
            match = re.search(_GROUP_TRIGGER + r"[^.?!]*?\b(?:" + words + r")\b", rest)
        if match and (best is None or match.end() < best[0]):
            best = (match.end(), dim)
    return best[1] if best else None


def _top_n(q: str) -> int | None:
    match = re.search(r"\btop\s*(\d+|" + "|".join(_NUMBER_WORDS) + r")\b", q)
    if match:
        word = match.group(1)
        return int(word) if word.isdigit() else _NUMBER_WORDS[word]
    if re.search(r"\b(?:most|biggest|largest|highest|top|which)\b", q):
        return 5
    return None


def _unknown_name(rest: str, vocab: Mapping[str, Sequence[str]]) -> str:
    """A model/team/feature/project named in the question that the org has no usage for."""
    for dim in ("model", "team", "feature", "project"):
        match = re.search(
            rf"\b{dim}\s+(?:called\s+|named\s+)?[\"'`]?([a-z0-9][\w.\-:/]*\d[\w.\-:/]*|[a-z][\w.\-]*-[\w.\-]+)", rest
        )
        if match and vocab.get(dim) is not None:
            return f"there is no {dim} named {match.group(1)!r} in this organization's usage"
    return ""


def parse_question(question: str, *, now: datetime, vocab: Mapping[str, Sequence[str]]) -> Intent:
    q = " ".join(question.lower().split())
    periods = find_periods(q, now)
    if re.search(_OUT_OF_SCOPE, q) or (not re.search(_DOMAIN, q) and not periods):
        return Intent("unsupported", question, reason="it is not about LLM spend, usage, budgets or savings")
    filters, rest = _filters(q, vocab)
    unknown = _unknown_name(rest, vocab)
    if unknown:
        return Intent("unsupported", question, filters=filters, periods=periods, reason=unknown)
    kind = _kind(q)
    group = _group_by(rest, filters) if kind in ("total", "why") else None
    if kind == "total" and group:
        kind = "breakdown"
    top_n = _top_n(q) if kind == "breakdown" else None
    return Intent(kind, question, _measure(q), group, top_n, filters, periods)
