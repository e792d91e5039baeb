"""Routing rules for gateway traffic: conditions → action, by priority, with A/B percent and counters."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Numeric, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created, Json, Str, UuidPk, org_fk


class RoutingRule(Base):
    __tablename__ = "routing_rules"

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    name: Mapped[Str]
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    priority: Mapped[int] = mapped_column(Integer, server_default=text("100"))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    condition_logic: Mapped[str] = mapped_column(Text, server_default=text("'and'"))
    action: Mapped[Json]
    traffic_percent: Mapped[int] = mapped_column(Integer, server_default=text("100"))
    source_recommendation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    match_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    estimated_savings: Mapped[Decimal] = mapped_column(Numeric(24, 12), server_default=text("0"))
    last_matched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[Created]
    updated_at: Mapped[Created]
