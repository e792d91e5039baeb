"""Seasonal slots: hour of day, and (hour, day of week) once weeks of history exist."""

from __future__ import annotations

from collections import deque

import numpy as np

from core.detectors.anomaly.robust import fast_median

HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY


class SeasonalProfile:
    """Recent values per hour-of-day and per hour-of-week slot, for a median 'same time last days/weeks'."""

    def __init__(self, *, period_seconds: float, days: int, weeks: int, min_periods: int) -> None:
        self.per_hour = max(1, round(HOUR / period_seconds)) if period_seconds > 0 else 1
        self.enabled = 0 < period_seconds <= HOUR  # coarser sampling cannot resolve an hour-of-day profile
        self.min_values = min_periods * self.per_hour
        self.daily: dict[int, deque[float]] = {}
        self.weekly: dict[int, deque[float]] = {}
        self.days, self.weeks = days, weeks

    def expected(self, epoch_seconds: int) -> float | None:
        """Median of the same slot in past weeks (preferred) or days; None while there is too little history."""
        if not self.enabled:
            return None
        for table, slot in ((self.weekly, _week_slot(epoch_seconds)), (self.daily, _day_slot(epoch_seconds))):
            values = table.get(slot)
            if values is not None and len(values) >= self.min_values:
                return fast_median(np.fromiter(values, dtype=np.float64, count=len(values)))
        return None

    def add(self, epoch_seconds: int, value: float) -> None:
        if not self.enabled:
            return
        day = self.daily.setdefault(_day_slot(epoch_seconds), deque(maxlen=self.days * self.per_hour))
        day.append(value)
        week = self.weekly.setdefault(_week_slot(epoch_seconds), deque(maxlen=self.weeks * self.per_hour))
        week.append(value)

    def reset(self) -> None:
        self.daily.clear()
        self.weekly.clear()


def _day_slot(epoch_seconds: int) -> int:
    return (epoch_seconds % DAY) // HOUR


def _week_slot(epoch_seconds: int) -> int:
    return (epoch_seconds % WEEK) // HOUR  # epoch day 0 was a Thursday; any fixed origin works
