"""Stored findings: recommendations (CONTRACT 6) and anomalies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Float, Index, Integer, Numeric, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created, Json, JsonList, Str, UuidPk, org_fk

Usd = Numeric(24, 6)


class Recommendation(Base):
    __tablename__ = "recommendations"
    __table_args__ = (
        UniqueConstraint("organization_id", "fingerprint"),
        Index(None, "organization_id", "status"),
    )

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    fingerprint: Mapped[Str]  # type + scope: a rerun updates the same recommendation
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    category: Mapped[Str]
    type: Mapped[Str]
    title: Mapped[Str]
    description: Mapped[Str]
    scope: Mapped[Json]
    target: Mapped[Json]
    current_monthly_cost: Mapped[Decimal] = mapped_column(Usd)
    projected_monthly_cost: Mapped[Decimal] = mapped_column(Usd)
    estimated_monthly_savings: Mapped[Decimal] = mapped_column(Usd)
    savings_percent: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    priority: Mapped[Str]
    risk_level: Mapped[Str]
    effort: Mapped[Str]
    evidence: Mapped[JsonList]
    affected_requests: Mapped[int] = mapped_column(Integer)
    sample_request_ids: Mapped[JsonList]
    implementation_steps: Mapped[JsonList]
    suggested_routing_rule: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    consensus: Mapped[Json]
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    applied_rule_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    actual_monthly_savings: Mapped[Decimal | None] = mapped_column(Usd)
    created_at: Mapped[Created]
    updated_at: Mapped[Created]


class Anomaly(Base):
    __tablename__ = "anomalies"
    __table_args__ = (
        UniqueConstraint("organization_id", "fingerprint"),
        Index(None, "organization_id", "window_start"),
    )

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    fingerprint: Mapped[Str]
    type: Mapped[Str]
    severity: Mapped[Str]
    title: Mapped[Str]
    description: Mapped[Str]
    detection_method: Mapped[Str]
    metric: Mapped[Str]
    scope: Mapped[Json]
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_value: Mapped[float] = mapped_column(Float)
    expected_value: Mapped[float] = mapped_column(Float)
    deviation_percent: Mapped[float] = mapped_column(Float)
    z_score: Mapped[float | None] = mapped_column(Float)
    drivers: Mapped[JsonList]
    explanation: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[JsonList]
    acknowledged: Mapped[bool] = mapped_column(server_default=text("false"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[Created]
