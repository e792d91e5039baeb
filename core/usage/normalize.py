"""Provider-native usage objects → canonical token counts.

Canonical convention (OpenTelemetry GenAI): `input_tokens` counts every prompt token, cache reads and
cache writes included; `output_tokens` counts every generated token, reasoning included. Cache and
reasoning counts are parts of those totals, never additions to them.

This runs once per ingested event, so it sticks to plain dict look-ups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

MAX_COUNT: Final = 10**12  # same bound as the event schema's token fields

_EMPTY: Final[Mapping[str, Any]] = {}

_GEMINI_CAMEL: Final = (
    "promptTokenCount",
    "cachedContentTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "toolUsePromptTokenCount",
    "responseTokenCount",  # Live API name for candidatesTokenCount
    "totalTokenCount",
)
_GEMINI_SNAKE: Final = (
    "prompt_token_count",
    "cached_content_token_count",
    "candidates_token_count",
    "thoughts_token_count",
    "tool_use_prompt_token_count",
    "response_token_count",
    "total_token_count",
)

# Keys that identify a shape. `plain` (only input_tokens/output_tokens) reads the same under the
# Anthropic, Responses and canonical conventions, so it needs no tie-break.
_SHAPE_OF_KEY: Final[Mapping[str, str]] = {
    "prompt_tokens": "chat",
    "completion_tokens": "chat",
    "inputTokens": "bedrock",
    "outputTokens": "bedrock",
    "cacheReadInputTokens": "bedrock",
    "cacheWriteInputTokens": "bedrock",
    "cache_creation_input_tokens": "anthropic",
    "cache_read_input_tokens": "anthropic",
    "cache_creation": "anthropic",
    "input_tokens_details": "responses",
    "input_token_details": "langchain",
    "output_token_details": "langchain",
    "cache_read_tokens": "canonical",
    "cache_write_tokens": "canonical",
    "reasoning_tokens": "canonical",
    "input_tokens": "plain",
    "output_tokens": "plain",
    **dict.fromkeys(_GEMINI_CAMEL, "gemini"),
    **dict.fromkeys(_GEMINI_SNAKE, "gemini_snake"),
}

_LABELS: Final[Mapping[str, str]] = {
    "chat": "OpenAI Chat Completions",
    "bedrock": "Bedrock Converse",
    "anthropic": "Anthropic Messages",
    "responses": "OpenAI Responses",
    "canonical": "canonical",
    "langchain": "LangChain usage_metadata",
    "plain": "input_tokens/output_tokens",
    "gemini": "Gemini usageMetadata",
    "gemini_snake": "Gemini usage_metadata",
}

# Shapes built on input_tokens/output_tokens. Anthropic counts input without the cache, the others with
# it; when their marker keys are mixed, only the provider name can settle which convention applies.
_INPUT_TOKENS_SHAPES: Final = frozenset({"anthropic", "responses", "canonical", "langchain"})
_TIEABLE: Final = frozenset({"anthropic", "responses", "canonical"})
_ANTHROPIC_HOSTS: Final = ("anthropic", "claude", "bedrock", "vertex")
_OPENAI_HOSTS: Final = ("openai", "azure")


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


def normalize_usage(usage: dict[str, Any], *, provider: str | None = None) -> TokenCounts:
    """Canonical counts from a provider's usage object; ValueError if it is unrecognised or inconsistent."""
    if not isinstance(usage, dict):
        raise ValueError(f"usage must be a JSON object, got {type(usage).__name__}")
    # Gemini responses and LangChain messages carry their usage under one of these keys.
    obj: Mapping[str, Any] = usage
    for wrapper in ("usageMetadata", "usage_metadata"):
        if usage.get(wrapper) is not None:
            obj = _obj(usage[wrapper], wrapper)
            break
    return _PARSERS[_shape(obj, provider)](obj)


def _shape(usage: Mapping[str, Any], provider: str | None) -> str:
    shapes = {_SHAPE_OF_KEY[key] for key in usage.keys() & _SHAPE_OF_KEY.keys()}
    if "chat" in shapes:
        # LiteLLM's chat-style usage mirrors Anthropic's cache counts at top level; prompt_tokens
        # already includes them.
        shapes.discard("anthropic")
    if shapes & _INPUT_TOKENS_SHAPES:
        shapes.discard("plain")
    if len(shapes) == 1:
        return shapes.pop()
    if not shapes:
        raise ValueError(
            "unrecognised usage object (keys: "
            f"{', '.join(sorted(usage)) or 'none'}); expected an OpenAI, Anthropic, Gemini, LangChain, "
            "Bedrock Converse or canonical usage object"
        )
    return _break_tie(shapes, provider)


