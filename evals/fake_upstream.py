"""A fake OpenAI-compatible upstream for gateway tests and benchmarks: real HTTP on loopback, no model.

`/v1/chat/completions` answers "echo: <last user message>" (SSE when `stream` is true), with usage counted
deterministically (a token per 4 characters of the messages, rounded up; one per word of the reply), so
tests can compute the expected cost. `/v1/embeddings` returns small fixed vectors; `/v1/models` lists the
model names seen. `FakeUpstream.fail_with` makes every call answer an error status (an outage).
Served by uvicorn in a daemon thread (`start_in_thread`) or as a process (`python -m evals.fake_upstream`).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def prompt_tokens_of(messages: list[dict[str, Any]]) -> int:
    chars = sum(len(str(message.get("content") or "")) for message in messages)
    return max(1, -(-chars // 4))


def reply_of(messages: list[dict[str, Any]]) -> str:
    last = next((m for m in reversed(messages) if m.get("role") == "user"), messages[-1] if messages else {})
    return f"echo: {last.get('content') or ''}"


@dataclass
class FakeUpstream:
    """The ASGI app; its counters tell tests what reached the upstream."""

    fail_with: int | None = None
    delay_seconds: float = 0.0
    calls: int = 0
    models: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    keep_bodies: bool = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if scope["method"] == "GET" and path.endswith("/models"):
            await _json(send, 200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})
            return
        self.calls += 1
        payload = orjson.loads(body) if body else {}
        if self.keep_bodies:
            self.bodies.append(payload)
        self.models.append(str(payload.get("model")))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_with is not None:
            error = {"error": {"message": "upstream down", "type": "server_error", "code": None}}
            await _json(send, self.fail_with, error)
        elif path.endswith("/embeddings"):
            await _json(send, 200, _embeddings(payload))
        elif payload.get("stream"):
            await _stream(send, payload)
        else:
            await _json(send, 200, _completion(payload))


def _usage(payload: dict[str, Any], reply: str) -> dict[str, int]:
    prompt = prompt_tokens_of(payload.get("messages") or [])
    completion = len(reply.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(payload: dict[str, Any]) -> dict[str, Any]:
    reply = reply_of(payload.get("messages") or [])
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": payload.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        "usage": _usage(payload, reply),
    }


def _embeddings(payload: dict[str, Any]) -> dict[str, Any]:
    inputs = payload.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    tokens = sum(max(1, -(-len(str(item)) // 4)) for item in items)
    data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(items))]
    return {
        "object": "list",
        "data": data,
        "model": payload.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


async def _stream(send: Send, payload: dict[str, Any]) -> None:
    reply = reply_of(payload.get("messages") or [])
    base = {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": payload.get("model"),
    }
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    words = reply.split(" ")
    for index, word in enumerate(words):
        delta = {"role": "assistant", "content": word} if index == 0 else {"content": " " + word}
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        await send({"type": "http.response.body", "body": b"data: " + orjson.dumps(chunk) + b"\n\n", "more_body": True})
    final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    tail = b"data: " + orjson.dumps(final) + b"\n\n"
    if (payload.get("stream_options") or {}).get("include_usage"):
        tail += b"data: " + orjson.dumps({**base, "choices": [], "usage": _usage(payload, reply)}) + b"\n\n"
    await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n", "more_body": False})


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_in_thread(app: Any, *, port: int | None = None) -> RunningServer:
    """Serve an ASGI app on a free loopback port in a daemon thread; returns once it accepts connections."""
    chosen = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=chosen, log_level="warning", lifespan="auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{chosen}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"server on port {chosen} did not start")
        time.sleep(0.01)
    return RunningServer(server, thread, chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description="fake OpenAI-compatible upstream")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        FakeUpstream(keep_bodies=False), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
