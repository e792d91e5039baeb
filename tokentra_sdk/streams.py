"""Streamed responses: pass every chunk through unchanged and record the call's usage when the stream ends.

- OpenAI chat completions: usage arrives in a last chunk with no choices when `stream_options.include_usage`
  is set. wrap() sets it when the caller did not; that extra chunk is then consumed here and never shown
  to the caller, so the stream looks exactly as it would without TokenTRA.
- OpenAI Responses: the `response.completed` event carries the response (usage included).
- Anthropic messages: `message_start` carries the input usage, `message_delta` the output tokens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from tokentra_sdk.events import as_dict, clean_usage, failed

Emit = Callable[[Callable[[], dict[str, Any]]], None]


class UsageCollector:
    """Watches chunks of one stream and builds its event."""

    def __init__(self, event: dict[str, Any], started: float, *, hide_usage_chunk: bool) -> None:
        self.event, self.started, self.hide_usage_chunk = event, started, hide_usage_chunk
        self.usage: dict[str, Any] = {}
        self.first_chunk: float | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.response_id: str | None = None

    def observe(self, chunk: Any) -> bool:
        """Note what a chunk says; True when the caller should see it."""
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
        data = as_dict(chunk) or {}
        kind = data.get("type")
        if kind == "response.completed":
            self._from_response(as_dict(data.get("response")) or {})
        elif kind == "message_start":
            self._from_response(as_dict(data.get("message")) or {})
        elif kind == "message_delta":
            self.usage.update(as_dict(data.get("usage")) or {})
            reason = (as_dict(data.get("delta")) or {}).get("stop_reason")
            self.finish_reason = reason or self.finish_reason
        else:
            return self._chat_chunk(data)
        return True

    def _from_response(self, response: dict[str, Any]) -> None:
        self.usage.update(as_dict(response.get("usage")) or {})
        self.model = response.get("model") or self.model
        self.response_id = response.get("id") or self.response_id
        self.finish_reason = response.get("status") if response.get("status") != "in_progress" else None

    def _chat_chunk(self, data: dict[str, Any]) -> bool:
        self.model = data.get("model") or self.model
        self.response_id = data.get("id") or self.response_id
        choices = data.get("choices") or []
        for choice in choices:
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        usage = as_dict(data.get("usage"))
        if usage:
            self.usage = usage
            return bool(choices) or not self.hide_usage_chunk
        return True

    def finish(self, error: BaseException | None = None) -> dict[str, Any]:
        now = time.perf_counter()
        event = self.event
        event["streaming"] = True
        if isinstance(error, GeneratorExit | asyncio.CancelledError):
            error = None  # the caller stopped reading: recorded with what was seen (cancelled without usage)
        if error is not None and not self.usage:
            return failed(event, error, latency_ms=(now - self.started) * 1000)
        if self.usage:
            event["usage"] = clean_usage(self.usage)
        else:
            event.update(input_tokens=0, output_tokens=0, status="cancelled", error_code="no_usage_reported")
        if self.model:
            event["model"] = str(self.model)
        if self.finish_reason:
            event["finish_reason"] = self.finish_reason
        if self.response_id:
            event["metadata"] = {"response_id": str(self.response_id)}
        event["latency_ms"] = round((now - self.started) * 1000, 3)
        if self.first_chunk is not None:
            event["ttft_ms"] = round((self.first_chunk - self.started) * 1000, 3)
        return event


class SyncStream:
    """Iterates the SDK's stream; records once at the end (or on error, or when the caller stops early)."""

    def __init__(self, stream: Any, collector: UsageCollector, emit: Emit) -> None:
        self._stream, self._collector, self._emit, self._done = stream, collector, emit, False

    def __iter__(self) -> Iterator[Any]:
        try:
            for chunk in self._stream:
                if self._collector.observe(chunk):
                    yield chunk
        except BaseException as exc:
            self._finish(exc)
            raise
        self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        if not self._done:
            self._done = True
            self._emit(lambda: self._collector.finish(error))

    def close(self) -> None:
        self._finish(None)
        close = getattr(self._stream, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:  # e.g. .response, .get_final_message()
        return getattr(self._stream, name)


class AsyncStream:
    def __init__(self, stream: Any, collector: UsageCollector, emit: Emit) -> None:
        self._stream, self._collector, self._emit, self._done = stream, collector, emit, False

    async def _iterate(self) -> AsyncIterator[Any]:
        try:
            async for chunk in self._stream:
                if self._collector.observe(chunk):
                    yield chunk
        except BaseException as exc:
            self._finish(exc)
            raise
        self._finish(None)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    def _finish(self, error: BaseException | None) -> None:
        if not self._done:
            self._done = True
            self._emit(lambda: self._collector.finish(error))

    async def close(self) -> None:
        self._finish(None)
        close = getattr(self._stream, "close", None)
        if callable(close):
            await close()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
