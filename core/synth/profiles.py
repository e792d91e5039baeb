"""The healthy shape of a synthetic org: task types, teams, people and the baseline features.

Every baseline feature is deliberately *not* waste: simple tasks run on budget models, premium models only
do reasoning or coding, every system prompt of 1,024+ tokens is served from the provider's prompt cache,
prompts do not repeat, scheduled work uses the batch API and every (provider, model) is the cheapest route
to a current, non-deprecated model of LiteLLM's cost map. Planted waste lives in the `waste_*` modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# The 47 task types of the optimization-engine seed and their task category: one table, kept with the
# quality registry (the synthetic orgs draw from the same task types the detectors score).
from core.detectors.waste.quality import TASK_CATEGORY


class Caching(StrEnum):
    """How a feature uses the provider's prompt cache for its system prompt."""

    none = "none"
    explicit = "explicit"  # Anthropic cache_control: a write (1.25x) after 5 idle minutes, else a read
    implicit = "implicit"  # OpenAI / Gemini automatic prefix caching: reads in 128-token blocks, no write


class Rhythm(StrEnum):
    """When a feature's traffic arrives."""

    office = "office"  # people at work: business-hours peak, quiet nights and weekends
    service = "service"  # customer-facing or event-driven: flatter day curve, softer weekends
    nightly = "nightly"  # scheduled jobs: 01:00-05:00 every day


@dataclass(frozen=True, slots=True)
class Tokens:
    """A lognormal token-count distribution: median, log-space sigma and hard bounds."""

    median: float
    sigma: float = 0.5
    low: int = 1
    high: int = 200_000


@dataclass(frozen=True, slots=True)
class FeatureProfile:
    """One feature's traffic: who calls which model for what, how often, and with what token shape."""

    feature: str
    team: str
    project: str
    task_type: str
    provider: str
    model: str
    daily_rate: float  # calls per day at scale 1.0 (weekly average)
    input: Tokens  # the request-specific part of the prompt; the system prompt comes on top
    output: Tokens  # visible output; reasoning tokens come on top
    system_prompt_tokens: int = 0
    caching: Caching = Caching.none
    rhythm: Rhythm = Rhythm.office
    endpoint: str = "chat"
    streaming: bool = False
    max_tokens: int | None = None
    reasoning_ratio: float = 0.0  # reasoning tokens per visible output token
    users: str | None = "team"  # "team" (employees), "customers" or None (a service account)
    batch: bool = False
    environment: str | None = None  # fixed environment; None = the production/staging/development mix
    embedding_dimensions: int | None = None
    error_rate: float = 0.006
    cancel_rate: float = 0.0  # streams the user stops early (little output billed)
    steps: tuple[int, int] = (1, 1)  # calls per trace (agent steps, conversation turns)
    step_growth: int = 0  # input tokens the context grows by per step
    step_pause: tuple[float, float] = (0.5, 6.0)  # seconds between a step's answer and the next step (tools, people)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return TASK_CATEGORY[self.task_type]


# Team -> (projects, number of employees calling LLM features).
TEAMS: dict[str, tuple[tuple[str, ...], int]] = {
    "support": (("helpdesk", "self-service"), 24),
    "growth": (("campaigns", "web"), 14),
    "engineering": (("devtools", "platform"), 60),
    "data": (("knowledge", "pipelines"), 12),
    "product": (("insights",), 18),
    "sales": (("crm",), 20),
    "finance": (("reporting",), 6),
    "legal": (("contracts",), 5),
}
CUSTOMERS = 4_000  # end users of the customer-facing features

# Interactive traffic is split over environments like this.
ENVIRONMENT_MIX: tuple[tuple[str, float], ...] = (("production", 0.9), ("staging", 0.07), ("development", 0.03))


