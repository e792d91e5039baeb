"""Contextual novelty: has this value, after the values just before it, ever been seen before?

In the spirit of CAD OSE (Smirnov's Contextual Anomaly Detector, a NAB entrant), but our own, simpler code:
each value is cut into one of `bins` equal bins of the range seen so far, and the detector remembers every
run ("gram") of 1..`order` consecutive bins it has met. A point's novelty is 1 - L / order, where L is the
longest run ending at it that was met before: 1 for a value in a bin never visited, 1 - 1/order for a jump
between two familiar bins never seen one after the other, 0 for a fully familiar pattern.

Several grids of different coarseness vote (their novelties are averaged), so the score is graded and a
bin edge of one grid does not decide alone. The grid spans the range of the last `memory` points plus a
`margin`; a value outside it is novel by definition (score 1), after which the grid is widened and the
memory of grams is rebuilt from the retained history. When the retained history has become much narrower
than the grid (an old spike has left the memory) the grid is narrowed the same way, so one giant spike
does not blind the detector for good.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

NARROWING = 0.5  # rebuild when the retained history spans less than this share of the grid


class Grid:
    """One discretisation of the value range and the set of grams met on it."""

    def __init__(self, bins: int, order: int) -> None:
        self.bins, self.order = bins, order
        self.low, self.step = 0.0, 1.0
        self.symbols: deque[int] = deque(maxlen=order)
        self.seen: set[int] = set()

    def rebuild(self, low: float, high: float, history: Sequence[float]) -> None:
        self.low, self.step = low, (high - low) / self.bins if high > low else 1.0
        self.symbols.clear()
        self.seen.clear()
        for value in history:
            self.symbols.append(self.symbol(value))
            self.seen.update(self._grams())

    def symbol(self, value: float) -> int:
        return min(self.bins - 1, max(0, int((value - self.low) / self.step)))

    def novelty(self, value: float) -> float:
        """Score the value in the context of the previous symbols, then remember its grams."""
        self.symbols.append(self.symbol(value))
        grams = self._grams()
        familiar = 0
        for gram in grams:
            if gram not in self.seen:
                break
            familiar += 1
        self.seen.update(grams)
        return 1.0 - familiar / self.order

    def _grams(self) -> list[int]:
        """Codes of the runs of length 1..order ending at the newest symbol (a leading 1 encodes the length)."""
        base, code, grams = self.bins + 1, 1, []
        for symbol in reversed(self.symbols):
            code = code * base + symbol
            grams.append(code)
        return grams


class ContextNovelty:
    """Feed values in time order with `score`; each call returns that value's novelty in [0, 1]."""

    def __init__(self, *, resolutions: Sequence[int], order: int, margin: float, memory: int,
                 min_history: int) -> None:  # fmt: skip
        self.grids = [Grid(bins, order) for bins in resolutions]
        self.margin, self.min_history = margin, min_history
        self.history: deque[float] = deque(maxlen=memory)
        self.low = self.high = 0.0
        self.ready = False
        self.since_check = 0

    def score(self, value: float) -> float:
        history = self.history
        history.append(value)
        if len(history) < self.min_history:
            return 0.0
        if not self.ready or not self.low <= value <= self.high:
            was_ready = self.ready
            self._regrid()
            return 1.0 if was_ready else 0.0
        novelty = sum(grid.novelty(value) for grid in self.grids) / len(self.grids)
        if len(history) == history.maxlen and self._too_wide():
            self._regrid()
        return novelty

    def _too_wide(self) -> bool:
        """Checked once per `memory` points: has the retained history become much narrower than the grid?"""
        self.since_check += 1
        if self.since_check < len(self.history):
            return False
        self.since_check = 0
        return max(self.history) - min(self.history) < NARROWING * (self.high - self.low) / (1.0 + 2 * self.margin)

    def _regrid(self) -> None:
        low, high = min(self.history), max(self.history)
        pad = self.margin * (high - low) or max(abs(high), 1.0) * 1e-3
        self.low, self.high = low - pad, high + pad
        for grid in self.grids:
            grid.rebuild(self.low, self.high, self.history)
        self.ready = True
