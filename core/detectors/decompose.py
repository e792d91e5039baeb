"""Exact, additive decomposition of a cost delta into price, volume, mix and token-size effects.

Pure arithmetic over per-cell sums (no database): `compare_periods` (core/detectors/drivers.py) feeds it the
rows of one SQL query. A *cell* is one (provider, model, feature) combination (optionally one more dimension).
Per cell c, with N = requests, C = actual cost, R = cost of the same calls at the reference ("current") prices,
index 0 = baseline and 1 = current, N0/N1 the totals over all cells:

    price_c     = (R0_c - C0_c) + (C1_c - R1_c)       baseline repriced at current prices, plus any price change
                                                       inside the current period itself
    volume_c    = (N1/N0 - 1) * R0_c                   more (or fewer) requests, same mix, same cost per request
    mix_c       = N1 * (N1_c/N1 - N0_c/N0) * R0_c/N0_c  requests moving between models/features
    token_c     = R1_c - N1_c * R0_c/N0_c              cost per request at constant prices (tokens per request)

A cell new in the current period (N0_c = 0) has volume 0, mix R1_c and token-size 0. This is the sequential
(chain-linked) decomposition price -> volume -> mix -> token size; per cell the four terms add up to
C1_c - C0_c algebraically, so they add up to the total delta over any set of cells. Arithmetic is Decimal at
60 digits; amounts shown in cents are rounded with the largest-remainder method so they still add up exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Context, Decimal, localcontext

EFFECTS = ("price", "volume", "mix", "token_size")
CENT = Decimal("0.01")
ZERO = Decimal(0)
_PRECISION = Context(prec=60)


@dataclass(frozen=True)
class Cell:
    """Sums of one cell in both periods (requests, actual cost, cost at reference prices, tokens)."""

    key: tuple[str, ...]
    n0: int
    n1: int
    c0: Decimal
    c1: Decimal
    r0: Decimal
    r1: Decimal
    tokens0: int = 0
    tokens1: int = 0

    @classmethod
    def from_row(cls, key: tuple[str, ...], row: Mapping[str, object]) -> Cell:
        return cls(key, int(_num(row["n0"])), int(_num(row["n1"])), Decimal(_num(row["c0"])),
                   Decimal(_num(row["c1"])), Decimal(_num(row["r0"])), Decimal(_num(row["r1"])),
                   int(_num(row.get("tokens0", 0))), int(_num(row.get("tokens1", 0))))  # fmt: skip


def _num(value: object) -> Decimal | int:
    if value is None:
        return 0
    if isinstance(value, Decimal | int):
        return value
    return Decimal(str(value))


@dataclass
class Effects:
    """Exact effects (Decimal) of a set of cells; they add up to `current - baseline`."""

    values: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(EFFECTS, ZERO))
    baseline: Decimal = ZERO
    current: Decimal = ZERO
    n0: int = 0
    n1: int = 0
    tokens0: int = 0
    tokens1: int = 0

    @property
    def delta(self) -> Decimal:
        return self.current - self.baseline

    def add(self, cell: Cell, terms: Mapping[str, Decimal]) -> None:
        for name in EFFECTS:
            self.values[name] += terms[name]
        self.baseline += cell.c0
        self.current += cell.c1
        self.n0 += cell.n0
        self.n1 += cell.n1
        self.tokens0 += cell.tokens0
        self.tokens1 += cell.tokens1


def cell_effects(cell: Cell, n0: int, n1: int) -> dict[str, Decimal]:
    """The four terms of one cell given the period totals n0, n1 (module docstring)."""
    with localcontext(_PRECISION):
        price = (cell.r0 - cell.c0) + (cell.c1 - cell.r1)
        if n0 == 0:  # nothing in the baseline at all: everything is new volume
            return {"price": price, "volume": cell.r1, "mix": ZERO, "token_size": ZERO}
        if cell.n0 == 0:
            return {"price": price, "volume": ZERO, "mix": cell.r1, "token_size": ZERO}
        per_request = cell.r0 / cell.n0
        volume = (Decimal(n1) / Decimal(n0) - 1) * cell.r0
        mix = cell.n1 * per_request - Decimal(n1) / Decimal(n0) * cell.r0
        token = cell.r1 - cell.n1 * per_request
        return {"price": price, "volume": volume, "mix": mix, "token_size": token}


def decompose(cells: Iterable[Cell], group: int | None = None) -> tuple[Effects, dict[str, Effects]]:
    """Effects of all cells, and per value of key position `group` (None: no grouping)."""
    items = list(cells)
    n0 = sum(c.n0 for c in items)
    n1 = sum(c.n1 for c in items)
    total = Effects()
    groups: dict[str, Effects] = {}
    for cell in items:
        terms = cell_effects(cell, n0, n1)
        total.add(cell, terms)
        if group is not None:
            groups.setdefault(cell.key[group], Effects()).add(cell, terms)
    return total, groups


def round_to_total(values: Sequence[Decimal], total: Decimal, unit: Decimal = CENT) -> list[Decimal]:
    """Round `values` to `unit` so that they add up to `total` rounded to `unit` (largest remainder method).

    The values must add up to `total` (up to rounding noise far below `unit`)."""
    target = total.quantize(unit)
    floors = [v.quantize(unit, rounding=ROUND_FLOOR) for v in values]
    remainders = [v - f for v, f in zip(values, floors, strict=True)]
    missing = int(((target - sum(floors, ZERO)) / unit).to_integral_value())
    order = sorted(range(len(values)), key=lambda i: remainders[i], reverse=missing > 0)
    result = list(floors)
    step = unit if missing > 0 else -unit
    for index in order[: abs(missing)] if values else []:
        result[index] += step
    return result


def cents(value: Decimal) -> float:
    return float(value.quantize(CENT))