# fmt: off
BASELINE: tuple[FeatureProfile, ...] = (
    # support: customer-facing chat with a large, cached system prompt; cheap models for simple tasks
    FeatureProfile("support-bot", "support", "helpdesk", "customer_support", "anthropic", "claude-sonnet-4-6",
        daily_rate=500, input=Tokens(900, 0.6, 40, 20_000), output=Tokens(220, 0.5, 60, 900),
        system_prompt_tokens=3_200, caching=Caching.explicit, rhythm=Rhythm.service, streaming=True,
        max_tokens=1_024, users="customers", cancel_rate=0.002),
    FeatureProfile("ticket-triage", "support", "helpdesk", "classification", "openai", "gpt-5-nano",
        daily_rate=250, input=Tokens(600, 0.5, 60, 6_000), output=Tokens(6, 0.3, 1, 20),
        system_prompt_tokens=450, rhythm=Rhythm.service, max_tokens=512, reasoning_ratio=4.0, users=None),
    FeatureProfile("faq-assistant", "support", "self-service", "faq", "gemini", "gemini-2.5-flash",
        daily_rate=250, input=Tokens(350, 0.5, 10, 4_000), output=Tokens(180, 0.5, 60, 800),
        system_prompt_tokens=900, rhythm=Rhythm.service, streaming=True, max_tokens=1_024,
        users="customers", cancel_rate=0.002),
    FeatureProfile("sentiment-monitor", "support", "helpdesk", "sentiment", "gemini", "gemini-2.5-flash-lite",
        daily_rate=150, input=Tokens(400, 0.6, 20, 6_000), output=Tokens(4, 0.2, 1, 10),
        system_prompt_tokens=200, rhythm=Rhythm.service, max_tokens=16, users=None),
    # growth: marketing content on mid-tier models
    FeatureProfile("marketing-copy", "growth", "campaigns", "marketing_copy", "openai", "gpt-4.1",
        daily_rate=160, input=Tokens(450, 0.5, 50, 4_000), output=Tokens(420, 0.5, 80, 1_800),
        system_prompt_tokens=700, max_tokens=2_048),
    FeatureProfile("email-personalizer", "growth", "campaigns", "rewriting", "openai", "gpt-4.1-mini",
        daily_rate=200, input=Tokens(600, 0.5, 80, 5_000), output=Tokens(250, 0.4, 60, 900),
        system_prompt_tokens=500, rhythm=Rhythm.service, max_tokens=1_024, users=None),
    FeatureProfile("seo-summaries", "growth", "web", "summarization", "gemini", "gemini-2.5-flash",
        daily_rate=100, input=Tokens(3_000, 0.6, 300, 40_000), output=Tokens(250, 0.4, 60, 900),
        system_prompt_tokens=350, max_tokens=1_024),
    # engineering: coding on strong models with cached repository context
    FeatureProfile("code-review", "engineering", "devtools", "code_review", "anthropic", "claude-sonnet-4-6",
        daily_rate=250, input=Tokens(9_000, 0.7, 500, 120_000), output=Tokens(700, 0.5, 80, 3_500),
        system_prompt_tokens=2_400, caching=Caching.explicit, max_tokens=4_096),
    FeatureProfile("code-assist", "engineering", "devtools", "code_generation", "openai", "gpt-5-mini",
        daily_rate=350, input=Tokens(2_000, 0.6, 100, 30_000), output=Tokens(220, 0.6, 20, 2_000),
        system_prompt_tokens=1_300, caching=Caching.implicit, streaming=True, max_tokens=4_096,
        reasoning_ratio=0.6, cancel_rate=0.002),
    FeatureProfile("test-writer", "engineering", "platform", "test_generation", "anthropic", "claude-sonnet-4-6",
        daily_rate=110, input=Tokens(4_000, 0.6, 300, 60_000), output=Tokens(1_200, 0.5, 150, 6_000),
        system_prompt_tokens=1_500, caching=Caching.explicit, max_tokens=8_192),
    FeatureProfile("incident-debugger", "engineering", "platform", "debugging", "openai", "o3",
        daily_rate=35, input=Tokens(6_000, 0.7, 300, 80_000), output=Tokens(700, 0.5, 100, 4_000),
        system_prompt_tokens=900, max_tokens=16_384, reasoning_ratio=1.5),
    # data: retrieval, extraction, embeddings and a batch job that already uses the batch API
    FeatureProfile("knowledge-search", "data", "knowledge", "information_lookup", "openai", "gpt-4.1-mini",
        daily_rate=300, input=Tokens(4_000, 0.5, 300, 30_000), output=Tokens(320, 0.5, 40, 1_500),
        system_prompt_tokens=1_600, caching=Caching.implicit, streaming=True, max_tokens=2_048,
        cancel_rate=0.002),
    FeatureProfile("doc-indexer", "data", "knowledge", "information_lookup", "openai", "text-embedding-3-small",
        daily_rate=250, input=Tokens(6_000, 0.8, 50, 250_000), output=Tokens(0, 0.0, 0, 0),
        endpoint="embeddings", rhythm=Rhythm.service, users=None, embedding_dimensions=1_536, error_rate=0.003),
    FeatureProfile("invoice-extraction", "data", "pipelines", "data_extraction", "gemini", "gemini-2.5-flash",
        daily_rate=180, input=Tokens(2_500, 0.5, 200, 30_000), output=Tokens(300, 0.4, 40, 1_500),
        system_prompt_tokens=1_200, caching=Caching.implicit, rhythm=Rhythm.service, max_tokens=2_048,
        users="customers"),
    FeatureProfile("nightly-enrichment", "data", "pipelines", "entity_extraction", "openai", "gpt-4.1-mini",
        daily_rate=200, input=Tokens(1_500, 0.5, 100, 12_000), output=Tokens(200, 0.4, 20, 800),
        system_prompt_tokens=600, rhythm=Rhythm.nightly, max_tokens=1_024, users=None, batch=True,
        environment="batch"),
    # product: premium models only where the task needs reasoning; an agent with multi-step traces
    FeatureProfile("planning-copilot", "product", "insights", "planning", "openai", "gpt-5",
        daily_rate=80, input=Tokens(3_000, 0.6, 200, 40_000), output=Tokens(900, 0.5, 100, 4_000),
        system_prompt_tokens=800, max_tokens=16_000, reasoning_ratio=1.0, streaming=True),
    FeatureProfile("translate", "product", "insights", "translation", "mistral", "mistral-large-latest",
        daily_rate=150, input=Tokens(800, 0.6, 30, 8_000), output=Tokens(850, 0.6, 30, 8_000),
        system_prompt_tokens=300, rhythm=Rhythm.service, max_tokens=8_192, users="customers"),
    FeatureProfile("research-agent", "product", "insights", "problem_solving", "anthropic", "claude-sonnet-4-6",
        daily_rate=200, input=Tokens(3_000, 0.5, 300, 20_000), output=Tokens(350, 0.5, 40, 2_000),
        system_prompt_tokens=2_000, caching=Caching.explicit, max_tokens=4_096, steps=(2, 7),
        step_growth=2_500),
    FeatureProfile("exec-briefing", "product", "insights", "decision_support", "anthropic", "claude-opus-4-6",
        daily_rate=25, input=Tokens(5_000, 0.5, 500, 40_000), output=Tokens(900, 0.4, 200, 3_000),
        system_prompt_tokens=800, max_tokens=4_096),
)
# fmt: on

# Typical speed per model: (time to first token at a short prompt in ms, ms per output token).
MODEL_SPEED: dict[str, tuple[float, float]] = {
    "gpt-4.1": (450, 11.0),
    "gpt-4.1-mini": (320, 6.5),
    "gpt-4-turbo": (700, 24.0),
    "gpt-4o": (420, 9.0),
    "gpt-5": (900, 9.0),
    "gpt-5-mini": (550, 6.0),
    "gpt-5-nano": (400, 4.0),
    "o3": (1_400, 10.0),
    "claude-sonnet-4-6": (650, 14.0),
    "claude-haiku-4-5": (380, 6.0),
    "claude-opus-4-6": (950, 22.0),
    "gemini-2.5-flash": (380, 4.0),
    "gemini-2.5-flash-lite": (260, 2.5),
    "gemini-2.5-pro": (850, 8.5),
    "mistral-large-latest": (420, 11.0),
    "deepseek-v3.2": (700, 16.0),
    "text-embedding-3-small": (110, 0.0),
    "text-embedding-3-large": (160, 0.0),
}
DEFAULT_SPEED = (500.0, 10.0)
