"""Task classification for routing and attribution: task type (the seed's 47), category, complexity, quality
requirement, a routing score in [0,1] (higher = needs a stronger model) and the tier it maps to.

Local and deterministic: regular expressions plus a small linear model (classify_model), no LLM call and no
network, well under a millisecond per prompt. An LLM classifier can refine uncertain results through the
`LLMTaskClassifier` seam (called only when the local confidence is below a threshold); core/routing/llm.py
provides one.

Task detection, complexity and quality follow the optimization-engine seed's task-classifier rules (seed notes
section 3); the score adds the learned difficulty estimate of classify_model (one head per kind of prompt: multiple
choice, maths word problem, general) to the seed's prior for the task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from core.detectors.waste.quality import TASK_CATEGORY
from core.routing import classify_keywords as kw
from core.routing import classify_model
from core.routing.classify_tasks import (
    CODE_TASK_RULES,
    COMPLEX_TASKS,
    CRITICAL_DOMAINS,
    CRITICAL_TASKS,
    DEFAULT_TASK,
    HIGH_TASKS,
    LOW_TASKS,
    TASK_INFO,
)

TIERS = ("utility", "workhorse", "premium")
# score < UTILITY_BELOW -> utility; score >= PREMIUM_FROM -> premium; else workhorse.
UTILITY_BELOW = 0.35
PREMIUM_FROM = 0.65
# Seed default tier -> our tier names and the prior score of a task in it.
SEED_TIER = {"budget": "utility", "mid": "workhorse", "premium": "premium"}
_TIER_PRIOR = {"budget": 0.15, "mid": 0.4, "premium": 0.65}
_QUALITY_PRIOR = {"low": -0.05, "medium": 0.0, "high": 0.07, "critical": 0.15}
# Score = sigmoid(PRIOR_SLOPE * (seed prior - 0.5) + LEARNED_SPAN * tanh(s * learned gain delta)): the prior sets
# the level (a chat prompt sits low, a maths one high), the learned delta (against the head's own average) moves
# a prompt within it by at most LEARNED_SPAN logits. s, the head's learned slope (classify_weights), is chosen by
# cross-validation inside the fit half of the routing data (classify_fit), never on the reported half;
# GAIN_STEEPNESS when no weights are present.
PRIOR_SLOPE = 4.0
LEARNED_SPAN = 3.0
GAIN_STEEPNESS = 10.0
_CHOICE = classify_model.FEATURE_NAMES.index("multiple_choice")
_SCAN_HEAD, _SCAN_TAIL = 6000, 2000  # characters scanned by the regexes (long prompts: head and tail)


@dataclass(frozen=True)
class Classification:
    task_type: str  # one of the seed's 47 task types
    category: str  # chat | content | analysis | coding | reasoning | creative
    complexity: str  # simple | moderate | complex | expert
    quality_requirement: str  # low | medium | high | critical
    score: float  # in [0,1]: higher = needs a stronger model
    tier: str  # utility | workhorse | premium
    confidence: float = 0.5  # of the task type, in [0.5, 0.95]
    complexity_score: float = 0.3  # the seed's 0-1 complexity
    domain: str | None = None  # medical | legal | financial | technical | scientific when detected
    signals: tuple[str, ...] = field(default=(), compare=False)
    source: str = "heuristic"  # heuristic | llm


class LLMTaskClassifier(Protocol):
    """Optional refinement by a model (utility tier). Gets the local result; returns a better one or None."""

    def __call__(self, *, prompt: str, system: str | None, heuristic: Classification) -> Classification | None: ...


def _scan_text(prompt: str) -> str:
    if len(prompt) <= _SCAN_HEAD + _SCAN_TAIL:
        return prompt.lower()
    return (prompt[:_SCAN_HEAD] + "\n" + prompt[-_SCAN_TAIL:]).lower()


def detect_task(text: str, counts: dict[str, int], *, code_hits: int, math_hits: int) -> tuple[str, float]:
    """(task type, confidence) by the seed's rules: code overrides, then maths, then the task with the most
    keyword matches (`counts`: "task:<type>" -> hits); `instruction_following` when nothing matches."""
    if code_hits >= 2 or "```" in text:
        for task, words in CODE_TASK_RULES:
            if any(word in text for word in words):
                return task, 0.85
        return "code_generation", 0.7
    if math_hits >= 2:
        return "math", min(0.7 + 0.05 * math_hits, 0.95)
    tasks = {label[5:]: hits for label, hits in counts.items() if label.startswith("task:")}
    if not tasks:
        return DEFAULT_TASK, 0.5
    task, matches = max(tasks.items(), key=lambda item: item[1])
    return task, min(0.5 + 0.15 * matches, 0.95)


def detect_domain(counts: dict[str, int]) -> str | None:
    """The domain with the most term matches, if it has at least three (the seed's rule)."""
    domains = {label[7:]: hits for label, hits in counts.items() if label.startswith("domain:")}
    if not domains:
        return None
    domain, hits = max(domains.items(), key=lambda item: item[1])
    return domain if hits >= 3 else None


def seed_complexity(*, task: str, tokens: int, multi_step: bool, code_hits: int, domain: str | None,
                    system_chars: int) -> float:  # fmt: skip
    """The seed's 0-1 complexity: base 0.3, token steps, complex task, multi-step, code, domain, system prompt."""
    value = 0.3 + 0.1 * sum(tokens > limit for limit in (500, 1000, 2000, 4000))
    value += 0.2 if task in COMPLEX_TASKS else 0.0
    value += 0.1 if multi_step else 0.0
    value += min(0.02 * code_hits, 0.15) if code_hits >= 2 else 0.0
    value += 0.1 if domain else 0.0
    value += 0.05 * ((system_chars > 500) + (system_chars > 1000))
    return min(value, 1.0)


def quality_requirement(task: str, complexity: float, domain: str | None) -> str:
    if domain in CRITICAL_DOMAINS or task in CRITICAL_TASKS or complexity > 0.9:
        return "critical"
    if task in HIGH_TASKS or complexity > 0.7:
        return "high"
    if task in LOW_TASKS and complexity < 0.4:
        return "low"
    return "medium"


def complexity_label(complexity: float) -> str:
    if complexity < 0.4:
        return "simple"
    if complexity < 0.6:
        return "moderate"
    return "complex" if complexity < 0.8 else "expert"


def tier_for(score: float) -> str:
    if score < UTILITY_BELOW:
        return "utility"
    return "premium" if score >= PREMIUM_FROM else "workhorse"


def prior_score(task: str, complexity: float, quality: str) -> float:
    """The seed's view of how strong a model the task needs, as a number: its default tier, complexity, quality."""
    value = _TIER_PRIOR[TASK_INFO[task][0]] + 0.35 * (complexity - 0.3) + _QUALITY_PRIOR[quality]
    return min(max(value, 0.0), 1.0)


@dataclass(frozen=True)
class _Analysis:
    task: str
    confidence: float
    domain: str | None
    complexity: float
    quality: str
    prior: float
    features: list[float]  # the general features (FEATURE_NAMES)
    head: str  # which learned head scores the prompt
    head_features: list[float]  # that head's input


def _analyse(prompt: str, system: str | None) -> _Analysis:
    text = _scan_text(prompt)
    counts, code, maths, words = kw.scan(text)
    code_hits, math_hits = len(code), len(maths)
    task, confidence = detect_task(text, counts, code_hits=code_hits, math_hits=math_hits)
    domain = detect_domain(counts)
    multi_step = kw.MULTI_STEP_PATTERN.search(text) is not None
    complexity = seed_complexity(task=task, tokens=math.ceil(len(prompt) / 4), multi_step=multi_step,
                                 code_hits=code_hits, domain=domain, system_chars=len(system or ""))  # fmt: skip
    quality = quality_requirement(task, complexity, domain)
    prior = prior_score(task, complexity, quality)
    values = classify_model.features(prompt, words, prior=prior, math_hits=math_hits, code_hits=code_hits,
                                     category=TASK_CATEGORY[task])  # fmt: skip
    head = classify_model.head_for(multiple_choice=values[_CHOICE] > 0, category=TASK_CATEGORY[task],
                                   math_task=task == "math", numbers=sum(word[0].isdigit() for word in words),
                                   question="?" in text)  # fmt: skip
    inputs = classify_model.head_features(head, prompt, words, values)
    return _Analysis(task, confidence, domain, complexity, quality, prior, values, head, inputs)


def feature_vector(prompt: str, system: str | None = None) -> list[float]:
    """The general head's inputs for a prompt."""
    return _analyse(prompt, system).features


def head_inputs(prompt: str, system: str | None = None) -> tuple[str, list[float], list[float], float]:
    """(head, its inputs, the general inputs, the seed prior) of a prompt: what classify_fit fits on."""
    found = _analyse(prompt, system)
    return found.head, found.head_features, found.features, found.prior


def route_score(prior: float, gain_delta: float, learned_slope: float = GAIN_STEEPNESS) -> float:
    """A logistic squash of the seed prior (around 0.5) plus the learned gain delta times its slope."""
    logit = PRIOR_SLOPE * (prior - 0.5) + LEARNED_SPAN * math.tanh(learned_slope * gain_delta)
    return round(1.0 / (1.0 + math.exp(-logit)), 9)


def classify(prompt: str, system: str | None = None, *, llm: LLMTaskClassifier | None = None,
             llm_below_confidence: float = 0.6) -> Classification:  # fmt: skip
    """Classify one prompt locally; with `llm`, ask it only when the task-type confidence is below the bound."""
    found = _analyse(prompt, system)
    head = classify_model.head(found.head)
    learned = classify_model.gain_delta(found.head_features, found.head)
    score = route_score(found.prior, learned, GAIN_STEEPNESS if head is None else head.learned_slope)
    result = Classification(
        task_type=found.task, category=TASK_CATEGORY[found.task], complexity=complexity_label(found.complexity),
        quality_requirement=found.quality, score=score, tier=tier_for(score), confidence=round(found.confidence, 3),
        complexity_score=round(found.complexity, 3), domain=found.domain,
        signals=(f"prior:{found.prior:.3f}", f"learned:{learned:+.3f}", f"head:{found.head}"),
    )  # fmt: skip
    if llm is not None and found.confidence < llm_below_confidence:
        refined = llm(prompt=prompt, system=system, heuristic=result)
        if refined is not None:
            return refined
    return result
