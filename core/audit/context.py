"""Who is making a control-plane change, from where and in which request: passed to services that audit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.audit.models import AuditLogEntry
from core.audit.service import record_change


@dataclass(frozen=True)
class Actor:
    org_id: uuid.UUID
    actor: str  # the API key id, or "cli"
    source_ip: str | None = None
    request_id: str | None = None

    def record(
        self,
        session: Session,
        *,
        action: str,
        resource_type: str,
        resource_id: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> AuditLogEntry:
        """One audit entry for this actor's org, in the caller's transaction."""
        return record_change(
            session,
            org_id=self.org_id,
            actor=self.actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            before=before,
            after=after,
            source_ip=self.source_ip,
            request_id=self.request_id,
        )
