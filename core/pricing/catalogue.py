"""Building the price catalogue: LiteLLM's bundled cost map (never fetched) plus a curated file of
models that left the map. Each sync adds a version only where a price changed, so history keeps its prices."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.pricing.models import PRICE_FIELDS, Price
from core.pricing.providers import canonical_model, canonical_provider

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRICED_MODES = {"chat", "completion", "responses", "embedding"}
CURATED_FILE = Path(__file__).parent / "data" / "curated_prices.json"
_LONG_CONTEXT_KEY = re.compile(r"^input_cost_per_token_above_(\d+)(k?)_tokens$")

# Our rate name → LiteLLM key (per token). Long-context keys are filled in per threshold below.
_LITELLM_KEYS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "reasoning": "output_cost_per_reasoning_token",
}


@dataclass(frozen=True)
class PriceSpec:
    """One price version before it is stored. Rates are USD per 1M tokens."""

    provider: str
    model: str
    effective_from: datetime
    source: str
    rates: dict[str, Decimal | None]
    mode: str = "chat"
    long_context_threshold: int | None = None
    note: str | None = None
    key: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.provider, self.model))

    def same_prices(self, row: Price) -> bool:
        return self.long_context_threshold == row.long_context_threshold and all(
            _eq(self.rates.get(name), getattr(row, name)) for name in PRICE_FIELDS
        )


_STORED_PLACES = Decimal("1e-10")  # price columns are NUMERIC(20, 10)


def _eq(a: Decimal | None, b: Decimal | None) -> bool:
    """Equal as stored: a rate with more decimals than the column keeps is compared after rounding."""
    if a is None or b is None:
        return a is None and b is None
    return a.quantize(_STORED_PLACES) == b.quantize(_STORED_PLACES)


def per_million(per_token: Any) -> Decimal | None:
    """LiteLLM's per-token float → exact USD per 1M tokens (via its shortest repr, so 3e-06 → 3)."""
    if per_token is None or isinstance(per_token, bool) or not isinstance(per_token, int | float | str):
        return None
    return (Decimal(repr(per_token) if isinstance(per_token, float) else str(per_token)) * 1_000_000).normalize()


def litellm_cost_map_path() -> Path:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        raise RuntimeError("litellm is not installed")
    return Path(spec.origin).parent / "model_prices_and_context_window_backup.json"


@lru_cache(maxsize=1)
def litellm_cost_map() -> dict[str, Any]:
    """The cost map bundled with the installed LiteLLM: read as a file, so litellm is not imported."""
    data: dict[str, Any] = json.loads(litellm_cost_map_path().read_text())
    data.pop("sample_spec", None)
    return data


def _long_context(entry: dict[str, Any]) -> tuple[int | None, dict[str, Decimal | None]]:
    for key in entry:
        match = _LONG_CONTEXT_KEY.match(key)
        if match:
            size = match.group(1) + match.group(2)
            threshold = int(match.group(1)) * (1000 if match.group(2) else 1)
            tier = f"_above_{size}_tokens"
            return threshold, {
                "long_context_input": per_million(entry.get(f"input_cost_per_token{tier}")),
                "long_context_output": per_million(entry.get(f"output_cost_per_token{tier}")),
                "long_context_cache_read": per_million(entry.get(f"cache_read_input_token_cost{tier}")),
                "long_context_cache_write": per_million(entry.get(f"cache_creation_input_token_cost{tier}")),
                "long_context_batch_input": per_million(entry.get(f"input_cost_per_token{tier}_batches")),
                "long_context_batch_output": per_million(entry.get(f"output_cost_per_token{tier}_batches")),
            }
    return None, {}


def _batch_rates(entry: dict[str, Any], rates: dict[str, Decimal | None]) -> dict[str, Decimal | None]:
    """Batch rates as LiteLLM's batch cost calculator applies them: the published batch rate, else half price."""
    batch_input = per_million(entry.get("input_cost_per_token_batches"))
    batch_output = per_million(entry.get("output_cost_per_token_batches"))
    half = Decimal("0.5")
    output = rates["output"]
    result: dict[str, Decimal | None] = {
        "batch_output": batch_output if batch_output is not None else (output * half if output is not None else None)
    }
    if batch_input is not None:
        # Cached tokens with no batch cache rate are billed as batch input (SQL falls back to it).
        result["batch_input"] = batch_input
        result["batch_cache_read"] = per_million(entry.get("cache_read_input_token_cost_batches"))
        result["batch_cache_write"] = per_million(entry.get("cache_creation_input_token_cost_batches"))
        return result
    input_rate = rates["input"]
    assert input_rate is not None
    result["batch_input"] = input_rate * half
    result["batch_cache_read"] = rates["cache_read"] * half if rates["cache_read"] is not None else None
    result["batch_cache_write"] = (rates["cache_write"] or input_rate) * half
    return result


