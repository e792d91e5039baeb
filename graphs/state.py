"""Graph state: data only (JSON-able, so the Postgres checkpointer can store and resume it)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


def merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


class RecommendationState(TypedDict, total=False):
    candidates: list[dict[str, Any]]  # {"key": fingerprint, "finding": Finding JSON + claims}, detector order
    round: int  # the round being debated (1-based)
    open: list[str]  # keys still without consensus
    verdicts: Annotated[list[dict[str, Any]], operator.add]  # every debater's verdict of every round
    reviews: Annotated[dict[str, Any], merge]  # key → the skeptic's Review (computed once)
    debates: Annotated[dict[str, Any], merge]  # key → [{"round", "score", "verdicts": {role: verdict}}]
    syntheses: Annotated[dict[str, Any], merge]  # key → Synthesis
    output: dict[str, Any]  # the run's result: recommendations (CONTRACT 6), dropped, rounds
