"""One evaluator signature for every suite: (inputs, outputs, reference) → named Score(s) with a comment.

An evaluator is any callable `evaluator(*, inputs=..., outputs=..., reference=...)` returning one `Score` or a
sequence of them (the shape of openevals' and LangSmith's evaluators: what was asked, what the system answered, what
the truth is). `evaluate(examples, evaluators)` runs every evaluator on every example; `Results` aggregates the
named scores (mean, total, worst …) and keeps each example's comment, so a report can say why an example failed.

A score's value is None when it does not apply to an example (a "why" check on a "total" question): aggregates
skip it. `weight` makes a mean a ratio of sums (groundedness: numbers grounded / numbers checked, each answer
weighted by its numbers). `passed` is True/False for a check and None for a measurement (dollars, hours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Score:
    name: str
    value: float | None
    comment: str = ""
    weight: float = 1.0
    passed: bool | None = None

    @classmethod
    def check(cls, name: str, ok: bool, comment: str = "", *, weight: float = 1.0) -> Score:
        """A pass/fail check: 1.0 or 0.0; the comment says what was wrong (or, passed, what was seen)."""
        return cls(name, 1.0 if ok else 0.0, comment, weight, ok)

    @classmethod
    def skip(cls, name: str, comment: str = "") -> Score:
        """Not applicable to this example: left out of every aggregate."""
        return cls(name, None, comment)


class Evaluator(Protocol):
    def __call__(self, *, inputs: Any, outputs: Any, reference: Any) -> Score | Sequence[Score]: ...


@dataclass(frozen=True)
class Example:
    """One row of a dataset with the system's outputs on it: `id` names it in reports."""

    id: str
    inputs: Any
    outputs: Any
    reference: Any = None


@dataclass(frozen=True)
class Scored:
    example: str
    score: Score


@dataclass
class Results:
    """Every (example, score) of a run, in order; aggregates by score name."""

    scored: list[Scored] = field(default_factory=list)

    def of(self, name: str) -> list[Scored]:
        """The applicable scores named `name` (value not None)."""
        return [s for s in self.scored if s.score.name == name and s.score.value is not None]

    def values(self, name: str) -> list[float]:
        return [s.score.value for s in self.of(name) if s.score.value is not None]

    def mean(self, name: str, digits: int | None = None, *, default: float | None = None) -> float | None:
        """Weighted mean of the applicable values; `default` when none applies (or their weights are 0)."""
        scores = [s.score for s in self.of(name)]
        weight = sum(s.weight for s in scores)
        if not scores or weight == 0:
            return default
        value = sum((s.value or 0.0) * s.weight for s in scores) / weight
        return value if digits is None else round(value, digits)

    def total(self, name: str) -> float:
        return sum(self.values(name))

    def weight(self, name: str) -> float:
        return sum(s.score.weight for s in self.of(name))

    def worst(self, name: str, *, highest: bool = True) -> Scored | None:
        """The example with the highest (or lowest) value; the first one on ties."""
        scored = self.of(name)
        pick = max if highest else min
        return pick(scored, key=lambda s: s.score.value or 0.0) if scored else None

    def all_passed(self, name: str) -> bool:
        return all(s.score.passed is not False for s in self.of(name))

    def by_example(self, name: str) -> dict[str, float | None]:
        return {s.example: s.score.value for s in self.scored if s.score.name == name}

    def failures(self, *, limit: int = 20) -> list[str]:
        """`example: name: comment` of every failed check (at most `limit`, then a count of the rest)."""
        lines = [f"{s.example}: {s.score.name}: {s.score.comment}".rstrip(": ") for s in self.scored
                 if s.score.passed is False]  # fmt: skip
        return lines if len(lines) <= limit else [*lines[:limit], f"… and {len(lines) - limit} more"]

    def extend(self, other: Results) -> Results:
        self.scored.extend(other.scored)
        return self


def run_evaluator(evaluator: Evaluator, example: Example) -> list[Score]:
    result = evaluator(inputs=example.inputs, outputs=example.outputs, reference=example.reference)
    return [result] if isinstance(result, Score) else list(result)


def evaluate(examples: Iterable[Example], evaluators: Sequence[Evaluator]) -> Results:
    """Every evaluator on every example, in order."""
    results = Results()
    for example in examples:
        for evaluator in evaluators:
            results.scored += [Scored(example.id, score) for score in run_evaluator(evaluator, example)]
    return results


Target = Callable[[Any], Any]


def run_target(rows: Iterable[tuple[str, Any, Any]], target: Target) -> list[Example]:
    """Examples from (id, inputs, reference) rows by calling the system under test on each input."""
    return [Example(id_, inputs, target(inputs), reference) for id_, inputs, reference in rows]
