"""Regression gate of the `agents` eval suite: a small slice (the shared synthetic orgs) through evals.agents'
own scoring, with thresholds just below the figures measured when the gate was set. A change that makes the
analyst find less, claim more than the planted truth, double count or write ungrounded numbers fails here."""

from __future__ import annotations

from typing import Any

import pytest
from synth_fixtures import Loaded

from evals.agents import _graph, evaluate, single_result

# Measured on seed 7, scale 0.2 (tests/integration/synth_fixtures.py), offline.
GATE = {
    "single.recall": 1.0,
    "offline.recall": 1.0,
    "offline.precision": 1.0,
    "offline.groundedness": 1.0,  # every number in a consensus description is a tool's figure
    "single.groundedness": 1.0,  # and in every detector finding's own text
}
MAX_SAVINGS_ERROR_MEAN = 0.01  # measured 0.0045 (|claimed − expected| / expected, mean over the planted kinds)
MAX_SAVINGS_ERROR_ANY = 0.08  # measured 0.0562 (output_length, the worst kind)


@pytest.fixture(scope="module")
def metrics(db: Any, wasteful: Loaded, control: Loaded) -> dict[str, Any]:
    raw = {wasteful.org_id: wasteful.raw, control.org_id: control.raw}  # the detectors' findings, already run
    runners = {"single": lambda o, s: single_result(raw[o]), "offline": lambda o, s: _graph(db, o, s, None)}
    result = evaluate(db, runners, (wasteful.org_id, wasteful.org), (control.org_id, control.org))
    return result


@pytest.mark.parametrize("name", list(GATE))
def test_metric_at_or_above_its_gate(metrics: dict[str, Any], name: str) -> None:
    assert metrics[name] >= GATE[name], f"{name} = {metrics[name]} < {GATE[name]}"


def test_consensus_never_double_counts_and_the_control_org_stays_clean(metrics: dict[str, Any]) -> None:
    assert metrics["offline.double_counted_monthly"] == 0
    assert metrics["offline.control_false_positives"] == 0
    assert metrics["single.double_counted_monthly"] > 0  # the analyst alone claims overlapping dollars


def test_savings_stay_close_to_the_planted_truth(metrics: dict[str, Any]) -> None:
    assert metrics["offline.savings_error_mean"] <= MAX_SAVINGS_ERROR_MEAN, metrics["offline.savings_error_by_kind"]
    assert metrics["offline.savings_error_max"] <= MAX_SAVINGS_ERROR_ANY, metrics["offline.savings_error_by_kind"]
    assert len(metrics["offline.savings_error_by_kind"]) == 16  # every planted kind kept and compared
