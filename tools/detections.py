"""list_findings: what the waste detectors find in a window (before consensus), in the CONTRACT's shape."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.detectors.waste import DETECTORS, run_all
from core.detectors.waste.base import DetectorContext, Finding
from core.errors import InvalidInput


def detect(conn: Connection, *, org_id: uuid.UUID, start: datetime, end: datetime,
           types: list[str] | None = None, dedupe: bool = True) -> list[Finding]:  # fmt: skip
    """The detectors' findings (all, or those of `types`), largest monthly savings first."""
    unknown = sorted(set(types or ()) - set(DETECTORS))
    if unknown:
        raise InvalidInput(f"list_findings: unknown type(s) {unknown}; known: {', '.join(sorted(DETECTORS))}")
    if end <= start:
        raise InvalidInput("list_findings: the period end must be after its start")
    return run_all(DetectorContext(conn, org_id, start, end), types, dedupe=dedupe)


def list_findings(conn: Connection, *, org_id: uuid.UUID, start: datetime, end: datetime,
                  types: list[str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The de-duplicated findings as JSON (money as exact decimal strings; evidence with its SQL)."""
    return [finding.to_dict() for finding in detect(conn, org_id=org_id, start=start, end=end, types=types)]
