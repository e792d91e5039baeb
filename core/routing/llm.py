"""Our own model calls: structured (pydantic) output through LiteLLM Router tier groups.

    llm = build_llm(settings)          # None when TOKENTRA_LLM_CONFIG is unset: offline
    verdict = llm.structured(tier="workhorse", agent="skeptic", system=PROMPT, messages=[...], schema=Verdict)

The config is LiteLLM's own YAML: a `model_list` whose `model_name`s are the tiers `utility`, `workhorse`,
`premium`, and optional `router_settings` (num_retries, timeout, fallbacks …). Missing tiers fall back to the
next one up (utility → workhorse → premium, then down). Provider errors are retried by the Router (bounded),
then fall back to the next tier; malformed output (not JSON, not the schema, or refused by the caller's
`check`) is retried here with tenacity, telling the model what was wrong, then raises ModelOutputInvalid.

Every call is kept in `llm.calls` (tokens, the provider's reported cost); core/routing/usage.py stores them
as usage events of the `tokentra-system` org, where they are priced like any customer's calls.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from core.config import Settings
from core.errors import InvalidInput, ModelOutputInvalid, ModelUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
TIERS = ("utility", "workhorse", "premium")
OUTPUT_ATTEMPTS = 3  # a malformed reply is retried this many times in all, then ModelOutputInvalid
DEFAULT_ROUTER_SETTINGS: dict[str, Any] = {"num_retries": 2, "timeout": 60, "retry_after": 0}
# The seed's multi-agent triggers (seed notes section 8): where an agent escalates to the premium tier.
PREMIUM_SAVINGS = 1000.0
LOW_CONFIDENCE = 0.7

Check = Callable[[Any], None]  # raises OutputRejected when a parsed reply does not check out


class OutputRejected(ValueError):
    """A reply parsed but a caller's check refused it (e.g. a number no tool returned); retried with the reason."""


@dataclass(frozen=True)
class LLMCall:
    """One completed model call: what the tokentra-system org is billed for."""

    request_id: str
    agent: str
    tier: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    timestamp: datetime
    reported_cost: float | None = None  # what LiteLLM computed; stored, never used as the cost
    ok: bool = True  # False: the reply was malformed or rejected (still billed)


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    reported_cost: float | None = None


class LLM(Protocol):
    name: str  # "offline" never appears here: offline is "no LLM"; this is the model/tier description
    calls: list[LLMCall]

    def structured(self, *, tier: str, agent: str, system: str, messages: list[dict[str, str]],
                   schema: type[T], check: Check | None = None) -> T: ...  # fmt: skip


def choose_tier(default: str, *, savings: float | None = None, conflicting: bool = False,
                confidence: float | None = None) -> str:  # fmt: skip
    """An agent's tier: its default, or premium where the seed's triggers say so (savings > $1,000/month,
    conflicting signals, single-model confidence < 0.7)."""
    if default not in TIERS:
        raise InvalidInput(f"tier must be one of {', '.join(TIERS)}, not {default!r}")
    escalate = (savings is not None and savings > PREMIUM_SAVINGS) or conflicting
    escalate = escalate or (confidence is not None and confidence < LOW_CONFIDENCE)
    return "premium" if escalate else default


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_reply(text: str, schema: type[T]) -> T:
    """The schema instance in a reply: bare JSON, or the first fenced block, or the outermost {...}."""
    candidates = [text.strip()]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.append(fenced.group(1).strip())
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    error: Exception | None = None
    for candidate in candidates:
        try:
            return schema.model_validate_json(candidate)
        except ValidationError as exc:
            error = exc
    raise OutputRejected(f"the reply is not a valid {schema.__name__} JSON object: {error}")


def schema_instructions(schema: type[BaseModel]) -> str:
    return (
        "<output_format>\nReply with one JSON object only (no prose, no code fence) matching this JSON schema:\n"
        + json.dumps(schema.model_json_schema(), separators=(",", ":"))
        + "\n</output_format>"
    )


