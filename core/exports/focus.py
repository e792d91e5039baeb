"""FinOps FOCUS (1.2) cost and usage export of stored LLM usage, streamed as CSV.

One row per UTC day (clipped to the requested period) × provider × model × team × project × feature ×
user × environment, from the same SQL as the costs API (core/usage/queries.py), so the export's BilledCost
sums to the costs API's total to the last stored digit. Columns follow the FOCUS 1.2 column set; ones
TokenTRA has no data for (regions, commitment discounts, capacity reservations, invoice ids) are present
and empty, as the spec allows for nullable columns.

- BilledCost = EffectiveCost = ListCost = ContractedCost: TokenTRA prices every call from the effective
  price catalogue (or the org's own override); it records no discounts, credits or commitments.
- ConsumedQuantity / PricingQuantity: tokens (input + output, cache reads are part of input), ConsumedUnit
  and PricingUnit "Tokens". ServiceCategory "AI and Machine Learning", ServiceSubcategory "Generative AI".
- SkuId = model; SubAccountId/SubAccountName = team; Tags = JSON of project, feature, user_id, environment.
- Unpriced requests (a model without a price) are never shown as a silent $0: their rows carry
  x_UnpricedRequests > 0, `"tokentra_cost_status": "unpriced"` in Tags and say so in ChargeDescription.
- x_ columns (FOCUS custom-column prefix): x_Requests, x_InputTokens, x_OutputTokens, x_CacheReadTokens,
  x_CacheWriteTokens, x_ReasoningTokens, x_UnpricedRequests.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, text

from core.usage.queries import CostQuery, build_sql

FOCUS_VERSION = "1.2"
GROUP_BY = ("provider", "model", "team", "project", "feature", "user_id", "environment")
COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId", "CapacityReservationStatus",
    "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
    "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountQuantity", "CommitmentDiscountStatus", "CommitmentDiscountType", "CommitmentDiscountUnit",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingCurrency",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId",
    "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId",
    "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
    "x_Requests", "x_InputTokens", "x_OutputTokens", "x_CacheReadTokens", "x_CacheWriteTokens",
    "x_ReasoningTokens", "x_UnpricedRequests",
)  # fmt: skip
PROVIDER_NAMES = {
    "openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google", "vertex_ai": "Google Cloud",
    "bedrock": "Amazon Web Services", "azure": "Microsoft", "azure_ai": "Microsoft", "mistral": "Mistral AI",
    "deepseek": "DeepSeek", "xai": "xAI", "groq": "Groq", "cohere": "Cohere", "together_ai": "Together AI",
    "fireworks_ai": "Fireworks AI", "perplexity": "Perplexity", "openrouter": "OpenRouter",
}  # fmt: skip
SERVICE_NAMES = {
    "openai": "OpenAI API", "anthropic": "Claude API", "gemini": "Gemini API", "vertex_ai": "Vertex AI",
    "bedrock": "Amazon Bedrock", "azure": "Azure OpenAI Service", "azure_ai": "Azure AI Foundry",
}  # fmt: skip
_PLACES = Decimal("1e-10")


def focus_query(*, org_id: uuid.UUID, start: datetime, end: datetime,
                filters: dict[str, str] | None = None) -> tuple[CostQuery, str, dict[str, Any]]:  # fmt: skip
    """The costs query behind the export (raw events: user_id is not rolled up), its SQL and parameters."""
    query = CostQuery(org_id=org_id, start=start, end=end, group_by=GROUP_BY, granularity="day",
                      filters=dict(filters or {}))  # fmt: skip
    sql, params = build_sql(query)
    return query, sql, params


def _month(moment: datetime) -> tuple[datetime, datetime]:
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: Decimal | None) -> str:
    return format((value or Decimal(0)).quantize(_PLACES), "f")


def focus_row(row: Any, *, query: CostQuery, org_id: uuid.UUID, org_name: str) -> dict[str, Any]:
    """One grouped SQL row → the FOCUS columns."""
    day = datetime.strptime(row["day"], "%Y-%m-%d").replace(tzinfo=UTC)
    charge_start, charge_end = max(day, query.start), min(day + timedelta(days=1), query.end)
    billing_start, billing_end = _month(day)
    provider, model = row["provider"] or "unknown", row["model"] or "unknown"
    tokens = int(row["input_tokens"] or 0) + int(row["output_tokens"] or 0)
    unpriced, requests = int(row["unpriced_requests"] or 0), int(row["requests"] or 0)
    tags = {name: row[name] for name in ("project", "feature", "user_id", "environment") if row[name]}
    description = f"{model} tokens ({requests} requests)"
    if unpriced:
        tags["tokentra_cost_status"] = "unpriced" if unpriced == requests else "partly_unpriced"
        description += f"; {unpriced} unpriced (no price for this model yet: not included in the cost)"
    cost = _money(row["cost"])
    publisher = PROVIDER_NAMES.get(provider, provider)
    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update({
        "BilledCost": cost, "EffectiveCost": cost, "ListCost": cost, "ContractedCost": cost,
        "BillingAccountId": str(org_id), "BillingAccountName": org_name, "BillingAccountType": "Organization",
        "BillingCurrency": "USD", "PricingCurrency": "USD",
        "BillingPeriodStart": _time(billing_start), "BillingPeriodEnd": _time(billing_end),
        "ChargePeriodStart": _time(charge_start), "ChargePeriodEnd": _time(charge_end),
        "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "ChargeDescription": description,
        "ConsumedQuantity": tokens, "ConsumedUnit": "Tokens", "PricingQuantity": tokens, "PricingUnit": "Tokens",
        "PricingCategory": "Standard", "ProviderName": publisher, "PublisherName": publisher,
        "InvoiceIssuerName": publisher, "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI", "ServiceName": SERVICE_NAMES.get(provider, f"{publisher} API"),
        "SkuId": model, "SkuMeter": "Tokens", "SubAccountId": row["team"], "SubAccountName": row["team"],
        "SubAccountType": "Team" if row["team"] else None, "Tags": orjson.dumps(tags).decode(),
        "x_Requests": requests, "x_InputTokens": row["input_tokens"], "x_OutputTokens": row["output_tokens"],
        "x_CacheReadTokens": row["cache_read_tokens"], "x_CacheWriteTokens": row["cache_write_tokens"],
        "x_ReasoningTokens": row["reasoning_tokens"], "x_UnpricedRequests": unpriced,
    })  # fmt: skip
    return values


def org_name(conn: Connection, org_id: uuid.UUID) -> str:
    name = conn.execute(text("SELECT coalesce(name, slug) FROM organizations WHERE id = :id"), {"id": org_id})
    return str(name.scalar() or org_id)


def focus_rows(
    conn: Connection, *, org_id: uuid.UUID, start: datetime, end: datetime, filters: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """The export's rows, streamed from a server-side cursor (constant memory at any size)."""
    query, sql, params = focus_query(org_id=org_id, start=start, end=end, filters=filters)
    name = org_name(conn, org_id)
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(text(sql), params)
    for row in result.mappings():
        yield focus_row(row, query=query, org_id=org_id, org_name=name)


def csv_chunks(rows: Iterator[dict[str, Any]], columns: tuple[str, ...], *, chunk: int = 500) -> Iterator[bytes]:
    """Rows as CSV (header first), in chunks of encoded bytes for a streamed response."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % chunk == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
