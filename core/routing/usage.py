"""Our own model spend, recorded as usage of the `tokentra-system` org: we practise what we preach.

Each LLMCall becomes a usage event (feature = the agent, trace_id = the run) ingested and priced through the
normal path, so its cost comes from the price catalogue like any customer's; a run reports the sums.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import msgspec
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from core.db import Database
from core.orgs.models import Organization
from core.pricing.book import PriceBook
from core.routing.llm import LLMCall
from core.usage.ingest import ingest
from core.usage.readers import parse_json_line

SYSTEM_ORG_SLUG = "tokentra-system"

_RUN_COST_SQL = """
SELECT coalesce(sum(cost), 0) AS cost, count(*) FILTER (WHERE cost IS NULL) AS unpriced
FROM usage_events WHERE organization_id = :org AND request_id = ANY(CAST(:ids AS text[]))
"""


@dataclass(frozen=True)
class UsageTotals:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)  # priced from the catalogue; unpriced calls count 0 here and are listed
    unpriced_calls: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost": float(self.cost), "unpriced_calls": self.unpriced_calls}  # fmt: skip


def system_org_id(db: Database) -> uuid.UUID:
    """The tokentra-system org (is_system), created on first use; safe under concurrency."""
    with db.session() as session:
        session.execute(
            insert(Organization)
            .values(slug=SYSTEM_ORG_SLUG, name="TokenTRA (own model usage)", is_system=True)
            .on_conflict_do_nothing(index_elements=["slug"])
        )
        return session.scalars(select(Organization.id).where(Organization.slug == SYSTEM_ORG_SLUG)).one()


def _event(call: LLMCall, *, run_id: str, kind: str) -> bytes:
    event = {
        "request_id": call.request_id,
        "timestamp": call.timestamp.isoformat(),
        "provider": call.provider,
        "model": call.model,
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "latency_ms": call.latency_ms,
        "status": "success" if call.ok else "error",
        "error_code": None if call.ok else "invalid_output",
        "trace_id": run_id,
        "team": "tokentra",
        "project": kind,
        "feature": call.agent,
        "task_type": call.tier,
        "reported_cost": call.reported_cost,
    }
    return msgspec.json.encode({k: v for k, v in event.items() if v is not None})


def record_llm_calls(db: Database, *, calls: Sequence[LLMCall], run_id: str, kind: str) -> UsageTotals:
    """Store `calls` as tokentra-system usage (idempotent on request_id) and return the run's totals."""
    if not calls:
        return UsageTotals()
    org_id = system_org_id(db)
    with db.session() as session:
        book = PriceBook.load(session)
    items = [(i, _event(call, run_id=run_id, kind=kind)) for i, call in enumerate(calls, start=1)]
    ingest(db, org_id=org_id, items=items, parse=parse_json_line, book=book)
    with db.session() as session:
        row = session.execute(text(_RUN_COST_SQL), {"org": org_id, "ids": [c.request_id for c in calls]}).one()
    return UsageTotals(
        calls=len(calls),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        cost=Decimal(row.cost),
        unpriced_calls=int(row.unpriced),
    )
