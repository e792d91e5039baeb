"""The ground truth of the eval suites' synthetic orgs, kept as a dataset file (evals/datasets/synth_truth.json).

The agents and insights suites generate their orgs from fixed seeds (core/synth) and score against the
generated manifest. This file holds what those manifests plant, in brief: per waste kind its scope, affected
requests and expected monthly savings at list prices; per anomaly its window, scope and expected top driver.
tests/integration/test_synth_truth.py regenerates it and fails on any difference, so a change to the generator
or the price catalogue that moves the truth under the suites is seen, not absorbed.

Rewrite it after an intended change: `python -m evals.synth_truth`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from core.db import Database

PATH = Path(__file__).parent / "datasets" / "synth_truth.json"
END = "2026-03-01T00:00:00+00:00"  # the agents and insights suites' window end
# name: generate_org arguments. Agents: seed 7 and its control org; insights: seeds 7, 11 and 13; all at 0.2.
ORGS: dict[str, dict[str, Any]] = {
    "seed-7": {"seed": 7, "scale": 0.2, "healthy": False},
    "seed-7-control": {"seed": 7, "scale": 0.2, "healthy": True},
    "seed-11": {"seed": 11, "scale": 0.2, "healthy": False},
    "seed-13": {"seed": 13, "scale": 0.2, "healthy": False},
}


def truth(db: Database) -> dict[str, Any]:
    """The brief truth of every org in ORGS, priced with the catalogue in `db`."""
    from core.synth import generate_org
    from evals.agents import list_price_function

    price = list_price_function(db)
    found: dict[str, Any] = {"end": END}
    for name, options in ORGS.items():
        org = generate_org(end=datetime.fromisoformat(END), **options)
        manifest = org.manifest
        savings = manifest.expected_savings(price)
        found[name] = {
            **options,
            "events": len(org.events),
            "waste": [
                {"kind": item.kind, "scope": item.scope, "affected_requests": item.affected_requests,
                 "expected_monthly_savings": str(savings[item.kind])}
                for item in manifest.waste
            ],
            "anomalies": [
                {"type": item.type, "metric": item.metric, "window": item.to_dict()["window"], "scope": item.scope,
                 "expected_top_driver": item.expected_top_driver, "affected_requests": len(item.affected_request_ids)}
                for item in manifest.anomalies
            ],
        }  # fmt: skip
    return found


def stored() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PATH.read_text())
    return data


def main() -> None:
    from core.db import get_database
    from core.schema import ensure_schema

    db = get_database()
    ensure_schema(db)
    PATH.write_text(json.dumps(truth(db), indent=1, sort_keys=True) + "\n")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
