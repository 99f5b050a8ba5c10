"""The coherence engine, computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scorecard.coherence import compute_coherence, orphans


def setup():
    needs = pd.DataFrame(
        {"size": [200.0, 100.0, np.nan], "priority": [5, 2, 4], "priority_weight": [5.0, 2.0, 4.0],
         "group": ["âgés", "familles", "âgés"], "territory": ["Nord", "Nord", "Sud"]},
        index=pd.Index([1, 2, 3], name="need_id"),
    )  # fmt: skip
    activities = pd.DataFrame({"volume": [10_000.0, 50.0, 10.0], "cost": [100_000.0, 20_000.0, np.nan]},
                              index=pd.Index([10, 20, 30], name="activity_id"))  # fmt: skip
    coverage = pd.DataFrame({"activity_id": [10, 10, 20, 30], "need_id": [1, 2, 2, 3],
                             "coefficient": [0.004, 0.004, 2.0, 1.0]})  # fmt: skip
    return needs, activities, coverage


def test_coverage_gap_and_cost_by_hand():
    result = compute_coherence(*setup()).needs
    # activity 10 (10,000 meals x 0.004 = 40 persons) serves needs 1 (200) and 2 (100): shares 2/3, 1/3
    assert result.loc[1, "offered"] == pytest.approx(40 * 2 / 3)
    assert result.loc[1, "coverage_rate"] == pytest.approx(40 * 2 / 3 / 200)
    assert result.loc[1, "unmet"] == pytest.approx(200 - 40 * 2 / 3)
    assert result.loc[1, "gap_index"] == pytest.approx(5.0 * (200 - 40 * 2 / 3) / 200)
    assert result.loc[1, "cost_per_person"] == pytest.approx((100_000 * 2 / 3) / (40 * 2 / 3))
    # need 2: 40/3 from activity 10 + 50 x 2 = 100 from activity 20: covered, 40/3 over-supplied
    assert result.loc[2, "coverage_rate"] == 1.0 and result.loc[2, "over_supply"] == pytest.approx(40 / 3)
    assert result.loc[2, "cost_per_person"] == pytest.approx((100_000 / 3 + 20_000) / 100)
    assert bool(result.loc[1, "high_priority_low_coverage"]) and not bool(
        result.loc[2, "high_priority_low_coverage"]
    )


def test_an_unknown_size_is_flagged_never_covered():
    result = compute_coherence(*setup()).needs
    assert bool(result.loc[3, "size_unknown"])
    assert math.isnan(result.loc[3, "coverage_rate"]) and math.isnan(result.loc[3, "gap_index"])
    assert not bool(result.loc[3, "high_priority_low_coverage"])


def test_the_matrix_adds_up_by_group_and_territory():
    matrix = compute_coherence(*setup()).matrix
    assert matrix.loc[("âgés", "Nord"), "size"] == 200
    assert matrix.loc[("âgés", "Nord"), "coverage_rate"] == pytest.approx(40 * 2 / 3 / 200)
    assert ("âgés", "Sud") not in matrix.index  # its only need is of unknown size


def test_orphans():
    needs, activities, coverage = setup()
    activities.loc[40] = [5.0, 100.0]
    found = orphans(
        needs, activities, coverage[coverage["need_id"] != 3],
        objective_needs=pd.DataFrame({"objective_id": [7], "need_id": [1]}),
        objectives=pd.DataFrame({"parent_id": [np.nan, np.nan, 6.0]}, index=pd.Index([6, 8, 7], name="objective_id")),
        indicator_objectives=pd.Series([7.0, np.nan]),
    )  # fmt: skip
    # 6 is measured through its sub-objective 7
    assert found == {"needs_without_activity": [3], "needs_without_objective": [2, 3],
                     "activities_without_need": [30, 40], "objectives_without_indicator": [8]}  # fmt: skip


def test_primary_and_secondary_suppression():
    from scorecard.confidentiality import primary_mask, suppress_table

    assert primary_mask(pd.Series([0, 5, 10, 11, 300])).tolist() == [False, True, True, False, False]
    table = pd.DataFrame({"Nord": [5.0, 40.0, 60.0], "Sud": [30.0, 20.0, np.nan]}, index=["a", "b", "c"])
    mask = suppress_table(table)
    assert mask.loc["a", "Nord"]  # primary: 5 < 11
    assert mask.loc["a", "Sud"]  # secondary: row "a" would give 5 from its total
    assert mask.loc["b", "Nord"] or mask.loc["c", "Nord"]  # column Nord too
    assert mask["Sud"].sum() >= 2  # column Sud then has two masked cells
    # every row and column has either no masked cell or at least two
    assert all(n != 1 for n in mask.sum(axis=0)) and all(n != 1 for n in mask.sum(axis=1))
