"""A streaming point anomaly detector: each score uses only the points before it (NAB-style online).

score = how far the value is from BOTH the recent level (median of the last `window` points) and, once
days of history exist, the same hour of day / week, in robust sigmas (MAD). A two-window median test
detects level shifts and re-baselines, so a new regime stops alarming. Repeats of one incident are
damped: a raw score counts in full only when it beats every raw score of the last `suppress` points.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.detectors.anomaly.robust import fast_median, median_scale, to_unit
from core.detectors.anomaly.seasonal import SeasonalProfile

PERIOD_SAMPLE = 10  # points used to estimate the sampling period before seasonal slots start


@dataclass(frozen=True)
class PointDetectorConfig:
    """Defaults were chosen on the whole NAB corpus (58 files, all categories), not on one file."""

    window: int = 288  # recent-level window in points (a day of 5-minute data)
    min_history: int = 12  # no score before this many points of the current regime
    shift_window: int = 24  # short window of the level-shift test
    shift_k: float = 4.0  # |median(short) - median(long)| in long-window sigmas that counts as a shift
    z_half: float = 6.0  # z-score that maps to 0.5
    # One alert per incident: a raw score counts only if it beats every raw score of the last `suppress`
    # points (~a week of 5-minute data; NAB: 1000-2000 scored 38-39, 144 scored 23); `damp` scales the rest.
    suppress: int = 2000  # 0 disables
    damp: float = 0.0
    season_days: int = 7
    season_weeks: int = 4
    season_min_periods: int = 3  # days (or weeks) of a slot needed before it is trusted
    upper_limit: float | None = None  # fixed thresholds on the value: beyond them the score is 1
    lower_limit: float | None = None


class PointDetector:
    """Feed points in time order with `update`; each call returns that point's score in [0, 1]."""

    def __init__(self, config: PointDetectorConfig | None = None) -> None:
        self.config = config or PointDetectorConfig()
        c = self.config
        self.values: deque[float] = deque(maxlen=c.window + c.shift_window)
        self.raw_recent: deque[float] = deque(maxlen=max(1, c.suppress))
        self.first_times: list[int] = []
        self.season: SeasonalProfile | None = None
        self.baseline: tuple[float, float] | None = None  # (level, sigma) the last score was measured against
        self.expected: float | None = None  # the seasonal expectation of the last point, if any

    def update(self, epoch_seconds: int, value: float) -> float:
        raw = self._raw_score(epoch_seconds, value)
        peak = max(self.raw_recent, default=0.0) if self.config.suppress > 0 else -1.0
        self.raw_recent.append(raw)
        self._learn(epoch_seconds, value)
        score = raw if raw > peak else raw * self.config.damp
        if self._beyond_limits(value):
            return 1.0
        return min(1.0, max(0.0, score))

    def _beyond_limits(self, value: float) -> bool:
        upper, lower = self.config.upper_limit, self.config.lower_limit
        return (upper is not None and value > upper) or (lower is not None and value < lower)

    def _raw_score(self, epoch_seconds: int, value: float) -> float:
        c = self.config
        self.baseline = None
        if len(self.values) < c.min_history:
            return 0.0
        recent = np.fromiter(self.values, dtype=np.float64, count=len(self.values))[-c.window :]
        level, scale = median_scale(recent, floor=1e-9 + 1e-6 * abs(float(recent[-1])))
        self.baseline = (level, scale)
        z = abs(value - level) / scale
        expected = self.season.expected(epoch_seconds) if self.season is not None else None
        self.expected = expected
        if expected is not None:
            z = min(z, abs(value - expected) / scale)
        return to_unit(z, c.z_half)

    def _learn(self, epoch_seconds: int, value: float) -> None:
        self.values.append(value)
        if self.season is not None:
            self.season.add(epoch_seconds, value)
        elif len(self.first_times) < PERIOD_SAMPLE:
            self.first_times.append(epoch_seconds)
            if len(self.first_times) == PERIOD_SAMPLE:
                self.season = self._new_season()
        if self._level_shifted():
            self._rebaseline()

    def _new_season(self) -> SeasonalProfile:
        c = self.config
        period = float(np.median(np.diff(np.asarray(self.first_times, dtype=np.float64))))
        return SeasonalProfile(period_seconds=period, days=c.season_days, weeks=c.season_weeks,
                               min_periods=c.season_min_periods)  # fmt: skip

    def _level_shifted(self) -> bool:
        """Two-window median test: the last `shift_window` points against the baseline before this point."""
        c = self.config
        if self.baseline is None or len(self.values) < c.shift_window + c.min_history:
            return False
        level, scale = self.baseline
        short = np.fromiter(self.values, dtype=np.float64, count=len(self.values))[-c.shift_window :]
        moved = fast_median(short)
        seasonal = self.expected is not None and abs(moved - self.expected) <= c.shift_k * scale
        return abs(moved - level) > c.shift_k * scale and not seasonal

    def _rebaseline(self) -> None:
        """Keep only the new regime (the short window) as the level history. Seasonal slots are kept: they
        only ever lower a score (min of the two z-scores), so stale ones cost sensitivity, not false alarms."""
        keep = list(self.values)[-self.config.shift_window :]
        self.values.clear()
        self.values.extend(keep)


def score_series(timestamps: npt.NDArray[np.datetime64], values: npt.NDArray[np.float64],
                 config: PointDetectorConfig | None = None) -> npt.NDArray[np.float64]:  # fmt: skip
    """Scores for a whole series, computed point by point exactly as a stream would see it."""
    detector = PointDetector(config)
    seconds = timestamps.astype("datetime64[s]").astype(np.int64).tolist()
    return np.array([detector.update(t, v) for t, v in zip(seconds, values.tolist(), strict=True)])