def spec_from_litellm(key: str, entry: dict[str, Any]) -> PriceSpec | None:
    """One LiteLLM map entry → a PriceSpec, or None when it is not a token-priced text/embedding model."""
    if entry.get("mode") not in PRICED_MODES or entry.get("input_cost_per_token") is None:
        return None
    provider = canonical_provider(str(entry.get("litellm_provider") or key.partition("/")[0]))
    rates = {name: per_million(entry.get(litellm_key)) for name, litellm_key in _LITELLM_KEYS.items()}
    rates["output"] = rates["output"] or Decimal(0)
    rates.update(_batch_rates(entry, rates))
    threshold, long_rates = _long_context(entry)
    rates.update(long_rates)
    return PriceSpec(
        provider=provider,
        model=canonical_model(provider, key),
        effective_from=EPOCH,
        source="litellm",
        rates=rates,
        mode="embedding" if entry.get("mode") == "embedding" else "chat",
        long_context_threshold=threshold,
    )


def litellm_specs(cost_map: dict[str, Any] | None = None) -> list[PriceSpec]:
    """Every priced model of the map, one spec per (provider, model); a bare key wins over a prefixed one."""
    chosen: dict[tuple[str, str], tuple[bool, PriceSpec]] = {}
    for key, entry in (cost_map if cost_map is not None else litellm_cost_map()).items():
        if not isinstance(entry, dict):
            continue
        spec = spec_from_litellm(key, entry)
        if spec is None:
            continue
        bare = "/" not in key
        if spec.key not in chosen or (bare and not chosen[spec.key][0]):
            chosen[spec.key] = (bare, spec)
    return [spec for _, spec in chosen.values()]


@lru_cache(maxsize=1)
def _curated() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CURATED_FILE.read_text())
    return data


def curated_specs() -> list[PriceSpec]:
    specs = []
    for row in _curated()["prices"]:
        provider = canonical_provider(row["provider"])
        specs.append(
            PriceSpec(
                provider=provider,
                model=canonical_model(provider, row["model"]),
                effective_from=datetime.fromisoformat(row["effective_from"]).replace(tzinfo=UTC),
                source="curated",
                rates={name: Decimal(row[name]) if name in row else None for name in PRICE_FIELDS},
                mode=row.get("mode", "chat"),
                long_context_threshold=row.get("long_context_threshold"),
            )
        )
    return specs


def model_aliases() -> dict[tuple[str, str], tuple[str, str]]:
    """(provider, model) names clients send → the catalogue entry that prices them."""
    aliases = {}
    for source, target in _curated()["aliases"].items():
        src_provider, _, src_model = source.partition("/")
        dst_provider, _, dst_model = target.partition("/")
        aliases[(src_provider, src_model)] = (dst_provider, dst_model)
    return aliases


def price_row(spec: PriceSpec, *, organization_id: Any = None) -> Price:
    return Price(
        organization_id=organization_id,
        provider=spec.provider,
        model=spec.model,
        effective_from=spec.effective_from,
        mode=spec.mode,
        source=spec.source,
        long_context_threshold=spec.long_context_threshold,
        note=spec.note,
        **{name: spec.rates.get(name) for name in PRICE_FIELDS},
    )


def _latest_global(session: Session) -> dict[tuple[str, str], Price]:
    rows = session.scalars(select(Price).where(Price.organization_id.is_(None)).order_by(Price.effective_from)).all()
    return {(row.provider, row.model): row for row in rows}


def new_versions(
    specs: Iterable[PriceSpec], latest: dict[tuple[str, str], Price], now: datetime
) -> Iterator[PriceSpec]:
    """The specs that change the catalogue: unseen models from their own date, changed prices from now on."""
    for spec in specs:
        current = latest.get(spec.key)
        if current is None:
            yield spec
        elif spec.source == "litellm" and not spec.same_prices(current) and current.source == "litellm":
            yield PriceSpec(
                provider=spec.provider,
                model=spec.model,
                effective_from=now,
                source=spec.source,
                rates=spec.rates,
                mode=spec.mode,
                long_context_threshold=spec.long_context_threshold,
                note="price change found by catalogue sync",
            )


def sync_catalogue(session: Session, *, now: datetime | None = None) -> int:
    """Add LiteLLM's and the curated prices to the catalogue; returns the number of versions added.

    Curated rows are explicit versions, added once each. A LiteLLM model gets a new version only when its
    price changed since the last sync (effective from now). Models that left LiteLLM's map are never
    touched: their stored prices stay valid for their period. A manually set global price is not overridden.
    """
    existing = set(
        session.execute(
            select(Price.provider, Price.model, Price.effective_from).where(Price.organization_id.is_(None))
        ).all()
    )
    curated = curated_specs()
    added = [spec for spec in curated if (*spec.key, spec.effective_from) not in existing]
    curated_keys = {spec.key for spec in curated}
    litellm = [spec for spec in litellm_specs() if spec.key not in curated_keys]
    added += new_versions(litellm, _latest_global(session), now or datetime.now(UTC))
    session.add_all(price_row(spec) for spec in added)
    session.flush()
    return len(added)
