"""Budgets (scope, period, amount, thresholds, hard limit), alert rules, alert events and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, Numeric, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created, Json, Str, UuidPk, org_fk


class Budget(Base):
    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    name: Mapped[Str]
    scope_type: Mapped[str] = mapped_column(Text, server_default=text("'org'"))
    scope_value: Mapped[str | None] = mapped_column(Text)
    period: Mapped[str] = mapped_column(Text, server_default=text("'monthly'"))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    thresholds: Mapped[list[int]] = mapped_column(JSONB, server_default=text("'[50, 75, 90, 100]'::jsonb"))
    hard_limit: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[Created]
    updated_at: Mapped[Created]


class BudgetPeriodState(Base):
    """Spend counted against a budget in one period, and which thresholds already alerted (once each)."""

    __tablename__ = "budget_periods"
    __table_args__ = (UniqueConstraint("organization_id", "budget_id", "period_start"),)

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    budget_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    spent: Mapped[Decimal] = mapped_column(Numeric(24, 12), server_default=text("0"))
    reserved: Mapped[Decimal] = mapped_column(Numeric(24, 12), server_default=text("0"))
    alerted_thresholds: Mapped[list[int]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    updated_at: Mapped[Created]


class AlertRule(Base):
    """What to alert on (budget threshold, anomaly, unpriced model, spend spike) and where to send it."""

    __tablename__ = "alerts"

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    name: Mapped[Str]
    type: Mapped[Str]
    config: Mapped[Json]
    channels: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[Created]


class AlertEvent(Base):
    """One raised alert. `dedupe_key` makes raising idempotent (a threshold crossing alerts once)."""

    __tablename__ = "alert_events"
    __table_args__ = (
        UniqueConstraint("organization_id", "dedupe_key"),
        Index(None, "organization_id", "created_at"),
    )

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    alert_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    type: Mapped[Str]
    severity: Mapped[str] = mapped_column(Text, server_default=text("'warning'"))
    title: Mapped[Str]
    message: Mapped[Str]
    data: Mapped[Json]
    dedupe_key: Mapped[Str]
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'"))
    created_at: Mapped[Created]
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AlertDelivery(Base):
    """One attempt to deliver an alert event to a channel (webhook, Slack), with its outcome."""

    __tablename__ = "alert_deliveries"

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    alert_event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    channel: Mapped[Str]
    target: Mapped[Str]
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]
