"""Regression gate of the assistant eval (evals/assistant.py): a small, fast slice (one question of each shape on a
small synthetic org, plus anomaly driver accuracy) with thresholds just below the figures measured now, so a change
that makes the assistant or the explainer worse fails CI. Full suite: `tokentra eval --suite assistant --json`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from evals.assistant import run_assistant_eval

SLICE = ("total-last-week", "total-team", "total-requests", "top-team", "top-users", "compare-days", "why-yesterday",
         "why-team", "forecast-month-end", "budget-status", "cant-revenue", "cant-unknown-model")  # fmt: skip


def test_assistant_eval_slice_holds_its_figures(db: Any) -> None:
    started = time.perf_counter()
    metrics = run_assistant_eval(
        db, seed=11, scale=0.1, end=datetime(2026, 3, 1, tzinfo=UTC), ids=SLICE, explain_window_days=10
    )
    seconds = time.perf_counter() - started
    assert metrics["questions"] == len(SLICE)
    assert metrics["groundedness"] == 1.0, metrics["failures"]
    assert metrics["answer_accuracy"] >= 0.9, metrics["failures"]
    assert metrics["period_accuracy"] == 1.0, metrics["failures"]
    assert metrics["why_driver_accuracy"] == 1.0, metrics["failures"]
    assert metrics["cant_answer_accuracy"] == 1.0, metrics["failures"]
    explain = metrics["explain"]
    assert explain["detection_recall"] >= 0.66, explain["cases"]
    assert explain["driver_accuracy"] >= 0.66, explain["cases"]
    assert explain["explanation_accuracy"] == 1.0, explain["cases"]
    assert explain["explanation_grounded"], explain["cases"]
    assert seconds < 60, metrics
