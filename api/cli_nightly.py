"""`tokentra nightly`: recommendations + anomalies + budgets for every org, once per day (safe to run twice)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli_support import database, emit_json, table
from api.timeparse import parse_time


def nightly(
    as_of: Annotated[str, typer.Option("--as-of", help="end of the analysis window (default now)")] = "now",
    window_days: Annotated[int, typer.Option("--window-days")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")] = False,
) -> None:
    """Recommend, detect anomalies and evaluate budgets for every org; idempotent per day."""
    from core.config import get_settings
    from core.routing.llm import build_llm
    from graphs.nightly import run_nightly

    result = run_nightly(database(), as_of=parse_time(as_of, name="--as-of"), window_days=window_days,
                         llm=build_llm(get_settings()))  # fmt: skip
    if as_json:
        emit_json(result)
        return
    rows = [[o["org"], o["status"], o.get("recommendations"), o.get("estimated_monthly_savings"), o.get("anomalies")]
            for o in result["orgs"]]  # fmt: skip
    table("Nightly run", ["org", "status", "recommendations", "savings/month", "anomalies"], rows)


def register_nightly(app: typer.Typer) -> None:
    app.command("nightly")(nightly)
