"""The OpenAI-compatible gateway: `POST /v1/chat/completions` (JSON or SSE), `POST /v1/embeddings`,
`GET /v1/models` (CONTRACT section 7). The pipeline is core/gateway/pipeline.py; these handlers only move bytes.

The gateway is built at start-up by this router's lifespan (merged into the app's) from TOKENTRA_GATEWAY_CONFIG;
without that setting the endpoints answer 503 `gateway_not_configured`. Handlers read the raw body with orjson
and skip FastAPI's body models: the gateway's overhead budget is counted in microseconds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from api.errors import ApiError, error_responses
from core.db import Database
from core.errors import InvalidInput
from core.gateway.caching import BACKGROUND_ONLY
from core.gateway.pipeline import Gateway, GatewayResponse
from core.pricing.book import PriceBook
from core.routing.classify import classify
from core.routing.router import GatewayRouter

log = logging.getLogger(__name__)
_heap_frozen = False
# How long a worker thread (usage ingest, cache writes) may hold the GIL while the event loop waits for it
# (Python's default is 5 ms, paid at each of a request's several socket operations when a flush is running).
SWITCH_INTERVAL = 0.0005


def _load_book(db: Database) -> PriceBook:
    with db.session() as session:
        return PriceBook.load(session)


async def build_gateway(app: FastAPI) -> Gateway | None:
    settings = app.state.settings
    if settings.gateway_config is None:
        return None
    router = GatewayRouter.from_file(settings.gateway_config)
    from core.cache.service import ResponseCache  # imported at start-up: only a configured gateway needs it

    db: Database = app.state.db
    book = await asyncio.to_thread(_load_book, db)
    cache = ResponseCache(db, sync_seconds=BACKGROUND_ONLY)  # key sets are polled by the gateway's loop
    gateway = Gateway(db=db, resolver=app.state.resolver, router=router, book=book, cache=cache)
    await gateway.start()
    _freeze_heap()
    log.info("gateway ready: model groups %s", ", ".join(router.groups))
    return gateway


def _freeze_heap() -> None:
    """Once per process, when the gateway starts: load what the first request would load lazily (the task
    classifier), collect the start-up garbage, then move every object alive now out of the cyclic collector's
    generations (gc.freeze). Without this, each full collection under load walks the ~450k objects of the
    imported libraries (LiteLLM, pydantic models, …), a pause of 150 ms to over a second on a loaded machine
    that sat at the gateway's p99; frozen, a full collection walks only what requests created since.
    Also shortens the GIL switch interval (SWITCH_INTERVAL) so background threads delay the loop less."""
    global _heap_frozen
    if _heap_frozen:
        return
    classify("warm-up", None)
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)
    _heap_frozen = True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    gateway = await build_gateway(app)
    app.state.gateway = gateway
    try:
        yield
    finally:
        if gateway is not None:
            await gateway.stop()


router = APIRouter(prefix="/v1", tags=["gateway"], lifespan=lifespan)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        raise ApiError(503, "gateway_not_configured", "set TOKENTRA_GATEWAY_CONFIG to a LiteLLM Router YAML")
    return gateway


def _secret(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not JSON: {exc}") from None


def _response(result: GatewayResponse) -> Response:
    if result.stream is not None:
        return StreamingResponse(result.stream, status_code=result.status, headers=result.headers,
                                 media_type="text/event-stream")  # fmt: skip
    return Response(result.body, status_code=result.status, headers=result.headers, media_type="application/json")


_DOCS = error_responses(400, 401, 403, 404, 429)


def _json_request(*required: str) -> dict[str, Any]:
    """The OpenAPI request body: a JSON object in the OpenAI protocol (its full rules are the protocol's)."""
    properties: dict[str, Any] = {name: {} for name in required}
    schema = {"type": "object", "required": list(required), "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post("/chat/completions", responses=_DOCS, openapi_extra=_json_request("model", "messages"),
             summary="Chat completions (OpenAI protocol, streaming included)")  # fmt: skip
async def chat_completions(request: Request) -> Response:
    gateway = _gateway(request)
    body = await _json_body(request)
    return _response(await gateway.chat(secret=_secret(request), body=body, headers=request.headers))


@router.post("/embeddings", responses=_DOCS, openapi_extra=_json_request("model", "input"),
             summary="Embeddings (OpenAI protocol)")  # fmt: skip
async def embeddings(request: Request) -> Response:
    gateway = _gateway(request)
    body = await _json_body(request)
    return _response(await gateway.embeddings(secret=_secret(request), body=body, headers=request.headers))


@router.get("/models", responses=error_responses(401, 403), summary="Model groups served by the gateway")
async def models(request: Request) -> dict[str, Any]:
    return await _gateway(request).models(secret=_secret(request))
