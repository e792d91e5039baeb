"""Calling the upstream: the Router chooses a deployment, this module makes the call, with bounded retries and
fallbacks.

Per request: the first deployment of the first model group; on a retryable failure (connection error,
timeout, 408/409/429/5xx) the Router is told (it cools the deployment down past `allowed_fails`) and the next
attempt goes to another deployment of the same group (at most `num_retries` more), then to the fallback
groups in order (router_settings.fallbacks, then the rule's fallback model). A client error (other 4xx) is
answered as is. Retries draw on a process-wide budget (a token bucket: each request adds RETRY_RATIO of a
token, each retry takes one), so an outage cannot multiply the load on upstreams: no retry storms.

OpenAI-compatible deployments are called over a pooled aiohttp session with the request body passed through
(orjson, no SDK objects): measured on this machine, an aiohttp round trip costs a third of an httpx one, which
matters for the gateway's ≤ 2 ms budget. Other providers go through litellm.acompletion (core/routing/router.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from core.routing.router import Deployment, GatewayRouter, UpstreamFailure

RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
RETRY_RATIO = 0.2  # at most ~20% extra calls in steady state
RETRY_BURST = 20.0


class RetryBudget:
    def __init__(self, *, ratio: float = RETRY_RATIO, burst: float = RETRY_BURST) -> None:
        self._ratio, self._burst, self._tokens = ratio, burst, burst
        self._lock = threading.Lock()

    def deposit(self) -> None:
        with self._lock:
            self._tokens = min(self._burst, self._tokens + self._ratio)

    def withdraw(self) -> bool:
        with self._lock:
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


@dataclass
class Reply:
    deployment: Deployment
    body: dict[str, Any]
    raw: bytes | None  # the upstream's bytes when they can be passed through unchanged
    attempts: int


@dataclass
class StreamReply:
    deployment: Deployment
    chunks: AsyncIterator[bytes]  # SSE lines (b"data: …"), as the upstream sent them
    attempts: int


def _failure(status: int | None, content: bytes) -> UpstreamFailure:
    try:
        detail = orjson.loads(content).get("error", {}).get("message") if content else None
    except orjson.JSONDecodeError:
        detail = content[:200].decode("utf-8", "replace")
    return UpstreamFailure(status, str(detail or f"upstream answered {status}"), body=content or None)


class Upstream:
    def __init__(self, router: GatewayRouter, *, max_connections: int = 256) -> None:
        self.router = router
        self.budget = RetryBudget()
        self._max_connections = max_connections
        self._http: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=router.timeout, connect=min(5.0, router.timeout))
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_read=router.stream_timeout, connect=min(5.0, router.stream_timeout)
        )

    @property
    def http(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use inside the running event loop."""
        if self._http is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=self._max_connections)
            self._http = aiohttp.ClientSession(
                connector=connector,
                json_serialize=lambda v: orjson.dumps(v).decode(),
                cookie_jar=aiohttp.DummyCookieJar(),  # an upstream's cookies must not pass between customers
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    def groups(self, group: str, *, extra_fallback: str | None = None) -> list[str]:
        chain = [group, *self.router.fallbacks(group)]
        if extra_fallback and self.router.has_group(extra_fallback) and extra_fallback not in chain:
            chain.append(extra_fallback)
        return chain

    async def _attempts(self, groups: list[str]) -> AsyncIterator[tuple[Deployment, int]]:
        """(deployment, attempt number) in retry/fallback order, within the retry budget."""
        self.budget.deposit()
        tried: set[str] = set()
        attempt = 0
        for group in groups:
            for _ in range(1 + self.router.num_retries):
                deployment = await self.router.choose(group, exclude=frozenset(tried))
                if deployment is None or deployment.id in tried:
                    break
                if attempt > 0 and not self.budget.withdraw():
                    return
                attempt += 1
                tried.add(deployment.id)
                yield deployment, attempt

    async def complete(self, groups: list[str], payload: dict[str, Any], *, endpoint: str = "chat") -> Reply:
        last: UpstreamFailure | None = None
        async for deployment, attempt in self._attempts(groups):
            try:
                body, raw = await self._call(deployment, payload, endpoint)
                return Reply(deployment, body, raw, attempt)
            except UpstreamFailure as failure:
                if failure.status is not None and failure.status not in RETRYABLE:
                    raise
                self.router.report_failure(deployment, failure, status=failure.status)
                last = failure
        raise last or UpstreamFailure(503, f"no deployment available for {groups[0]}")

    async def _call(
        self, deployment: Deployment, payload: dict[str, Any], endpoint: str
    ) -> tuple[dict[str, Any], bytes | None]:
        if not deployment.openai_compatible:
            if endpoint == "embeddings":
                return await self.router.embedding(deployment, payload), None
            return await self.router.completion(deployment, payload), None
        path = "/embeddings" if endpoint == "embeddings" else "/chat/completions"
        data = orjson.dumps({**payload, "model": deployment.model})
        try:
            async with self.http.post(
                _url(deployment, path), data=data, headers=_headers(deployment), timeout=self._timeout
            ) as response:
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamFailure(None, f"{type(exc).__name__}: {exc}") from exc
        if response.status >= 400:
            raise _failure(response.status, content)
        try:
            return orjson.loads(content), content
        except orjson.JSONDecodeError as exc:
            raise UpstreamFailure(502, f"upstream answered 200 with a body that is not JSON: {exc}") from exc

    async def stream(self, groups: list[str], payload: dict[str, Any]) -> StreamReply:
        """The first deployment that starts streaming (fallbacks only before the first byte)."""
        last: UpstreamFailure | None = None
        async for deployment, attempt in self._attempts(groups):
            try:
                chunks = await self._open_stream(deployment, payload)
                return StreamReply(deployment, chunks, attempt)
            except UpstreamFailure as failure:
                if failure.status is not None and failure.status not in RETRYABLE:
                    raise
                self.router.report_failure(deployment, failure, status=failure.status)
                last = failure
        raise last or UpstreamFailure(503, f"no deployment available for {groups[0]}")

    async def _open_stream(self, deployment: Deployment, payload: dict[str, Any]) -> AsyncIterator[bytes]:
        if not deployment.openai_compatible:
            return _litellm_sse(self.router, deployment, payload)
        body = {**payload, "model": deployment.model, "stream": True, "stream_options": {"include_usage": True}}
        try:
            response = await self.http.post(
                _url(deployment, "/chat/completions"),
                data=orjson.dumps(body),
                headers=_headers(deployment),
                timeout=self._stream_timeout,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamFailure(None, f"{type(exc).__name__}: {exc}") from exc
        if response.status >= 400:
            content = await response.read()
            response.release()
            raise _failure(response.status, content)
        return _sse_lines(response)


async def _sse_lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for raw in response.content:
            line = raw.rstrip(b"\r\n")
            if line:
                yield line
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamFailure(None, f"stream broke off: {type(exc).__name__}: {exc}") from exc
    finally:
        response.release()


async def _litellm_sse(router: GatewayRouter, deployment: Deployment, payload: dict[str, Any]) -> AsyncIterator[bytes]:
    async for chunk in router.completion_stream(deployment, payload):
        yield b"data: " + orjson.dumps(chunk)
    yield b"data: [DONE]"


def _url(deployment: Deployment, path: str) -> str:
    base = (deployment.api_base or "https://api.openai.com/v1").rstrip("/")
    return base + path


_HEADERS: dict[str, dict[str, str]] = {}


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = _HEADERS.get(deployment.id)
    if headers is None:
        headers = {"content-type": "application/json"}
        if deployment.api_key:
            headers["authorization"] = f"Bearer {deployment.api_key}"
        _HEADERS[deployment.id] = headers
    return headers


def monotonic_ms() -> float:
    return time.perf_counter() * 1000.0
