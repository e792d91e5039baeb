"""Wall time of a nightly run (issue 4: ≤ 60 s offline for an org with 1M events in the window; issue 3: every
waste detector together ≤ 30 s on 1M events).

The org is a synthetic one (core/synth) scaled to the asked number of events, so every detector has its planted
waste to find; it is loaded once through the real ingest path and reused by later runs (slug by size and seed).
The nightly run is `graphs.nightly.run_org` (recommendations graph, anomalies, budgets); the detectors and the
anomaly detection are then timed alone to show where the time goes.

    tokentra eval --suite agents --set nightly_events=1000000 --json
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from core.db import Database
from evals.harness import Metrics

EVENTS_PER_SCALE = 239_000  # core.synth.generate_org makes ~239k events per unit of scale over 30 days
TARGET_NIGHTLY_SECONDS = 60
TARGET_DETECTORS_SECONDS = 30
END = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 30
_FIND_ORG = "SELECT id, settings ? 'eval_events' AS loaded FROM organizations WHERE slug = :s"
_MARK_LOADED = "UPDATE organizations SET settings = settings || jsonb_build_object('eval_events', :n) WHERE id = :o"
_IN_WINDOW = "SELECT count(*) FROM usage_events WHERE organization_id = :o AND timestamp >= :s AND timestamp < :e"


def nightly_org(db: Database, *, events: int, seed: int, end: datetime = END) -> tuple[uuid.UUID, str, Any]:
    """(org id, slug, (start, end) of the 30-day window) of a synthetic org of about `events` events: generated
    and ingested once, then reused (a finished load is marked in the org's settings)."""
    from core.orgs.service import create_org
    from core.pricing.book import PriceBook
    from core.synth import generate_org
    from core.usage.events import decode_json
    from core.usage.ingest import ingest

    slug = f"nightly-{events}-{seed}-{end:%Y%m%d}"
    window = (end - timedelta(days=DAYS), end)
    with db.session() as session:
        found = session.execute(text(_FIND_ORG), {"s": slug}).first()
        if found is not None and found.loaded:
            return found.id, slug, window
        if found is not None:
            raise RuntimeError(f"org {slug} was not fully loaded (an interrupted run?): delete it and run again")
        org_id = create_org(session, slug=slug).id
        book = PriceBook.load(session)
    org = generate_org(seed=seed, end=end, days=DAYS, scale=events / EVENTS_PER_SCALE)
    ingest(db, org_id=org_id, items=enumerate(org.events.jsonl(), start=1), parse=decode_json, book=book)
    with db.engine.begin() as conn:
        conn.execute(text(_MARK_LOADED), {"o": org_id, "n": len(org.events.records)})
    return org_id, slug, window


def _timed(run: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = run()
    return result, round(time.perf_counter() - began, 2)


def nightly_seconds(db: Database, *, events: int, seed: int = 7, end: datetime = END) -> Metrics:
    """The nightly run's wall time for the org, then the detectors' and the anomaly detection's alone."""
    from core.detectors.anomaly.run import find_anomalies
    from core.detectors.waste import DetectorContext, run_all
    from graphs.nightly import run_org

    org_id, slug, window = nightly_org(db, events=events, seed=seed, end=end)
    days = DAYS
    with db.engine.begin() as conn:  # a measurement: forget the day's earlier run of this eval-only org
        conn.execute(text("DELETE FROM agent_runs WHERE organization_id = :o"), {"o": org_id})
        stored = conn.execute(text(_IN_WINDOW), {"o": org_id, "s": window[0], "e": window[1]}).scalar()
    summary, seconds = _timed(lambda: run_org(db, org_id=org_id, slug=slug, as_of=window[1], window_days=days))
    with db.engine.connect() as conn:
        found, detectors = _timed(lambda: run_all(DetectorContext(conn, org_id, window[0], window[1])))
    _, anomalies = _timed(lambda: find_anomalies(db, org_id=org_id, as_of=window[1], window_days=days, store=False))
    return {
        "nightly_events": stored,
        "nightly_seconds": seconds,
        "nightly_target_seconds": TARGET_NIGHTLY_SECONDS,
        "nightly_recommendations": summary.get("recommendations"),
        "nightly_anomalies": summary.get("anomalies"),
        "detectors_seconds": detectors,
        "detectors_findings": len(found),
        "detectors_target_seconds": TARGET_DETECTORS_SECONDS,
        "anomaly_detection_seconds": anomalies,
    }
