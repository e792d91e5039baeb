"""One Settings object for the whole service, read from TOKENTRA_* environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# LiteLLM must never fetch its cost map from the network; set before anything imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOKENTRA_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".tokentra"), description="state folder; embedded Postgres in home/pg")
    database_url: str | None = Field(default=None, description="any PostgreSQL 14+ URL with pgvector")
    llm_config: Path | None = Field(default=None, description="LiteLLM Router YAML for our own calls")
    gateway_config: Path | None = Field(default=None, description="LiteLLM Router YAML for customer traffic")
    secret_key: str | None = Field(default=None, description="base64 AES-256 key for stored credentials")

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
