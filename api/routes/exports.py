"""Exports: FinOps FOCUS CSV (`GET /api/v1/export/focus`) and any costs query as CSV or JSON
(`GET /api/v1/export/costs`). Both come from the costs API's own SQL, so their totals equal it to the cent.

The FOCUS export streams from a server-side cursor in its own org-scoped transaction (the request's
SessionDep would be committed before a streamed body is produced).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.deps import DatabaseDep, SessionDep, org_session, require
from api.errors import error_responses
from api.routes.costs import GROUP_BY_PATTERN, CostFilters, FilterValue, chosen_filters, period
from core.exports.focus import COLUMNS, csv_chunks, focus_query, focus_rows
from core.orgs.auth import Principal
from core.usage.queries import MEASURES, CostQuery, cost_breakdown

router = APIRouter(prefix="/api/v1/export", tags=["exports"])
Start = Annotated[datetime | None, Query(description="inclusive; default end_date − 30 days")]
End = Annotated[datetime | None, Query(description="exclusive; default now")]
_CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}
_CSV_OR_JSON = {
    "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {}},
    "description": "CSV or JSON",
}


@router.get(
    "/focus",
    response_class=StreamingResponse,
    responses={200: _CSV, **error_responses(400, 401, 403)},
    summary="FinOps FOCUS 1.2 cost and usage CSV",
)
def export_focus(
    request: Request,
    db: DatabaseDep,
    principal: Annotated[Principal, require("read:exports")],
    start_date: Start = None,
    end_date: End = None,
    provider: FilterValue = None,
    model: FilterValue = None,
    team: FilterValue = None,
    project: FilterValue = None,
    feature: FilterValue = None,
    environment: FilterValue = None,
) -> StreamingResponse:
    """One row per day × provider × model × team × project × feature × user × environment; tokens are the
    consumed quantity (ConsumedUnit "Tokens"), SkuId is the model, SubAccountId the team, Tags carry project,
    feature, user and environment. See core/exports/focus.py for every column."""
    start, end = period(start_date, end_date)
    filters = chosen_filters(provider=provider, model=model, team=team, project=project, feature=feature,
                             environment=environment)  # fmt: skip
    focus_query(org_id=principal.org_id, start=start, end=end, filters=filters)  # validates before streaming
    rls = bool(getattr(request.app.state, "rls", False))

    def body() -> Iterator[bytes]:
        with org_session(db, principal.org_id, rls=rls) as session:
            rows = focus_rows(session.connection(), org_id=principal.org_id, start=start, end=end, filters=filters)
            yield from csv_chunks(rows, COLUMNS)

    name = f"focus-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-FOCUS-Version": "1.2"}
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/costs",
    responses={200: _CSV_OR_JSON, **error_responses(400, 401, 403)},
    summary="Any costs query as CSV or JSON",
)
def export_costs(
    session: SessionDep,
    principal: Annotated[Principal, require("read:costs")],
    filters: Annotated[CostFilters, Query()],
    format: Annotated[str, Query(pattern="^(csv|json)$")] = "csv",
    start_date: Start = None,
    end_date: End = None,
    group_by: Annotated[str, Query(pattern=GROUP_BY_PATTERN)] = "",
    granularity: Annotated[str, Query(pattern="^(none|hour|day)$")] = "none",
) -> Response:
    """The same data as `GET /api/v1/costs` with the same parameters; CSV has one column per grouped dimension
    and measure, and the totals in `X-Total-Cost` / `X-Total-Requests` / `X-Unpriced-Requests` headers."""
    start, end = period(start_date, end_date)
    query = CostQuery(
        org_id=principal.org_id, start=start, end=end, group_by=tuple(d for d in group_by.split(",") if d),
        granularity=granularity,
        filters=filters.chosen(),
    )  # fmt: skip
    document = cost_breakdown(session.connection(), query)
    if format == "json":
        return JSONResponse(document)
    meta = document["meta"]
    columns = (*query.dimensions, *MEASURES)
    rows: Iterator[dict[str, Any]] = iter(document["data"])
    body = b"".join(csv_chunks(rows, columns))
    headers = {
        "Content-Disposition": f'attachment; filename="costs-{start:%Y%m%d}-{end:%Y%m%d}.csv"',
        "X-Total-Cost": str(meta["total_cost"]),
        "X-Total-Requests": str(meta["total_requests"]),
        "X-Unpriced-Requests": str(meta["unpriced_requests"]),
    }
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


__all__ = ["router"]
