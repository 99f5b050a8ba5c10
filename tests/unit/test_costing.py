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


# --- the whole costing: three supports serving each other, four activities ------------------------

from scorecard.costing import cents, compute_costing  # noqa: E402


def full_case(extra_lines=(), allocations=None):
    centres = pd.DataFrame(
        {
            "name": ["Administration", "Informatique", "Locaux", "Seniors", "Solidarité"],
            "kind": ["support", "support", "support", "operational", "operational"],
            "service": [None, None, None, 11, 12],
            "function_codes": [("020",), (), ("0202",), (), ()],
            "step_order": [0, 1, 2, 0, 0],
        },
        index=["ADM", "IT", "LOC", "OP1", "OP2"],
    )
    keys = pd.DataFrame(
        [("ADM", "IT", 0.1), ("ADM", "LOC", 0.1), ("ADM", "OP1", 0.5), ("ADM", "OP2", 0.3),
         ("IT", "ADM", 0.2), ("IT", "OP1", 0.4), ("IT", "OP2", 0.4),
         ("LOC", "ADM", 0.25), ("LOC", "IT", 0.25), ("LOC", "OP1", 0.25), ("LOC", "OP2", 0.25)],
        columns=["provider", "receiver", "share"],
    )  # fmt: skip
    drivers = pd.DataFrame(
        [("OP1", 1, 3.0), ("OP1", 2, 1.0), ("OP2", 3, 1.0), ("OP2", 4, 1.0)],
        columns=["centre", "activity", "quantity"],
    )
    lines = pd.DataFrame(
        [(1, "depense", 120.0, None, "0201", "012"),  # ADM by its function prefix 020
         (2, "depense", 60.0, None, "0211", "011"),  # no centre claims 021: IT gets it below by service
         (3, "depense", 40.0, None, "02021", "011"),  # LOC by the longer prefix 0202 (beats 020)
         (4, "depense", 400.0, 11, "423", "012"),
         (5, "depense", 300.0, 12, "424", "65"),
         *extra_lines],
        columns=["line", "flow", "amount", "service", "function", "nature"],
    )  # fmt: skip
    centres.loc["IT", "function_codes"] = ("0211",)
    activities = pd.DataFrame(
        {"volume": [100, 50, 10, 0], "beneficiaries": [10, 0, 5, 2]}, index=[1, 2, 3, 4]
    )
    allocations = (
        allocations if allocations is not None else pd.DataFrame({"line": [], "activity": [], "share": []})
    )
    return centres, keys, drivers, lines, allocations, activities


@pytest.mark.parametrize(
    ("method", "op1", "op2"),
    [
        # direct: ADM 120 -> 75 / 45 (0.5 and 0.3 over 0.8), IT 60 -> 30 / 30, LOC 40 -> 20 / 20
        ("direct", 400 + 75 + 30 + 20, 300 + 45 + 30 + 20),
        # step-down ADM, IT, LOC: ADM gives IT 12, LOC 12, OP1 60, OP2 36; IT (72) gives 36 / 36;
        # LOC (52) gives 26 / 26
        ("step-down", 400 + 60 + 36 + 26, 300 + 36 + 36 + 26),
        # reciprocal: A = 120 + 0.2 I + 0.25 L ; I = 60 + 0.1 A + 0.25 L ; L = 40 + 0.1 A
        # -> A = 144 / 0.95, I = 70 + 0.125 A, L = 40 + 0.1 A
        (
            "reciprocal",
            400 + 0.5 * (144 / 0.95) + 0.4 * (70 + 0.125 * 144 / 0.95) + 0.25 * (40 + 0.1 * 144 / 0.95),
            300 + 0.3 * (144 / 0.95) + 0.4 * (70 + 0.125 * 144 / 0.95) + 0.25 * (40 + 0.1 * 144 / 0.95),
        ),
    ],
)
def test_full_costing_by_hand_for_each_method(method, op1, op2):
    costing = compute_costing(*full_case(), method=method)
    act = costing.activities
    assert act.loc[1, "full_cost"] == pytest.approx(op1 * 3 / 4)
    assert act.loc[2, "full_cost"] == pytest.approx(op1 / 4)
    assert act.loc[3, "full_cost"] == pytest.approx(op2 / 2)
    assert act.loc[4, "full_cost"] == pytest.approx(op2 / 2)
    assert act.loc[1, "direct_cost"] == pytest.approx(300.0)  # 3/4 of the seniors' own 400
    assert act.loc[1, "unit_cost"] == pytest.approx(op1 * 3 / 4 / 100)
    assert np.isnan(act.loc[4, "unit_cost"])  # no volume: no unit cost, never an infinite one
    assert np.isnan(act.loc[2, "cost_per_beneficiary"])
    assert act.loc[3, "cost_per_beneficiary"] == pytest.approx(op2 / 2 / 5)
    # what goes in comes out, to the cent
    assert costing.total_in == pytest.approx(920.0)
    assert round(costing.total_out, 2) == 920.00
    assert costing.unassigned == 0
    assert round(costing.flows[costing.flows["stage"] == "activite"]["amount"].sum(), 2) == 920.00


