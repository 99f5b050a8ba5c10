"""Activity-based costing: the three allocation methods by hand, conservation, activity costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.costing import CostingError, activity_costs, allocate_support

CENTRES = ["ADMIN", "IT", "SENIORS", "SOLIDARITE"]


def case():
    direct = pd.Series([100.0, 50.0, 300.0, 200.0], index=CENTRES)
    keys = pd.DataFrame(
        [[0.0, 0.2, 0.5, 0.3],  # ADMIN serves IT 20 %, seniors 50 %, solidarity 30 %
         [0.5, 0.0, 0.25, 0.25],  # IT serves ADMIN 50 %, the others 25 % each
         [0, 0, 0, 0], [0, 0, 0, 0]],
        index=CENTRES, columns=CENTRES,
    )  # fmt: skip
    return direct, keys


def test_direct_method_ignores_services_between_supports():
    full = allocate_support(*case(), ["ADMIN", "IT"], method="direct")
    # ADMIN 100 split 50/30 -> 62.5 / 37.5 ; IT 50 split 25/25 -> 25 / 25
    assert full["SENIORS"] == pytest.approx(300 + 62.5 + 25)
    assert full["SOLIDARITE"] == pytest.approx(200 + 37.5 + 25)


def test_step_down_closes_supports_in_order():
    full = allocate_support(*case(), ["ADMIN", "IT"], method="step-down")
    # ADMIN first: IT gets 20, seniors 50, solidarity 30; IT (50 + 20 = 70) then splits 25/25 -> 35 / 35
    assert full["SENIORS"] == pytest.approx(300 + 50 + 35)
    assert full["SOLIDARITE"] == pytest.approx(200 + 30 + 35)


def test_reciprocal_solves_the_mutual_services():
    full = allocate_support(*case(), ["ADMIN", "IT"], method="reciprocal")
    # x_A = 100 + 0.5 x_I ; x_I = 50 + 0.2 x_A  ->  x_A = 125 / 0.9, x_I = 50 + 0.2 x_A
    x_a = 125 / 0.9
    x_i = 50 + 0.2 * x_a
    assert full["SENIORS"] == pytest.approx(300 + 0.5 * x_a + 0.25 * x_i)
    assert full["SOLIDARITE"] == pytest.approx(200 + 0.3 * x_a + 0.25 * x_i)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1e6), min_size=4, max_size=4),
    st.lists(st.floats(0.01, 1), min_size=8, max_size=8),
    st.sampled_from(["direct", "step-down", "reciprocal"]),
)
def test_every_method_conserves_the_total(costs, weights, method):
    direct = pd.Series(costs, index=CENTRES)
    keys = pd.DataFrame(0.0, index=CENTRES, columns=CENTRES)
    keys.loc["ADMIN", ["IT", "SENIORS", "SOLIDARITE"]] = weights[:3]
    keys.loc["IT", ["ADMIN", "SENIORS", "SOLIDARITE"]] = weights[3:6]
    full = allocate_support(direct, keys, ["ADMIN", "IT"], method=method)
    assert full.sum() == pytest.approx(direct.sum(), rel=1e-9, abs=1e-6)


def test_bad_keys_are_refused_in_french():
    direct, keys = case()
    keys.loc["IT"] = 0.0
    with pytest.raises(CostingError, match="« IT » ne sert aucun centre"):
        allocate_support(direct, keys, ["ADMIN", "IT"], method="reciprocal")
    with pytest.raises(CostingError, match="inconnues : RH"):
        allocate_support(*case(), ["RH"])
    with pytest.raises(CostingError, match="aucun centre opérationnel"):
        allocate_support(*case(), CENTRES)


def test_activity_costs_full_direct_unit_and_net():
    full = pd.Series({"SENIORS": 400.0, "SOLIDARITE": 300.0})
    direct = pd.Series({"SENIORS": 300.0, "SOLIDARITE": 200.0})
    drivers = pd.DataFrame(
        {"portage": [3.0, 0.0], "saad": [1.0, 0.0], "rsa": [0.0, 2.0]}, index=["SENIORS", "SOLIDARITE"]
    )
    activities = pd.DataFrame({"volume": [100.0, 0.0, 50.0], "beneficiaries": [10, 5, 0], "revenues": [60.0, 0.0, 100.0]},
                              index=["portage", "saad", "rsa"])  # fmt: skip
    result = activity_costs(full, direct, drivers, activities)
    assert result.loc["portage", "full_cost"] == pytest.approx(300.0) and result.loc[
        "portage", "direct_cost"
    ] == pytest.approx(225.0)
    assert (
        result.loc["portage", "unit_cost"] == pytest.approx(3.0)
        and result.loc["portage", "cost_per_beneficiary"] == 30.0
    )
    assert result.loc["portage", "net_cost"] == pytest.approx(240.0)
    assert np.isnan(result.loc["saad", "unit_cost"]) and np.isnan(result.loc["rsa", "cost_per_beneficiary"])
    assert result["full_cost"].sum() == pytest.approx(full.sum())
    with pytest.raises(CostingError, match="sans inducteur"):
        activity_costs(full, direct, drivers.drop(columns="rsa"), activities)
