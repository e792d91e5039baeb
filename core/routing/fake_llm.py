"""A fake model for tests and evals: replays queued replies in order and records every request.

    llm = FakeLLM(['{"verdict": "accept"}', "not json", ModelUnavailable("down"), Verdict(...)])

A queued string is the model's reply text (parsed and checked like a real one, so malformed JSON is retried);
a pydantic model is replied as its JSON; an exception is raised by the call (a provider or tool failure).
A callable is called with the request and returns one of those. When the queue is empty the call fails.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from core.errors import ModelUnavailable
from core.routing.llm import OUTPUT_ATTEMPTS, Completion, StructuredLLM


@dataclass(frozen=True)
class FakeRequest:
    agent: str
    tier: str
    messages: list[dict[str, str]]
    schema: type[BaseModel]


Reply = str | BaseModel | BaseException | Callable[[FakeRequest], Any]


def fake_tokens(text: str) -> int:
    """A stable token count for fake calls (about 4 characters a token)."""
    return max(1, len(text) // 4)


class FakeLLM(StructuredLLM):
    def __init__(self, replies: Iterable[Reply] = (), *, name: str = "fake", model: str = "fake-model",
                 provider: str = "fake", attempts: int = OUTPUT_ATTEMPTS) -> None:  # fmt: skip
        super().__init__(attempts=attempts)
        self.name = name
        self.model = model
        self.provider = provider
        self.queue: deque[Reply] = deque(replies)
        self.requests: list[FakeRequest] = []

    def add(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def _complete(self, *, tier: str, agent: str, messages: list[dict[str, str]],
                  schema: type[BaseModel]) -> Completion:  # fmt: skip
        request = FakeRequest(agent=agent, tier=tier, messages=[dict(m) for m in messages], schema=schema)
        self.requests.append(request)
        if not self.queue:
            raise ModelUnavailable(f"FakeLLM: no queued reply left for {agent} ({schema.__name__})")
        reply = self.queue.popleft()
        if callable(reply) and not isinstance(reply, BaseModel | BaseException):
            reply = reply(request)
        if isinstance(reply, BaseException):
            raise reply
        text = reply.model_dump_json() if isinstance(reply, BaseModel) else str(reply)
        prompt = "".join(m["content"] for m in messages)
        return Completion(text=text, provider=self.provider, model=self.model,
                          input_tokens=fake_tokens(prompt), output_tokens=fake_tokens(text))  # fmt: skip
