"""The agents' structured outputs (pydantic): what a model must return, and what the graph stores."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["analyst", "skeptic", "advocate", "synthesizer"]
Decision = Literal["keep", "drop"]
DEBATERS: tuple[Role, ...] = ("analyst", "skeptic", "advocate")


class VerdictReply(BaseModel):
    """What a debating agent's model returns. `monthly_savings` must be a figure a tool returned."""

    decision: Decision
    monthly_savings: float = Field(ge=0, description="USD/month this role stands behind: a tool's figure")
    confidence: float = Field(ge=0, le=1)
    points: list[str] = Field(default_factory=list, max_length=6, description="key points, one sentence each")


class Verdict(VerdictReply):
    """A stored verdict: the reply plus who gave it, in which round, and how (policy or model)."""

    role: Role
    round: int
    source: Literal["policy", "llm"] = "policy"
    tier: str | None = None
    fallback_reason: str | None = None  # why a model verdict was replaced by the policy's


class SynthesisReply(BaseModel):
    decision: Decision
    monthly_savings: float = Field(ge=0)
    confidence: float = Field(ge=0, le=1)
    description: str = Field(description="the final recommendation text; every number a tool's figure")
    caveats: list[str] = Field(default_factory=list, max_length=6)


class Synthesis(SynthesisReply):
    role: Role = "synthesizer"
    source: Literal["policy", "llm"] = "policy"
    tier: str | None = None
    fallback_reason: str | None = None


class Review(BaseModel):
    """The skeptic's checks of one candidate, every figure from a tool call it names."""

    claimed_monthly_savings: float
    reproduced: bool  # the detector, re-run over the same window, finds the same recommendation
    evidence_reproduced: bool  # every evidence query returns the same rows as stored
    reproduced_monthly_savings: float
    simulated_monthly_savings: float | None = None  # simulate_savings over the claimed slice (an upper bound)
    verified_monthly_savings: float
    affected_requests: int
    recent_cost: float  # the scope's cost in the last RECENT_DAYS of the window
    double_counted_with: str | None = None  # fingerprint of a better-ranked candidate claiming the same calls
    quality_risk: bool = False
    small_sample: bool = False
    queries: list[dict[str, object]] = Field(default_factory=list)
