"""The log of every query run through `run_sql` (tools/sql.py), accepted or refused."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Identity, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created, Json, Str, org_fk


class SqlQueryLog(Base):
    __tablename__ = "assistant_sql_log"
    __table_args__ = (Index(None, "organization_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    organization_id: Mapped[uuid.UUID] = org_fk()
    agent: Mapped[Str]
    sql: Mapped[Str]
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    row_count: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    context: Mapped[Json]
    created_at: Mapped[Created]

    def as_dict(self) -> dict[str, Any]:
        return {"sql": self.sql, "ok": self.ok, "error": self.error, "row_count": self.row_count}
