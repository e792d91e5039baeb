"""Who changed what, when and from where; and the stored transcript of every agent/analysis run."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Numeric, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created, Json, JsonList, Str, UuidPk, org_fk


class AuditLogEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "organization_id", "created_at"),)

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    actor: Mapped[Str]  # api key id, or "cli"
    action: Mapped[Str]  # e.g. budget.create, rule.update, key.revoke, price.set
    resource_type: Mapped[Str]
    resource_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    source_ip: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]


class AgentRun(Base):
    """One run of an analysis graph (recommend, anomalies, ask, nightly): transcript, own LLM spend, outcome."""

    __tablename__ = "agent_runs"
    __table_args__ = (
        UniqueConstraint("organization_id", "kind", "run_key"),
        Index(None, "organization_id", "started_at"),
    )

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    kind: Mapped[Str]
    run_key: Mapped[Str]  # e.g. the nightly date: makes a run idempotent
    status: Mapped[str] = mapped_column(Text, server_default=text("'running'"))
    llm: Mapped[str] = mapped_column(Text, server_default=text("'offline'"))
    thread_id: Mapped[str | None] = mapped_column(Text)
    input: Mapped[Json]
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    transcript: Mapped[JsonList]
    llm_input_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    llm_output_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    llm_cost: Mapped[Decimal] = mapped_column(Numeric(24, 12), server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[Created]
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
