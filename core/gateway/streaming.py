"""Relaying an upstream SSE stream to the client while reading its usage, finish reason and first-token time.

The gateway asks upstreams for a final usage chunk (`stream_options.include_usage`); a client that did not
ask for it does not get it. However the stream ends (done, upstream error, client gone) `done` is called once
with what was seen, so the call is priced and recorded; without a usage chunk the output is estimated from
the characters streamed (a token per 4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from core.routing.router import UpstreamFailure

log = logging.getLogger(__name__)
Done = Callable[[dict[str, Any] | None, str | None, float | None, str, int], None]


def _content_chars(choices: list[Any]) -> int:
    total = 0
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str):
            total += len(content)
    return total


async def relay(
    chunks: AsyncIterator[bytes], *, include_usage: bool, started: float, done: Done
) -> AsyncIterator[bytes]:
    usage: dict[str, Any] | None = None
    finish: str | None = None
    ttft: float | None = None
    chars = 0
    status = "cancelled"  # until the stream is seen to the end
    try:
        async for line in chunks:
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data != b"[DONE]":
                    chunk = orjson.loads(data)
                    choices = chunk.get("choices") or []
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    if choices:
                        if ttft is None:
                            ttft = round((time.perf_counter() - started) * 1000, 3)
                        chars += _content_chars(choices)
                        finish = choices[0].get("finish_reason") or finish
                    elif not include_usage:
                        continue
            yield line + b"\n\n"
        status = "success"
    except (UpstreamFailure, orjson.JSONDecodeError) as exc:
        status = "error"
        log.warning("upstream stream broke off: %s", exc)
    finally:
        done(usage, finish, ttft, status, chars)
