"""Which price applies to an event: the one implementation of price resolution (ingest and repricing use it).

Rule: for an event of org O at time t, O's own versions win once the first of them is effective;
otherwise the newest global version with effective_from ≤ t. Before the first version: unpriced.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.pricing.catalogue import model_aliases
from core.pricing.models import Price
from core.pricing.providers import canonical_model, canonical_provider
from core.pricing.rates import Rates, TokenRates, cost_pico

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) during which price_id applies; end None = open."""

    start: datetime
    end: datetime | None
    price_id: int


def _periods(versions: list[tuple[datetime, int]], until: datetime | None) -> list[Period]:
    """Consecutive versions as periods, cut off at `until` (where an org's own prices take over)."""
    periods = []
    for index, (start, price_id) in enumerate(versions):
        if until is not None and start >= until:
            break
        end = versions[index + 1][0] if index + 1 < len(versions) else None
        if until is not None and (end is None or end > until):
            end = until
        periods.append(Period(start, end, price_id))
    return periods


class PriceBook:
    """An in-memory snapshot of the catalogue's versions, for fast per-event lookups."""

    def __init__(
        self,
        global_versions: dict[Key, list[tuple[datetime, int]]],
        org_versions: dict[tuple[uuid.UUID, Key], list[tuple[datetime, int]]],
        aliases: dict[Key, Key],
        rates: dict[int, Rates] | None = None,
    ) -> None:
        self.rates = rates or {}
        self._global = global_versions
        self._org = org_versions
        self._aliases = aliases
        # Looked-up periods per org, then per (provider, model). The last org's map is kept apart: hashing a
        # UUID runs Python code, and ingest looks up one org hundreds of thousands of times in a row.
        self._cache: dict[uuid.UUID | None, dict[tuple[str, str], tuple[list[datetime], list[Period]]]] = {}
        self._last_org: tuple[uuid.UUID | None, dict[tuple[str, str], tuple[list[datetime], list[Period]]]] = (
            None, self._cache.setdefault(None, {}))  # fmt: skip
        self._token_rates: dict[tuple[int, bool, bool], TokenRates] = {}

    @classmethod
    def load(cls, session: Session) -> PriceBook:
        rows = session.scalars(select(Price).order_by(Price.effective_from)).all()
        global_versions: dict[Key, list[tuple[datetime, int]]] = defaultdict(list)
        org_versions: dict[tuple[uuid.UUID, Key], list[tuple[datetime, int]]] = defaultdict(list)
        for row in rows:
            # datetime.UTC, the tzinfo events carry after utc(): comparing datetimes with different tzinfo
            # objects (the session's ZoneInfo) calls utcoffset() on both sides, several times per event.
            version = (row.effective_from.astimezone(UTC), row.id)
            if row.organization_id is None:
                global_versions[(row.provider, row.model)].append(version)
            else:
                org_versions[(row.organization_id, (row.provider, row.model))].append(version)
        rates = {row.id: Rates.from_row(row) for row in rows}
        return cls(dict(global_versions), dict(org_versions), model_aliases(), rates)

    def catalogue_key(self, provider: str, model: str) -> Key:
        """The catalogue's (provider, model) for what a client sent (canonical names, then aliases)."""
        canonical = canonical_provider(provider)
        key = (canonical, canonical_model(canonical, model))
        return self._aliases.get(key, key)

    def periods(self, org_id: uuid.UUID | None, provider: str, model: str) -> list[Period]:
        return self._lookup(org_id, provider, model)[1]

    def resolve(self, org_id: uuid.UUID | None, provider: str, model: str, at: datetime) -> int | None:
        starts, periods = self._lookup(org_id, provider, model)
        index = bisect.bisect_right(starts, at) - 1
        if index < 0:
            return None
        period = periods[index]
        return period.price_id if period.end is None or at < period.end else None

    def cost_pico(self, price_id: int, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int,
                  reasoning: int, batch: bool) -> int:  # fmt: skip
        """A call's exact cost in pico-USD at price version `price_id` (as Rates.cost_pico; rates cached)."""
        threshold = self.rates[price_id].long_context_threshold
        key = (price_id, batch, threshold is not None and input_tokens > threshold)
        rates = self._token_rates.get(key)
        if rates is None:
            rates = self._token_rates[key] = self.rates[price_id].per_token(batch=batch, long=key[2])
        return cost_pico(rates, input_tokens, output_tokens, cache_read, cache_write, reasoning)

    def _lookup(self, org_id: uuid.UUID | None, provider: str, model: str) -> tuple[list[datetime], list[Period]]:
        last_org, by_model = self._last_org
        if org_id is not last_org:
            by_model = self._cache.setdefault(org_id, {})
            self._last_org = (org_id, by_model)
        found = by_model.get((provider, model))
        if found is None:
            key = self.catalogue_key(provider, model)
            own = self._org.get((org_id, key), []) if org_id is not None else []
            shared = _periods(self._global.get(key, []), own[0][0] if own else None)
            periods = shared + _periods(own, None)
            found = by_model[(provider, model)] = ([period.start for period in periods], periods)
        return found
