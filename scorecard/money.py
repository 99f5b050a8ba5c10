"""Money to the cent (pure): one rounding rule and one largest-remainder split.

The rounding rule
-----------------
An amount is rounded to the cent on its **exact** value: a ``Decimal`` as it is, a binary float
as the number it really holds (``0.965`` is ``0.96499999999999996891…``), never after a
multiplication by 100 in floating point (which can turn ``473.4999…`` into ``473.5``). A value
exactly half-way between two cents goes to the even cent (``ROUND_HALF_EVEN``, the rule of IEEE 754
and of Python's ``round``): ``0.125`` gives ``0.12``, ``0.375`` gives ``0.38``. So
``round_cents(x) == Decimal(str(round(x, 2)))`` for every finite float ``x``.

The largest-remainder split
---------------------------
``split_cents(total, weights)`` shares a total already in cents in proportion to weights: each
part first gets its exact share rounded down to the cent, then the cents still missing go one
each to the parts with the largest remainders (ties: the earlier part). The parts always add up
to the total exactly, each part is within one cent of its exact share, a zero weight gets
nothing. ``round_parts(values)`` rounds amounts so that they add up to their rounded total
(each part within one cent of its value). Computations are exact (``fractions.Fraction``).

Floats that come out of a computation (the costing's full costs) are added up as the nearest
float to their exact sum (``math.fsum``) before that total is rounded: the total of a costing is
the float that conserves what went in (:func:`scorecard.costing.compute_costing` makes the
activities' costs add up to it), and rounding it by the rule above gives the same cents as
``round(total, 2)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

CENT = Decimal("0.01")
Number = Decimal | float | int


def _exact(value: Number) -> Fraction:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"montant non fini : {value}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"montant non fini : {value}")
    return Fraction(value)


def round_cents(value: Number) -> Decimal:
    """The amount rounded to the cent on its exact value, half-cents to the even cent."""
    if isinstance(value, float):
        _exact(value)
        value = Decimal(value)  # the exact binary value, every digit of it
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _largest_remainder(exact: list[Fraction], total_cents: int) -> list[Decimal]:
    floors = [math.floor(part) for part in exact]
    missing = total_cents - sum(floors)
    if missing < 0 or missing > len(exact):  # pragma: no cover - callers guarantee the range
        raise ValueError("répartition impossible : le total ne correspond pas aux parts")
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:missing]:
        floors[i] += 1
    return [Decimal(cents).scaleb(-2) for cents in floors]


def split_cents(total: Number, weights: Sequence[Number]) -> list[Decimal]:
    """``total`` (rounded to the cent first) shared in proportion to ``weights``, to the cent.

    Weights are non-negative with a positive sum; a negative total (a credit lowered by a
    decision modificative) is split as its opposite, then negated. ``sum(result) == total``.
    """
    if not weights:
        raise ValueError("répartition d'un montant sur aucune part")
    exact_weights = [_exact(w) for w in weights]
    if any(w < 0 for w in exact_weights):
        raise ValueError("répartition d'un montant sur une part négative")
    whole = sum(exact_weights, Fraction(0))
    if whole <= 0:
        raise ValueError("répartition d'un montant sur des parts toutes nulles")
    cents = int(round_cents(total).scaleb(2))
    sign = -1 if cents < 0 else 1
    shares = [abs(cents) * w / whole for w in exact_weights]
    parts = _largest_remainder(shares, abs(cents))
    return [sign * p for p in parts] if sign < 0 else parts


def round_parts(values: Sequence[Number], total: Number | None = None) -> list[Decimal]:
    """Each amount to the cent so that the parts add up to ``total`` rounded to the cent (by default
    their exact sum). Each part is within a cent of its amount when ``total`` is their sum."""
    exact = [_exact(v) * 100 for v in values]
    # a Fraction rounds half-cents to the even cent, on its exact value
    total_cents = round(sum(exact, Fraction(0)) if total is None else _exact(total) * 100)
    return _largest_remainder(exact, total_cents)
