"""The standard territorial indicators, defined once (scorecard.territorial_indicators)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorecard.territorial_indicators import (
    BY_CODE,
    INDICATORS,
    THEME_TITLES,
    Observation,
    Result,
    change,
    evaluate,
    series,
)


def test_every_indicator_has_a_theme_a_formula_and_a_source():
    assert len({i.code for i in INDICATORS}) == len(INDICATORS)
    for indicator in INDICATORS:
        assert indicator.theme in THEME_TITLES and indicator.formula and indicator.source
        assert 1 <= len(indicator.inputs) <= 2


def test_hand_computed_values():
    # Carcassonne, census 2021: 11 699 aged 65+, 9 504 under 20, 46 119 inhabitants, 5 707 aged 75+
    ageing = evaluate(BY_CODE["indice_vieillissement"], [Observation(11699), Observation(9504)])
    assert ageing == Result(pytest.approx(123.095538), False)
    assert evaluate(BY_CODE["part_75p"], [Observation(5707), Observation(46119)]).value == pytest.approx(
        12.3745
    )
    rsa = evaluate(BY_CODE["rsa_pour_100_menages"], [Observation(2000), Observation(21927)])
    assert rsa.value == pytest.approx(9.12118)
    assert evaluate(BY_CODE["filo_mediane_uc"], [Observation(18450)]) == Result(18450, False)


def test_a_secret_input_masks_the_result_and_a_missing_one_gives_nothing():
    share = BY_CODE["part_familles_monoparentales"]
    assert evaluate(share, [Observation(None, secret=True), Observation(1200)]) == Result(None, True)
    assert evaluate(share, [Observation(300), Observation(None, secret=True)]) == Result(None, True)
    assert evaluate(share, [Observation(300), None]) == Result(None, False)
    assert evaluate(share, [Observation(300), Observation(0)]) == Result(None, False)  # not infinity


def test_a_series_reads_the_denominator_at_the_latest_vintage_before():
    rsa = BY_CODE["rsa_pour_100_menages"]
    history = {
        "caf_rsa_socle": {2020: Observation(2000), 2021: Observation(2200)},
        "filo_menages": {2019: Observation(20000), 2021: Observation(22000)},
    }
    points = series(rsa, history)
    assert [(v, r.value) for v, r in points] == [(2020, pytest.approx(10.0)), (2021, pytest.approx(10.0))]
    assert change(points) == (2020, 2021, pytest.approx(0.0))
    early = series(
        rsa, {"caf_rsa_socle": {2018: Observation(1000)}, "filo_menages": {2019: Observation(20000)}}
    )
    assert early[0][1].value == pytest.approx(5.0)  # no earlier households: the earliest held


def test_change_ignores_masked_points():
    points = [(2015, Result(10.0, False)), (2018, Result(None, True)), (2021, Result(13.5, False))]
    assert change(points) == (2015, 2021, 3.5)
    assert change(points[1:2]) is None


@given(
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.floats(min_value=1e-3, max_value=1e7, allow_nan=False),
)
def test_a_share_is_its_formula(numerator, denominator):
    result = evaluate(BY_CODE["part_75p"], [Observation(numerator), Observation(denominator)])
    assert not result.masked and result.value == pytest.approx(numerator / denominator * 100)
