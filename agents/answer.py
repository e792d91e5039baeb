"""The Answer shape (CONTRACT 6), number formatting, and the groundedness check: every number in an answer's text
must be one of its figures or drivers (at the precision shown), and every figure must come from a tool result."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field


class Figure(BaseModel):
    label: str
    value: float
    unit: str  # USD | percent | requests | tokens | count | tokens_per_request


class Driver(BaseModel):
    dimension: str
    value: str | None
    contribution: float  # USD of the change this value explains
    share: float | None  # fraction of the change (0..1, may be negative or above 1)


class PeriodOut(BaseModel):
    start: str
    end: str


class Answer(BaseModel):
    answer: str
    period: PeriodOut
    figures: list[Figure] = Field(default_factory=list)
    drivers: list[Driver] | None = None
    queries: list[str] = Field(default_factory=list)
    suggested_actions: list[str] = Field(default_factory=list)
    llm: str = "offline"
    answerable: bool = True


def money_value(amount: float) -> float:
    """A USD amount as figures and text carry it: cents, or 4 decimals below a dollar (tiny amounts)."""
    return round(amount, 2) if abs(amount) >= 1 or amount == 0 else round(amount, 4)


def usd(amount: float) -> str:
    value = money_value(amount)
    text = f"${abs(value):,.2f}" if abs(value) >= 1 or value == 0 else f"${abs(value):,.4f}"
    return "-" + text if value < 0 else text


def pct(value: float) -> str:
    return f"{round(value, 1):,.1f}%"


def count(value: float) -> str:
    return f"{round(value):,}"


# Dates and times are the stated period, not figures; identifiers with digits (gpt-4o, user-17) are names.
_DATES = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?")
_NUMBER = re.compile(r"(?<![\w.\-/:])\$?(\d[\d,]*(?:\.\d+)?)(%?)(?![\w\-])")


def numbers_in(text: str, *, names: Iterable[str] = ()) -> list[tuple[float, int, bool]]:
    """(value, decimals shown, is percent) of every number in the text, dates and names left out."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        text = text.replace(name, " ")
    text = _DATES.sub(" ", text)
    found = []
    for match in _NUMBER.finditer(text):
        digits = match.group(1).rstrip(",")
        if digits.count(",") and not re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):
            continue  # "a, b, 3" style lists are not thousands separators
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        found.append((float(digits.replace(",", "")), decimals, bool(match.group(2))))
    return found


def _matches(value: float, decimals: int, candidates: Iterable[float]) -> bool:
    tolerance = 0.5 * 10**-decimals + 1e-9
    return any(math.isfinite(c) and abs(abs(c) - value) <= tolerance for c in candidates)


def allowed_numbers(answer: Answer) -> tuple[list[float], list[float]]:
    """(plain numbers, percents) an answer's text may show: its figures and drivers."""
    plain = [f.value for f in answer.figures]
    percents = [f.value for f in answer.figures if f.unit == "percent"]
    for driver in answer.drivers or []:
        plain.append(driver.contribution)
        if driver.share is not None:
            percents.append(driver.share * 100)
    return plain, percents


def ungrounded(answer: Answer) -> list[str]:
    """The numbers in the answer text that are not among its figures or drivers (empty when grounded)."""
    plain, percents = allowed_numbers(answer)
    names = [d.value or "" for d in answer.drivers or []]
    bad = []
    for value, decimals, is_percent in numbers_in(answer.answer, names=names):
        pool = percents if is_percent else plain
        if not _matches(value, decimals, pool):
            bad.append(f"{value:g}{'%' if is_percent else ''}")
    return bad


def tool_numbers(data: Any) -> list[float]:
    """Every number in a tool result (nested dicts/lists; numeric strings such as exact Decimals included)."""
    out: list[float] = []
    if isinstance(data, bool) or data is None:
        return out
    if isinstance(data, int | float):
        out.append(float(data))
    elif isinstance(data, str):
        if re.fullmatch(r"-?\d+(?:\.\d+)?", data):
            out.append(float(data))
    elif isinstance(data, dict):
        for value in data.values():
            out += tool_numbers(value)
    elif isinstance(data, list | tuple):
        for value in data:
            out += tool_numbers(value)
    return out


def unsupported_figures(answer: Answer, results: Iterable[Any]) -> list[str]:
    """Figures and driver amounts that no tool returned (compared at cent precision; shares as fractions)."""
    pool = [n for result in results for n in tool_numbers(result)]
    percents = pool + [n * 100 for n in pool]
    bad = [f"{f.label}={f.value:g}" for f in answer.figures
           if not _matches(abs(f.value), 2, percents if f.unit == "percent" else pool)]  # fmt: skip
    for driver in answer.drivers or []:
        if not _matches(abs(driver.contribution), 2, pool):
            bad.append(f"driver {driver.dimension}={driver.value}: {driver.contribution:g}")
    return bad
