"""The eval suites' synthetic orgs still plant exactly what evals/datasets/synth_truth.json records (kinds,
scopes, affected requests, expected savings at list prices, anomaly windows and drivers). A difference means the
generator or the price catalogue moved the ground truth under the suites: rewrite the file on purpose
(`python -m evals.synth_truth`) or fix the change."""

from __future__ import annotations

import json
from typing import Any

from evals.synth_truth import ORGS, stored, truth


def test_the_stored_truth_covers_every_suite_org_and_plants_something() -> None:
    data = stored()
    assert set(ORGS) <= set(data)
    assert all(data[name]["waste"] for name in ORGS if not ORGS[name]["healthy"])
    assert data["seed-7-control"]["waste"] == []
    assert data["seed-7-control"]["anomalies"] == []


def test_generated_orgs_match_the_stored_truth(db: Any) -> None:
    generated = json.loads(json.dumps(truth(db), sort_keys=True))
    recorded = stored()
    for name in ORGS:
        assert generated[name] == recorded[name], f"{name} differs from evals/datasets/synth_truth.json"
