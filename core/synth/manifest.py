"""The ground truth of a synthetic org: what was planted where, and what fixing it saves at list prices.

Pricing is the database's job, so a waste item carries, for every wasteful call, its token counts as billed
and as they would have been billed without the waste (the counterfactual, or nothing when the call would not
have happened). `expected_savings` prices both with a caller-supplied `PriceFn`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from core.errors import NotFound
from core.synth.records import SynthEvent, epoch_rfc3339, rfc3339, to_datetime
from core.synth.timeline import Window

PriceFn = Callable[[dict[str, Any]], Decimal | None]
"""Prices one event dict (the fields of a usage event) at list prices; None when the model has no price."""

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
PRICING_FIELDS = ("provider", "model", "endpoint", "batch", "embedding_dimensions")
TokenRow = tuple[int, int, int, int, int]


def token_row(event: SynthEvent) -> TokenRow:
    return (
        event.input_tokens,
        event.output_tokens,
        event.cache_read_tokens,
        event.cache_write_tokens,
        event.reasoning_tokens,
    )


@dataclass(frozen=True, slots=True)
class SavingsLine:
    """One wasteful call: its tokens as billed and without the waste (None: the call is not needed)."""

    request_id: str
    ts: float
    actual: TokenRow
    counterfactual: TokenRow | None


@dataclass(frozen=True)
class SavingsBasis:
    """Everything a list-price calculator needs to state one waste item's savings."""

    formula: str  # one line, written by the planter of the kind
    template: dict[str, Any]  # pricing fields (provider, model, endpoint, batch …) of the calls as billed
    counterfactual_template: dict[str, Any]  # the same after the fix (another model, provider, batch=True …)
    lines: list[SavingsLine]

    @classmethod
    def of(
        cls,
        formula: str,
        events: Sequence[SynthEvent],
        counterfactual: Callable[[SynthEvent], TokenRow | None],
        **changes: Any,
    ) -> SavingsBasis:
        """The basis over `events` (which must share their pricing fields); `changes` alter the template."""
        templates = {tuple(getattr(e, name) for name in PRICING_FIELDS) for e in events}
        if len(templates) > 1:
            raise ValueError(f"savings lines must share provider/model/endpoint/batch, got {sorted(templates)}")
        values = templates.pop() if templates else (None,) * len(PRICING_FIELDS)
        template = {k: v for k, v in zip(PRICING_FIELDS, values, strict=True) if v is not None}
        lines = [SavingsLine(e.request_id, e.ts, token_row(e), counterfactual(e)) for e in events]
        return cls(formula, template, {**template, **changes}, lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "formula": self.formula,
            "template": self.template,
            "counterfactual_template": self.counterfactual_template,
            "columns": ["request_id", "timestamp", list(TOKEN_FIELDS), "counterfactual (null: no call)"],
            "lines": [
                [line.request_id, epoch_rfc3339(line.ts), list(line.actual), _list_or_none(line.counterfactual)]
                for line in self.lines
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SavingsBasis:
        lines = [
            SavingsLine(rid, datetime.fromisoformat(ts).timestamp(), _row(actual), None if cf is None else _row(cf))
            for rid, ts, actual, cf in data["lines"]
        ]
        return cls(data["formula"], dict(data["template"]), dict(data["counterfactual_template"]), lines)


def _row(values: Sequence[int]) -> TokenRow:
    a, b, c, d, e = (int(v) for v in values)
    return (a, b, c, d, e)


def _list_or_none(row: TokenRow | None) -> list[int] | None:
    return None if row is None else list(row)


def _window_dict(window: Window) -> dict[str, str]:
    return {"start": rfc3339(window.start), "end": rfc3339(window.end)}


def _window_of(data: Mapping[str, str]) -> Window:
    return Window(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]))


