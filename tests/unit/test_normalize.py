"""normalize_usage: provider usage objects → canonical counts (input includes cache, output includes reasoning).

Fixtures are whole responses shaped as each provider returns them (field names and nesting per the
providers' API references and SDK types); the tests feed the usage part exactly as it sits there.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core.usage.normalize import MAX_COUNT, TokenCounts, normalize_usage

# --- OpenAI Chat Completions ---------------------------------------------------------------------------


def _chat_completion(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-Bx7kR2vQ9mZt4YhLp0aWcN3sEuJf",
        "object": "chat.completion",
        "created": 1754312098,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Done.", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_7c1a3f9e02",
    }


CHAT_NO_CACHE = _chat_completion(
    "gpt-4o-mini-2024-07-18",
    {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
)
CHAT_CACHE_READ = _chat_completion(
    "gpt-4.1-2025-04-14",
    {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
)
CHAT_REASONING = _chat_completion(
    "o3-mini-2025-01-31",
    {
        "prompt_tokens": 75,
        "completion_tokens": 1186,
        "total_tokens": 1261,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 1024,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
)
# Predicted Outputs: rejected prediction tokens are already inside completion_tokens.
CHAT_PREDICTION = _chat_completion(
    "gpt-4o-2024-08-06",
    {
        "prompt_tokens": 412,
        "completion_tokens": 380,
        "total_tokens": 792,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 301,
            "rejected_prediction_tokens": 42,
        },
    },
)
CHAT_NULL_DETAILS = _chat_completion(
    "gpt-35-turbo",
    {
        "prompt_tokens": 12,
        "completion_tokens": 7,
        "total_tokens": 19,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    },
)
# OpenAI-compatible servers (vLLM, older APIs) send no details at all.
CHAT_NO_DETAILS = _chat_completion(
    "meta-llama/Llama-3.1-8B-Instruct", {"prompt_tokens": 30, "total_tokens": 48, "completion_tokens": 18}
)
# GPT-5.6 and later report prompt-cache writes; they are part of prompt_tokens like reads are.
CHAT_CACHE_WRITE = _chat_completion(
    "gpt-5.6",
    {
        "prompt_tokens": 2600,
        "completion_tokens": 120,
        "total_tokens": 2720,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 400, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 64,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
)
DEEPSEEK_REASONER = _chat_completion(
    "deepseek-reasoner",
    {
        "prompt_tokens": 1040,
        "completion_tokens": 865,
        "total_tokens": 1905,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 711},
        "prompt_cache_hit_tokens": 1024,
        "prompt_cache_miss_tokens": 16,
    },
)
DEEPSEEK_HIT_MISS_ONLY = _chat_completion(
    "deepseek-chat",
    {
        "prompt_tokens": 663,
        "completion_tokens": 41,
        "total_tokens": 704,
        "prompt_cache_hit_tokens": 640,
        "prompt_cache_miss_tokens": 23,
    },
)
# LiteLLM's Usage for an Anthropic call (model_dump of AnthropicConfig.calculate_usage): prompt_tokens
# already includes the cache, which is mirrored in the details and again at top level.
LITELLM_ANTHROPIC = _chat_completion(
    "claude-sonnet-4-5-20250929",
    {
        "completion_tokens": 120,
        "prompt_tokens": 2545,
        "total_tokens": 2665,
        "completion_tokens_details": {
            "accepted_prediction_tokens": None,
            "audio_tokens": None,
            "reasoning_tokens": 0,
            "rejected_prediction_tokens": None,
            "text_tokens": 120,
            "image_tokens": None,
            "video_tokens": None,
        },
        "prompt_tokens_details": {
            "audio_tokens": None,
            "cache_write_tokens": 500,
            "cached_tokens": 2000,
            "text_tokens": 45,
            "image_tokens": None,
            "video_tokens": None,
            "cache_creation_tokens": 500,
            "cache_creation_token_details": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 0},
        },
        "cache_creation_input_tokens": 500,
        "cache_read_input_tokens": 2000,
        "iterations": None,
        "inference_geo": None,
        "speed": None,
        "service_tier": "standard",
    },
)
# Gemini's OpenAI-compatible endpoint (and some gateways) leave thoughts out of completion_tokens;
# total_tokens shows it.
GEMINI_OPENAI_COMPAT = _chat_completion(
    "gemini-2.5-flash",
    {
        "prompt_tokens": 20,
        "completion_tokens": 198,
        "total_tokens": 623,
        "completion_tokens_details": {"reasoning_tokens": 405},
    },
)

# --- OpenAI Responses ----------------------------------------------------------------------------------


def _response(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "resp_68a1c0f3d2e48190b7a6c5e4d3f2a1b00c9d8e7f6a5b4c3d",
        "object": "response",
        "created_at": 1755430131,
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_68a1c0f4e5f68190a9b8c7d6e5f4a3b2",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "store": True,
        "usage": usage,
    }


RESPONSES_NO_CACHE = _response(
    "gpt-4.1-2025-04-14",
    {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 123,
    },
)
RESPONSES_CACHE_AND_REASONING = _response(
    "o4-mini-2025-04-16",
    {
        "input_tokens": 5400,
        "input_tokens_details": {"cached_tokens": 4864, "cache_write_tokens": 0},
        "output_tokens": 1035,
        "output_tokens_details": {"reasoning_tokens": 832},
        "total_tokens": 6435,
    },
)
RESPONSES_CACHE_WRITE = _response(
    "gpt-5.6",
    {
        "input_tokens": 3438,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 3435},
        "output_tokens": 52,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 3490,
    },
)
# OpenAI itself always sends both details objects; some Responses-compatible servers send null.
RESPONSES_NULL_DETAILS = _response(
    "gpt-4o-2024-08-06",
    {
        "input_tokens": 10,
        "input_tokens_details": None,
        "output_tokens": 5,
        "output_tokens_details": None,
        "total_tokens": 15,
    },
)

# --- Anthropic Messages --------------------------------------------------------------------------------


def _message(usage: dict[str, Any], model: str = "claude-sonnet-4-5-20250929") -> dict[str, Any]:
    return {
        "id": "msg_01HqJ8vXk3NwT7rYb2ZcLd5P",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "Done."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


ANTHROPIC_NO_CACHE = _message(
    {
        "input_tokens": 25,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 153,
        "service_tier": "standard",
        "server_tool_use": None,
    }
)
ANTHROPIC_CACHE_WRITE_5M = _message(
    {
        "input_tokens": 21,
        "cache_creation_input_tokens": 188086,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 188086, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 393,
        "service_tier": "standard",
        "server_tool_use": None,
    }
)
ANTHROPIC_CACHE_READ = _message(
    {
        "input_tokens": 50,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 188086,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 420,
        "service_tier": "standard",
        "server_tool_use": None,
    }
)
ANTHROPIC_READ_AND_1H_5M_WRITES = _message(
    {
        "input_tokens": 12,
        "cache_creation_input_tokens": 6000,
        "cache_read_input_tokens": 30000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 4000},
        "output_tokens": 250,
        "service_tier": "priority",
        "server_tool_use": None,
    },
    model="claude-opus-4-1-20250805",
)
ANTHROPIC_NULL_TOTAL_WITH_BREAKDOWN = _message(
    {
        "input_tokens": 12,
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": None,
        "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 2500},
        "output_tokens": 80,
        "service_tier": "standard",
        "server_tool_use": None,
    }
)
ANTHROPIC_THINKING_AND_WEB_SEARCH = _message(
    {
        "input_tokens": 310,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 2100,
        "output_tokens_details": {"thinking_tokens": 1800},
        "service_tier": "standard",
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0},
    }
)
ANTHROPIC_MINIMAL = _message({"input_tokens": 10, "output_tokens": 25}, model="claude-3-haiku-20240307")

# --- Gemini --------------------------------------------------------------------------------------------


def _gemini_rest(model: str, usage_metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": "Done."}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage_metadata,
        "modelVersion": model,
        "responseId": "k2ZKaPbQC9Ct1MkP7eS4uQ4",
    }


GEMINI_BASIC = _gemini_rest(
    "gemini-2.0-flash",
    {
        "promptTokenCount": 8,
        "candidatesTokenCount": 12,
        "totalTokenCount": 20,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
    },
)
GEMINI_THOUGHTS = _gemini_rest(
    "gemini-2.5-flash",
    {
        "promptTokenCount": 20,
        "candidatesTokenCount": 198,
        "totalTokenCount": 623,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 20}],
        "thoughtsTokenCount": 405,
    },
)
GEMINI_CACHE_THOUGHTS_TOOL_USE = _gemini_rest(
    "gemini-2.5-pro",
    {
        "promptTokenCount": 12000,
        "candidatesTokenCount": 350,
        "totalTokenCount": 15050,
        "cachedContentTokenCount": 10240,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11000}, {"modality": "IMAGE", "tokenCount": 1000}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 10240}],
        "toolUsePromptTokenCount": 1800,
        "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 1800}],
        "thoughtsTokenCount": 900,
    },
)
# google-genai: response.model_dump()["usage_metadata"]; unset fields come out as None.
GEMINI_SDK_SNAKE = {
    "cache_tokens_details": None,
    "cached_content_token_count": 4096,
    "candidates_token_count": 45,
    "candidates_tokens_details": None,
    "prompt_token_count": 4105,
    "prompt_tokens_details": [{"modality": "TEXT", "token_count": 4105}],
    "thoughts_token_count": 230,
    "tool_use_prompt_token_count": None,
    "tool_use_prompt_tokens_details": None,
    "total_token_count": 4380,
    "traffic_type": None,
}
# Live API names the output count responseTokenCount.
GEMINI_LIVE = {
    "promptTokenCount": 300,
    "responseTokenCount": 40,
    "totalTokenCount": 340,
    "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 300}],
    "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 40}],
}

# --- Bedrock Converse ----------------------------------------------------------------------------------


def _converse(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "ResponseMetadata": {"RequestId": "2f0c8a51-6d3e-4b7a-9c1f-5e8d2a7b4c60", "HTTPStatusCode": 200},
        "output": {"message": {"role": "assistant", "content": [{"text": "Done."}]}},
        "stopReason": "end_turn",
        "usage": usage,
        "metrics": {"latencyMs": 812},
    }


BEDROCK_NO_CACHE = _converse({"inputTokens": 125, "outputTokens": 60, "totalTokens": 185})
BEDROCK_CACHE_WRITE = _converse(
    {
        "inputTokens": 18,
        "outputTokens": 310,
        "totalTokens": 4528,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 4200,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 1200}, {"ttl": "5m", "inputTokens": 3000}],
    }
)
BEDROCK_CACHE_READ = _converse(
    {
        "inputTokens": 22,
        "outputTokens": 95,
        "totalTokens": 4317,
        "cacheReadInputTokens": 4200,
        "cacheWriteInputTokens": 0,
    }
)
BEDROCK_DETAILS_ONLY = _converse(
    {
        "inputTokens": 18,
        "outputTokens": 310,
        "totalTokens": 4528,
        "cacheReadInputTokens": 0,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 1200}, {"ttl": "5m", "inputTokens": 3000}],
    }
)

# --- LangChain AIMessage.usage_metadata and our own canonical form --------------------------------------

LANGCHAIN_AI_MESSAGE = {
    "type": "ai",
    "content": "Done.",
    "id": "run-4c2f8e1a-9b7d-4e3c-a6f5-1d0b9c8e7a62-0",
    "response_metadata": {"model_name": "claude-sonnet-4-5-20250929", "stop_reason": "end_turn"},
    "usage_metadata": {
        "input_tokens": 2545,
        "output_tokens": 400,
        "total_tokens": 2945,
        "input_token_details": {"cache_read": 2000, "cache_creation": 500},
        "output_token_details": {"reasoning": 150},
    },
}
CANONICAL = {
    "input_tokens": 1000,
    "output_tokens": 200,
    "cache_read_tokens": 600,
    "cache_write_tokens": 100,
    "reasoning_tokens": 50,
}


VALID = [
    pytest.param(CHAT_NO_CACHE["usage"], TokenCounts(19, 10), id="chat-no-cache"),
    pytest.param(CHAT_CACHE_READ["usage"], TokenCounts(2006, 300, cache_read_tokens=1920), id="chat-cache-read"),
    pytest.param(CHAT_REASONING["usage"], TokenCounts(75, 1186, reasoning_tokens=1024), id="chat-reasoning"),
    pytest.param(CHAT_PREDICTION["usage"], TokenCounts(412, 380), id="chat-predicted-outputs"),
    pytest.param(CHAT_NULL_DETAILS["usage"], TokenCounts(12, 7), id="chat-null-details"),
    pytest.param(CHAT_NO_DETAILS["usage"], TokenCounts(30, 18), id="chat-no-details"),
    pytest.param(CHAT_CACHE_WRITE["usage"], TokenCounts(2600, 120, 2000, 400, 64), id="chat-cache-write"),
    pytest.param(DEEPSEEK_REASONER["usage"], TokenCounts(1040, 865, 1024, 0, 711), id="deepseek-reasoner"),
    pytest.param(DEEPSEEK_HIT_MISS_ONLY["usage"], TokenCounts(663, 41, cache_read_tokens=640), id="deepseek-hit-miss"),
    pytest.param(LITELLM_ANTHROPIC["usage"], TokenCounts(2545, 120, 2000, 500), id="litellm-chat-from-anthropic"),
    pytest.param(
        GEMINI_OPENAI_COMPAT["usage"],
        TokenCounts(20, 603, reasoning_tokens=405),
        id="chat-reasoning-outside-completion",
    ),
    pytest.param(RESPONSES_NO_CACHE["usage"], TokenCounts(36, 87), id="responses-no-cache"),
    pytest.param(
        RESPONSES_CACHE_AND_REASONING["usage"], TokenCounts(5400, 1035, 4864, 0, 832), id="responses-cache-reasoning"
    ),
    pytest.param(
        RESPONSES_CACHE_WRITE["usage"], TokenCounts(3438, 52, cache_write_tokens=3435), id="responses-cache-write"
    ),
    pytest.param(RESPONSES_NULL_DETAILS["usage"], TokenCounts(10, 5), id="responses-null-details"),
    pytest.param(ANTHROPIC_NO_CACHE["usage"], TokenCounts(25, 153), id="anthropic-no-cache"),
    pytest.param(
        ANTHROPIC_CACHE_WRITE_5M["usage"], TokenCounts(188107, 393, cache_write_tokens=188086), id="anthropic-write-5m"
    ),
    pytest.param(
        ANTHROPIC_CACHE_READ["usage"], TokenCounts(188136, 420, cache_read_tokens=188086), id="anthropic-cache-read"
    ),
    pytest.param(
        ANTHROPIC_READ_AND_1H_5M_WRITES["usage"], TokenCounts(36012, 250, 30000, 6000), id="anthropic-read-1h-5m-writes"
    ),
    pytest.param(
        ANTHROPIC_NULL_TOTAL_WITH_BREAKDOWN["usage"],
        TokenCounts(4012, 80, cache_write_tokens=4000),
        id="anthropic-null-total-uses-breakdown",
    ),
    pytest.param(
        ANTHROPIC_THINKING_AND_WEB_SEARCH["usage"],
        TokenCounts(310, 2100, reasoning_tokens=1800),
        id="anthropic-thinking",
    ),
    pytest.param(ANTHROPIC_MINIMAL["usage"], TokenCounts(10, 25), id="anthropic-minimal"),
    pytest.param(GEMINI_BASIC["usageMetadata"], TokenCounts(8, 12), id="gemini-basic"),
    pytest.param(GEMINI_THOUGHTS["usageMetadata"], TokenCounts(20, 603, reasoning_tokens=405), id="gemini-thoughts"),
    pytest.param(
        GEMINI_CACHE_THOUGHTS_TOOL_USE["usageMetadata"],
        TokenCounts(13800, 1250, cache_read_tokens=10240, reasoning_tokens=900),
        id="gemini-cache-thoughts-tool-use",
    ),
    pytest.param(
        GEMINI_CACHE_THOUGHTS_TOOL_USE,
        TokenCounts(13800, 1250, cache_read_tokens=10240, reasoning_tokens=900),
        id="gemini-whole-response",
    ),
    pytest.param(GEMINI_SDK_SNAKE, TokenCounts(4105, 275, 4096, 0, 230), id="gemini-sdk-snake"),
    pytest.param(
        {"usage_metadata": GEMINI_SDK_SNAKE}, TokenCounts(4105, 275, 4096, 0, 230), id="gemini-sdk-snake-wrapped"
    ),
    pytest.param(GEMINI_LIVE, TokenCounts(300, 40), id="gemini-live"),
    pytest.param(BEDROCK_NO_CACHE["usage"], TokenCounts(125, 60), id="bedrock-no-cache"),
    pytest.param(
        BEDROCK_CACHE_WRITE["usage"], TokenCounts(4218, 310, cache_write_tokens=4200), id="bedrock-cache-write"
    ),
    pytest.param(BEDROCK_CACHE_READ["usage"], TokenCounts(4222, 95, cache_read_tokens=4200), id="bedrock-cache-read"),
    pytest.param(
        BEDROCK_DETAILS_ONLY["usage"], TokenCounts(4218, 310, cache_write_tokens=4200), id="bedrock-cache-details-only"
    ),
    pytest.param(LANGCHAIN_AI_MESSAGE, TokenCounts(2545, 400, 2000, 500, 150), id="langchain-ai-message"),
    pytest.param(CANONICAL, TokenCounts(1000, 200, 600, 100, 50), id="canonical"),
    # OpenAI embeddings response usage (POST /v1/embeddings): no completion count.
    pytest.param({"prompt_tokens": 8, "total_tokens": 8}, TokenCounts(8, 0), id="openai-embeddings"),
]


@pytest.mark.parametrize(("usage", "expected"), VALID)
def test_normalizes_provider_usage(usage: dict[str, Any], expected: TokenCounts) -> None:
    before = copy.deepcopy(usage)
    assert normalize_usage(usage) == expected
    assert usage == before


@pytest.mark.parametrize(("usage", "expected"), VALID)
def test_provider_hint_does_not_override_an_unambiguous_shape(usage: dict[str, Any], expected: TokenCounts) -> None:
    assert normalize_usage(usage, provider="openai") == expected
    assert normalize_usage(usage, provider="anthropic") == expected


# Anthropic cache keys beside Responses-style details: the provider decides whether input_tokens
# already includes the cache.
MIXED = {
    "input_tokens": 100,
    "input_tokens_details": {"cached_tokens": 40},
    "cache_read_input_tokens": 40,
    "output_tokens": 10,
}


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("anthropic", TokenCounts(140, 10, cache_read_tokens=40)),
        ("bedrock", TokenCounts(140, 10, cache_read_tokens=40)),
        ("vertex_ai", TokenCounts(140, 10, cache_read_tokens=40)),
        ("openai", TokenCounts(100, 10, cache_read_tokens=40)),
        ("azure_openai", TokenCounts(100, 10, cache_read_tokens=40)),
    ],
)
def test_provider_hint_breaks_a_tie(provider: str, expected: TokenCounts) -> None:
    assert normalize_usage(MIXED, provider=provider) == expected


@pytest.mark.parametrize(
    ("provider", "message"),
    [(None, "pass the provider"), ("mistral", "provider 'mistral' does not settle")],
)
def test_unsettled_tie_is_rejected(provider: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=f"ambiguous usage object: it mixes Anthropic Messages and OpenAI.*{message}"):
        normalize_usage(MIXED, provider=provider)


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(base), **changes}


CHAT = CHAT_CACHE_READ["usage"]
ANTHROPIC = ANTHROPIC_NO_CACHE["usage"]

INVALID = [
    pytest.param([CHAT], "usage must be a JSON object, got list", id="not-a-dict"),
    pytest.param({}, r"unrecognised usage object \(keys: none\)", id="empty"),
    pytest.param({"tokens": 5, "cost": 0.1}, r"unrecognised usage object \(keys: cost, tokens\)", id="unknown-keys"),
    pytest.param({"usageMetadata": {}}, "unrecognised usage object", id="empty-usage-metadata"),
    pytest.param({"usageMetadata": [1]}, "usageMetadata must be an object or null, got list", id="usage-metadata-list"),
    pytest.param(_with(CHAT, prompt_tokens=-1), "prompt_tokens must be between 0 and", id="negative"),
    pytest.param(_with(CHAT, completion_tokens=True), "completion_tokens must be an integer, got bool", id="bool"),
    pytest.param(_with(CHAT, prompt_tokens=2006.0), "prompt_tokens must be an integer, got float", id="float"),
    pytest.param(_with(CHAT, prompt_tokens="2006"), "prompt_tokens must be an integer, got str", id="string"),
    pytest.param(_with(CHAT, prompt_tokens=MAX_COUNT + 1), "prompt_tokens must be between", id="too-large"),
    pytest.param(
        _with(CHAT, completion_tokens=None), "completion_tokens is missing or null", id="chat-null-completion"
    ),
    pytest.param(
        _with(CHAT, prompt_tokens_details={"cached_tokens": -3}),
        "prompt_tokens_details.cached_tokens must be between",
        id="negative-nested",
    ),
    pytest.param(
        _with(CHAT, prompt_tokens_details=[]),
        "prompt_tokens_details must be an object or null, got list",
        id="details-not-object",
    ),
    pytest.param(
        _with(CHAT, prompt_tokens=1000),
        r"OpenAI Chat Completions usage is inconsistent: cache reads \(1920\) \+ cache writes \(0\) "
        r"exceed input tokens \(1000\)",
        id="chat-cached-exceeds-prompt",
    ),
    pytest.param(
        _with(CHAT_REASONING["usage"], completion_tokens=100, total_tokens=175),
        r"reasoning tokens \(1024\) exceed output tokens \(100\)",
        id="chat-reasoning-exceeds-completion",
    ),
    pytest.param(
        _with(RESPONSES_CACHE_WRITE["usage"], input_tokens_details={"cached_tokens": 10, "cache_write_tokens": 3435}),
        r"OpenAI Responses usage is inconsistent: cache reads \(10\) \+ cache writes \(3435\) exceed",
        id="responses-cache-exceeds-input",
    ),
    pytest.param(
        _with(ANTHROPIC, input_tokens=None),
        "input_tokens is missing or null",
        id="anthropic-null-input",
    ),
    pytest.param(
        _with(ANTHROPIC, cache_creation_input_tokens=None, cache_creation={"ephemeral_1h_input_tokens": True}),
        "cache_creation.ephemeral_1h_input_tokens must be an integer, got bool",
        id="anthropic-bool-breakdown",
    ),
    pytest.param(
        _with(ANTHROPIC_THINKING_AND_WEB_SEARCH["usage"], output_tokens=1000),
        r"Anthropic Messages usage is inconsistent: reasoning tokens \(1800\) exceed output tokens \(1000\)",
        id="anthropic-thinking-exceeds-output",
    ),
    pytest.param(
        _with(GEMINI_BASIC["usageMetadata"], cachedContentTokenCount=9),
        r"Gemini usage is inconsistent: cachedContentTokenCount \(9\) exceeds promptTokenCount \(8\)",
        id="gemini-cached-exceeds-prompt",
    ),
    pytest.param(
        _with(GEMINI_SDK_SNAKE, prompt_token_count=100),
        r"cached_content_token_count \(4096\) exceeds prompt_token_count \(100\)",
        id="gemini-snake-cached-exceeds-prompt",
    ),
    pytest.param(
        _with(GEMINI_BASIC["usageMetadata"], thoughtsTokenCount=-1),
        "thoughtsTokenCount must be between",
        id="gemini-negative",
    ),
    pytest.param({"outputTokens": 5, "totalTokens": 5}, "inputTokens is missing or null", id="bedrock-missing-input"),
    pytest.param(
        _with(BEDROCK_DETAILS_ONLY["usage"], cacheDetails={"ttl": "5m"}),
        "cacheDetails must be a list, got dict",
        id="bedrock-cache-details-not-list",
    ),
    pytest.param(
        _with(CANONICAL, cache_write_tokens=500),
        r"canonical usage is inconsistent: cache reads \(600\) \+ cache writes \(500\) exceed input tokens \(1000\)",
        id="canonical-cache-exceeds-input",
    ),
    pytest.param(
        _with(CANONICAL, reasoning_tokens=201),
        r"reasoning tokens \(201\) exceed output tokens \(200\)",
        id="canonical-reasoning-exceeds-output",
    ),
    pytest.param(
        _with(CHAT, input_tokens=2006),
        "ambiguous usage object: it mixes OpenAI Chat Completions and input_tokens/output_tokens keys$",
        id="chat-mixed-with-input-tokens",
    ),
    pytest.param(
        {**GEMINI_BASIC["usageMetadata"], "prompt_token_count": 8},
        "mixes Gemini usageMetadata and Gemini usage_metadata keys$",
        id="gemini-camel-mixed-with-snake",
    ),
    pytest.param(
        {**BEDROCK_NO_CACHE["usage"], "cache_read_tokens": 5},
        "mixes Bedrock Converse and canonical keys$",
        id="bedrock-mixed-with-canonical",
    ),
]


@pytest.mark.parametrize(("usage", "message"), INVALID)
def test_rejects_unrecognised_or_inconsistent_usage(usage: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_usage(usage, provider="openai")
