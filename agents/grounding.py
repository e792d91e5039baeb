"""Groundedness: every number an agent writes must be a figure some tool returned (DESIGN: the one rule).

`figures_of(data)` collects the numbers of tool results (findings, evidence rows, reviews, simulations);
`ungrounded(text, figures)` lists the numbers in `text` that match none of them, allowing a figure's rounding
to the precision written and ratios written as percentages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from core.routing.llm import OutputRejected

_NUMBER = re.compile(r"(?<![\w.])[-+]?\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_NUMERIC_STRING = re.compile(r"^-?\d+(\.\d+)?$")


def figures_of(data: Any, into: set[Decimal] | None = None) -> set[Decimal]:
    """Every number in a JSON-like value (numbers, numeric strings, numbers inside strings)."""
    found = set() if into is None else into
    if isinstance(data, bool) or data is None:
        return found
    if isinstance(data, int | float | Decimal):
        found.add(Decimal(str(data)))
    elif isinstance(data, str):
        if _NUMERIC_STRING.match(data):
            found.add(Decimal(data))
        else:
            found.update(numbers_in(data))
    elif isinstance(data, dict):
        for value in data.values():
            figures_of(value, found)
    elif isinstance(data, list | tuple | set):
        for value in data:
            figures_of(value, found)
    return found


def _parse(match: re.Match[str]) -> tuple[Decimal, int] | None:
    whole, fraction = match.group(1).replace(",", ""), match.group(2) or ""
    try:
        return Decimal(whole + fraction), max(len(fraction) - 1, 0)
    except InvalidOperation:
        return None


def numbers_in(text: str) -> list[Decimal]:
    return [parsed[0] for m in _NUMBER.finditer(text) if (parsed := _parse(m)) is not None]


def _matches(value: Decimal, places: int, figures: Iterable[Decimal]) -> bool:
    quantum = Decimal(1).scaleb(-places)
    for figure in figures:
        for candidate in (figure, figure * 100):
            if abs(candidate.quantize(quantum) - value) <= quantum / 2 or candidate == value:
                return True
    return False


def ungrounded(text: str, figures: set[Decimal]) -> list[str]:
    """The numbers written in `text` that no figure accounts for."""
    bad = []
    for match in _NUMBER.finditer(text):
        parsed = _parse(match)
        if parsed is not None and not _matches(parsed[0], parsed[1], figures):
            bad.append(match.group(0))
    return bad


def require_grounded(texts: Iterable[str], figures: set[Decimal], *, figure: float | None = None) -> None:
    """Raise OutputRejected (the model is asked again) on a number no tool returned."""
    if figure is not None and not _matches(Decimal(str(figure)).quantize(Decimal("0.01")), 2, figures):
        raise OutputRejected(f"monthly_savings {figure} is not a figure any tool returned; use a verified figure")
    for text in texts:
        bad = ungrounded(text, figures)
        if bad:
            raise OutputRejected(f"the number(s) {', '.join(bad)} in {text!r} come from no tool result")


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def grounded_text(text: str, figures: set[Decimal]) -> str:
    """`text` without the sentences that carry a number no tool returned (a derived ratio, a typo)."""
    kept = [s for s in _SENTENCE.split(text) if not ungrounded(s, figures)]
    return " ".join(kept)
