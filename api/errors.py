"""Errors as JSON: `{"error": {"code", "message"}}` with the right HTTP status.

Domain errors (core/errors.py) map to statuses here and only here; FastAPI's request validation errors and
Starlette's HTTP errors (404 for an unknown path, 405, 413 …) are answered in the same shape. Routes raise
domain errors, or `ApiError(status, code, message)` for a purely HTTP condition (e.g. 413 payload too large).

Document a route's error answers in OpenAPI with `responses=error_responses(401, 403, 404)`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    BudgetExceeded,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokentraError,
    Unauthenticated,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[TokentraError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    BudgetExceeded: 429,
    RateLimited: 429,
    DatabaseUnavailable: 503,
}

_CODE_BY_STATUS = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

_DESCRIPTIONS = {
    400: "Invalid input",
    401: "Missing, unknown, revoked or expired API key",
    403: "The key's role or scope does not allow this",
    404: "Not found (or not in the key's organization)",
    409: "Conflict with stored state",
    413: "Payload too large",
    422: "Request validation failed",
    429: "Rate or budget limit reached",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable error code, e.g. not_found, forbidden, validation_error")
    message: str = Field(description="human-readable explanation")


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An HTTP-level error with its own status and code (for conditions that are not domain errors)."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses (422 is always included: every route validates)."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS.get(status, "Error")}
        for status in sorted({*statuses, 422})
    }


def error_json(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def status_of(error: TokentraError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TokentraError)
    status = status_of(exc)
    if status >= 500:
        log.error("domain error answered %s: %s", status, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_json(status, exc.code, str(exc) or exc.code, headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status, exc.code, exc.message, exc.headers)


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for item in jsonable_encoder(errors)[:5]:
        location = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "request"
        parts.append(f"{location}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_json(422, "validation_error", _validation_message(list(exc.errors())))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code
    return error_json(exc.status_code, code, detail, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its traceback (never hidden); Starlette re-raises it after this answer is sent.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_json(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TokentraError, _domain_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
