"""Streaming anomaly detection for one univariate series (no look-ahead): robust, seasonal, shift-aware."""

from core.detectors.anomaly.point import PointDetector, PointDetectorConfig, score_series
from core.detectors.anomaly.series_csv import read_series_csv

__all__ = ["PointDetector", "PointDetectorConfig", "read_series_csv", "score_series"]
