"""The scorecard's rules pinned by hand: settled values only, effective dates, the labels of
statuses, the aggregate's thresholds and the objective roll-up's weights."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.engine import compute_scorecard, status_of_rows
from scorecard.periods import parse_period_key

Q4 = parse_period_key("2025-T4")


def indicators(
    count: int,
    *,
    objective: dict[int, float] | None = None,
    direction: str = "higher",
    effective: dict[int, date] | None = None,
) -> pd.DataFrame:
    ids = list(range(1, count + 1))
    return pd.DataFrame(
        {
            "code": [f"i{i}" for i in ids],
            "direction": direction,
            "frequency": "quarterly",
            "formula": None,
            "objective_id": [(objective or {}).get(i, 1.0) for i in ids],
            "perspective": "users",
            "weight": 1.0,
            "effective_from": [(effective or {}).get(i) for i in ids],
        },
        index=pd.Index(ids, name="indicator_id"),
    )


def measurements(values: dict[int, float], states: dict[int, str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "indicator_id": list(values),
            "period_key": "2025-T4",
            "value": list(values.values()),
            "state": [(states or {}).get(i, "validated") for i in values],
        }
    )


def targets(ids: list[int], target: float = 100.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "indicator_id": ids,
            "period_key": "2025-T4",
            "target": target,
            "band_low": np.nan,
            "band_high": np.nan,
            "threshold_mode": "relative",
            "amber_tolerance": 0.05,
            "red_tolerance": 0.10,
        }
    )


def one_objective() -> pd.DataFrame:
    return pd.DataFrame(
        {"parent_id": [np.nan], "perspective": ["users"], "weight": [1.0], "effective_from": [None]},
        index=pd.Index([1], name="objective_id"),
    )


GREEN, RED = 100.0, 50.0


# -- the aggregate's thresholds --------------------------------------------------------------
@pytest.mark.parametrize(
    ("greens", "reds", "status"),
    [(4, 1, "green"), (3, 1, "amber"), (1, 1, "amber"), (1, 2, "red"), (1, 0, "green")],
)
def test_an_aggregate_is_green_from_exactly_80_percent_and_amber_from_exactly_50(greens, reds, status):
    count = greens + reds
    values = {i: GREEN if i <= greens else RED for i in range(1, count + 1)}
    sc = compute_scorecard(
        indicators(count), measurements(values), targets(list(values)), one_objective(), period=Q4
    )
    assert sc.objectives.loc[1, "score"] == pytest.approx(greens / count)
    assert sc.objectives.loc[1, "status"] == status
    assert sc.perspectives.loc["users", "status"] == status
    assert sc.overall["status"] == status


# -- the objective roll-up weighs child objectives ------------------------------------------
def test_a_parent_objective_weighs_its_children_by_their_weights():
    # child 2 (weight 4) holds a green indicator, child 3 (weight 1) a red one:
    # parent = (1 x 4 + 0 x 1) / 5 = 0.8 -> green; unweighted it would be 0.5 -> amber
    objectives = pd.DataFrame(
        {
            "parent_id": [np.nan, 1.0, 1.0],
            "perspective": "users",
            "weight": [1.0, 4.0, 1.0],
            "effective_from": None,
        },
        index=pd.Index([1, 2, 3], name="objective_id"),
    )
    ind = indicators(2, objective={1: 2.0, 2: 3.0})
    sc = compute_scorecard(ind, measurements({1: GREEN, 2: RED}), targets([1, 2]), objectives, period=Q4)
    assert sc.objectives.loc[2, "score"] == 1.0 and sc.objectives.loc[3, "score"] == 0.0
    assert sc.objectives.loc[1, "score"] == pytest.approx(0.8)
    assert sc.objectives.loc[1, "status"] == "green"
    assert sc.overall["score"] == pytest.approx(0.8)


def test_a_parent_weighs_its_own_indicators_and_its_children_together():
    # parent's own indicator (weight 1, amber 0.5) and a child of weight 3 at 1.0:
    # (0.5 x 1 + 1 x 3) / 4 = 0.875
    objectives = pd.DataFrame(
        {"parent_id": [np.nan, 1.0], "perspective": "users", "weight": [1.0, 3.0], "effective_from": None},
        index=pd.Index([1, 2], name="objective_id"),
    )
    ind = indicators(2, objective={1: 1.0, 2: 2.0})
    sc = compute_scorecard(ind, measurements({1: 93.0, 2: GREEN}), targets([1, 2]), objectives, period=Q4)
    assert sc.indicators.loc[1, "status"] == "amber"
    assert sc.objectives.loc[1, "score"] == pytest.approx(0.875)


# -- labels agree with the rule ----------------------------------------------------------------
def _labels(values, *, direction="higher", target=3239.0, band=(np.nan, np.nan)):
    frame = pd.DataFrame(
        {
            "value": values,
            "direction": direction,
            "target": target,
            "band_low": band[0],
            "band_high": band[1],
            "threshold_mode": "relative",
            "amber_tolerance": 0.05,
            "red_tolerance": 0.10,
        }
    )
    rows = status_of_rows(frame)
    return list(zip(rows["status"], rows["status_label"], strict=True))


def test_a_value_short_of_its_target_is_never_called_reached():
    # 3 105 against 3 239, higher is better: within the 5 % amber tolerance, so green, but not met
    assert _labels([3105.0, 3239.0, 3300.0, 3000.0, 2800.0]) == [
        ("green", "Dans la tolérance"),
        ("green", "Atteint"),
        ("green", "Atteint"),
        ("amber", "À surveiller"),
        ("red", "Non atteint"),
    ]
    assert _labels([95.0, 100.0, 104.0], direction="lower", target=100.0) == [
        ("green", "Atteint"),
        ("green", "Atteint"),
        ("green", "Dans la tolérance"),
    ]
    assert _labels([50.0, 61.0, 40.0], direction="band", target=np.nan, band=(40.0, 60.0)) == [
        ("green", "Atteint"),
        ("green", "Dans la tolérance"),
        ("green", "Atteint"),
    ]


def test_the_scorecard_lines_carry_the_same_labels():
    sc = compute_scorecard(
        indicators(2),
        measurements({1: 3105.0, 2: 3239.0}),
        targets([1, 2], 3239.0),
        one_objective(),
        period=Q4,
    )
    assert sc.indicators["status_label"].tolist() == ["Dans la tolérance", "Atteint"]


# -- only validated values count ---------------------------------------------------------------
def test_drafts_never_count_and_submitted_or_returned_values_are_not_reached():
    values = {1: GREEN, 2: GREEN, 3: GREEN, 4: GREEN}
    states = {1: "validated", 2: "submitted", 3: "returned", 4: "draft"}
    sc = compute_scorecard(
        indicators(4), measurements(values, states), targets([1, 2, 3, 4]), one_objective(), period=Q4
    )
    rows = sc.indicators
    assert rows["status"].tolist() == ["green", "pending", "returned", "missing"]
    assert rows["status_label"].tolist() == ["Atteint", "À valider", "Renvoyée au service", "Non renseigné"]
    assert rows["state"].tolist() == ["validated", "submitted", "returned", "draft"]
    # the submitted and the returned value are shown, the draft is not
    assert rows["shown_value"].tolist()[:3] == [GREEN, GREEN, GREEN] and np.isnan(rows.loc[4, "shown_value"])
    assert rows["value"].isna().tolist() == [False, True, True, True]
    assert rows.loc[2, "provisional_status"] == "green"
    # only the validated value is reported; the other three count 0
    assert sc.objectives.loc[1, "score"] == pytest.approx(0.25)
    assert sc.overall["reported"] == 1 and sc.overall["status"] == "red"


def test_a_computed_indicator_is_pending_while_an_operand_is():
    ind = indicators(3)
    ind.loc[3, "formula"] = "i1 / i2"
    tg = targets([1, 2, 3], 1.0)
    validated = compute_scorecard(ind, measurements({1: 50.0, 2: 50.0}), tg, one_objective(), period=Q4)
    assert validated.indicators.loc[3, "status"] == "green"
    pending = compute_scorecard(
        ind, measurements({1: 50.0, 2: 50.0}, {2: "submitted"}), tg, one_objective(), period=Q4
    )
    assert pending.indicators.loc[3, "status"] == "pending"
    assert pending.indicators.loc[3, "shown_value"] == 1.0
    drafted = compute_scorecard(
        ind, measurements({1: 50.0, 2: 50.0}, {2: "draft"}), tg, one_objective(), period=Q4
    )
    assert drafted.indicators.loc[3, "status"] == "missing"


STATE = st.sampled_from(["validated", "submitted", "returned", "draft"])


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.integers(1, 12), st.floats(0, 200, allow_nan=False), min_size=1, max_size=12),
    st.data(),
)
def test_a_value_not_validated_never_improves_a_score(values, data):
    count = max(values)
    base = compute_scorecard(
        indicators(count),
        measurements(values),
        targets(list(range(1, count + 1))),
        one_objective(),
        period=Q4,
    )
    states = {i: data.draw(STATE) for i in values}
    unsettled = compute_scorecard(
        indicators(count),
        measurements(values, states),
        targets(list(range(1, count + 1))),
        one_objective(),
        period=Q4,
    )
    assert unsettled.overall["score"] <= base.overall["score"] + 1e-12
    assert unsettled.overall["reported"] == sum(1 for s in states.values() if s == "validated")


# -- effective dates -----------------------------------------------------------------------------
def test_an_objective_or_indicator_created_later_leaves_a_past_period_alone():
    ind = indicators(3, objective={3: 2.0}, effective={3: date(2026, 12, 3)})
    objectives = pd.DataFrame(
        {
            "parent_id": [np.nan, np.nan],
            "perspective": "users",
            "weight": [1.0, 1.0],
            "effective_from": [date(2024, 1, 1), date(2026, 12, 3)],
        },
        index=pd.Index([1, 2], name="objective_id"),
    )
    tg = targets([1, 2, 3])
    before = compute_scorecard(
        indicators(2), measurements({1: GREEN, 2: RED}), targets([1, 2]), one_objective(), period=Q4
    )
    after = compute_scorecard(ind, measurements({1: GREEN, 2: RED}), tg, objectives, period=Q4)
    assert list(after.indicators.index) == [1, 2] and list(after.objectives.index) == [1]
    assert after.overall == before.overall
    # in the period it starts, it counts (its value is owed: missing counts 0)
    later = compute_scorecard(
        ind, measurements({1: GREEN, 2: RED}), tg, objectives, period=parse_period_key("2026-T4")
    )
    assert list(later.indicators.index) == [1, 2, 3] and list(later.objectives.index) == [1, 2]


def test_an_indicator_counts_from_the_period_it_is_read_on():
    # a yearly indicator starting in February 2026 is read on year 2025 in 2026-T1: not yet owed
    ind = indicators(1, effective={1: date(2026, 2, 1)})
    ind["frequency"] = "yearly"
    empty = measurements({})
    t1 = compute_scorecard(ind, empty, targets([]), one_objective(), period=parse_period_key("2026-T1"))
    assert t1.indicators.empty
    year = compute_scorecard(ind, empty, targets([]), one_objective(), period=parse_period_key("2026"))
    assert list(year.indicators.index) == [1] and year.indicators.loc[1, "status"] == "missing"
