"""The scorecard engine: hand-computed cases, and properties that must hold for any data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.engine import compute_scorecard, reading_period
from scorecard.periods import parse_period_key

Q4 = parse_period_key("2025-T4")


def frames(values: dict[int, float | None], *, direction="higher", targets=None, band=None, mode="relative"):
    ids = list(values)
    indicators = pd.DataFrame(
        {
            "code": [f"i{i}" for i in ids],
            "direction": direction,
            "frequency": "monthly",
            "formula": None,
            "objective_id": 1.0,
            "perspective": "users",
            "weight": 1.0,
        },
        index=pd.Index(ids, name="indicator_id"),
    )
    measurements = pd.DataFrame(
        {"indicator_id": ids, "period_key": "2025-12", "value": [values[i] for i in ids]}
    ).dropna()
    tg = pd.DataFrame(
        {
            "indicator_id": ids,
            "period_key": "2025-12",
            "target": [(targets or {}).get(i, 100.0) for i in ids],
            "band_low": band[0] if band else np.nan,
            "band_high": band[1] if band else np.nan,
            "threshold_mode": mode,
            "amber_tolerance": 0.05 if mode == "relative" else 5.0,
            "red_tolerance": 0.10 if mode == "relative" else 10.0,
        }
    )
    objectives = pd.DataFrame(
        {"parent_id": [np.nan], "perspective": ["users"], "weight": [1.0]},
        index=pd.Index([1], name="objective_id"),
    )
    return indicators, measurements, tg, objectives


def statuses(values, **kw):
    sc = compute_scorecard(*frames(values, **kw), period=Q4)
    return sc.indicators["status"].tolist()


def test_higher_is_better_thresholds():
    assert statuses({1: 100.0, 2: 95.0, 3: 94.9, 4: 90.0, 5: 89.9, 6: None}) == [
        "green", "green", "amber", "amber", "red", "missing"
    ]  # fmt: skip


def test_lower_is_better_and_absolute_tolerances():
    assert statuses({1: 104.0, 2: 106.0, 3: 111.0}, direction="lower") == ["green", "amber", "red"]
    assert statuses({1: 95.0, 2: 92.0, 3: 89.0}, mode="absolute") == ["green", "amber", "red"]


def test_within_a_band():
    # above 60: tolerances 5 % and 10 % of 60 = 3 and 6; below 40: 2 and 4
    values = {1: 50.0, 2: 62.0, 3: 64.0, 4: 67.0, 5: 37.0, 6: 20.0}
    assert statuses(values, direction="band", band=(40.0, 60.0)) == [
        "green", "green", "amber", "red", "amber", "red"
    ]  # fmt: skip


def test_achievement_trend_and_roll_up_by_hand():
    ind, meas, tg, obj = frames({1: 90.0, 2: 100.0})
    meas = pd.concat(
        [meas, pd.DataFrame({"indicator_id": [1, 2], "period_key": "2025-11", "value": [80.0, 110.0]})]
    )
    ind.loc[2, "weight"] = 3.0
    sc = compute_scorecard(ind, meas, tg, obj, period=Q4)
    rows = sc.indicators
    assert rows.loc[1, "achievement"] == 0.9 and rows.loc[1, "status"] == "amber"
    assert rows.loc[1, "trend_previous"] == "improving" and rows.loc[2, "trend_previous"] == "worsening"
    # (0.5 x 1 + 1 x 3) / 4 = 0.875 -> green
    assert sc.objectives.loc[1, "score"] == 0.875 and sc.objectives.loc[1, "status"] == "green"
    assert sc.overall["score"] == 0.875


def test_computed_indicators_use_their_operands_period():
    ind, meas, tg, obj = frames({1: 50.0, 2: 10.0})
    ind.loc[3] = ["ratio", "higher", "monthly", "i1 / i2", 1.0, "users", 1.0]
    tg = pd.concat(
        [
            tg,
            pd.DataFrame(
                {
                    "indicator_id": [3],
                    "period_key": "2025-12",
                    "target": [5.0],
                    "band_low": np.nan,
                    "band_high": np.nan,
                    "threshold_mode": "relative",
                    "amber_tolerance": 0.05,
                    "red_tolerance": 0.1,
                }
            ),
        ]
    )
    sc = compute_scorecard(ind, meas, tg, obj, period=Q4)
    assert sc.indicators.loc[3, "value"] == 5.0 and sc.indicators.loc[3, "status"] == "green"


def test_reading_periods():
    assert reading_period("monthly", Q4).key == "2025-12"
    assert reading_period("quarterly", Q4).key == "2025-T4"
    assert reading_period("yearly", Q4).key == "2025"
    assert reading_period("yearly", parse_period_key("2025-T3")).key == "2024"
    assert reading_period("quarterly", parse_period_key("2025-11")).key == "2025-T3"


values_strategy = st.dictionaries(
    st.integers(1, 30),
    st.one_of(st.none(), st.floats(0, 300, allow_nan=False)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(values_strategy, st.randoms(use_true_random=False))
def test_the_order_of_rows_changes_nothing(values, rnd):
    ind, meas, tg, obj = frames(values)
    first = compute_scorecard(ind, meas, tg, obj, period=Q4)
    order = list(range(len(ind)))
    rnd.shuffle(order)
    second = compute_scorecard(
        ind.iloc[order],
        meas.sample(frac=1.0, random_state=1),
        tg.sample(frac=1.0, random_state=2),
        obj,
        period=Q4,
    )
    pd.testing.assert_series_equal(
        first.indicators["status"].sort_index(), second.indicators["status"].sort_index()
    )
    assert first.overall == second.overall


@settings(max_examples=60, deadline=None)
@given(values_strategy, st.data())
def test_a_missing_value_never_improves_a_score(values, data):
    reported = [k for k, v in values.items() if v is not None]
    if not reported:
        return
    removed = data.draw(st.sampled_from(reported))
    before = compute_scorecard(*frames(values), period=Q4)
    after = compute_scorecard(*frames({**values, removed: None}), period=Q4)
    assert after.indicators.loc[removed, "status"] == "missing"
    assert after.overall["score"] <= before.overall["score"] + 1e-12
    assert after.objectives.loc[1, "score"] <= before.objectives.loc[1, "score"] + 1e-12
