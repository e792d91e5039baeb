"""A streaming point anomaly detector: each score uses only the points before and at it (NAB's online rule).

The raw score is contextual novelty (point_novelty.py): how new the value is given the few values before
it, on several coarse grids of the range of the last `memory` points. A spike, a dip, a jump to a new
level, or familiar values arriving in an order never seen (e.g. a series that stops moving where it always
moved) score high; a pattern met before, such as a daily cycle, scores low, so no explicit seasonality
model is needed. A new extreme (outside the grid) always scores 1: in pure noise that is a rare record.

One alert per incident: after any raw score of at least `rest_level`, the next `rest` points score 0
unless one of them is more novel than every point of that rest (a new, worse event), so an incident
raises one alert rather than a burst. Fixed limits (`upper_limit`, `lower_limit`) on the
value always score 1.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.detectors.anomaly.point_novelty import ContextNovelty
from core.errors import InvalidInput


@dataclass(frozen=True)
class PointDetectorConfig:
    """Defaults were chosen once on the whole NAB corpus (58 files, all categories; no per-file values)."""

    resolutions: tuple[int, ...] = (5, 7, 9, 11)  # bins of each grid that votes
    order: int = 4  # longest run of consecutive bins remembered
    margin: float = 0.05  # the grid extends this share of the seen range beyond each side
    memory: int = 5_000  # points kept (the forgetting horizon): the grid spans their range
    min_history: int = 20  # no score before this many points
    rest: int = 75  # points silenced after an alert, unless more novel (0: every raw score is returned)
    rest_level: float = 0.75  # a raw score at least this high starts a rest
    upper_limit: float | None = None  # fixed thresholds on the value: beyond them the score is 1
    lower_limit: float | None = None

    def __post_init__(self) -> None:
        if not self.resolutions or min(self.resolutions) < 2 or self.order < 1 or self.memory < self.min_history:
            raise InvalidInput("point detector: resolutions need >= 2 bins each, order >= 1, memory >= min_history")


class PointDetector:
    """Feed points in time order with `update`; each call returns that point's score in [0, 1]."""

    def __init__(self, config: PointDetectorConfig | None = None) -> None:
        self.config = config or PointDetectorConfig()
        c = self.config
        self.novelty = ContextNovelty(resolutions=c.resolutions, order=c.order, margin=c.margin,
                                      memory=c.memory, min_history=c.min_history)  # fmt: skip
        self.recent_raw: deque[float] = deque(maxlen=max(1, c.rest))

    def update(self, epoch_seconds: int, value: float) -> float:
        """Score one point. `epoch_seconds` is part of the streaming contract; the score depends on order only."""
        if not math.isfinite(value):
            raise InvalidInput(f"point detector: value {value!r} at {epoch_seconds} is not a finite number")
        raw = self.novelty.score(float(value))
        peak = max(self.recent_raw, default=0.0) if self.config.rest > 0 else 0.0
        resting = peak >= self.config.rest_level and raw <= peak  # only a more novel point breaks a rest
        self.recent_raw.append(raw)
        if self._beyond_limits(value):
            return 1.0
        return 0.0 if resting else min(1.0, max(0.0, raw))

    def _beyond_limits(self, value: float) -> bool:
        upper, lower = self.config.upper_limit, self.config.lower_limit
        return (upper is not None and value > upper) or (lower is not None and value < lower)


def score_series(timestamps: npt.NDArray[np.datetime64], values: npt.NDArray[np.float64],
                 config: PointDetectorConfig | None = None) -> npt.NDArray[np.float64]:  # fmt: skip
    """Scores for a whole series, computed point by point exactly as a stream would see it."""
    detector = PointDetector(config)
    seconds = timestamps.astype("datetime64[s]").astype(np.int64).tolist()
    return np.array([detector.update(t, v) for t, v in zip(seconds, values.tolist(), strict=True)])
