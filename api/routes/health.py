"""Liveness: `GET /healthz` answers without touching the database or needing a key."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    return Health()
