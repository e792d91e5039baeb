"""Recording control-plane changes (budgets, rules, keys, recommendation apply/dismiss, price overrides)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.audit.models import AuditLogEntry


def record_change(
    session: Session,
    *,
    org_id: uuid.UUID,
    actor: str,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> AuditLogEntry:
    """One audit entry in the caller's transaction: it commits or rolls back with the change it describes."""
    entry = AuditLogEntry(
        organization_id=org_id,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        before=before,
        after=after,
        source_ip=source_ip,
        request_id=request_id,
    )
    session.add(entry)
    session.flush()
    return entry
