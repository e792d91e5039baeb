"""Regression gate of the insights eval (evals/insights.py): one synthetic org and its healthy control, with
thresholds just below the figures measured now (seeds 7, 11, 13 at scale 0.2: recall 1.0, top-driver accuracy
1.0, the spike one incident within 0.2 h of the planted window, control quiet). Full suite:
`tokentra eval --suite insights --json` (add `--set timing_events=1000000` for the big-org timing)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from evals.insights import run_insights_eval


def test_insights_eval_holds_its_figures(db: Any) -> None:
    started = time.perf_counter()
    metrics = run_insights_eval(db, seeds=(11,), scale=0.2, end=datetime(2026, 3, 1, tzinfo=UTC))
    seconds = time.perf_counter() - started
    assert metrics["planted"] == 3
    assert metrics["recall"] == 1.0, metrics["cases"]
    assert metrics["top_driver_accuracy"] == 1.0, metrics["cases"]
    assert metrics["spike_single"], metrics["cases"]
    assert metrics["spike_window_error_hours"] <= 1.0, metrics["cases"]
    assert metrics["false_alarms"] <= 1, metrics["cases"]
    assert metrics["control_above_info"] == 0, metrics
    assert metrics["control_max_severity"] in ("none", "info"), metrics
    assert metrics["detect_seconds_max"] < 10, metrics
    assert seconds < 60, metrics