def _break_tie(shapes: set[str], provider: str | None) -> str:
    tieable = shapes <= _TIEABLE
    hint = (provider or "").lower()
    if tieable and hint:
        if "anthropic" in shapes and any(name in hint for name in _ANTHROPIC_HOSTS):
            return "anthropic"
        if "responses" in shapes and any(name in hint for name in _OPENAI_HOSTS):
            return "responses"
    kinds = " and ".join(sorted(_LABELS[shape] for shape in shapes))
    if not tieable:
        advice = ""
    elif hint:
        advice = f"; provider {provider!r} does not settle which applies"
    else:
        advice = "; pass the provider to settle which applies"
    raise ValueError(f"ambiguous usage object: it mixes {kinds} keys{advice}")


def _chat(usage: Mapping[str, Any]) -> TokenCounts:
    prompt = _required(usage, "prompt_tokens")
    # OpenAI embeddings usage ({"prompt_tokens", "total_tokens"}) has no completion count: it is 0.
    embeddings = "completion_tokens" not in usage and usage.get("total_tokens") == prompt
    completion = 0 if embeddings else _required(usage, "completion_tokens")
    prompt_details = _obj(usage.get("prompt_tokens_details"), "prompt_tokens_details")
    completion_details = _obj(usage.get("completion_tokens_details"), "completion_tokens_details")
    cache_read = _opt(prompt_details, "cached_tokens", "prompt_tokens_details.")
    if cache_read is None:
        cache_read = _opt(usage, "prompt_cache_hit_tokens")  # DeepSeek
    if cache_read is None:
        cache_read = _count(usage, "cache_read_input_tokens")  # LiteLLM mirror
    cache_write = _opt(prompt_details, "cache_write_tokens", "prompt_tokens_details.")
    if cache_write is None:
        cache_write = _opt(prompt_details, "cache_creation_tokens", "prompt_tokens_details.")  # LiteLLM
    if cache_write is None:
        cache_write = _count(usage, "cache_creation_input_tokens")  # LiteLLM mirror
    reasoning = _count(completion_details, "reasoning_tokens", "completion_tokens_details.")
    # Some OpenAI-compatible gateways (Gemini's among them) leave reasoning out of completion_tokens;
    # total_tokens then gives it away.
    if reasoning and _opt(usage, "total_tokens") == prompt + completion + reasoning:
        completion += reasoning
    return _finish("chat", prompt, completion, cache_read, cache_write, reasoning)


def _responses(usage: Mapping[str, Any]) -> TokenCounts:
    input_details = _obj(usage.get("input_tokens_details"), "input_tokens_details")
    output_details = _obj(usage.get("output_tokens_details"), "output_tokens_details")
    return _finish(
        "responses",
        _required(usage, "input_tokens"),
        _required(usage, "output_tokens"),
        _count(input_details, "cached_tokens", "input_tokens_details."),
        _count(input_details, "cache_write_tokens", "input_tokens_details."),
        _output_reasoning(output_details),
    )


def _anthropic(usage: Mapping[str, Any]) -> TokenCounts:
    uncached = _required(usage, "input_tokens")
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _opt(usage, "cache_creation_input_tokens")
    if cache_write is None:
        breakdown = _obj(usage.get("cache_creation"), "cache_creation")
        cache_write = _count(breakdown, "ephemeral_5m_input_tokens", "cache_creation.") + _count(
            breakdown, "ephemeral_1h_input_tokens", "cache_creation."
        )
    output_details = _obj(usage.get("output_tokens_details"), "output_tokens_details")
    return _finish(
        "anthropic",
        uncached + cache_read + cache_write,
        _required(usage, "output_tokens"),
        cache_read,
        cache_write,
        _output_reasoning(output_details),
    )


def _bedrock(usage: Mapping[str, Any]) -> TokenCounts:
    uncached = _required(usage, "inputTokens")
    cache_read = _count(usage, "cacheReadInputTokens")
    cache_write = _opt(usage, "cacheWriteInputTokens")
    if cache_write is None:
        cache_write = _bedrock_cache_details(usage.get("cacheDetails"))
    return _finish(
        "bedrock",
        uncached + cache_read + cache_write,
        _required(usage, "outputTokens"),
        cache_read,
        cache_write,
        0,
    )


def _bedrock_cache_details(details: Any) -> int:
    if details is None:
        return 0
    if not isinstance(details, list):
        raise ValueError(f"usage field cacheDetails must be a list, got {type(details).__name__}")
    return sum(_count(_obj(item, "cacheDetails[]"), "inputTokens", "cacheDetails[].") for item in details)


