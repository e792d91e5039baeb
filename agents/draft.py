"""Building an Answer piece by piece: each number shown is added as a figure (or driver) at the same time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from agents.answer import Answer, Driver, Figure, PeriodOut, count, money_value, pct, usd
from agents.periods import Period
from tools.base import ToolResult, iso

CAPABILITIES = (
    "I can answer questions about your LLM spend: totals for a period, the top models, teams, features, projects, "
    "users or providers, comparisons and why costs changed, the month-end forecast, budget status, anomalies and "
    "savings recommendations."
)


def when(period: Period) -> str:
    """The period as the text states it: its name (when it has no digits) and exact UTC bounds."""

    def moment(value: datetime) -> str:
        text = iso(value)
        return text[:10] if text.endswith("T00:00:00Z") else text[:16].replace("T", " ")

    bounds = f"{moment(period.start)} to {moment(period.end)} UTC"
    label = period.label if not re.search(r"\d", period.label) else ""
    return f"{label} ({bounds})" if label else f"{bounds}"


@dataclass
class Draft:
    period: Period
    parts: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    drivers: list[Driver] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    answerable: bool = True

    def usd(self, label: str, amount: float) -> str:
        self.figures.append(Figure(label=label, value=money_value(amount), unit="USD"))
        return usd(amount)

    def pct(self, label: str, value: float) -> str:
        self.figures.append(Figure(label=label, value=round(value, 1), unit="percent"))
        return pct(value)

    def count(self, label: str, value: float, unit: str = "requests") -> str:
        self.figures.append(Figure(label=label, value=float(round(value)), unit=unit))
        return count(value)

    def number(self, label: str, value: float, unit: str, decimals: int = 1) -> str:
        self.figures.append(Figure(label=label, value=round(value, decimals), unit=unit))
        return f"{round(value, decimals):,.{decimals}f}"

    def driver(self, dimension: str, value: str | None, contribution: float, share: float | None) -> str:
        """A driver, and its text: 'feature code-review (+$12.34, 45.6% of the change)'."""
        amount = money_value(contribution)
        self.drivers.append(Driver(dimension=dimension, value=value, contribution=amount, share=share))
        sign = "+" if amount >= 0 else "-"
        text = f"{dimension_name(dimension)} {value or '(not set)'} ({sign}{usd(abs(amount))}"
        return text + (f", {pct(share * 100)} of the change)" if share is not None else ")")

    def use(self, result: ToolResult) -> ToolResult:
        self.queries += [q for q in result.queries if q not in self.queries]
        return result

    def say(self, text: str) -> None:
        self.parts.append(text)

    def answer(self, *, llm: str = "offline") -> Answer:
        return Answer(
            answer=" ".join(self.parts),
            period=PeriodOut(start=iso(self.period.start), end=iso(self.period.end)),
            figures=self.figures,
            drivers=self.drivers or None,
            queries=self.queries,
            suggested_actions=self.actions,
            llm=llm,
            answerable=self.answerable,
        )


def dimension_name(dimension: str) -> str:
    return {"user_id": "user", "task_type": "task type"}.get(dimension, dimension)


def scope_text(filters: dict[str, str]) -> str:
    if not filters:
        return ""
    return " for " + " and ".join(f"{dimension_name(k)} {v}" for k, v in filters.items())
