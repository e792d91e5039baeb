"""`tokentra demo` (what `make demo` runs): a demo org with 30 days of synthetic traffic, loaded through the
real ingest path; the nightly analysis (consensus recommendations, anomalies, budgets) for it; a summary of
where the money went; and the assistant's answer to "why did costs change last week?"."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from api.cli_support import database, emit_json, progress_bar, stderr, table
from api.timeparse import rfc3339
from core.config import get_settings
from core.detectors.lifecycle import anomaly_view, list_anomalies, list_recommendations, recommendation_view
from core.orgs.models import Organization
from core.orgs.service import create_org, delete_org, issue_key
from core.pricing.book import PriceBook
from core.routing.llm import build_llm
from core.synth import generate_org
from core.usage.events import decode_json
from core.usage.ingest import ingest
from core.usage.queries import CostQuery, cost_breakdown
from graphs.assistant import ask
from graphs.nightly import run_org

DEMO_SLUG = "demo"
DEMO_SEED = 2026
DAYS = 30
QUESTION = "why did costs change last week?"
SHOWN = 8


def run_demo(*, as_json: bool, scale: float = 1.0) -> dict[str, Any]:
    db = database()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    org = generate_org(seed=DEMO_SEED, end=end, days=DAYS, scale=scale)
    with db.session() as session:
        existing = session.scalar(select(Organization.id).where(Organization.slug == DEMO_SLUG))
        if existing is not None:
            delete_org(session, existing)  # a fresh demo each run, relative to now
    with db.session() as session:
        org_id = create_org(session, slug=DEMO_SLUG, name="Demo Inc.").id
        key = issue_key(session, org_id=org_id, role="owner", name="demo owner")
        book = PriceBook.load(session)
    with progress_bar(len(org.events), "loading 30 days of traffic") as advance:
        lines = ((number, _counted(line, advance)) for number, line in enumerate(org.events.jsonl(), start=1))
        loaded = ingest(db, org_id=org_id, items=lines, parse=decode_json, book=book)
    summary = _summary(db, org_id, end)
    llm = build_llm(get_settings())
    summary["nightly"] = run_org(db, org_id=org_id, slug=DEMO_SLUG, as_of=end, window_days=DAYS, llm=llm)
    summary |= _findings(db, org_id)
    summary["question"] = QUESTION
    summary["answer"] = ask(db, org_id=org_id, question=QUESTION, now=end, llm=llm)
    summary["org"] = {"id": str(org_id), "slug": DEMO_SLUG, "api_key": key.secret}
    summary["ingest"] = {"accepted": loaded.accepted, "duplicates": loaded.duplicates,
                         "rejected": loaded.rejected_count, "unpriced": loaded.unpriced}  # fmt: skip
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if as_json:
        emit_json(summary)
    else:
        _print(summary)
    return summary


def _findings(db: Any, org_id: Any) -> dict[str, Any]:
    """What the nightly run stored: recommendations (largest savings first) and anomalies (latest first)."""
    with db.session() as session:
        recommendations, _ = list_recommendations(session, org_id=org_id, status="pending", limit=SHOWN)
        anomalies, _ = list_anomalies(session, org_id=org_id, limit=SHOWN)
        return {"recommendations": [recommendation_view(r) for r in recommendations],
                "anomalies": [anomaly_view(a) for a in anomalies]}  # fmt: skip


def _counted(line: bytes, advance: Any) -> bytes:
    advance(1)
    return line


def _summary(db: Any, org_id: Any, end: datetime) -> dict[str, Any]:
    start = end - timedelta(days=DAYS)
    views = {"by_day": ("day",), "by_team": ("team",), "by_model": ("provider", "model")}
    result: dict[str, Any] = {"period": {"start": rfc3339(start), "end": rfc3339(end)}}
    with db.engine.connect() as conn:
        for name, dims in views.items():
            result[name] = cost_breakdown(conn, CostQuery(org_id=org_id, start=start, end=end, group_by=dims))
    totals = result["by_day"]["meta"]
    result["total_cost"] = totals["total_cost"]
    result["total_requests"] = totals["total_requests"]
    result["unpriced_requests"] = totals["unpriced_requests"]
    return result


def _print(summary: dict[str, Any]) -> None:
    period = summary["period"]
    stderr.print(
        f"\n[bold]Demo Inc.[/bold]: ${summary['total_cost']:,.2f} over {summary['total_requests']:,} requests, "
        f"{period['start']} → {period['end']} (unpriced requests: {summary['unpriced_requests']})"
    )
    days = summary["by_day"]["data"][-14:]
    table("Spend by day (last 14 days, USD)", ["day", "cost", "requests"],
          [[row["day"], row["cost"], row["requests"]] for row in days])  # fmt: skip
    table("Spend by team (USD)", ["team", "cost", "requests"],
          [[row["team"], row["cost"], row["requests"]] for row in summary["by_team"]["data"]])  # fmt: skip
    table("Spend by model (top 10, USD)", ["provider", "model", "cost", "requests"],
          [[row["provider"], row["model"], row["cost"], row["requests"]]
           for row in summary["by_model"]["data"][:10]])  # fmt: skip
    nightly = summary["nightly"]
    table(f"Top savings ({nightly.get('recommendations')} recommendations, "
          f"${nightly.get('estimated_monthly_savings', 0):,.2f}/month in all; consensus of analyst, skeptic, advocate)",
          ["type", "where", "savings/month", "consensus", "priority"],
          [[r["type"], r["scope"].get("feature") or r["scope"].get("model"), r["estimated_monthly_savings"],
            r["consensus"].get("score"), r["priority"]] for r in summary["recommendations"]])  # fmt: skip
    anomalies = [[a["severity"], a["window"]["start"], a["title"], _top_driver(a)] for a in summary["anomalies"]]
    table(f"Anomalies ({nightly.get('anomalies')} found)", ["severity", "starts", "title", "top driver"], anomalies)
    answer = summary["answer"]
    period = answer["period"]
    stderr.print(f"\n[bold]Q: {summary['question']}[/bold]  ({period['start']} → {period['end']})")
    stderr.print(answer["answer"])
    stderr.print(f"loaded {summary['ingest']['accepted']:,} events in {summary['seconds']}s; "
                 f"demo org API key: {summary['org']['api_key']}")  # fmt: skip


def _top_driver(anomaly: dict[str, Any]) -> str:
    drivers = anomaly.get("drivers") or []
    if not drivers:
        return ""
    top = drivers[0]
    return f"{top['dimension']}={top['value']} (${top['contribution']:,.2f})"