def _gemini(usage: Mapping[str, Any], *, snake: bool) -> TokenCounts:
    prompt_key, cached_key, candidates_key, thoughts_key, tool_key, response_key, _ = (
        _GEMINI_SNAKE if snake else _GEMINI_CAMEL
    )
    prompt = _count(usage, prompt_key)  # proto3 JSON leaves out zero counts, so absent means 0
    cache_read = _count(usage, cached_key)
    if cache_read > prompt:
        raise ValueError(f"Gemini usage is inconsistent: {cached_key} ({cache_read}) exceeds {prompt_key} ({prompt})")
    candidates = _opt(usage, candidates_key)
    if candidates is None:
        candidates = _count(usage, response_key)
    # Thoughts are billed as output but not part of candidates; tool-use prompt tokens are billed as
    # input but not part of the prompt count.
    thoughts = _count(usage, thoughts_key)
    return _finish(
        "gemini_snake" if snake else "gemini",
        prompt + _count(usage, tool_key),
        candidates + thoughts,
        cache_read,
        0,
        thoughts,
    )


def _gemini_camel(usage: Mapping[str, Any]) -> TokenCounts:
    return _gemini(usage, snake=False)


def _gemini_snake(usage: Mapping[str, Any]) -> TokenCounts:
    return _gemini(usage, snake=True)


def _langchain(usage: Mapping[str, Any]) -> TokenCounts:
    # LangChain's totals already include the cache and reasoning parts, as ours do.
    input_details = _obj(usage.get("input_token_details"), "input_token_details")
    output_details = _obj(usage.get("output_token_details"), "output_token_details")
    return _finish(
        "langchain",
        _required(usage, "input_tokens"),
        _required(usage, "output_tokens"),
        _count(input_details, "cache_read", "input_token_details."),
        _count(input_details, "cache_creation", "input_token_details."),
        _count(output_details, "reasoning", "output_token_details."),
    )


def _canonical(usage: Mapping[str, Any]) -> TokenCounts:
    return _finish(
        "canonical",
        _required(usage, "input_tokens"),
        _required(usage, "output_tokens"),
        _count(usage, "cache_read_tokens"),
        _count(usage, "cache_write_tokens"),
        _count(usage, "reasoning_tokens"),
    )


_PARSERS: Final[Mapping[str, Callable[[Mapping[str, Any]], TokenCounts]]] = {
    "chat": _chat,
    "responses": _responses,
    "plain": _responses,  # no cache or reasoning details: every convention reads it the same
    "anthropic": _anthropic,
    "bedrock": _bedrock,
    "gemini": _gemini_camel,
    "gemini_snake": _gemini_snake,
    "langchain": _langchain,
    "canonical": _canonical,
}


def _output_reasoning(details: Mapping[str, Any]) -> int:
    # OpenAI Responses names it reasoning_tokens, Anthropic thinking_tokens; both are part of output.
    reasoning = _opt(details, "reasoning_tokens", "output_tokens_details.")
    if reasoning is None:
        reasoning = _count(details, "thinking_tokens", "output_tokens_details.")
    return reasoning


def _finish(shape: str, inputs: int, outputs: int, cache_read: int, cache_write: int, reasoning: int) -> TokenCounts:
    if cache_read + cache_write > inputs:
        raise ValueError(
            f"{_LABELS[shape]} usage is inconsistent: cache reads ({cache_read}) + cache writes "
            f"({cache_write}) exceed input tokens ({inputs})"
        )
    if reasoning > outputs:
        raise ValueError(
            f"{_LABELS[shape]} usage is inconsistent: reasoning tokens ({reasoning}) exceed output tokens ({outputs})"
        )
    return TokenCounts(inputs, outputs, cache_read, cache_write, reasoning)


def _obj(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise ValueError(f"usage field {name} must be an object or null, got {type(value).__name__}")
    return value


def _required(obj: Mapping[str, Any], key: str) -> int:
    value = _opt(obj, key)
    if value is None:
        raise ValueError(f"usage field {key} is missing or null")
    return value


def _count(obj: Mapping[str, Any], key: str, prefix: str = "") -> int:
    value = _opt(obj, key, prefix)
    return 0 if value is None else value


def _opt(obj: Mapping[str, Any], key: str, prefix: str = "") -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # type() rather than isinstance(): bool is an int subclass and True is not a token count.
    if type(value) is not int:
        raise ValueError(f"usage field {prefix}{key} must be an integer, got {type(value).__name__} {value!r}")
    if not 0 <= value <= MAX_COUNT:
        raise ValueError(f"usage field {prefix}{key} must be between 0 and {MAX_COUNT}, got {value}")
    return value
