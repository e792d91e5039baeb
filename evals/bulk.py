"""A large benchmark org generated inside Postgres (generate_series), for query benchmarks at 10M+ events.

Loading 10M events through the ingest path would benchmark ingest again; this builds the same stored
shape (events in monthly partitions, hourly rollups) directly, priced by tt_cost() from the catalogue.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from core.db import Database
from core.orgs.service import create_org
from core.usage.rollups import rebuild_rollups

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 30

_FILL = """
INSERT INTO usage_events (organization_id, timestamp, request_id, provider, model, endpoint, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, batch, latency_ms, status, attempt,
    team, feature, user_id, environment, task_type, price_id, cost, cost_status, ingested_at)
SELECT :org, :start + ((g - 1) * :span / :total) * interval '1 second', 'bulk-' || g, m.provider, m.model, 'chat',
       1000 + (g * 7919) % 7000, 50 + (g * 104729) % 1500, 0, 0, 0, false, 100 + g % 4000, 'success', 1,
       'team-' || (g % 7), 'feature-' || (g % 23), 'user-' || (g % 997), 'production', 'question_answering',
       p.id, tt_cost(p, 1000 + (g * 7919) % 7000, 50 + (g * 104729) % 1500, 0, 0, 0, false), 'priced', now()
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g
JOIN LATERAL (SELECT * FROM (VALUES ('openai', 'gpt-4o', 0), ('openai', 'gpt-4o-mini', 1),
     ('anthropic', 'claude-sonnet-4-5', 2), ('gemini', 'gemini-2.5-flash', 3), ('openai', 'gpt-5', 4))
     AS v(provider, model, slot) WHERE v.slot = g % 5) m ON true
JOIN LATERAL (SELECT * FROM price_catalogue pc WHERE pc.organization_id IS NULL AND pc.provider = m.provider
     AND pc.model = m.model ORDER BY pc.effective_from DESC LIMIT 1) p ON true
"""


def bulk_org(db: Database, events: int, *, chunk: int = 1_000_000) -> tuple[uuid.UUID, datetime, datetime]:
    """Create (or reuse) an org holding `events` events over 30 days; returns (org id, start, end)."""
    slug = f"bulk-{events}"
    end = START + timedelta(days=DAYS)
    with db.session() as session:
        found = session.execute(text("SELECT id FROM organizations WHERE slug = :slug"), {"slug": slug}).scalar()
        if found is not None:
            stored = session.execute(
                text("SELECT coalesce(sum(requests), 0) FROM usage_rollup_hourly WHERE organization_id = :org"),
                {"org": found},
            ).scalar()
            if stored == events:
                return found, START, end
            # A half-built org from an interrupted run: start again.
            session.execute(text("DELETE FROM usage_events WHERE organization_id = :org"), {"org": found})
            for table in ("usage_rollup_hourly", "usage_rollup_daily"):
                session.execute(text(f"DELETE FROM {table} WHERE organization_id = :org"), {"org": found})
            org_id = found
        else:
            org_id = create_org(session, slug=slug).id
    with db.engine.begin() as conn:
        for month in (START, START + timedelta(days=31)):
            conn.execute(text("SELECT tt_ensure_usage_partition(:m)"), {"m": month.date()})
    for first in range(1, events + 1, chunk):
        last = min(first + chunk - 1, events)
        with db.engine.begin() as conn:
            conn.execute(text(_FILL), {"org": org_id, "start": START, "span": DAYS * 86_400, "total": events,
                                       "first": first, "last": last})  # fmt: skip
    with db.engine.begin() as conn:
        rebuild_rollups(conn, org_id, START, end - timedelta(microseconds=1))
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE usage_rollup_hourly; ANALYZE usage_rollup_daily"
        )
    return org_id, START, end
