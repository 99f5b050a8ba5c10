"""Nothing infeasible is ever shown as a result, and an explanation never multiplies a MIP's time."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest

from optimizer import explain, formulate, solve
from optimizer.solve import _Raw, _solution, violations
from tests.unit.test_optimizer_model import fixed_cost, two_needs

#: the module (``optimizer.explain`` as an attribute is the function the package re-exports)
explain_module = importlib.import_module("optimizer.explain")


def test_a_point_over_the_envelope_is_refused_not_shown():
    """CBC stopped by its time limit returned a budget over the envelope as its best solution."""
    problem = two_needs()
    form = formulate(problem)
    good = solve(problem)
    assert good.col_value is not None and violations(form, good.col_value) == []
    over = good.col_value * 1.5  # everything 50 % larger: the envelope cannot hold
    assert any("l'enveloppe" in v for v in violations(form, over))

    shown = _solution(form, _Raw("time_limit_feasible", "cbc", col_value=over, mip_gap=0.01), 3.0)
    assert not shown.has_values
    assert shown.status == "time_limit_no_solution" and shown.total_cost is None and shown.volumes == {}
    assert "refusé car infaisable" in shown.message and "l'enveloppe" in shown.message

    optimal_but_wrong = _solution(form, _Raw("optimal", "highs", col_value=over), 0.1)
    assert optimal_but_wrong.status == "error" and not optimal_but_wrong.has_values


def test_bounds_and_integers_are_checked_too():
    problem = fixed_cost()
    form = formulate(problem)
    point = solve(problem).col_value
    assert point is not None and violations(form, point) == []
    y = next(iter(form.y_col.values()))
    half = point.copy()
    half[y] = 0.5
    assert any("n'est pas entier" in v for v in violations(form, half))
    negative = point.copy()
    negative[form.x_col[0]] = -10.0
    assert any("sort de ses bornes" in v for v in violations(form, negative))
    assert violations(form, np.full(form.num_col, np.nan))


def test_a_slow_mip_is_explained_on_its_warm_lp_without_new_solves(monkeypatch):
    problem = fixed_cost()
    solution = solve(problem)
    assert solution.is_mip and solution.has_values
    calls: list[float] = []
    real = explain_module.solve

    def counting(*args, **kwargs):
        calls.append(kwargs.get("time_limit", 0.0))
        return real(*args, **kwargs)

    monkeypatch.setattr(explain_module, "solve", counting)
    explain(problem, solution)  # fast MIP: its envelope steps are re-solved in full, bounded
    assert len(calls) == 2
    calls.clear()
    slow = dataclasses.replace(solution, solve_seconds=40.0)  # as the large MILP
    text = " ".join(explain(problem, slow).sentences)
    assert calls == []
    assert "sans rouvrir ni fermer d'activité" in text


def test_a_deadline_leaves_no_room_for_full_resolves(monkeypatch):
    import time

    problem = fixed_cost()
    solution = solve(problem)
    calls: list[object] = []
    monkeypatch.setattr(explain_module, "solve", lambda *a, **k: calls.append(a) or solve(*a, **k))
    explain(problem, solution, deadline=time.perf_counter() + 1e-4)
    assert calls == []


@pytest.mark.parametrize("gap", [0.0, 0.01, 0.2])
def test_the_mip_gap_reaches_the_solver(gap):
    solution = solve(fixed_cost(), mip_gap=gap)
    assert (
        solution.status == "optimal" and solution.mip_gap is not None and solution.mip_gap <= max(gap, 1e-9)
    )
