"""`tokentra anomalies`: detection + drivers + explanation over the window, stored (CONTRACT section 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from api.cli_support import database, emit_json, stderr, table
from api.timeparse import parse_time
from core.db import Database
from core.orgs.service import get_org


def anomalies_command(
    org: Annotated[str, typer.Option("--org", help="organization slug")],
    as_of: Annotated[str, typer.Option("--as-of", help="end of the analysis window (default now)")] = "now",
    window_days: Annotated[int, typer.Option("--window-days")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")] = False,
) -> None:
    """Find anomalies (spend, requests, tokens, error rate, latency) per org and slice, with their drivers."""
    from core.detectors.anomaly.run import find_anomalies

    db = database()
    with db.session() as session:
        org_id = get_org(session, org).id
    found = find_anomalies(db, org_id=org_id, as_of=parse_time(as_of, name="--as-of"), window_days=window_days)
    from core.config import get_settings  # explanation graph (graphs/explain_anomaly.py): facts + queries per anomaly
    from core.routing.llm import build_llm
    from graphs.explain_anomaly import explain_all

    found = explain_all(db, org_id=org_id, anomalies=found, llm=build_llm(get_settings()))
    if as_json:
        emit_json({"anomalies": found})
        return
    rows = [[a["severity"], a["type"], a["title"], a["window"]["start"], (a.get("top_driver") or {}).get("value")]
            for a in found]  # fmt: skip
    table("Anomalies", ["severity", "type", "title", "since", "top driver"], rows)


def evaluate_after_ingest(db: Database, org_id: uuid.UUID) -> list[dict[str, Any]]:
    """Budgets of the org evaluated now (called by `tokentra ingest`); new alerts are reported on stderr."""
    from core.budgets.evaluate import evaluate_budgets

    results = evaluate_budgets(db, org_id=org_id, as_of=datetime.now(UTC))
    for item in results:
        for threshold in item["alerts_raised"]:
            stderr.print(
                f'budget "{item["name"]}" reached {threshold}% (${item["spent"]:,.2f} of ${item["amount"]:,.2f})'
            )
    return results


def register_insights(app: typer.Typer) -> None:
    app.command("anomalies")(anomalies_command)
