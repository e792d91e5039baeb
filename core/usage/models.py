"""Usage storage: raw events (partitioned by month), idempotency keys, and hourly rollups."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Tokens

# The dimensions kept in the hourly rollup (user_id is not: its cardinality is close to the raw events').
ROLLUP_DIMENSIONS = ("provider", "model", "team", "project", "feature", "environment", "task_type", "status")
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


class UsageEventRow(Base):
    """One stored LLM call. Partitioned by RANGE(timestamp), one partition per month, created on demand.

    `cost` is NULL while the model has no price (`cost_status = 'unpriced'`); it is never a silent 0.
    """

    __tablename__ = "usage_events"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "timestamp", "request_id"),
        {"postgresql_partition_by": "RANGE (timestamp)"},
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(Text)
    input_tokens: Mapped[Tokens]
    output_tokens: Mapped[Tokens]
    cache_read_tokens: Mapped[Tokens]
    cache_write_tokens: Mapped[Tokens]
    reasoning_tokens: Mapped[Tokens]
    batch: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(REAL)
    ttft_ms: Mapped[float | None] = mapped_column(REAL)
    status: Mapped[str] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(SmallInteger)
    trace_id: Mapped[str | None] = mapped_column(Text)
    streaming: Mapped[bool | None] = mapped_column(Boolean)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(Text)
    prompt_hash: Mapped[str | None] = mapped_column(Text)
    system_prompt_hash: Mapped[str | None] = mapped_column(Text)
    system_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    task_type: Mapped[str | None] = mapped_column(Text)
    team: Mapped[str | None] = mapped_column(Text)
    project: Mapped[str | None] = mapped_column(Text)
    feature: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(Text)
    api_key_id: Mapped[str | None] = mapped_column(Text)
    embedding_dimensions: Mapped[int | None] = mapped_column(Integer)
    reported_cost: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    cost: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    cost_status: Mapped[str] = mapped_column(Text)
    price_id: Mapped[int | None] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UsageRequestKey(Base):
    """Idempotency: one row per (org, request_id) ever accepted, whatever month the event fell in."""

    __tablename__ = "usage_request_keys"
    __table_args__ = (PrimaryKeyConstraint("organization_id", "request_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    request_id: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RollupSums:
    """The dimensions and sums both rollups keep; missing dimensions are stored as ''."""

    organization_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    provider: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    team: Mapped[str] = mapped_column(Text)
    project: Mapped[str] = mapped_column(Text)
    feature: Mapped[str] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(Text)
    task_type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    requests: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[Decimal] = mapped_column(Numeric(30, 12))
    unpriced_requests: Mapped[int] = mapped_column(BigInteger)
    latency_ms_sum: Mapped[float] = mapped_column(Numeric(30, 3))
    latency_count: Mapped[int] = mapped_column(BigInteger)


class UsageRollupHourly(RollupSums, Base):
    """Sums per org, hour and rollup dimensions, maintained on ingest."""

    __tablename__ = "usage_rollup_hourly"
    __table_args__ = (Index("ix_usage_rollup_hourly_organization_id_hour", "organization_id", "hour"),)

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # No unique key in the table (a group may have several rows to add up): the ORM identifies rows by it.
    __mapper_args__ = {"primary_key": ("organization_id", "hour", *ROLLUP_DIMENSIONS)}  # noqa: RUF012


class UsageRollupDaily(RollupSums, Base):
    """The same sums per UTC day: breakdowns over weeks and months read tens of rows per day, not hundreds."""

    __tablename__ = "usage_rollup_daily"
    __table_args__ = (Index("ix_usage_rollup_daily_organization_id_day", "organization_id", "day"),)

    day: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __mapper_args__ = {"primary_key": ("organization_id", "day", *ROLLUP_DIMENSIONS)}  # noqa: RUF012
