"""Robust location and scale: median and MAD, with a floor so flat or discretised data has a finite scale."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
MEAN_AD_TO_SIGMA = 1.2533  # sqrt(pi/2): mean absolute deviation -> sigma for a normal distribution


def median_scale(window: npt.NDArray[np.float64], *, floor: float) -> tuple[float, float]:
    """(median, robust sigma) of the window. When over half the values are equal the MAD is 0; then the
    mean absolute deviation (still > 0 if anything moved) stands in, and `floor` guards a flat line."""
    median = fast_median(window)
    deviation = np.abs(window - median)
    mad = fast_median(deviation) * MAD_TO_SIGMA
    if mad <= 0.0:
        mad = float(deviation.mean()) * MEAN_AD_TO_SIGMA
    return median, max(mad, floor)


def fast_median(values: npt.NDArray[np.float64]) -> float:
    """np.median without its per-call overhead (it dominates on windows of a few hundred points)."""
    n = len(values)
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float(part[half - 1] + part[half]) / 2.0


def to_unit(z: float, half: float) -> float:
    """Map a robust z-score (>= 0) onto [0, 1): 0.5 at z == half, monotone, so thresholds keep resolution."""
    return z / (z + half) if z > 0.0 else 0.0