class StructuredLLM:
    """The shared part: prompt assembly, parse/check/retry with feedback, and the call ledger."""

    name = "llm"

    def __init__(self, *, attempts: int = OUTPUT_ATTEMPTS) -> None:
        self.calls: list[LLMCall] = []
        self.attempts = attempts
        self._lock = threading.Lock()

    def _complete(self, *, tier: str, agent: str, messages: list[dict[str, str]],
                  schema: type[BaseModel]) -> Completion:  # fmt: skip
        raise NotImplementedError

    def structured(self, *, tier: str, agent: str, system: str, messages: list[dict[str, str]],
                   schema: type[T], check: Check | None = None) -> T:  # fmt: skip
        if tier not in TIERS:
            raise InvalidInput(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
        convo = [{"role": "system", "content": system + "\n\n" + schema_instructions(schema)}, *messages]
        try:
            for attempt in Retrying(stop=stop_after_attempt(self.attempts),
                                    retry=retry_if_exception_type(OutputRejected), reraise=False):  # fmt: skip
                with attempt:
                    return self._attempt(tier=tier, agent=agent, convo=convo, schema=schema, check=check)
        except RetryError as exc:
            reason = exc.last_attempt.exception()
            message = f"{agent}: no valid {schema.__name__} after {self.attempts} tries: {reason}"
            raise ModelOutputInvalid(message) from exc
        raise ModelOutputInvalid(f"{agent}: no reply")  # unreachable: Retrying either returns or raises

    def _attempt(self, *, tier: str, agent: str, convo: list[dict[str, str]], schema: type[T],
                 check: Check | None) -> T:  # fmt: skip
        started = time.perf_counter()
        reply = self._complete(tier=tier, agent=agent, messages=convo, schema=schema)
        latency = (time.perf_counter() - started) * 1000
        try:
            value = parse_reply(reply.text, schema)
            if check is not None:
                check(value)
        except OutputRejected as exc:
            self._record(agent, tier, reply, latency, ok=False)
            log.info("%s: reply rejected (%s); asking again", agent, exc)
            convo.append({"role": "assistant", "content": reply.text})
            convo.append({"role": "user", "content": f"Your reply was rejected: {exc}. Answer again, JSON only."})
            raise
        self._record(agent, tier, reply, latency, ok=True)
        return value

    def _record(self, agent: str, tier: str, reply: Completion, latency: float, *, ok: bool) -> None:
        call = LLMCall(request_id=f"tt-llm-{uuid.uuid4()}", agent=agent, tier=tier, provider=reply.provider,
                       model=reply.model, input_tokens=reply.input_tokens, output_tokens=reply.output_tokens,
                       latency_ms=round(latency, 3), timestamp=datetime.now(UTC), reported_cost=reply.reported_cost,
                       ok=ok)  # fmt: skip
        with self._lock:
            self.calls.append(call)


@dataclass
class RouterConfig:
    model_list: list[dict[str, Any]]
    router_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def tiers(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for entry in self.model_list:
            found.setdefault(str(entry.get("model_name")), []).append(str(entry["litellm_params"]["model"]))
        return found


def load_router_config(path: Path) -> RouterConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"TOKENTRA_LLM_CONFIG {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list) or not data["model_list"]:
        raise InvalidInput(f"TOKENTRA_LLM_CONFIG {path}: expected a YAML mapping with a non-empty model_list")
    for entry in data["model_list"]:
        if not isinstance(entry, dict) or "model_name" not in entry or "model" not in entry.get("litellm_params", {}):
            raise InvalidInput(f"TOKENTRA_LLM_CONFIG {path}: every model_list entry needs model_name and "
                               "litellm_params.model")  # fmt: skip
    config = RouterConfig(model_list=data["model_list"], router_settings=dict(data.get("router_settings") or {}))
    if not set(config.tiers) & set(TIERS):
        raise InvalidInput(f"TOKENTRA_LLM_CONFIG {path}: no model group named {', '.join(TIERS)}")
    return config


def tier_order(tier: str, available: set[str]) -> list[str]:
    """The groups to try for `tier`: itself, then stronger tiers, then weaker ones (only those configured)."""
    index = TIERS.index(tier)
    order = [*TIERS[index:], *reversed(TIERS[:index])]
    return [t for t in order if t in available]


class RouterLLM(StructuredLLM):
    """Structured calls through a LiteLLM Router whose model groups are the tiers."""

    def __init__(self, config: RouterConfig, *, attempts: int = OUTPUT_ATTEMPTS) -> None:
        super().__init__(attempts=attempts)
        from litellm.router import Router  # imported here: the offline path never loads litellm

        self.config = config
        self.available = set(config.tiers) & set(TIERS)
        settings = {**DEFAULT_ROUTER_SETTINGS, **config.router_settings}
        if "fallbacks" not in settings:
            settings["fallbacks"] = [{t: tier_order(t, self.available)[1:]} for t in TIERS if t in self.available]
        self.router = Router(model_list=config.model_list, **settings)
        self.name = "litellm:" + ",".join(f"{t}={'|'.join(config.tiers[t])}" for t in TIERS if t in self.available)

    def _complete(self, *, tier: str, agent: str, messages: list[dict[str, str]],
                  schema: type[BaseModel]) -> Completion:  # fmt: skip
        import openai

        group = tier_order(tier, self.available)[0]
        try:
            response: Any = self.router.completion(model=group, messages=messages,
                                                   response_format={"type": "json_object"})  # fmt: skip
        except openai.OpenAIError as exc:
            raise ModelUnavailable(f"model group {group!r}: {type(exc).__name__}: {exc}") from exc
        hidden = getattr(response, "_hidden_params", {}) or {}
        usage = getattr(response, "usage", None)
        text = response.choices[0].message.content or ""
        return Completion(
            text=text,
            provider=str(hidden.get("custom_llm_provider") or "unknown"),
            model=str(response.model or group),
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            reported_cost=hidden.get("response_cost"),
        )


def build_llm(settings: Settings) -> LLM | None:
    """The LLM for our own calls, or None (offline) when TOKENTRA_LLM_CONFIG is unset."""
    if settings.llm_config is None:
        return None
    return RouterLLM(load_router_config(Path(settings.llm_config)))


def llm_name(llm: LLM | None) -> str:
    return "offline" if llm is None else llm.name
