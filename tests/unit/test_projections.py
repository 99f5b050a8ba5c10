"""Population projections by age group and the needs they imply (scorecard.projections)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorecard.projections import (
    AGE_GROUPS,
    annual_growth,
    extrapolate,
    implied_need,
    project_groups,
    project_share,
    project_trend,
)
from scorecard.territorial_indicators import Observation

counts = st.floats(min_value=1, max_value=5e6, allow_nan=False, allow_infinity=False)
years = st.integers(min_value=1990, max_value=2030)
spans = st.integers(min_value=1, max_value=15)


def test_hand_computed_trend():
    # 75+ of Carcassonne in the test extract: 2015 = 4708.3 + 913.095 (75-89 + 90+), 2021 = 4780 + 927
    first, last = 4708.3 + 913.095, 4780.0 + 927.0
    projection = project_trend(
        "pop_75p", "75 ans et plus", {2015: Observation(first), 2021: Observation(last)}, [2027, 2030]
    )
    rate = (last / first) ** (1 / 6) - 1
    assert projection.annual_rate == pytest.approx(rate) == pytest.approx(0.002522, rel=1e-3)
    assert projection.values[2027] == pytest.approx(last * (1 + rate) ** 6)
    assert projection.values[2030] == pytest.approx(last * (1 + rate) ** 9)
    assert projection.growth[2030] == pytest.approx((1 + rate) ** 9)
    # 2030 is 9 years after 2021, further than the 6 observed: fragile; 2027 is not
    assert projection.fragile == frozenset({2030})
    assert projection.projected and not projection.masked


def test_what_is_not_projected_says_why():
    one = project_trend("pop_80p", "80 ans et plus", {2021: Observation(3619)}, [2030])
    assert not one.projected and "un seul recensement" in one.reason and one.base_value == 3619
    secret = project_trend("pop_80p", "x", {2015: Observation(None, True), 2021: Observation(3619)}, [2030])
    assert secret.masked and secret.values == {} and secret.base_value is None
    zero = project_trend("pop_0_2", "x", {2015: Observation(0), 2021: Observation(12)}, [2030])
    assert not zero.projected and "nul" in zero.reason
    unknown = project_trend("pop_0_2", "x", {2015: Observation(None), 2021: Observation(12)}, [2030])
    assert not unknown.projected and "inconnue" in unknown.reason
    past = project_trend("population", "x", {2015: Observation(100), 2021: Observation(110)}, [2019, 2021])
    assert past.values == {2019: None, 2021: 110}


def test_groups_are_those_held_in_the_catalogue_order():
    history = {
        "pop_80p": {2015: Observation(3000), 2021: Observation(3619)},
        "population": {2015: Observation(45000), 2021: Observation(46119)},
        "caf_aah": {2020: Observation(1818)},
    }
    projected = project_groups(history, [2030])
    assert [p.variable for p in projected] == ["population", "pop_80p"]
    assert [v for v, _ in AGE_GROUPS].index("population") == 0


@given(counts, counts, years, spans)
def test_the_trend_passes_through_both_censuses(first, last, year, span):
    rate = annual_growth(year, first, year + span, last)
    assert rate is not None
    assert extrapolate(first, rate, span) == pytest.approx(last, rel=1e-9)
    assert extrapolate(last, rate, 0) == last


@given(counts, counts, spans, st.lists(st.integers(min_value=0, max_value=30), min_size=2, max_size=5))
def test_projections_follow_the_direction_of_the_trend_and_scale(first, last, span, offsets):
    base_year = 2021
    horizons = sorted({base_year + o for o in offsets})
    history = {base_year - span: Observation(first), base_year: Observation(last)}
    projection = project_trend("population", "x", history, horizons)
    values = [projection.values[h] for h in horizons]
    assert all(v is not None and v > 0 for v in values)
    pairs = list(itertools.pairwise(values))
    if last > first:
        assert all(b >= a for a, b in pairs)
    elif last < first:
        assert all(b <= a for a, b in pairs)
    # ten times the inhabitants, ten times the projection; the same growth factors
    scaled = project_trend(
        "population", "x", {y: Observation((o.value or 0) * 10) for y, o in history.items()}, horizons
    )
    for h in horizons:
        assert scaled.values[h] == pytest.approx(10 * (projection.values[h] or 0), rel=1e-9)
        assert scaled.growth[h] == pytest.approx(projection.growth[h] or 0, rel=1e-9)
    assert projection.fragile == frozenset(h for h in horizons if h - base_year > span)


@given(counts, st.floats(min_value=0, max_value=5e6), st.floats(min_value=0.2, max_value=5))
def test_an_implied_need_keeps_todays_offer(size, covered, growth):
    future = implied_need(size, covered, growth)
    assert future.size == pytest.approx(size * growth)
    assert future.coverage_rate is not None
    assert future.coverage_rate * (future.size or 0) == pytest.approx(covered, rel=1e-9, abs=1e-9)
    assert future.unmet == pytest.approx(max(0.0, size * growth - covered), abs=1e-6)
    same = implied_need(size, covered, 1.0)
    assert same.size == size and same.coverage_rate == pytest.approx(covered / size)
    if growth > 1:
        assert future.coverage_rate <= covered / size


def test_an_implied_need_without_size_or_offer():
    assert implied_need(None, 10, 1.2).size is None
    assert implied_need(100, None, 1.2).size == pytest.approx(120)
    assert implied_need(100, None, 1.2).coverage_rate is None
    assert implied_need(0, 5, 1.2).coverage_rate is None


def test_a_reversed_span_is_a_programming_error():
    with pytest.raises(ValueError):
        annual_growth(2021, 10, 2015, 12)


def test_a_group_held_once_follows_the_group_containing_it():
    history = {
        "pop_75p": {2015: Observation(5000), 2021: Observation(5500)},
        "pop_80p": {2021: Observation(3619)},
        "pop_0_2": {2021: Observation(1212)},
    }
    by = {p.variable: p for p in project_groups(history, [2030])}
    eighty = by["pop_80p"]
    assert eighty.borrowed_from == "pop_75p" and eighty.projected
    assert eighty.values[2030] == pytest.approx(3619 * (5500 / 5000) ** (9 / 6))
    assert eighty.growth[2030] == by["pop_75p"].growth[2030]
    # nothing contains the 0-2 here: not projected, and said why
    assert not by["pop_0_2"].projected and "un seul recensement" in by["pop_0_2"].reason


def test_the_share_method_follows_the_wider_territorys_projection():
    # Carcassonne's 75+ (census 2021) in Aude's projection: 47 540 in 2021, 65 560 in 2030
    aude = {2021: 47540.0, 2026: 59000.0, 2030: 65560.0}
    projection = project_share("pop_75p", "75 ans et plus", {2021: Observation(5707)}, aude, [2027, 2030])
    assert projection.method == "parts" and projection.projected
    assert projection.values[2030] == pytest.approx(5707 * 65560 / 47540)
    assert projection.values[2027] is None  # a year the projection does not give
    assert projection.annual_rate == pytest.approx((65560 / 47540) ** (1 / 9) - 1)
    secret = project_share("pop_75p", "x", {2021: Observation(None, True)}, aude, [2030])
    assert secret.masked and not secret.values
    missing = project_share("pop_75p", "x", {2019: Observation(5000)}, aude, [2030])
    assert not missing.projected and "2019" in missing.reason


@given(
    st.floats(min_value=11, max_value=1e6),
    st.lists(st.floats(min_value=1, max_value=1e7), min_size=3, max_size=3),
)
def test_a_territory_that_is_the_wider_one_gets_the_published_projection(base, later):
    reference = {2021: base, 2025: later[0], 2030: later[1], 2040: later[2]}
    projection = project_share("pop_75p", "x", {2021: Observation(base)}, reference, [2025, 2030, 2040])
    for year in (2025, 2030, 2040):
        assert projection.values[year] == pytest.approx(reference[year], rel=1e-9)
    # the older groups follow the reference; the others keep their trend
    groups = project_groups(
        {
            "pop_75p": {2015: Observation(base / 2), 2021: Observation(base)},
            "population": {2015: Observation(1000), 2021: Observation(1100)},
        },
        [2030],
        {"pop_75p": reference},
    )
    methods = {p.variable: p.method for p in groups}
    assert methods == {"pop_75p": "parts", "population": "tendance"}
