"""A small model-quality registry: per-model, per-task-category quality scores (0-100) and model tiers.

Scores come from the optimization-engine seed's model registry (model-registry.ts, "December 2025"), mapped
from the seed's ids to our price catalogue's model names. Models the seed does not list are marked
ESTIMATE: their scores are extrapolated from the seed's entry for the model's predecessor in the same family
(the successor scored like or slightly above it) and are for ranking candidates, not for publishing.

Categories: chat, content, analysis, coding, reasoning, creative (the seed's task categories that have task
types). The 47 task types map to them as in the seed (TASK_CATEGORY).
"""

from __future__ import annotations

CATEGORIES = ("chat", "content", "analysis", "coding", "reasoning", "creative")

_TASKS_BY_CATEGORY = {
    "chat": "greeting faq clarification chitchat instruction_following roleplay customer_support information_lookup",
    "content": "summarization expansion translation rewriting paraphrasing formatting proofreading content_generation",
    "analysis": "sentiment classification entity_extraction comparison data_extraction pattern_recognition "
    "anomaly_detection clustering",
    "coding": "code_generation code_review debugging code_explanation refactoring test_generation documentation "
    "code_completion",
    "reasoning": "math logic planning decision_support problem_solving causal_reasoning hypothesis_generation",
    "creative": "copywriting story_generation brainstorming ideation poetry dialogue_writing marketing_copy "
    "creative_editing",
}
TASK_CATEGORY: dict[str, str] = {
    task: category for category, tasks in _TASKS_BY_CATEGORY.items() for task in tasks.split()
}

# Task types the seed's classifier defaults to the budget tier with at most medium quality requirements:
# the "simple" tasks a cheaper model of the family handles.
SIMPLE_TASKS: frozenset[str] = frozenset(
    {
        "greeting",
        "faq",
        "clarification",
        "chitchat",
        "information_lookup",
        "paraphrasing",
        "formatting",
        "proofreading",
        "sentiment",
        "classification",
        "entity_extraction",
        "data_extraction",
        "code_completion",
    }
)


def _scores(chat: int, content: int, analysis: int, coding: int, reasoning: int, creative: int) -> dict[str, int]:
    return dict(zip(CATEGORIES, (chat, content, analysis, coding, reasoning, creative), strict=True))


# model (catalogue name) -> (tier, scores). Tiers as in the seed: budget | mid | premium.
REGISTRY: dict[str, tuple[str, dict[str, int]]] = {
    # OpenAI (seed)
    "gpt-4o": ("mid", _scores(90, 88, 87, 85, 82, 88)),
    "gpt-4o-mini": ("budget", _scores(78, 75, 72, 70, 65, 73)),
    "gpt-4-turbo": ("mid", _scores(88, 86, 85, 84, 80, 86)),
    "gpt-4.1": ("mid", _scores(93, 91, 92, 91, 88, 91)),
    "gpt-5": ("premium", _scores(98, 97, 98, 97, 98, 97)),
    "gpt-5-mini": ("mid", _scores(92, 90, 91, 90, 88, 90)),
    "gpt-5-nano": ("budget", _scores(85, 83, 82, 80, 78, 82)),
    "o3": ("premium", _scores(88, 85, 96, 98, 99, 80)),
    "o4-mini": ("mid", _scores(85, 82, 92, 95, 96, 78)),
    # OpenAI (ESTIMATE: not in the seed; below gpt-4.1 as the BA's "workhorse"/"utility" tiers place them)
    "gpt-4.1-mini": ("budget", _scores(88, 86, 86, 85, 80, 85)),
    "gpt-4.1-nano": ("budget", _scores(80, 78, 78, 74, 70, 76)),
    # Anthropic (seed)
    "claude-3-5-haiku-20241022": ("budget", _scores(82, 80, 78, 80, 70, 78)),
    "claude-3-5-sonnet-20241022": ("mid", _scores(92, 90, 91, 93, 88, 90)),
    "claude-3-7-sonnet-20250219": ("mid", _scores(93, 92, 93, 94, 90, 92)),
    "claude-sonnet-4-20250514": ("mid", _scores(94, 93, 94, 95, 92, 93)),
    "claude-opus-4-20250514": ("premium", _scores(97, 96, 97, 98, 98, 97)),
    "claude-sonnet-4-5": ("mid", _scores(96, 95, 96, 97, 95, 95)),
    "claude-opus-4-5": ("premium", _scores(99, 98, 99, 99, 99, 98)),
    # Anthropic (ESTIMATE: from the seed's claude-sonnet-4.5 / claude-opus-4.5 / claude-haiku-4 entries)
    "claude-sonnet-4-6": ("mid", _scores(96, 95, 96, 97, 95, 95)),
    "claude-opus-4-6": ("premium", _scores(99, 98, 99, 99, 99, 98)),
    "claude-haiku-4-5": ("budget", _scores(90, 88, 87, 89, 84, 86)),
    # Google (seed)
    "gemini-2.5-pro": ("mid", _scores(92, 90, 92, 90, 90, 88)),
    "gemini-2.5-flash": ("budget", _scores(82, 80, 82, 78, 76, 78)),
    # Google (ESTIMATE: below gemini-2.5-flash, like the seed's gemini-1.5-flash vs 2.0-flash)
    "gemini-2.5-flash-lite": ("budget", _scores(76, 74, 75, 70, 66, 72)),
    # Mistral (seed)
    "mistral-large-latest": ("mid", _scores(86, 84, 85, 84, 80, 82)),
    "mistral-small-latest": ("budget", _scores(74, 72, 70, 72, 65, 70)),
}

