"""When calls happen: the generation window, daily and weekly seasonality, Poisson arrivals, modifiers.

The synthetic org works on UTC hours (think of a London team in winter), so "09:00" is 09:00Z.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from core.synth.profiles import FeatureProfile, Rhythm

HOUR = 3_600.0
DAY = 86_400.0

# Relative call volume by hour of day (normalised to a mean of 1 below).
_OFFICE_HOURS = (0.10, 0.07, 0.06, 0.05, 0.06, 0.10, 0.22, 0.45, 0.85, 1.25, 1.45, 1.50,
                 1.30, 1.45, 1.55, 1.50, 1.35, 1.05, 0.75, 0.55, 0.42, 0.32, 0.22, 0.15)  # fmt: skip
_SERVICE_HOURS = (0.45, 0.38, 0.33, 0.30, 0.32, 0.40, 0.55, 0.75, 0.95, 1.15, 1.30, 1.35,
                  1.35, 1.35, 1.40, 1.40, 1.35, 1.25, 1.15, 1.05, 0.95, 0.85, 0.70, 0.55)  # fmt: skip
_NIGHTLY_HOURS = tuple(1.0 if 1 <= h < 5 else 0.0 for h in range(24))
# Relative volume by weekday, Monday first.
_OFFICE_DAYS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.3, 0.25)
_SERVICE_DAYS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.72, 0.66)
_NIGHTLY_DAYS = (1.0,) * 7


def _normalised(values: tuple[float, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return np.asarray(array / array.mean(), dtype=float)


_SHAPES: dict[Rhythm, tuple[np.ndarray, np.ndarray]] = {
    Rhythm.office: (_normalised(_OFFICE_HOURS), _normalised(_OFFICE_DAYS)),
    Rhythm.service: (_normalised(_SERVICE_HOURS), _normalised(_SERVICE_DAYS)),
    Rhythm.nightly: (_normalised(_NIGHTLY_HOURS), _normalised(_NIGHTLY_DAYS)),
}


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open generation period [start, end), whole hours."""

    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start) / timedelta(days=1)

    @property
    def t0(self) -> float:
        return self.start.timestamp()

    @property
    def t1(self) -> float:
        return self.end.timestamp()

    def hour_starts(self) -> np.ndarray:
        return np.arange(self.t0, self.t1, HOUR)

    def at(self, day: float, hour: float = 0.0) -> float:
        """Unix time of `day` days (from the start, UTC midnight-aligned) plus `hour` hours."""
        midnight = self.start.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return min(max(midnight + day * DAY + hour * HOUR, self.t0), self.t1 - 1.0)

    def weekday_day(self, day: int) -> int:
        """`day`, moved back to the previous weekday if it falls on a weekend (never before day 1)."""
        while day > 1 and (self.start + timedelta(days=day)).weekday() >= 5:
            day -= 1
        return day


@dataclass(frozen=True, slots=True)
class Modifier:
    """A change to baseline traffic in [start, end): more calls, or a burst of provider errors."""

    label: str
    start: float
    end: float
    feature: str | None = None
    team: str | None = None
    provider: str | None = None
    volume_factor: float = 1.0
    error_rate: float | None = None
    error_code: str = "server_error"

    def applies(self, profile: FeatureProfile) -> bool:
        return (
            (self.feature is None or self.feature == profile.feature)
            and (self.team is None or self.team == profile.team)
            and (self.provider is None or self.provider == profile.provider)
        )


def hourly_rates(
    window: Window, rhythm: Rhythm, per_day: float, rng: np.random.Generator, modifiers: tuple[Modifier, ...] = ()
) -> np.ndarray:
    """Expected arrivals in each hour: seasonality x day-level noise x a slight upward trend x modifiers."""
    starts = window.hour_starts()
    hour_shape, day_shape = _SHAPES[rhythm]
    hours = ((starts % DAY) // HOUR).astype(int)
    weekdays = ((starts // DAY + 3) % 7).astype(int)  # 1970-01-01 was a Thursday
    day_index = ((starts - window.t0) // DAY).astype(int)
    day_noise = rng.lognormal(0.0, 0.08, size=int(day_index.max()) + 1)[day_index]
    trend = 1.0 + 0.002 * day_index
    rates = per_day / 24.0 * hour_shape[hours] * day_shape[weekdays] * day_noise * trend
    for modifier in modifiers:
        inside = (starts >= modifier.start) & (starts < modifier.end)
        rates = np.where(inside, rates * modifier.volume_factor, rates)
    return np.asarray(rates, dtype=float)


def arrivals(
    window: Window,
    rhythm: Rhythm,
    per_day: float,
    rng: np.random.Generator,
    modifiers: tuple[Modifier, ...] = (),
) -> np.ndarray:
    """Sorted Unix times of Poisson arrivals over the window."""
    rates = hourly_rates(window, rhythm, per_day, rng, modifiers)
    counts = rng.poisson(rates)
    starts = np.repeat(window.hour_starts(), counts)
    times = starts + rng.uniform(0.0, HOUR, size=starts.size)
    return np.sort(times[times < window.t1])


def times_between(start: float, end: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` sorted uniform times in [start, end)."""
    return np.sort(rng.uniform(start, end, size=n))
