"""LiteLLM's per-token floats → exact USD per 1M tokens (the catalogue's unit)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.pricing.catalogue import litellm_cost_map, per_million


@pytest.mark.parametrize(
    ("per_token", "expected"),
    [
        (3e-06, Decimal(3)),
        (2.5e-06, Decimal("2.5")),
        (1.25e-07, Decimal("0.125")),
        (7.5e-08, Decimal("0.075")),
        (0.0, Decimal(0)),
        (0, Decimal(0)),
        ("1e-06", Decimal(1)),
    ],
)
def test_per_token_floats_become_exact_per_million_rates(per_token: object, expected: Decimal) -> None:
    assert per_million(per_token) == expected


@pytest.mark.parametrize("value", [None, True, [], {"a": 1}])
def test_non_numbers_are_no_rate(value: object) -> None:
    assert per_million(value) is None


def test_every_plain_rate_of_the_map_converts_without_float_noise() -> None:
    """The decimal shortest repr of each float is what the map's authors wrote (e.g. 3e-06, not 2.9999…)."""
    count = 0
    for entry in litellm_cost_map().values():
        rate = entry.get("input_cost_per_token") if isinstance(entry, dict) else None
        if isinstance(rate, float) and rate > 0:
            converted = per_million(rate)
            assert converted is not None
            assert converted / 1_000_000 == Decimal(repr(rate))
            count += 1
    assert count > 1000
