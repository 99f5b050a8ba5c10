"""Nothing infeasible is ever shown as a result, and an explanation never multiplies a MIP's time."""

from __future__ import annotations

import dataclasses
import importlib

import highspy
import numpy as np
import pytest

from optimizer import WhatIf, diagnose_infeasibility, explain, formulate, generate_problem, solve
from optimizer import highs_direct as hd
from optimizer.problem import ActivitySpec, Coverage, NeedSpec, Problem, ServiceSpec
from optimizer.solve import _Raw, _solution, violations
from services.problem_files import ProblemFileError, read_problem_json
from tests.unit.test_optimizer_explain import plain
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


# --- Each kind of infeasibility names its real cause ------------------------------------------------


def _three_services(**problem_changes: object) -> Problem:
    """Three services of 10 000 € (100 units at 100 €, 0.01 ETP per unit: 1 ETP each)."""
    problem = Problem(
        activities=tuple(
            ActivitySpec(
                f"A{i}", f"S{i}", 100.0, current_volume=100, staff_per_unit=0.01, name=f"Activité {i}"
            )
            for i in range(1, 4)
        ),
        needs=(NeedSpec("N", 1_000, 1.0),),
        services=tuple(
            ServiceSpec(f"S{i}", f"Service {i}", min_change=-0.10, max_change=0.10) for i in range(1, 4)
        ),
        coverages=tuple(Coverage(f"A{i}", "N", 1.0) for i in range(1, 4)),
        envelope=30_000.0,
    )
    return dataclasses.replace(problem, **problem_changes)


def test_a_staff_limit_too_low_is_named_as_such_first():
    """The bands hold the services at 27 000 € at least, which takes 2.7 ETP: a limit of 2 ETP is the
    cause; relaxing the bands is offered only as the other way out, never as « the envelope »."""
    problem = _three_services(staff_limit=2.0)
    assert solve(problem).status == "infeasible"
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert (
        messages[0]
        == "Chacune de ces modifications suffirait, à elle seule, à rendre le scénario réalisable :"
    )
    assert messages[1] == "– La limite de 2 ETP ne suffit pas : il faudrait 0,7 ETP de plus."
    assert all("enveloppe" not in m for m in messages)
    assert "trop étroites" in messages[2]


def test_bands_too_narrow_ask_the_same_points_of_every_service_not_zero_budgets():
    problem = _three_services(envelope=24_000.0)  # -20 % for bands of -10 %
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert messages[0].startswith("Les baisses maximales autorisées ne permettent pas de descendre")
    assert messages[1:] == [
        "La contrainte qui doit céder :",
        "– Les baisses maximales des services ne permettent pas d'atteindre l'enveloppe : il faudrait permettre "
        "à chacun 10 points de baisse de plus (« Service 1 » -20 % au lieu de -10 %, « Service 2 » -20 % au lieu "
        "de -10 %, « Service 3 » -20 % au lieu de -10 %).",
    ]
    assert not any(" 0 €" in m for m in messages)


def test_a_legal_floor_above_the_envelope_is_the_floor_not_the_bands():
    problem = _three_services(envelope=20_000.0)
    problem = dataclasses.replace(
        problem,
        services=tuple(
            dataclasses.replace(s, min_change=None, max_change=None, legal_floor=8_000.0)
            for s in problem.services
        ),
    )
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert messages[0] == "Les planchers légaux (24 000 €) dépassent l'enveloppe de 20 000 € de 4 000 €."
    assert messages[1] == "La contrainte qui doit céder :"
    assert all(m.startswith("– Le plancher légal du service") for m in messages[2:]) and len(messages) > 2
    assert sum(float(m.split("il manque ")[1].split(" €")[0].replace(" ", "")) for m in messages[2:]) == 4_000


def test_mandatory_volumes_over_the_staff_limit_name_both_ways_out():
    problem = _three_services(staff_limit=2.0)
    problem = dataclasses.replace(
        problem,
        services=tuple(dataclasses.replace(s, min_change=None, max_change=None) for s in problem.services),
        activities=tuple(dataclasses.replace(a, min_volume=100) for a in problem.activities),
    )
    messages = [plain(m) for m in diagnose_infeasibility(problem)]
    assert "Les volumes obligatoires demandent 3 ETP, plus que la limite de 2 ETP." in messages
    assert "– La limite de 2 ETP ne suffit pas : il faudrait 1 ETP de plus." in messages
    assert any(m.startswith("– Le volume obligatoire de l'activité") for m in messages)


# --- Solver paths that failed an independent check ------------------------------------------------


def test_one_thread_highs_runs_after_a_default_threads_highs_in_the_process():
    """HiGHS's thread scheduler is global: a Highs of default threads run first made every later
    one-thread run fail, and the optimizer then fell back to CBC."""
    problem = generate_problem(12, 24, 2, seed=3, fixed_costs=True)
    other = highspy.Highs()
    other.setOptionValue("output_flag", False)
    hd.pass_formulation(other, formulate(problem))
    other.run()  # default thread count: the global scheduler is made with it
    solution = solve(problem)
    assert solution.status == "optimal" and solution.solver == "highs" and solution.message == ""


def test_a_kept_what_if_instance_does_not_run_out_of_time():
    """HiGHS's clock runs across the solves of one instance: a what-if kept open used to stop once
    the time limit was spent in total (after 30 s of re-solves in a long session)."""
    problem = generate_problem(30, 60, 3, seed=2, fixed_costs=False)
    # a limit well above one re-solve (a few ms, even on a loaded machine), and re-solves until
    # the instance's clock has run past it twice
    limit = 0.25
    short = WhatIf(problem, time_limit=limit)
    long = WhatIf(problem, time_limit=30.0)
    statuses = []
    i = 0
    while short.highs.getRunTime() <= 2 * limit and i < 20_000:
        envelope = problem.envelope * (0.9 + (i % 20) / 100)
        short.envelope_objective(envelope)
        long.envelope_objective(envelope)
        statuses.append((short.last.model_status, long.last.model_status))
        i += 1
    assert short.highs.getRunTime() > 2 * limit  # the instance's clock went past the time limit
    assert all(a == b for a, b in statuses) and "TimeLimit" not in {a for a, _ in statuses}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"envelope": ' + b"9" * 400 + b"}", "envelope : « 1,0 × 10^400 » : nombre non fini"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON imbriqué trop profondément"),
        (b'{"envelope": ' + b"9" * 5_000 + b"}", "nombre trop long"),
    ],
)
def test_absurd_json_gets_a_located_french_refusal(content: bytes, expected: str):
    with pytest.raises(ProblemFileError) as refused:
        read_problem_json(content, name="p.json")
    assert any(expected in m for m in refused.value.messages), refused.value.messages
