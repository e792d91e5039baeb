"""Canonical provider names, so that "google", "Gemini" and LiteLLM's "gemini" price the same events."""

from __future__ import annotations

# Names clients commonly send → the provider key used in the price catalogue (LiteLLM's, simplified).
PROVIDER_ALIASES = {
    "google": "gemini",
    "google_ai": "gemini",
    "google-ai-studio": "gemini",
    "googleai": "gemini",
    "vertex": "vertex_ai",
    "vertexai": "vertex_ai",
    "google_vertex": "vertex_ai",
    "vertex_ai-language-models": "vertex_ai",
    "vertex_ai-anthropic_models": "vertex_ai",
    "vertex_ai-chat-models": "vertex_ai",
    "vertex_ai-text-models": "vertex_ai",
    "vertex_ai-embedding-models": "vertex_ai",
    "vertex_ai-mistral_models": "vertex_ai",
    "vertex_ai-llama_models": "vertex_ai",
    "vertex_ai-ai21_models": "vertex_ai",
    "aws": "bedrock",
    "aws_bedrock": "bedrock",
    "amazon_bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "mistralai": "mistral",
    "together": "together_ai",
    "fireworks": "fireworks_ai",
    "x-ai": "xai",
    "grok": "xai",
    "cohere_chat": "cohere",
    "text-completion-openai": "openai",
}


def canonical_provider(name: str) -> str:
    key = name.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


def canonical_model(provider: str, model: str) -> str:
    """Lower-case, without a leading "<provider>/" that some clients (LiteLLM users) send."""
    name = model.strip().lower()
    prefix, _, rest = name.partition("/")
    if rest and canonical_provider(prefix) == provider:
        return rest
    return name
