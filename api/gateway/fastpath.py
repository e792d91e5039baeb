"""The gateway's lean path: a plain ASGI middleware that answers the gateway's own endpoints
(`POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`) without FastAPI's routing, dependency
solving, exception middlewares and response classes, which cost about as much CPU as the pipeline itself.

Behaviour is the same as the FastAPI routes in api/gateway/routes.py (kept for OpenAPI and for apps built
without this middleware): the same request id (`x-request-id`, in logs too), the same HTTP metrics (labelled
by the route template), domain errors answered as `{"error": {"code", "message"}}` with the status of
api/errors.py (and `WWW-Authenticate` on 401), streaming through Starlette's StreamingResponse (same
disconnect handling). Anything else (other paths, other methods) goes down the FastAPI stack unchanged, and an
unexpected exception propagates to FastAPI's server-error handler as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, status_of
from api.middleware import _VALID_ID, REQUEST_ID_HEADER, request_id_var
from core.errors import InvalidInput, TokentraError
from core.gateway.accounting import request_id as new_request_id
from core.gateway.pipeline import Gateway, GatewayResponse
from core.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger(__name__)

Headers = dict[str, str]
Handler = Callable[[Gateway, Headers, bytes], Awaitable[GatewayResponse]]
_JSON = b"application/json"
_REQUEST_ID = REQUEST_ID_HEADER.encode()


def _secret(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not JSON: {exc}") from None


async def _chat(gateway: Gateway, headers: Headers, raw: bytes) -> GatewayResponse:
    return await gateway.chat(secret=_secret(headers), body=_json(raw), headers=headers)


async def _embeddings(gateway: Gateway, headers: Headers, raw: bytes) -> GatewayResponse:
    return await gateway.embeddings(secret=_secret(headers), body=_json(raw), headers=headers)


async def _models(gateway: Gateway, headers: Headers, raw: bytes) -> GatewayResponse:
    listing = await gateway.models(secret=_secret(headers))
    return GatewayResponse(200, {}, orjson.dumps(listing))


ROUTES: dict[tuple[str, str], tuple[Handler, str]] = {
    ("POST", "/v1/chat/completions"): (_chat, "/v1/chat/completions"),
    ("POST", "/v1/embeddings"): (_embeddings, "/v1/embeddings"),
    ("GET", "/v1/models"): (_models, "/v1/models"),
}


class _Metrics:
    """The HTTP counters' children of one route, bound once (prometheus `labels()` costs microseconds)."""

    def __init__(self, method: str, route: str) -> None:
        self.method, self.route = method, route
        self.latency = HTTP_LATENCY.labels(method, route)
        self._requests: dict[int, Any] = {}

    def observe(self, status: int, seconds: float) -> None:
        counter = self._requests.get(status)
        if counter is None:
            counter = self._requests[status] = HTTP_REQUESTS.labels(self.method, self.route, str(status))
        counter.inc()
        self.latency.observe(seconds)


def _read_headers(scope: Scope) -> tuple[Headers, str | None]:
    """Lower-cased names (as the server gives them); the first of repeated headers, as Starlette's `get`."""
    headers: Headers = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    incoming = headers.get("x-request-id")
    return headers, incoming if incoming is not None and _VALID_ID.match(incoming) else None


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


def _error(exc: TokentraError | ApiError) -> GatewayResponse:
    if isinstance(exc, ApiError):
        status, code, message, headers = exc.status, exc.code, exc.message, dict(exc.headers)
    else:
        status, code, message = status_of(exc), exc.code, str(exc) or exc.code
        headers = {"www-authenticate": "Bearer"} if status == 401 else {}
        if status >= 500:
            log.error("domain error answered %s: %s", status, exc)
    return GatewayResponse(status, headers, orjson.dumps({"error": {"code": code, "message": message}}))


class GatewayFastPath:
    """ASGI middleware in front of the FastAPI stack (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._metrics = {key: _Metrics(*key) for key in ROUTES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ROUTES.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        gateway: Gateway | None = getattr(scope["app"].state, "gateway", None) if route is not None else None
        if route is None or gateway is None:  # not configured: the FastAPI route answers 503 as before
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers, request_id = _read_headers(scope)
        request_id = request_id or new_request_id()  # 32 hex digits, as uuid4().hex, without os.urandom
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500
        try:
            try:
                result = await route[0](gateway, headers, await _read_body(receive))
            except (TokentraError, ApiError) as exc:
                result = _error(exc)
            status = result.status
            await _send(result, request_id, scope, receive, send)
        finally:
            self._metrics[(scope["method"], route[1])].observe(status, time.perf_counter() - started)
            request_id_var.reset(token)


async def _send(result: GatewayResponse, request_id: str, scope: Scope, receive: Receive, send: Send) -> None:
    if result.stream is not None:
        response = StreamingResponse(result.stream, status_code=result.status, headers=result.headers,
                                     media_type="text/event-stream")  # fmt: skip
        response.raw_headers.append((_REQUEST_ID, request_id.encode()))
        await response(scope, receive, send)
        return
    body = result.body
    raw_headers = [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)]
    raw_headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in result.headers.items()]
    raw_headers.append((_REQUEST_ID, request_id.encode()))
    start: Message = {"type": "http.response.start", "status": result.status, "headers": raw_headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