def test_assigned_lines_revenues_and_unassigned_expenses():
    extra = [
        (6, "depense", 50.0, None, "90", "011"),  # no centre claims function 90
        (7, "depense", 80.0, 11, "423", "011"),  # half assigned directly to activity 2
        (8, "recette", 40.0, 11, "423", "70"),  # users' contributions: by the seniors' drivers
        (9, "recette", 30.0, None, "423", "74"),  # assigned to activity 3
    ]
    allocations = pd.DataFrame({"line": [7, 9], "activity": [2, 3], "share": [0.5, 1.0]})
    costing = compute_costing(*full_case(extra, allocations), method="direct")
    act = costing.activities
    assert costing.unassigned == pytest.approx(50.0)
    assert costing.unassigned_lines == 1
    # seniors: 400 + 40 (the rest of line 7) + 125 of supports = 565 by drivers 3:1, plus 40 assigned to 2
    assert act.loc[2, "full_cost"] == pytest.approx(565 / 4 + 40)
    assert act.loc[2, "assigned_cost"] == pytest.approx(40.0)
    assert act.loc[1, "revenues"] == pytest.approx(30.0)
    assert act.loc[3, "revenues"] == pytest.approx(30.0)
    assert act.loc[1, "net_cost"] == pytest.approx(565 * 3 / 4 - 30)
    assert costing.total_out == pytest.approx(costing.total_in - costing.unassigned)


def test_keys_that_do_not_sum_to_100_percent_are_refused_in_french():
    centres, keys, *rest = full_case()
    keys.loc[0, "share"] = 0.05
    with pytest.raises(
        CostingError, match=r"« Administration » : ses clés de répartition font 95,00 % au lieu de 100 %"
    ):
        compute_costing(centres, keys, *rest)


def test_a_centre_with_costs_and_no_driver_quantity_is_refused():
    centres, keys, drivers, *rest = full_case()
    drivers = drivers[drivers["centre"] != "OP2"]
    with pytest.raises(CostingError, match=r"« Solidarité » porte .* mais aucune quantité d'inducteur"):
        compute_costing(centres, keys, drivers, *rest)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1e7, allow_nan=False), min_size=5, max_size=5),
    st.sampled_from(["direct", "step-down", "reciprocal"]),
)
def test_costing_conserves_every_euro(amounts, method):
    centres, keys, drivers, lines, allocations, activities = full_case()
    lines["amount"] = amounts
    costing = compute_costing(centres, keys, drivers, lines, allocations, activities, method=method)
    assert costing.total_out == pytest.approx(sum(amounts), rel=1e-9, abs=1e-6)
    assert cents(costing.activities["full_cost"]).sum() == pytest.approx(round(sum(amounts), 2), abs=1e-6)


def test_cents_keep_the_rounded_total():
    parts = pd.Series([100 / 3, 100 / 3, 100 / 3])
    assert cents(parts).tolist() == [33.34, 33.33, 33.33]
    assert round(cents(parts).sum(), 2) == 100.00
