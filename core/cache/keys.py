"""What may be cached, for how long, and under which key.

Facts from the optimization-engine seed (section 7 of the seed notes): task-type TTLs, the never-cache task
types (unique or accuracy-critical answers), default TTL 3600 s. The seed's default similarity threshold (0.92)
is replaced by 0.95, chosen on dev pairs for >= 0.95 precision of the calibrated verifier (cache/README.md).

Two hashes describe a request:
- the *exact key*: model + every message + the parameters that change the answer (canonical JSON, SHA-256);
- the *scope*: model + system prompt + earlier turns + those parameters, i.e. everything but the last user
  message. A semantic hit may only come from an entry of the same scope (stored in `system_prompt_hash`).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import orjson

DEFAULT_TTL = timedelta(seconds=3600)
DEFAULT_SIMILARITY_THRESHOLD = 0.95
MIN_SIMILARITY_THRESHOLD = 0.5

TASK_TTLS: dict[str, int] = {
    "greeting": 60,
    "chitchat": 60,
    "information_lookup": 300,
    "customer_support": 300,
    "faq": 3600,
    "summarization": 3600,
    "sentiment": 3600,
    "classification": 3600,
    "entity_extraction": 3600,
    "formatting": 3600,
    "proofreading": 3600,
    "translation": 7200,
    "code_explanation": 86400,
    "documentation": 86400,
}
# Unique responses (creative) and accuracy-critical answers: never served from cache.
NEVER_CACHE = frozenset(
    {"brainstorming", "ideation", "story_generation", "poetry", "creative_editing", "math", "logic", "debugging"}
)

# Request fields that do not change the answer (transport, attribution, retries): left out of every key.
IGNORED_PARAMS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "timeout",
        "request_timeout",
        "extra_headers",
        "extra_query",
        "api_key",
        "api_base",
        "base_url",
        "num_retries",
        "max_retries",
        "store",
        "service_tier",
        "messages",
        "model",
    }
)
# An explicit temperature above this asks for variety: such a request is not answered from a cache.
MAX_CACHEABLE_TEMPERATURE = 1.0


def ttl_for(task_type: str | None) -> timedelta:
    """The seed's TTL for a task type (zero for never-cache types, 3600 s for unknown or missing ones)."""
    if task_type in NEVER_CACHE:
        return timedelta(0)
    if task_type is None:
        return DEFAULT_TTL
    return timedelta(seconds=TASK_TTLS.get(task_type, int(DEFAULT_TTL.total_seconds())))


def cacheable(task_type: str | None, params: dict[str, Any]) -> bool:
    """Whether a request may be answered from (and stored in) the response cache.

    Not when: the task type is never-cached; the response streams; the request offers tools or functions (the
    answer may be an action on a changing world); it asks for several choices (n > 1) or for a temperature above
    MAX_CACHEABLE_TEMPERATURE (it wants variety).
    """
    if ttl_for(task_type) <= timedelta(0):
        return False
    if params.get("stream"):
        return False
    if params.get("tools") or params.get("functions"):
        return False
    n = params.get("n")
    if isinstance(n, int) and n > 1:
        return False
    temperature = params.get("temperature")
    return not (isinstance(temperature, int | float) and temperature > MAX_CACHEABLE_TEMPERATURE)


def answer_params(params: dict[str, Any]) -> dict[str, Any]:
    """The request parameters that change the answer (everything but IGNORED_PARAMS and unset values)."""
    return {name: value for name, value in params.items() if name not in IGNORED_PARAMS and value is not None}


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def exact_key(*, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """SHA-256 of the canonical request: model, all messages, answer-changing parameters."""
    return _digest({"model": model, "messages": messages, "params": answer_params(params)})


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"]
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""


def split_last_user(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """(the messages before the last one, the last message's text) when the last message is a plain user
    text message; (messages, None) otherwise (no semantic match is possible then)."""
    if not messages or messages[-1].get("role") != "user":
        return messages, None
    content = messages[-1].get("content")
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") != "text" for p in content):
        return messages, None  # images, audio, files: only an exact match may answer
    text = content_text(content).strip()
    return messages[:-1], (text or None)


def scope_hash(*, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """Hash of everything a semantic match must share: model, system prompt and earlier turns (all messages but
    the last user one), parameters."""
    earlier, _ = split_last_user(messages)
    return _digest({"model": model, "earlier": earlier, "params": answer_params(params)})
