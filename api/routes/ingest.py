"""Ingest over HTTP: the SDK track endpoint and OTLP/HTTP traces (CONTRACT section 4).

Both read the raw body (no pydantic model of 10,000 events): core/usage/track.py decodes it with msgspec,
validates each event on its own and stores the good ones with the COPY ingest. After a load, budgets are
evaluated and pending alerts delivered in the background (at most once every few seconds per org).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import DatabaseDep, require
from api.errors import ApiError, error_responses
from core.db import Database
from core.metrics import INGEST_DUPLICATES, INGEST_REJECTED, INGESTED_EVENTS
from core.orgs.auth import Principal
from core.usage import otlp
from core.usage.events import UsageEvent, from_dict
from core.usage.ingest import IngestResult
from core.usage.track import (
    MAX_BODY_BYTES,
    MAX_EVENTS,
    BatchTooLarge,
    after_ingest,
    result_document,
    store_items,
    too_large_message,
    track_body,
)

router = APIRouter(tags=["ingest"])
Ingester = Annotated[Principal, require("write:usage")]


class Rejected(BaseModel):
    index: int = Field(description="position of the event (or span) in the request, from 0")
    error: str


class TrackResult(BaseModel):
    accepted: int = Field(description="events stored")
    duplicates: int = Field(description="events whose request_id was stored before (or repeated in the batch)")
    rejected: list[Rejected] = Field(description="invalid events, by index, with the reason")
    unpriced: int = Field(0, description="accepted events of a model without a price (cost null, alerted)")


class OtlpPartialSuccess(BaseModel):
    rejectedSpans: int = 0  # noqa: N815 (OTLP's JSON field names)
    errorMessage: str = ""  # noqa: N815


class OtlpResult(TrackResult):
    partialSuccess: OtlpPartialSuccess = Field(default_factory=OtlpPartialSuccess)  # noqa: N815
    skipped: int = Field(0, description="spans that are not model calls (no gen_ai usage or model)")


def _event_schema() -> dict[str, Any]:
    schema = msgspec.json.schema(UsageEvent)
    event: dict[str, Any] = schema["$defs"]["UsageEvent"]
    event["properties"]["timestamp"]["format"] = "date-time"
    return event


_TRACK_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["events"], "additionalProperties": False,
            "properties": {"events": {"type": "array", "maxItems": MAX_EVENTS, "items": _event_schema()}},
        }}},
    }
}  # fmt: skip
_OTLP_BODY = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest (OTLP/HTTP JSON or protobuf, optionally gzip)",
        "content": {
            "application/json": {"schema": {"type": "object", "properties": {"resourceSpans": {"type": "array"}}}},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES:,} bytes")
    return await request.body()


def _count_metrics(source: str, result: IngestResult) -> None:
    INGESTED_EVENTS.labels(source).inc(result.accepted)
    INGEST_DUPLICATES.labels(source).inc(result.duplicates)
    INGEST_REJECTED.labels(source).inc(result.rejected_count)


@router.post(
    "/api/sdk/v1/track",
    response_model=TrackResult,
    responses=error_responses(400, 401, 403, 413),
    openapi_extra=_TRACK_BODY,
    summary="Record a batch of usage events",
)
async def track(request: Request, db: DatabaseDep, principal: Ingester, background: BackgroundTasks) -> Response:
    """`{"events": [Event, ...]}` (at most 10,000). Valid events are stored even when others are rejected;
    a repeated request_id is a duplicate, counted and never stored twice."""
    body = await _body(request)
    try:
        result = await run_in_threadpool(track_body, db, org_id=principal.org_id, body=body)
    except BatchTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from None
    _count_metrics("track", result)
    if result.accepted:
        background.add_task(after_ingest, db, org_id=principal.org_id)
    return JSONResponse(result_document(result))


@router.post(
    "/api/v1/otlp/v1/traces",
    response_model=OtlpResult,
    responses=error_responses(400, 401, 403, 413),
    openapi_extra=_OTLP_BODY,
    summary="OTLP/HTTP traces with OpenTelemetry gen_ai attributes",
)
async def otlp_traces(request: Request, db: DatabaseDep, principal: Ingester, background: BackgroundTasks) -> Response:
    """Every span describing a model call (gen_ai.* attributes) becomes a usage event; see core/usage/otlp.py
    for the attributes read (team, project, feature, user and environment come from `tokentra.*`,
    `service.name`, `user.id`, `deployment.environment.name` …)."""
    body = await _body(request)
    content_type = request.headers.get("content-type", "application/json")
    encoding = request.headers.get("content-encoding", "")
    result, skipped = await run_in_threadpool(_ingest_otlp, db, principal, body, content_type, encoding)
    _count_metrics("otlp", result)
    if result.accepted:
        background.add_task(after_ingest, db, org_id=principal.org_id)
    document = result_document(result)
    document["skipped"] = skipped
    errors = "; ".join(f"span {r['index']}: {r['error']}" for r in document["rejected"][:5])
    document["partialSuccess"] = {"rejectedSpans": result.rejected_count, "errorMessage": errors}
    if content_type.split(";")[0].strip().lower() in ("application/x-protobuf", "application/protobuf"):
        return Response(_protobuf_response(result.rejected_count, errors), media_type="application/x-protobuf")
    return JSONResponse(document)


def _ingest_otlp(
    db: Database, principal: Principal, body: bytes, content_type: str, encoding: str
) -> tuple[IngestResult, int]:
    spans = otlp.decode_request(body, content_type=content_type, content_encoding=encoding)
    if len(spans) > MAX_EVENTS:
        raise ApiError(413, "payload_too_large", too_large_message(len(spans)).replace("events", "spans", 2))
    batch = otlp.spans_to_events(spans)
    result = store_items(db, org_id=principal.org_id, items=batch.items, parse=_parse_span_item,
                         book=None, count=len(batch.items))  # fmt: skip
    return result, batch.skipped


def _parse_span_item(item: Any) -> UsageEvent:
    return from_dict(otlp.parse_item(item))


def _protobuf_response(rejected: int, message: str) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    data: bytes = response.SerializeToString()
    return data
