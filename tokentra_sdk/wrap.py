"""`wrap(client, …)`: record the usage of an OpenAI or Anthropic client's calls, in the background.

The client is patched in place (and returned), so `isinstance` checks and every other method keep working.
Wrapped: `chat.completions.create`, `responses.create`, `embeddings.create` (OpenAI, AzureOpenAI and their
async twins) and `messages.create` (Anthropic, AsyncAnthropic). The call itself is untouched: its result or
exception reaches the caller as before; recording happens after it, never raises, and sending is the
recorder thread's job.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from tokentra_sdk.events import base_event, complete, failed
from tokentra_sdk.recorder import Recorder
from tokentra_sdk.streams import AsyncStream, SyncStream, UsageCollector

log = logging.getLogger("tokentra_sdk")

# (attribute path on the client, endpoint name)
TARGETS = ((("chat", "completions"), "chat"), (("responses",), "responses"), (("embeddings",), "embeddings"),
           (("messages",), "chat"))  # fmt: skip
_BUILD_ERRORS = (AttributeError, TypeError, ValueError, KeyError)


def provider_of(client: Any) -> str:
    module, name = type(client).__module__, type(client).__name__
    if module.startswith("anthropic"):
        return "anthropic"
    return "azure" if "Azure" in name else "openai"


def wrap(
    client: Any, *, api_key: str | None = None, base_url: str | None = None, recorder: Recorder | None = None,
    provider: str | None = None, team: str | None = None, project: str | None = None, feature: str | None = None,
    user_id: str | None = None, environment: str | None = None, task_type: str | None = None,
) -> Any:  # fmt: skip
    """Patch `client` to record each call's usage to TokenTRA; returns the same client.

    Give `api_key` and `base_url` (a TokenTRA server; an ingest-scope key is enough) or a shared `recorder`.
    `team`, `project`, … are the default attribution; `tokentra_sdk.attributes(...)` overrides them per block.
    """
    if recorder is None:
        if not api_key or not base_url:
            raise TypeError("wrap() needs api_key and base_url, or a recorder")
        recorder = shared_recorder(api_key=api_key, base_url=base_url)
    defaults = {name: value for name, value in (("team", team), ("project", project), ("feature", feature),
                ("user_id", user_id), ("environment", environment), ("task_type", task_type)) if value}  # fmt: skip
    context = _Context(recorder, provider or provider_of(client), defaults)
    for path, endpoint in TARGETS:
        resource = _resolve(client, path)
        original = getattr(resource, "create", None) if resource is not None else None
        if original is None or getattr(original, "__tokentra_wrapped__", False):
            continue
        patched = _wrapper(original, endpoint, context)
        patched.__tokentra_wrapped__ = True  # type: ignore[attr-defined]
        resource.create = patched
    client.tokentra_recorder = recorder
    return client


_recorders: dict[tuple[str, str], Recorder] = {}
_recorders_lock = threading.Lock()


def shared_recorder(*, api_key: str, base_url: str) -> Recorder:
    """One recorder (one queue, one thread) per TokenTRA destination, however many clients are wrapped."""
    with _recorders_lock:
        key = (api_key, base_url.rstrip("/"))
        if key not in _recorders:
            _recorders[key] = Recorder(api_key=api_key, base_url=base_url)
        return _recorders[key]


def _resolve(client: Any, path: tuple[str, ...]) -> Any:
    obj = client
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


class _Context:
    def __init__(self, recorder: Recorder, provider: str, defaults: dict[str, str]) -> None:
        self.recorder, self.provider, self.defaults = recorder, provider, defaults

    def start(self, endpoint: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return base_event(provider=self.provider, endpoint=endpoint, kwargs=kwargs, started=time.time(),
                              defaults=self.defaults)  # fmt: skip
        except _BUILD_ERRORS as exc:
            self._broken(exc)
            return None

    def emit(self, build: Callable[[], dict[str, Any]]) -> None:
        try:
            event = build()
        except _BUILD_ERRORS as exc:
            self._broken(exc)
            return
        self.recorder.record(event)

    def _broken(self, exc: BaseException) -> None:
        self.recorder.stats.add("errors")
        log.debug("could not build a usage event: %s", exc)


def _wrapper(original: Callable[..., Any], endpoint: str, context: _Context) -> Callable[..., Any]:
    """One wrapper for sync and async clients: an async client's `create` returns an awaitable (it is not
    always a coroutine function itself), which is then awaited in `_finish_async`."""
    anthropic = context.provider == "anthropic"

    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        event = context.start(endpoint, kwargs)
        call = _Call(context, event, hidden=False if anthropic else _add_usage_option(endpoint, kwargs),
                     stream=kwargs.get("stream") is True)  # fmt: skip
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        if inspect.isawaitable(result):
            return _finish_async(result, call)
        return call.done(result, is_async=False)

    return create


class _Call:
    def __init__(self, context: _Context, event: dict[str, Any] | None, *, hidden: bool, stream: bool) -> None:
        self.context, self.event, self.hidden, self.stream = context, event, hidden, stream
        self.clock = time.perf_counter()

    def failed(self, exc: BaseException) -> None:
        if self.event is not None:
            elapsed = (time.perf_counter() - self.clock) * 1000
            self.context.emit(functools.partial(failed, self.event, exc, latency_ms=elapsed))

    def done(self, result: Any, *, is_async: bool) -> Any:
        event = self.event
        if event is None:
            return result
        if self.stream:
            collector = UsageCollector(event, self.clock, hide_usage_chunk=self.hidden)
            return (AsyncStream if is_async else SyncStream)(result, collector, self.context.emit)
        elapsed = (time.perf_counter() - self.clock) * 1000
        self.context.emit(lambda: complete(event, result, latency_ms=elapsed))
        return result


async def _finish_async(awaitable: Any, call: _Call) -> Any:
    try:
        result = await awaitable
    except BaseException as exc:
        call.failed(exc)
        raise
    return call.done(result, is_async=True)


def _add_usage_option(endpoint: str, kwargs: dict[str, Any]) -> bool:
    """OpenAI chat streams report usage only when asked: ask (the extra chunk is hidden from the caller)."""
    if endpoint == "chat" and kwargs.get("stream") is True and "stream_options" not in kwargs:
        kwargs["stream_options"] = {"include_usage": True}
        return True
    return False
