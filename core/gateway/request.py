"""What the gateway reads from a request: attribution and bypass headers, the prompt texts, a token estimate, and
the facts routing-rule conditions are evaluated on (computed lazily: the task classifier runs only when a rule
or tier routing asks for a task field)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from core.cache.keys import content_text
from core.errors import InvalidInput
from core.routing.classify import Classification, classify

ATTRIBUTION_HEADERS = {
    "team": "x-tokentra-team",
    "project": "x-tokentra-project",
    "feature": "x-tokentra-feature",
    "user": "x-tokentra-user",
    "environment": "x-tokentra-environment",
}
BYPASS_HEADER = "x-tokentra-bypass"
TRACE_HEADER = "x-tokentra-trace-id"
TASK_FIELDS = frozenset({"task_type", "task_category", "complexity_score", "quality_requirement", "tier"})
_CODE = re.compile(r"```|\bdef |\bfunction\b|\bclass |#include|=>|\bimport |;\s*$", re.MULTILINE)
_MATH = re.compile(r"\d+\s*[-+*/^=]\s*\d+|\b(solve|equation|integral|derivative|probability|calculate)\b", re.I)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    stream: bool
    attributes: dict[str, str | None]
    bypass: frozenset[str]
    trace_id: str | None

    @property
    def max_tokens(self) -> int | None:
        value = self.body.get("max_completion_tokens") or self.body.get("max_tokens")
        return value if isinstance(value, int) and value > 0 else None

    @property
    def wants_usage_chunk(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and bool(options.get("include_usage"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value.strip()[:255] or None if value else None


def attribution(headers: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, str | None]:
    values = {name: _header(headers, header) for name, header in ATTRIBUTION_HEADERS.items()}
    if values["user"] is None and isinstance(body.get("user"), str):
        values["user"] = body["user"][:255] or None
    return values


def parse_chat(body: Any, headers: Mapping[str, str]) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise InvalidInput("model: required (a model name of the gateway)")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InvalidInput("messages: required (a non-empty list of message objects)")
    bypass = frozenset(p.strip().lower() for p in (headers.get(BYPASS_HEADER) or "").split(",") if p.strip())
    return ChatRequest(
        model=model,
        messages=messages,
        body=body,
        stream=bool(body.get("stream")),
        attributes=attribution(headers, body),
        bypass=bypass,
        trace_id=_header(headers, TRACE_HEADER),
    )


def split_texts(messages: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(the conversation's non-system text, the system prompt or None)."""
    system = [content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    prompt = [content_text(m.get("content")) for m in messages if m.get("role") not in ("system", "developer")]
    return "\n".join(prompt), ("\n".join(system) or None)


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens, estimated as the seed does (characters / 4, rounded up) plus 4 per message."""
    chars = sum(len(content_text(m.get("content"))) for m in messages)
    return -(-chars // 4) + 4 * len(messages)


def sha256(value: Any) -> str:
    data = value.encode() if isinstance(value, str) else orjson.dumps(value)
    return hashlib.sha256(data).hexdigest()


@dataclass
class Facts(Mapping[str, Any]):
    """The request's facts for rule conditions; task fields classify the prompt on first access."""

    request: ChatRequest
    prompt: str
    system: str | None
    input_tokens: int
    endpoint: str = "chat"
    provider: str | None = None
    _classification: Classification | None = field(default=None, repr=False)
    _values: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def classification(self) -> Classification:
        if self._classification is None:
            self._classification = classify(self.prompt, self.system)
        return self._classification

    @property
    def classified(self) -> Classification | None:
        return self._classification

    def preset(self, name: str, value: Any) -> None:
        """A fact the pipeline knows already (e.g. budget_remaining)."""
        self._values[name] = value

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            self._values[name] = self._compute(name)
        return self._values[name]

    def _compute(self, name: str) -> Any:
        request = self.request
        if name in request.attributes:
            return request.attributes[name]
        if name in TASK_FIELDS:
            cls = self.classification
            return {
                "task_type": cls.task_type,
                "task_category": cls.category,
                "tier": cls.tier,
                "complexity_score": cls.complexity_score,
                "quality_requirement": cls.quality_requirement,
            }[name]
        now = datetime.now(UTC)
        simple: dict[str, Any] = {
            "model": request.model,
            "provider": self.provider,
            "endpoint": self.endpoint,
            "stream": request.stream,
            "input_tokens": self.input_tokens,
            "output_tokens": request.max_tokens,
            "total_tokens": self.input_tokens + (request.max_tokens or 0),
            "prompt_length": len(self.prompt),
            "time_of_day": now.hour,
            "day_of_week": (now.weekday() + 1) % 7,
        }
        if name in simple:
            return simple[name]
        if name == "has_code":
            return _CODE.search(self.prompt) is not None
        if name == "has_math":
            return _MATH.search(self.prompt) is not None
        return (
            self.request.body.get("metadata", {}).get(name)
            if isinstance(self.request.body.get("metadata"), dict)
            else None
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