# Embedding models (seed: embedding quality score) and their smaller same-provider alternative.
EMBEDDING_QUALITY: dict[str, int] = {
    "text-embedding-3-small": 85,
    "text-embedding-3-large": 95,
    "text-embedding-ada-002": 80,  # ESTIMATE: the predecessor of text-embedding-3-small
}

# Model -> its cheaper sibling in the same family and provider (the seed's downgrade map, on current models).
DOWNGRADE: dict[str, str] = {
    "gpt-4o": "gpt-4o-mini",
    "gpt-4-turbo": "gpt-4.1-mini",
    "gpt-4.1": "gpt-4.1-mini",
    "gpt-5": "gpt-5-mini",
    "gpt-5-mini": "gpt-5-nano",
    "o3": "o4-mini",
    "claude-3-5-sonnet-20241022": "claude-3-5-haiku-20241022",
    "claude-sonnet-4-5": "claude-haiku-4-5",
    "claude-sonnet-4-6": "claude-haiku-4-5",
    "claude-opus-4-5": "claude-sonnet-4-5",
    "claude-opus-4-6": "claude-sonnet-4-6",
    "gemini-2.5-pro": "gemini-2.5-flash",
    "mistral-large-latest": "mistral-small-latest",
}


def tier(model: str) -> str | None:
    entry = REGISTRY.get(model)
    return None if entry is None else entry[0]


def score(model: str, category: str) -> int | None:
    entry = REGISTRY.get(model)
    return None if entry is None else entry[1].get(category)


def quality_drop(model: str, alternative: str, category: str) -> int | None:
    """How many points `alternative` scores below `model` on `category` (None: either is unknown)."""
    current, other = score(model, category), score(alternative, category)
    return None if current is None or other is None else current - other


# Embedding model -> the smaller model of the same provider that serves the same retrieval use.
EMBEDDING_DOWNGRADE: dict[str, str] = {
    "text-embedding-3-large": "text-embedding-3-small",
    "text-embedding-ada-002": "text-embedding-3-small",
}

_FAMILY = {"gpt": "openai", "o1": "openai", "o3": "openai", "o4": "openai", "claude": "anthropic"}


def family(model: str) -> str:
    """The model maker (by name): alternatives are only proposed within one maker's family."""
    head = model.split("-", 1)[0]
    return _FAMILY.get(head, head)
