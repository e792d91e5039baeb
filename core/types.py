"""Column types and mixins shared by the ORM models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

UuidPk = Annotated[
    uuid.UUID, mapped_column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))
]
Tokens = Annotated[int, mapped_column(BigInteger, server_default=text("0"))]
Json = Annotated[dict[str, Any], mapped_column(JSONB, server_default=text("'{}'::jsonb"))]
JsonList = Annotated[list[Any], mapped_column(JSONB, server_default=text("'[]'::jsonb"))]
Str = Annotated[str, mapped_column(Text)]
Created = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=func.now())]


def org_fk() -> Mapped[uuid.UUID]:
    """The organization column that leads every key (so the schema can be distributed by org)."""
    return mapped_column(UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), index=False)
