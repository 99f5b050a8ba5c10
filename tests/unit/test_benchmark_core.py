"""The benchmark core: position, quartiles, size strata, anonymous labels, the k >= 3 rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorecard.benchmark import (
    Quartiles,
    anonymous_labels,
    compare,
    letter,
    position,
    quartiles,
    size_stratum,
)


def test_position_hand_computed():
    # sorted: 2, 4, 6, 8, 10 ; type 7: h = 1 + 4p -> Q1 = x2 = 4, median = x3 = 6, Q3 = x4 = 8
    rank, n, q = position(pd.Series([10.0, 2.0, 6.0, 8.0, 4.0]), 8.0)
    assert (rank, n) == (4, 5)
    assert q == Quartiles(4.0, 6.0, 8.0)


def test_quartiles_interpolate_between_values():
    # sorted 1, 2, 3, 4: h(Q1) = 1 + 3 x 0.25 = 1.75 -> 1 + 0.75 x (2 - 1) = 1.75 ; median 2.5 ; Q3 3.25
    assert quartiles(pd.Series([4.0, 1.0, 3.0, 2.0])) == Quartiles(1.75, 2.5, 3.25)


def test_ties_share_the_lower_rank_and_unknown_values_are_left_out():
    rank, n, _ = position(pd.Series([5.0, 3.0, 5.0, np.nan, 1.0]), 5.0)
    assert (rank, n) == (3, 4)


def test_a_single_value_is_its_own_quartiles():
    assert position(pd.Series([7.5]), 7.5) == (1, 1, Quartiles(7.5, 7.5, 7.5))


def test_own_value_must_be_known_and_among_the_values():
    with pytest.raises(ValueError, match="inconnue"):
        position(pd.Series([1.0, 2.0]), math.nan)
    with pytest.raises(ValueError, match="parmi"):
        position(pd.Series([1.0, 2.0]), 3.0)
    with pytest.raises(ValueError, match="aucune valeur"):
        quartiles(pd.Series([np.nan]))


@pytest.mark.parametrize(
    ("population", "stratum"),
    [
        (0, "0-5k"),
        (4_999, "0-5k"),
        (5_000, "5-20k"),
        (19_999, "5-20k"),
        (20_000, "20-50k"),
        (24_106, "20-50k"),  # Rodez
        (46_119, "20-50k"),  # Carcassonne
        (50_000, "50-100k"),
        (99_999, "50-100k"),
        (100_000, "100k+"),
        (2_165_423, "100k+"),
        (None, None),
    ],
)
def test_size_strata_include_their_lower_bound(population, stratum):
    assert size_stratum(population) == stratum


def test_negative_population_is_refused():
    with pytest.raises(ValueError):
        size_stratum(-1)


def test_letters_go_on_after_z():
    assert [letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]


def test_anonymous_labels_follow_the_order_given_and_are_stable():
    keys = [("base", 4), ("base", 9), ("ref", "f.csv", "R01"), ("base", 4)]
    labels = anonymous_labels(keys)
    assert labels == {
        ("base", 4): "Organisation A",
        ("base", 9): "Organisation B",
        ("ref", "f.csv", "R01"): "Organisation C",
    }
    assert anonymous_labels(keys) == labels


def contributions(values: dict[str, tuple[float, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"contributor": k, "label": k, "stratum": s, "value": v, "year": 2024}
            for k, (v, s) in values.items()
        ]
    )


def test_fewer_than_three_contributors_show_no_other_value():
    result = compare(contributions({"me": (10.0, "20-50k"), "other": (20.0, "20-50k")}), "me")
    assert not result.comparable
    assert result.n == 2
    assert result.rank is None and result.quartiles is None and result.stratum_quartiles is None
    assert list(result.rows["contributor"]) == ["me"]  # never the other's value


def test_three_contributors_are_compared_overall_and_in_the_stratum():
    frame = contributions(
        {
            "me": (10.0, "20-50k"),
            "a": (20.0, "20-50k"),
            "b": (30.0, "5-20k"),
            "c": (5.0, "20-50k"),
            "d": (np.nan, "20-50k"),  # no value: not a contributor
        }
    )
    result = compare(frame, "me")
    assert result.comparable and result.n == 4
    assert result.rank == 2  # 5 < 10 < 20 < 30
    assert result.quartiles == Quartiles(8.75, 15.0, 22.5)
    assert result.stratum == "20-50k" and result.stratum_n == 3 and result.stratum_comparable
    assert result.stratum_rank == 2 and result.stratum_quartiles == Quartiles(7.5, 10.0, 15.0)
    assert list(result.rows["contributor"]) == ["c", "me", "a", "b"]
    assert list(result.rows["same_stratum"]) == [True, True, True, False]


def test_a_stratum_of_two_is_not_compared_even_when_the_indicator_is():
    frame = contributions({"me": (1.0, "100k+"), "a": (2.0, "100k+"), "b": (3.0, "0-5k"), "c": (4.0, "0-5k")})
    result = compare(frame, "me")
    assert result.comparable and not result.stratum_comparable
    assert result.stratum_rank is None and result.stratum_quartiles is None


def test_an_organisation_without_value_sees_the_distribution_but_no_rank():
    frame = contributions({"a": (1.0, "0-5k"), "b": (2.0, "0-5k"), "c": (6.0, "0-5k")})
    result = compare(frame, "me", own_stratum="0-5k")
    assert result.comparable and result.own_value is None and result.rank is None
    assert result.quartiles == Quartiles(1.5, 2.0, 4.0)
    assert result.stratum_n == 3 and result.stratum_rank is None


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=40), st.data())
def test_property_quartiles_are_ordered_and_rank_is_within_one_and_n(values, data):
    own = data.draw(st.sampled_from(values))
    rank, n, (q1, median, q3) = position(pd.Series(values), own)
    assert n == len(values)
    assert 1 <= rank <= n
    assert min(values) <= q1 <= median <= q3 <= max(values)
    # the rank counts the values strictly below, whatever the order they come in
    assert rank == 1 + sum(v < own for v in values)


@given(st.lists(st.tuples(finite, st.sampled_from(["0-5k", "5-20k", None])), min_size=0, max_size=12))
def test_property_no_other_value_leaks_below_three_contributors(rows):
    frame = pd.DataFrame(
        [
            {"contributor": i, "label": str(i), "stratum": s, "value": v, "year": None}
            for i, (v, s) in enumerate(rows)
        ],
        columns=["contributor", "label", "stratum", "value", "year"],
    )
    result = compare(frame, 0)
    if len(rows) < 3:
        assert not result.comparable
        assert set(result.rows["contributor"]) <= {0}
    else:
        assert result.comparable and len(result.rows) == len(rows)


@given(
    st.lists(
        st.tuples(st.floats(0, 1e4, allow_nan=False), st.sampled_from([None, 100, 8_000, 30_000, 250_000])),
        min_size=1,
        max_size=40,
    ),
    st.data(),
)
def test_the_summary_of_stored_values_is_the_cores_comparison(rows, data):
    """What the page reads from the stored values (services.benchmark._summarise, numpy on arrays)
    gives the core's figures for the same contributions: rank, quartiles, stratum, the k >= 3 rule."""
    from scorecard.benchmark import STRATUM_KEYS
    from services.benchmark import _summarise

    own = data.draw(st.integers(0, len(rows) - 1))
    strata = [size_stratum(p) for _, p in rows]
    frame = pd.DataFrame(
        {
            "contributor": range(len(rows)),
            "label": "x",
            "stratum": strata,
            "value": [v for v, _ in rows],
            "year": 2025,
            "source": "base",
        }
    )
    expected = compare(frame, own, own_stratum=strata[own])
    index = np.array([STRATUM_KEYS.index(s) if s else -1 for s in strata], dtype=np.int64)
    got, hist = _summarise(np.array([v for v, _ in rows]), index, rows[own][0], int(index[own]))
    assert (got.n, got.comparable, got.rank, got.stratum_n, got.stratum_comparable, got.stratum_rank) == (
        expected.n,
        expected.comparable,
        expected.rank,
        expected.stratum_n,
        expected.stratum_comparable,
        expected.stratum_rank,
    )
    assert got.quartiles == expected.quartiles and got.stratum_quartiles == expected.stratum_quartiles
    if got.comparable:
        assert sum(hist.counts) == len(rows) and 0 <= hist.own_bin < len(hist.counts)
        low, high = hist.edges[hist.own_bin], hist.edges[hist.own_bin + 1]
        assert low <= rows[own][0] <= high
    else:
        assert hist is None
