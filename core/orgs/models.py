"""Tenancy: organizations own everything; API keys (hashed) are how callers act for one."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, DateTime, Index, LargeBinary, Numeric, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import Created, Json, Str, UuidPk, org_fk


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[UuidPk]
    slug: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[Str]
    plan: Mapped[str] = mapped_column(Text, server_default=text("'enterprise'"))
    settings: Mapped[Json]
    is_system: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[Created]


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    name: Mapped[Str]
    description: Mapped[str | None] = mapped_column(Text)
    monthly_budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    created_at: Mapped[Created]


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    team_id: Mapped[uuid.UUID | None]
    name: Mapped[Str]
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]


class ApiKey(Base):
    """An org API key. Only a SHA-256 hash of the secret is stored; the key is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "organization_id", "created_at"),)

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    name: Mapped[str | None] = mapped_column(Text)
    key_prefix: Mapped[Str]
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[Str]
    scope: Mapped[str] = mapped_column(Text, server_default=text("'full'"))
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProviderConnection(Base):
    """Credentials for a provider's billing/usage API, encrypted with AES-GCM (nonce stored beside)."""

    __tablename__ = "provider_connections"
    __table_args__ = (UniqueConstraint("organization_id", "provider", "name"),)

    id: Mapped[UuidPk]
    organization_id: Mapped[uuid.UUID] = org_fk()
    provider: Mapped[Str]
    name: Mapped[str] = mapped_column(Text, server_default=text("'default'"))
    credentials_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    credentials_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'"))
    settings: Mapped[Json]
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]
