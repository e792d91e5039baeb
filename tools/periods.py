"""Driver analysis between two periods ("why did costs change?"): core.detectors.drivers.compare_periods, with
the SQL that produced it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.db import Database
from core.detectors.drivers import DEFAULT_DIMENSIONS, compare_periods
from core.errors import InvalidInput
from tools.base import ToolError, ToolResult, iso


def compare(
    db: Database,
    *,
    org_id: uuid.UUID,
    current: tuple[datetime, datetime],
    baseline: tuple[datetime, datetime],
    dimensions: Sequence[str] = DEFAULT_DIMENSIONS,
) -> ToolResult:
    """The cost delta from `baseline` to `current`, split into price/volume/mix/token-size effects and by dimension."""
    args: dict[str, Any] = {
        "current": [iso(current[0]), iso(current[1])],
        "baseline": [iso(baseline[0]), iso(baseline[1])],
        "dimensions": list(dimensions),
    }
    try:
        with db.engine.connect() as conn:
            data = compare_periods(conn, org_id=org_id, current=current, baseline=baseline, dimensions=dimensions)
    except InvalidInput as exc:
        raise ToolError(f"compare_periods: {exc}") from exc
    params = ", ".join(f"{k}={v}" for k, v in data["params"].items() if k != "org")
    return ToolResult("compare_periods", args, data, [f"{data['query']}\n-- params: {params}"])
