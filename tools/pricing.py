"""pricing: the price (USD per 1M tokens) in force for a provider/model at a moment, an org's own first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from core.detectors.waste.base import jsonable
from core.errors import NotFound
from core.pricing.models import PRICE_FIELDS

PRICE_SQL = f"""
SELECT p.provider, p.model, p.effective_from, p.source, p.organization_id IS NOT NULL AS negotiated,
       {", ".join("p." + name for name in PRICE_FIELDS)}
FROM price_catalogue p
WHERE p.provider = :provider AND p.model = :model AND p.effective_from <= :at
  AND (p.organization_id IS NULL OR p.organization_id = :org)
ORDER BY p.organization_id IS NULL, p.effective_from DESC
LIMIT 1
"""


def price_at(conn: Connection, *, org_id: uuid.UUID, provider: str, model: str, at: datetime) -> dict[str, Any]:
    row = conn.execute(text(PRICE_SQL), {"provider": provider, "model": model, "at": at, "org": org_id}).mappings()
    found = row.first()
    if found is None:
        raise NotFound(f"pricing: no price for {provider}/{model} at {at.isoformat()}")
    result: dict[str, Any] = jsonable(dict(found))
    result["query"] = {"sql": PRICE_SQL.strip(), "params": jsonable({"provider": provider, "model": model,
                                                                      "at": at, "org": org_id})}  # fmt: skip
    return result
