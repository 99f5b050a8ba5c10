"""Money to the cent: the rounding rule (exact value, half-cents to the even cent) and the
largest-remainder split, whose parts always add up to the total to the cent."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.costing import cents
from scorecard.money import round_cents, round_parts, split_cents

D = Decimal
amounts = st.decimals(min_value=D("-1000000000"), max_value=D("1000000000"), places=2)
weights = st.one_of(
    st.lists(st.decimals(min_value=D(0), max_value=D("1e9"), places=6), min_size=1, max_size=30),
    st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=30),
).filter(lambda ws: sum(ws) > 0)


def test_a_total_shared_by_hand():
    assert split_cents(D("100.00"), [1, 1, 1]) == [D("33.34"), D("33.33"), D("33.33")]
    # 10 € for 1/6, 2/6, 3/6: 1.666…, 3.333…, 5 -> the largest remainder (0.67 of 1.666…) gets the cent
    assert split_cents(D("10.00"), [1, 2, 3]) == [D("1.67"), D("3.33"), D("5.00")]
    # equal remainders: the earlier part gets the cent
    assert split_cents(D("0.01"), [1, 1]) == [D("0.01"), D("0.00")]
    assert split_cents(D("0.05"), [0, 1, 1]) == [D("0.00"), D("0.03"), D("0.02")]
    # a DM lowering a credit: the opposite split, negated
    assert split_cents(D("-10.00"), [1, 2]) == [D("-3.33"), D("-6.67")]


def test_bad_weights_are_refused():
    for bad in ([], [0, 0], [1, -1], [math.inf]):
        with pytest.raises(ValueError):
            split_cents(D("10.00"), bad)


@settings(max_examples=300, deadline=None)
@given(amounts, weights)
def test_the_parts_always_add_up_to_the_total_to_the_cent(total, ws):
    parts = split_cents(total, ws)
    assert sum(parts, D(0)) == total
    assert all(p == p.quantize(D("0.01")) for p in parts)
    whole = sum(D(w) for w in ws)
    for part, weight in zip(parts, ws, strict=True):
        exact = total * D(weight) / whole
        assert abs(part - exact) < D("0.01")  # within a cent of its exact share
        if weight == 0:
            assert part == 0
        assert part == 0 or (part > 0) == (total > 0)  # never a part of the other sign


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=20))
def test_rounded_parts_add_up_to_their_rounded_total(values):
    parts = round_parts(values)
    exact_total = sum(D(v) for v in values)
    assert sum(parts, D(0)) == round_cents(exact_total)
    assert all(abs(p - D(v)) < D("0.01") for p, v in zip(parts, values, strict=True))


@settings(max_examples=500, deadline=None)
@given(st.floats(-1e12, 1e12, allow_nan=False))
def test_the_rounding_rule_is_that_of_round_on_the_exact_value(value):
    assert round_cents(value) == D(str(round(value, 2)))


def test_half_cents_are_rounded_on_their_exact_value():
    # 0.965 is 0.96499999999999996891… as a float: 0.96, whatever 0.965 x 100 gives (96.5)
    assert round_cents(0.965) == D("0.96") and 0.965 * 100 == 96.5
    assert round_cents(0.125) == D("0.12") and round_cents(0.375) == D("0.38")  # exact ties: even cent
    assert round_cents(D("2.345")) == D("2.34") and round_cents(D("2.355")) == D("2.36")


def test_the_costing_cents_of_the_flaky_example():
    """[0.965, 0.965, 0.965, 0.965, 0.875] sum to 4.7349999…: 4.73 by ``round``; the old rule
    (x 100 in floating point, then round) gave 4.74."""
    amounts = [0.965, 0.965, 0.965, 0.965, 0.875]
    parts = cents(pd.Series(amounts))
    assert round(parts.sum(), 2) == round(sum(amounts), 2) == 4.73
    assert parts.tolist() == [0.97, 0.96, 0.96, 0.96, 0.88]