@dataclass
class WasteItem:
    """One planted waste pattern, named by its recommendation type (CONTRACT section 6).

    `affected_request_ids` are the calls that show the pattern (for caching, duplicates and drafts: the
    redundant calls; for retry storms and rate limits: every attempt of the affected traces); `savings.lines`
    are the calls whose cost the fix changes.
    """

    kind: str
    category: str
    title: str
    scope: dict[str, str]
    window: Window
    affected_request_ids: list[str]
    details: dict[str, Any]
    savings: SavingsBasis
    planted_events: int = 0  # every event the planter added (the feature's healthy calls included)

    @property
    def affected_requests(self) -> int:
        return len(self.affected_request_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "category": self.category,
            "title": self.title,
            "scope": self.scope,
            "window": _window_dict(self.window),
            "window_days": self.window.days,
            "affected_requests": self.affected_requests,
            "sample_request_ids": self.affected_request_ids[:10],
            "affected_request_ids": self.affected_request_ids,
            "planted_events": self.planted_events,
            "details": self.details,
            "savings": self.savings.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WasteItem:
        return cls(
            kind=data["kind"],
            category=data["category"],
            title=data["title"],
            scope=dict(data["scope"]),
            window=_window_of(data["window"]),
            affected_request_ids=list(data["affected_request_ids"]),
            details=dict(data["details"]),
            savings=SavingsBasis.from_dict(data["savings"]),
            planted_events=int(data.get("planted_events", 0)),
        )


@dataclass
class AnomalyItem:
    """One planted anomaly with the drivers a good explanation names (top driver first)."""

    type: str  # spending_spike | level_shift | error_rate
    metric: str  # cost | error_rate
    title: str
    window: Window
    scope: dict[str, str]
    drivers: list[dict[str, str]]  # [{"dimension", "value"}], the expected top driver first
    affected_request_ids: list[str]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_top_driver(self) -> dict[str, str]:
        return self.drivers[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "metric": self.metric,
            "title": self.title,
            "window": _window_dict(self.window),
            "scope": self.scope,
            "expected_top_driver": self.expected_top_driver,
            "drivers": self.drivers,
            "affected_requests": len(self.affected_request_ids),
            "sample_request_ids": self.affected_request_ids[:10],
            "affected_request_ids": self.affected_request_ids,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnomalyItem:
        return cls(
            type=data["type"],
            metric=data["metric"],
            title=data["title"],
            window=_window_of(data["window"]),
            scope=dict(data["scope"]),
            drivers=[dict(d) for d in data["drivers"]],
            affected_request_ids=list(data["affected_request_ids"]),
            details=dict(data.get("details", {})),
        )


@dataclass
class Manifest:
    """Everything planted in one synthetic org. A healthy (control) org has no waste and no anomalies."""

    org: dict[str, Any]
    window: Window
    waste: list[WasteItem]
    anomalies: list[AnomalyItem]
    totals: dict[str, Any]

    @property
    def items(self) -> list[WasteItem | AnomalyItem]:
        return [*self.waste, *self.anomalies]

    def waste_item(self, kind: str) -> WasteItem:
        for item in self.waste:
            if item.kind == kind:
                return item
        raise NotFound(f"no planted waste of kind {kind!r}")

    def expected_savings(self, price: PriceFn) -> dict[str, Decimal]:
        """Expected monthly savings of every waste item at list prices, by kind."""
        return {item.kind: expected_savings(item, price) for item in self.waste}

    def to_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "window": _window_dict(self.window),
            "totals": self.totals,
            "waste": [item.to_dict() for item in self.waste],
            "anomalies": [item.to_dict() for item in self.anomalies],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """Compact JSON (fast, for files), or indented with `indent`."""
        if indent is None:
            return orjson.dumps(self.to_dict()).decode()
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(
            org=data["org"],
            window=_window_of(data["window"]),
            waste=[WasteItem.from_dict(d) for d in data["waste"]],
            anomalies=[AnomalyItem.from_dict(d) for d in data["anomalies"]],
            totals=data["totals"],
        )


def _priced(price: PriceFn, template: Mapping[str, Any], line: SavingsLine, row: TokenRow) -> Decimal:
    event = {
        **template,
        "request_id": line.request_id,
        "timestamp": to_datetime(line.ts),
        **dict(zip(TOKEN_FIELDS, row, strict=True)),
    }
    cost = price(event)
    if cost is None:
        raise NotFound(f"no list price for {template.get('provider')}/{template.get('model')}")
    return cost


def window_savings(item: WasteItem, price: PriceFn) -> Decimal:
    """Σ price(call as billed) − Σ price(call without the waste) over the item's wasteful calls."""
    basis = item.savings
    total = Decimal(0)
    for line in basis.lines:
        total += _priced(price, basis.template, line, line.actual)
        if line.counterfactual is not None:
            total -= _priced(price, basis.counterfactual_template, line, line.counterfactual)
    return total


def expected_savings(manifest_item: WasteItem | Mapping[str, Any], price: PriceFn) -> Decimal:
    """Expected monthly savings at list prices: the window's savings × 30 / window days (CONTRACT 6)."""
    item = manifest_item if isinstance(manifest_item, WasteItem) else WasteItem.from_dict(manifest_item)
    monthly = window_savings(item, price) * 30 / Decimal(repr(item.window.days))
    return monthly.quantize(Decimal("0.000001"))


def affected_counts(items: Iterable[WasteItem]) -> dict[str, int]:
    return {item.kind: item.affected_requests for item in items}
