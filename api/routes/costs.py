"""`GET /api/v1/costs`: the spend breakdown of `tokentra costs` (core/usage/queries.py) for the key's org.

`start_date`/`end_date` are RFC 3339 times or dates (midnight UTC; a time without offset is UTC), the period
is `[start_date, end_date)` and defaults to the 30 days before now. `group_by` is a comma-separated list of
dimensions; each filterable dimension may be given as `<dim>=<value>` (empty value = not attributed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import SessionDep, require
from api.errors import error_responses
from core.errors import InvalidInput
from core.orgs.auth import Principal
from core.usage.queries import DIMENSIONS, CostQuery, cost_breakdown

router = APIRouter(prefix="/api/v1", tags=["costs"])

FILTER_DIMENSIONS = tuple(d for d in DIMENSIONS if d not in ("day", "hour"))
_DIMS = "|".join(DIMENSIONS)
GROUP_BY_PATTERN = rf"^(({_DIMS})(,({_DIMS}))*)?$"
DEFAULT_DAYS = 30
MAX_BUCKETS = {"hour": 24 * 400, "day": 366 * 20}  # bound the rows a time breakdown can return

FilterValue = Annotated[str | None, Query(max_length=200)]


def chosen_filters(**given: str | None) -> dict[str, str]:
    """The filters that were given; a NUL character (which Postgres text cannot hold) is a 400, not a 500."""
    chosen = {name: value for name, value in given.items() if value is not None}
    for name, value in chosen.items():
        if "\x00" in value:
            raise InvalidInput(f"{name}: must not contain NUL characters")
    return chosen


class CostFilters(BaseModel):
    """`<dim>=<value>` query parameters of a costs query (empty value = not attributed)."""

    provider: str | None = Field(None, max_length=200)
    model: str | None = Field(None, max_length=200)
    team: str | None = Field(None, max_length=200)
    project: str | None = Field(None, max_length=200)
    feature: str | None = Field(None, max_length=200)
    environment: str | None = Field(None, max_length=200)
    task_type: str | None = Field(None, max_length=200)
    status: str | None = Field(None, max_length=200)
    user_id: str | None = Field(None, max_length=200)

    def chosen(self) -> dict[str, str]:
        return chosen_filters(**self.model_dump())


class CostRow(BaseModel):
    """One group: its dimension values (only the grouped ones appear) and measures."""

    day: str | None = None
    hour: str | None = None
    provider: str | None = None
    model: str | None = None
    team: str | None = None
    project: str | None = None
    feature: str | None = None
    environment: str | None = None
    task_type: str | None = None
    status: str | None = None
    user_id: str | None = None
    cost: float | None = Field(description="USD; null when every request of the group is unpriced")
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    unpriced_requests: int


class CostMeta(BaseModel):
    start: str
    end: str
    currency: str
    unpriced_requests: int
    total_cost: float
    total_requests: int
    group_by: list[str]
    filters: dict[str, str]
    query: str = Field(description="the SQL that produced data")


class CostsOut(BaseModel):
    data: list[CostRow]
    meta: CostMeta


def utc(moment: datetime, *, name: str) -> datetime:
    """moment in UTC (no offset = UTC); InvalidInput when it falls outside the representable range."""
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(f"{name} is out of range") from exc


def period(start: datetime | None, end: datetime | None, *, days: int = DEFAULT_DAYS) -> tuple[datetime, datetime]:
    stop = utc(end, name="end_date") if end is not None else datetime.now(UTC)
    if start is not None:
        return utc(start, name="start_date"), stop
    try:
        return stop - timedelta(days=days), stop
    except OverflowError as exc:
        raise InvalidInput("end_date is out of range") from exc


@router.get(
    "/costs",
    response_model=CostsOut,
    response_model_exclude_unset=True,
    responses=error_responses(400, 401, 403),
    summary="Spend breakdown",
)
def costs(
    session: SessionDep,
    principal: Annotated[Principal, require("read:costs")],
    filters: Annotated[CostFilters, Query()],
    start_date: Annotated[datetime | None, Query(description="inclusive; default end_date − 30 days")] = None,
    end_date: Annotated[datetime | None, Query(description="exclusive; default now")] = None,
    group_by: Annotated[str, Query(pattern=GROUP_BY_PATTERN, description=f"comma-separated: {_DIMS}")] = "",
    granularity: Annotated[str, Query(pattern="^(none|hour|day)$")] = "none",
) -> dict[str, Any]:
    start, end = period(start_date, end_date)
    query = CostQuery(
        org_id=principal.org_id,
        start=start,
        end=end,
        group_by=tuple(d for d in group_by.split(",") if d),
        granularity=granularity,
        filters=filters.chosen(),
    )
    for unit, limit in MAX_BUCKETS.items():
        span = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
        if unit in query.dimensions and (end - start) / span > limit:
            raise InvalidInput(f"a breakdown by {unit} covers at most {limit} {unit}s; shorten the period")
    return cost_breakdown(session.connection(), query)
