"""Solver routes and the traps of PuLP 3.3 measured on this machine, each shown raw then corrected."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import highspy
import numpy as np
import pulp
import pytest

from optimizer import WhatIf, build_reallocation_model, formulate, generate_problem, solve
from optimizer import highs_direct as hd
from optimizer.model import MONEY_SCALE
from optimizer.solve import cbc_solver, pulp_highs_solver
from tests.unit.test_optimizer_model import fixed_cost, floor_problem, two_needs


def envelope_constraint(model):
    return model.constraints[model.formulation.row_index["envelope"]]


def test_trap_1_pulp_highs_flips_the_signs_of_a_maximisation():
    model = build_reallocation_model(two_needs())
    model.lp.solve(pulp_highs_solver(time_limit=10, mip=False))
    assert pulp.value(model.lp.objective) == pytest.approx(340)
    # raw: the wrong sign (per thousand euros: the model counts money in k€)
    assert envelope_constraint(model).pi == pytest.approx(-0.02 * MONEY_SCALE)
    assert solve(two_needs(), solver="highs-pulp").duals["envelope"] == pytest.approx(0.02)
    # a reduced cost too: an activity held at its minimum shows a positive one through pulp.HiGHS
    problem = dataclasses.replace(floor_problem(legal_floor=3_000.0))
    raw = build_reallocation_model(problem)
    raw.lp.solve(pulp_highs_solver(time_limit=10, mip=False))
    b_s1 = raw.variables[raw.formulation.b_col["S1"]]
    assert b_s1.dj == pytest.approx(0.01 * MONEY_SCALE)
    assert solve(problem, solver="highs-pulp").duals["service_min[S1]"] == pytest.approx(-0.01)


def test_cbc_and_direct_highs_keep_the_signs():
    model = build_reallocation_model(two_needs())
    model.lp.solve(cbc_solver(time_limit=10, mip=False))
    assert envelope_constraint(model).pi == pytest.approx(0.02 * MONEY_SCALE)
    highs = hd.new_highs(time_limit=10, presolve=False)
    form = formulate(two_needs())
    hd.pass_formulation(highs, form)
    run = hd.run(highs, mip=False)
    assert run.row_dual[form.row_index["envelope"]] == pytest.approx(0.02 * MONEY_SCALE)


def test_trap_2_pulp_highs_gives_a_milp_no_duals():
    model = build_reallocation_model(fixed_cost())
    model.lp.solve(pulp_highs_solver(time_limit=10, mip=True))
    assert pulp.value(model.lp.objective) == pytest.approx(60)
    assert all(c.pi == 0 for c in model.constraints)  # raw: every dual silently 0
    assert all(v.dj == 0 for v in model.variables)


@pytest.mark.parametrize("solver", ["highs", "highs-pulp", "cbc"])
def test_milp_duals_are_those_of_the_lp_with_choices_fixed(solver):
    # A stays closed; with that choice fixed, B is marginal: 1/25 person per euro
    s = solve(fixed_cost(), solver=solver)
    assert s.duals["envelope"] == pytest.approx(0.04)
    assert s.ranges["envelope"] == (pytest.approx(0), pytest.approx(2_500))  # B covers N2 at 2,500 €


@pytest.fixture(scope="module")
def medium_milp():
    return generate_problem(100, 200, 10, seed=1, fixed_costs=True)


def test_trap_3_cbc_not_solved_leaves_lp_values(medium_milp):
    model = build_reallocation_model(medium_milp)
    model.lp.solve(cbc_solver(time_limit=0.1, mip=True, mip_gap=1e-9))
    # "Not Solved", or "Infeasible" when the machine is loaded: neither is a proof of anything
    assert model.lp.status in (pulp.LpStatusNotSolved, pulp.LpStatusInfeasible)
    integers = [model.variables[j].varValue for j in np.flatnonzero(model.formulation.integer)]
    assert all(v is not None for v in integers)  # values are there…
    assert any(abs(v - round(v)) > 1e-6 for v in integers)  # …and they are the LP relaxation's
    s = solve(medium_milp, solver="cbc", time_limit=0.1, mip_gap=1e-9)
    assert s.status == "time_limit_no_solution"
    assert s.volumes == {} and s.objective is None and s.duals == {}
    assert "sans aucune solution" in s.status_fr


def test_highs_time_limit_reports_gap_or_nothing(medium_milp):
    s = solve(medium_milp, time_limit=0.3, mip_gap=1e-9)
    assert s.status in ("time_limit_feasible", "time_limit_no_solution")
    if s.status == "time_limit_feasible":
        assert s.mip_gap is not None and s.mip_gap > 0
        assert s.volumes and s.duals["envelope"] >= 0
    else:
        assert s.volumes == {}


def test_pulp_cbc_cmd_is_deprecated_hence_coin_cmd():
    with pytest.warns(DeprecationWarning, match="PULP_CBC_CMD"):
        pulp.PULP_CBC_CMD(msg=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cbc_solver(time_limit=1, mip=False).available()


def test_highs_banner_kept_off_stdout():
    raw = subprocess.run(
        [sys.executable, "-c", "import highspy; highspy.Highs()"], capture_output=True, text=True, check=True
    )
    assert "Running HiGHS" in raw.stdout
    ours = subprocess.run(
        [
            sys.executable,
            "-c",
            "from optimizer.highs_direct import new_highs; new_highs(time_limit=1); "
            "import highspy; highspy.Highs(); print('fin')",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ours.stdout == "fin\n"


def test_routes_agree_on_generated_problems():
    for seed in range(3):
        problem = generate_problem(8, 12, 2, seed=seed, equity=True)
        values = [solve(problem, solver=r).objective for r in ("highs", "highs-pulp", "cbc")]
        assert values[1] == pytest.approx(values[0], rel=1e-7)
        assert values[2] == pytest.approx(values[0], rel=1e-6)


def test_same_input_same_answer():
    problem = generate_problem(10, 15, 2, seed=4, fixed_costs=True)
    first, second = solve(problem), solve(problem)
    assert first.volumes == second.volumes and first.objective == second.objective
    assert first.duals == second.duals


def test_what_if_resolves_warm_to_the_same_optimum():
    problem = generate_problem(30, 40, 3, seed=5)
    whatif = WhatIf(problem)
    base = whatif.objective
    assert base == pytest.approx(solve(problem).objective, rel=1e-9)
    for factor in (0.97, 1.02, 1.10):
        warm = whatif.envelope_objective(problem.envelope * factor)
        cold = solve(dataclasses.replace(problem, envelope=problem.envelope * factor)).objective
        assert warm == pytest.approx(cold, rel=1e-9)
        assert whatif.last.seconds < 1.0
    assert whatif.bounds("envelope")[1] == problem.envelope  # restored
    # a service bound, by its constraint name
    code = problem.services[0].code
    _, high = whatif.bounds(f"service_min[{code}]")
    looser = whatif.objective_with(f"service_min[{code}]", 0.0, high)
    assert looser is not None and looser >= base - 1e-6


def test_fast_ranging_matches_highs_ranging():
    for seed in range(3):
        problem = generate_problem(20, 30, 2, seed=seed, equity=True)
        form = formulate(problem)
        highs = hd.new_highs(time_limit=10, presolve=False)
        hd.pass_formulation(highs, form)
        hd.run(highs, mip=False)
        basis = highs.getBasis()
        _, full = highs.getRanging()
        names = ["envelope", "staff"] + [
            f"service_{side}[{s.code}]" for s in problem.services for side in ("min", "max")
        ]
        ours = hd.ranges(highs, form, names)
        for name in names:
            side, i = form.bound_of(name)
            if side == "row":
                if basis.row_status[i] == highspy.HighsBasisStatus.kBasic:
                    continue
                expected = (full.row_bound_dn.value_[i], full.row_bound_up.value_[i])
            else:
                status = basis.col_status[i]
                wanted = (
                    highspy.HighsBasisStatus.kLower if side == "lower" else highspy.HighsBasisStatus.kUpper
                )
                if status != wanted:
                    continue
                expected = (full.col_bound_dn.value_[i], full.col_bound_up.value_[i])
            unit = form.unit_of(name)  # HiGHS ranges the model's thousands of euros
            assert ours[name] == pytest.approx(
                (expected[0] * unit, expected[1] * unit), rel=1e-7, abs=1e-6
            ), name


def test_unknown_solver_and_bad_time_limit():
    with pytest.raises(ValueError, match="solveur inconnu"):
        solve(two_needs(), solver="gurobi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limite de temps"):
        solve(two_needs(), time_limit=0)


def test_cbc_is_the_fallback_when_highs_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("panne simulée")

    monkeypatch.setattr(hd, "pass_formulation", broken)
    s = solve(two_needs())
    assert s.status == "optimal" and s.solver == "cbc" and s.objective == pytest.approx(340)
    assert "panne simulée" in s.message and "résolu par CBC" in s.message
    assert solve(two_needs(), fallback=False).status == "error"
