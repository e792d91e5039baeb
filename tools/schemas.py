"""The argument schemas of the LangChain tools (tools/registry.py): what a model may pass, validated by pydantic
before any query runs. Times are RFC 3339; a time without an offset is UTC; periods are half-open [start, end)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.detectors.drivers import ALLOWED, DEFAULT_DIMENSIONS
from core.usage.queries import DIMENSIONS
from tools.savings import SCOPE_KEYS


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Time = Annotated[datetime, AfterValidator(_utc)]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Period(_Args):
    start: Time = Field(description="start of the period, RFC 3339 (UTC when no offset), inclusive")
    end: Time = Field(description="end of the period, exclusive")

    @model_validator(mode="after")
    def _ordered(self) -> _Period:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RunSqlArgs(_Args):
    sql: str = Field(min_length=1, max_length=20_000, description="one PostgreSQL SELECT over the documented views")


class CostsArgs(_Period):
    group_by: list[str] = Field(default_factory=list, max_length=4,
                                description=f"dimensions to group by, among: {', '.join(DIMENSIONS)}")  # fmt: skip
    filters: dict[str, str] = Field(default_factory=dict,
                                    description="dimension → exact value, e.g. {\"team\": \"search\"}")  # fmt: skip
    limit: int = Field(default=50, ge=1, le=500, description="at most this many rows (largest cost first)")


class ComparePeriodsArgs(_Args):
    current_start: Time = Field(description="start of the period to explain")
    current_end: Time = Field(description="end of the period to explain, exclusive")
    baseline_start: Time = Field(description="start of the period to compare with")
    baseline_end: Time = Field(description="end of the period to compare with, exclusive")
    dimensions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DIMENSIONS), min_length=1, max_length=6,
        description=f"dimensions to split the change by, among: {', '.join(ALLOWED)}",
    )  # fmt: skip

    @model_validator(mode="after")
    def _ordered(self) -> ComparePeriodsArgs:
        if self.current_end <= self.current_start or self.baseline_end <= self.baseline_start:
            raise ValueError("each period's end must be after its start")
        return self


class SimulateSavingsArgs(_Period):
    scope: dict[str, str | None] = Field(default_factory=dict, description=(
        f"the slice of calls to reprice: keys among {', '.join(SCOPE_KEYS)}; a value selects it, null selects "
        "calls where it is empty, a missing key selects any"))  # fmt: skip
    target_model: str | None = Field(default=None, description="reprice on this model (default: the calls' own)")
    target_provider: str | None = Field(default=None, description="reprice at this provider (default: their own)")
    batch: bool = Field(default=False, description="reprice at batch-API prices")
    cache: bool = Field(default=False, description="reprice with prompt caching of the system prompt")


class FindAnomaliesArgs(_Args):
    as_of: Time = Field(description="end of the analysis window")
    window_days: int = Field(default=30, ge=1, le=366, description="length of the window in days")


class ListAnomaliesArgs(_Period):
    pass


class ListFindingsArgs(_Period):
    types: list[str] | None = Field(default=None, description="only these recommendation types (default: all)")


class PricingArgs(_Args):
    provider: str = Field(min_length=1, description="e.g. openai, anthropic, gemini")
    model: str = Field(min_length=1, description="the model name as billed, e.g. gpt-4o-mini")
    at: Time | None = Field(default=None, description="the moment the price was in force (default now)")
