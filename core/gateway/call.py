"""One gateway request on its way through the pipeline, its usage and the response handed back to the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from core.budgets.enforce import Reservation
from core.gateway.choose import Choice
from core.gateway.request import ChatRequest, Facts
from core.orgs.auth import Principal
from core.routing.rules import Decision


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


@dataclass
class Usage:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    reasoning: int = 0

    @classmethod
    def of(cls, usage: Any) -> Usage:
        """From an OpenAI-shaped usage object (chat completions and embeddings)."""
        if not isinstance(usage, dict):
            return cls()
        details = usage.get("prompt_tokens_details") or {}
        completion = usage.get("completion_tokens_details") or {}
        return cls(
            int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(details.get("cached_tokens") or 0),
            int(completion.get("reasoning_tokens") or 0),
        )


@dataclass
class Call:
    principal: Principal
    request: ChatRequest
    facts: Facts
    decision: Decision
    choice: Choice
    started: float
    reservation: Reservation | None = None
    cache_state: str = "bypass"  # hit | miss | bypass
    extra_fallback: str | None = None
    cache_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def org_id(self) -> uuid.UUID:
        return self.principal.org_id

    @property
    def semantic_threshold(self) -> float | None:
        rule = self.decision.cache
        return rule.action.similarity_threshold if rule is not None else None

    def response_headers(self, group: str) -> dict[str, str]:
        rule = self.choice.rule or (self.decision.cache if self.cache_state == "hit" else None)
        headers = {
            "x-tokentra-model": group,
            "x-tokentra-cache": self.cache_state,
            "x-tokentra-rule": str(rule.id) if rule is not None else "none",
        }
        if self.choice.note:
            headers["x-tokentra-rule-skipped"] = self.choice.note
        return headers


def estimated_usage(call: Call, body: dict[str, Any]) -> Usage:
    """An upstream that reports no usage: the seed's estimate (a token per 4 characters) of prompt and answer."""
    choices = body.get("choices") or []
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    answer = len(content) if isinstance(content, str) else 0
    return Usage(call.facts.input_tokens, -(-answer // 4))


def finish_reason(body: dict[str, Any]) -> str | None:
    choices = body.get("choices") or []
    reason = choices[0].get("finish_reason") if choices and isinstance(choices[0], dict) else None
    return reason if isinstance(reason, str) else None


def compressed(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Light prompt compression: runs of whitespace in text contents collapse to one space."""
    return [
        {**m, "content": " ".join(m["content"].split())} if isinstance(m.get("content"), str) else m for m in messages
    ]
