"""`POST /api/internal/assistant/query` `{"query"}` → Answer (CONTRACT 4 and 6); the org comes from the key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import DatabaseDep, SettingsDep, require
from core.orgs.auth import Principal
from core.routing.llm import build_llm

router = APIRouter(prefix="/api/internal/assistant", tags=["assistant"])


class Query(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    as_of: datetime | None = Field(default=None, description="what 'now' is (default: now)")


@router.post("/query")
def assistant_query(
    body: Query, db: DatabaseDep, settings: SettingsDep, principal: Annotated[Principal, require("read:costs")]
) -> dict[str, Any]:
    """Answer a question about the org's LLM spend; every number in the answer comes from a listed query."""
    from graphs.assistant import ask

    now = (body.as_of or datetime.now(UTC)).astimezone(UTC)
    result = ask(db, org_id=principal.org_id, question=body.query, now=now, llm=build_llm(settings))
    result.pop("transcript", None)
    return result
