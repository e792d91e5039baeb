"""Cost maths in Python, for the ingest hot path: exact integers, the same rules as SQL tt_cost().

Rates are held as integer atto-dollars (1e-18 USD) per token — exact for any price with up to 12
decimals per 1M tokens — and a call's cost is rounded half-up to pico-dollars (12 decimals), as
tt_cost() rounds. A test asserts the two agree on every catalogue price for many token mixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

ATTO_PER_MILLION_USD = 10**12  # USD per 1M tokens → atto-USD per token
ATTO_PER_PICO = 10**6
PICO = 10**12


def _atto(rate: Decimal | None) -> int | None:
    if rate is None:
        return None
    scaled = rate * ATTO_PER_MILLION_USD
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {rate} per 1M has more than 12 decimals")
    return int(scaled)


@dataclass(frozen=True, slots=True)
class Rates:
    """One price version's rates in atto-USD per token; None = not set (the documented fallbacks apply)."""

    input: int
    output: int
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None
    batch_input: int | None
    batch_output: int | None
    batch_cache_read: int | None
    batch_cache_write: int | None
    long_context_threshold: int | None
    long_context_input: int | None
    long_context_output: int | None
    long_context_cache_read: int | None
    long_context_cache_write: int | None
    long_context_batch_input: int | None
    long_context_batch_output: int | None

    @classmethod
    def from_row(cls, row: Any) -> Rates:
        """From a Price row (or anything with the same attributes), rates per 1M as Decimal."""
        values = {name: _atto(getattr(row, name)) for name in cls.__slots__ if name != "long_context_threshold"}
        if values["input"] is None or values["output"] is None:
            raise ValueError(f"price {getattr(row, 'id', '?')} has no input or output rate")
        return cls(long_context_threshold=row.long_context_threshold, **values)  # type: ignore[arg-type]

    def cost_pico(
        self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int, reasoning: int, batch: bool
    ) -> int:
        """The call's cost in pico-USD (1e-12), exactly as tt_cost() computes it."""
        long = self.long_context_threshold is not None and input_tokens > self.long_context_threshold
        return cost_pico(self.per_token(batch=batch, long=long), input_tokens, output_tokens, cache_read,
                         cache_write, reasoning)  # fmt: skip

    def per_token(self, *, batch: bool, long: bool) -> TokenRates:
        """The rates that apply to a batch and/or long-context call, fallbacks resolved."""
        if batch:
            input_rate = _first(self.long_context_batch_input if long else None, self.batch_input,
                                self.long_context_input if long else None, self.input)  # fmt: skip
            output_rate = _first(self.long_context_batch_output if long else None, self.batch_output,
                                 self.long_context_output if long else None, self.output)  # fmt: skip
            return TokenRates(input_rate, _first(self.batch_cache_read, input_rate),
                              _first(self.batch_cache_write, input_rate), output_rate, output_rate)  # fmt: skip
        input_rate = _first(self.long_context_input if long else None, self.input)
        output_rate = _first(self.long_context_output if long else None, self.output)
        return TokenRates(
            input_rate,
            _first(self.long_context_cache_read if long else None, self.cache_read, input_rate),
            _first(self.long_context_cache_write if long else None, self.cache_write, input_rate),
            output_rate,
            _first(self.reasoning, output_rate),
        )


class TokenRates(NamedTuple):
    """Atto-USD per token of each kind for one kind of call (batch or not, long context or not)."""

    input: int  # uncached input
    cache_read: int
    cache_write: int
    output: int  # output other than reasoning
    reasoning: int


def cost_pico(rates: TokenRates, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int,
              reasoning: int) -> int:  # fmt: skip
    """Cost in pico-USD, rounded half-up as tt_cost() rounds."""
    atto = (
        (input_tokens - cache_read - cache_write) * rates.input
        + cache_read * rates.cache_read
        + cache_write * rates.cache_write
        + (output_tokens - reasoning) * rates.output
        + reasoning * rates.reasoning
    )
    return (atto + ATTO_PER_PICO // 2) // ATTO_PER_PICO


def _first(*rates: int | None) -> int:
    for rate in rates:
        if rate is not None:
            return rate
    raise ValueError("no rate")  # unreachable: the last candidate is always set


def pico_decimal(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12)
