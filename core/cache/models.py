"""Cached responses, scoped by org, model and system prompt; `embedding` for semantic lookups."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, DateTime, Index, Integer, Numeric, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created, Str, UuidPk, org_fk

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2; other embedders are projected or padded to this size


class ResponseCacheEntry(Base):
    __tablename__ = "response_cache"
    __table_args__ = (
        UniqueConstraint("organization_id", "cache_key"),
        Index(None, "organization_id", "model", "system_prompt_hash"),
        Index(None, "expires_at"),
    )

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    cache_key: Mapped[Str]
    model: Mapped[Str]
    system_prompt_hash: Mapped[str] = mapped_column(Text, server_default=text("''"))
    task_type: Mapped[str | None] = mapped_column(Text)
    prompt_text: Mapped[str | None] = mapped_column(Text)
    embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    input_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    output_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    cost: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    hit_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[Created]
    last_hit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
