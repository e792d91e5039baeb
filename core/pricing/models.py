"""The price catalogue: one row per (org or global, provider, model, effective_from). Prices are USD per 1M."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Numeric, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created

PRICE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "batch_input",
    "batch_output",
    "batch_cache_read",
    "batch_cache_write",
    "long_context_input",
    "long_context_output",
    "long_context_cache_read",
    "long_context_cache_write",
    "long_context_batch_input",
    "long_context_batch_output",
)

PerMillion = Numeric(20, 10)


class Price(Base):
    """A price version. The newest row with effective_from ≤ t prices an event at t; an org's own rows win.

    Optional rates fall back as LiteLLM does: cache rates → the input rate; reasoning → output;
    long-context rates apply to the whole call when input_tokens > long_context_threshold.
    """

    __tablename__ = "price_catalogue"
    __table_args__ = (
        Index(
            "uq_price_catalogue_global",
            "provider",
            "model",
            "effective_from",
            unique=True,
            postgresql_where=text("organization_id IS NULL"),
        ),
        Index(
            "uq_price_catalogue_org",
            "organization_id",
            "provider",
            "model",
            "effective_from",
            unique=True,
            postgresql_where=text("organization_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    mode: Mapped[str] = mapped_column(Text, server_default=text("'chat'"))
    source: Mapped[str] = mapped_column(Text)
    input: Mapped[Decimal] = mapped_column(PerMillion)
    output: Mapped[Decimal] = mapped_column(PerMillion)
    cache_read: Mapped[Decimal | None] = mapped_column(PerMillion)
    cache_write: Mapped[Decimal | None] = mapped_column(PerMillion)
    reasoning: Mapped[Decimal | None] = mapped_column(PerMillion)
    batch_input: Mapped[Decimal | None] = mapped_column(PerMillion)
    batch_output: Mapped[Decimal | None] = mapped_column(PerMillion)
    batch_cache_read: Mapped[Decimal | None] = mapped_column(PerMillion)
    batch_cache_write: Mapped[Decimal | None] = mapped_column(PerMillion)
    long_context_threshold: Mapped[int | None] = mapped_column(BigInteger)
    long_context_input: Mapped[Decimal | None] = mapped_column(PerMillion)
    long_context_output: Mapped[Decimal | None] = mapped_column(PerMillion)
    long_context_cache_read: Mapped[Decimal | None] = mapped_column(PerMillion)
    long_context_cache_write: Mapped[Decimal | None] = mapped_column(PerMillion)
    long_context_batch_input: Mapped[Decimal | None] = mapped_column(PerMillion)
    long_context_batch_output: Mapped[Decimal | None] = mapped_column(PerMillion)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]
