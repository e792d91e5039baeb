"""A fake OpenAI + Anthropic HTTP API (real HTTP on loopback) answering with the providers' real response shapes:
chat completions (SSE streaming, usage chunk when `stream_options.include_usage`), Responses, embeddings and
Anthropic messages (SSE events). It records each request body; `fail_next` answers the next call with a status."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 30,
    "total_tokens": 1230,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
RESPONSES_USAGE = {
    "input_tokens": 500,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 20,
    "output_tokens_details": {"reasoning_tokens": 8},
    "total_tokens": 520,
}
ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 500,
    "output_tokens": 40,
    "service_tier": "standard",
}


class FakeProviders:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.fail_next: list[int] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.chat)
        self.app.post("/v1/responses")(self.responses)
        self.app.post("/v1/embeddings")(self.embeddings)
        self.app.post("/v1/messages")(self.messages)

    async def _body(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append((request.url.path, body))
        return body

    def _failure(self) -> Response | None:
        if self.fail_next:
            status = self.fail_next.pop(0)
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit_error"}}, status_code=status)
        return None

    async def chat(self, request: Request) -> Response:
        body = await self._body(request)
        failure = self._failure()
        if failure is not None:
            return failure
        base = {"id": "chatcmpl-123", "created": int(time.time()), "model": "gpt-4o-mini-2024-07-18"}
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": CHAT_USAGE,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
                    ],
                }
            )
        chunks = [
            {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": word}, "finish_reason": None}],
            }
            for word in ("hel", "lo")
        ]
        chunks.append(
            {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": CHAT_USAGE})
        lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
        return StreamingResponse(iter(lines), media_type="text/event-stream")

    async def responses(self, request: Request) -> Response:
        body = await self._body(request)
        response = {
            "id": "resp_1",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": "gpt-4o-2024-08-06",
            "usage": RESPONSES_USAGE,
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "hi", "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
        if not body.get("stream"):
            return JSONResponse(response)
        events = [
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": {**response, "status": "in_progress", "usage": None, "output": []},
            },
            {
                "type": "response.output_text.delta",
                "sequence_number": 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "hi",
                "logprobs": [],
            },
            {"type": "response.completed", "sequence_number": 2, "response": response},
        ]
        lines = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events]
        return StreamingResponse(iter(lines), media_type="text/event-stream")

    async def embeddings(self, request: Request) -> Response:
        await self._body(request)
        return JSONResponse(
            {
                "object": "list",
                "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            }
        )

    async def messages(self, request: Request) -> Response:
        body = await self._body(request)
        failure = self._failure()
        if failure is not None:
            return failure
        message = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "hello"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        }
        if not body.get("stream"):
            return JSONResponse(message)
        start = {**message, "content": [], "stop_reason": None, "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}
        events = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello"}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 40},
            },
            {"type": "message_stop"},
        ]
        lines = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events]
        return StreamingResponse(iter(lines), media_type="text/event-stream")
