"""The reallocation model on small instances whose optimum is computed by hand."""

from __future__ import annotations

import dataclasses

import pulp
import pytest

from optimizer import (
    ActivitySpec,
    Coverage,
    EquityFloor,
    NeedSpec,
    Problem,
    ServiceSpec,
    build_reallocation_model,
    evaluate,
    formulate,
    solve,
    uniform_cut,
)
from optimizer.solve import cbc_solver

ROUTES = ["highs", "highs-pulp", "cbc"]


def two_needs(envelope: float = 12_000.0) -> Problem:
    """A (100 €/unit) covers N1 (priority 3): 0.03 weighted person per euro; B (50 €/unit) covers
    N2 (priority 1): 0.02 per euro. Fund A first (100 units = 10,000 € cover N1 entirely), then
    B: 2,000 € more buy 40 units. Objective 3 x 100 + 40 = 340; the envelope's dual is B's 0.02,
    valid from 10,000 € (below, A is the marginal activity) to 15,000 € (N2 covered)."""
    return Problem(
        activities=(
            ActivitySpec("A", "S", 100.0, current_volume=60),
            ActivitySpec("B", "S", 50.0, current_volume=60),
        ),
        needs=(NeedSpec("N1", 100, 3.0), NeedSpec("N2", 100, 1.0)),
        services=(ServiceSpec("S", "Solidarité"),),
        coverages=(Coverage("A", "N1", 1.0), Coverage("B", "N2", 1.0)),
        envelope=envelope,
    )


@pytest.mark.parametrize("route", ROUTES)
def test_envelope_binding_by_hand(route):
    s = solve(two_needs(), solver=route)
    assert s.status == "optimal"
    assert s.objective == pytest.approx(340)
    assert s.volumes == pytest.approx({"A": 100, "B": 40})
    assert s.covered == pytest.approx({"N1": 100, "N2": 40})
    assert s.coverage_rate == pytest.approx({"N1": 1.0, "N2": 0.4})
    assert s.total_cost == pytest.approx(12_000)
    assert s.service_budget == pytest.approx({"S": 12_000})
    assert s.duals["envelope"] == pytest.approx(0.02)
    assert s.duals["cover[N2]"] == pytest.approx(1.0)  # one more person of N2: priority 1
    assert s.duals["cover[N1]"] == pytest.approx(2.0)  # a free person of N1 saves 100 €, worth 2
    low, high = s.ranges["envelope"]
    assert (low, high) == (pytest.approx(10_000), pytest.approx(15_000))
    assert s.mip_gap is None and not s.is_mip


def test_envelope_dual_beyond_its_range_changes():
    assert solve(two_needs(9_000)).duals["envelope"] == pytest.approx(0.03)  # A is now marginal
    assert solve(two_needs(20_000)).duals["envelope"] == pytest.approx(0.0)  # everything covered
    assert solve(two_needs(20_000)).objective == pytest.approx(400)


def fixed_cost(envelope: float = 1_500.0) -> Problem:
    """A: 10 €/unit plus 1,000 € to open, 100 units at most, one person each; B: 25 €/unit.
    With 1,500 €: opening A leaves 500 € (50 persons), B alone buys 60 persons: B wins, A
    stays closed. The LP relaxation opens 75 % of A (x = 75, y = 0.75: 20 €/person): 75."""
    return Problem(
        activities=(
            ActivitySpec("A", "S", 10.0, fixed_cost=1_000.0, capacity=100),
            ActivitySpec("B", "S", 25.0),
        ),
        needs=(NeedSpec("N1", 100, 1.0), NeedSpec("N2", 100, 1.0)),
        services=(ServiceSpec("S"),),
        coverages=(Coverage("A", "N1", 1.0), Coverage("B", "N2", 1.0)),
        envelope=envelope,
    )


@pytest.mark.parametrize("route", ROUTES)
def test_fixed_cost_by_hand(route):
    s = solve(fixed_cost(), solver=route)
    assert s.status == "optimal" and s.is_mip
    assert s.objective == pytest.approx(60)
    assert s.runs == {"A": False, "B": True}
    assert s.volumes == pytest.approx({"A": 0, "B": 60})
    assert s.activity_cost == pytest.approx({"A": 0, "B": 1_500})
    assert s.mip_gap == pytest.approx(0, abs=1e-4)
    # the duals of the LP with A's choice fixed: B is marginal, 1/25 person per euro
    assert s.duals["envelope"] == pytest.approx(0.04)


def test_fixed_cost_relaxed_and_opened():
    relaxed = solve(fixed_cost(), relax_integers=True)
    assert not relaxed.is_mip and relaxed.objective == pytest.approx(75)
    opened = solve(fixed_cost(3_000))  # 3,000 €: A open (100 persons for 2,000 €), B 40 persons
    assert opened.runs == {"A": True, "B": True}
    assert opened.objective == pytest.approx(140)
    assert opened.activity_cost["A"] == pytest.approx(2_000)


def floor_problem(**service_one) -> Problem:
    """S1 runs A (covers N1, priority 1), S2 runs B (covers N2 of 80 persons, priority 2), both
    100 €/unit, 5,000 € each today. Free choice: B covers N2 (8,000 €), A gets the rest (20)."""
    return Problem(
        activities=(
            ActivitySpec("A", "S1", 100.0, current_volume=50),
            ActivitySpec("B", "S2", 100.0, current_volume=50),
        ),
        needs=(NeedSpec("N1", 100, 1.0), NeedSpec("N2", 80, 2.0)),
        services=(ServiceSpec("S1", "Accueil", **service_one), ServiceSpec("S2", "Insertion")),
        coverages=(Coverage("A", "N1", 1.0), Coverage("B", "N2", 1.0)),
        envelope=10_000.0,
    )


@pytest.mark.parametrize("route", ROUTES)
def test_service_floor_binding(route):
    # a legal floor of 3,000 € for S1 forces A to 30 units: B gets 70; 30 + 2 x 70 = 170.
    s = solve(floor_problem(legal_floor=3_000.0), solver=route)
    assert s.objective == pytest.approx(170)
    assert s.service_budget == pytest.approx({"S1": 3_000, "S2": 7_000})
    # each euro of floor moves a euro from B (0.02) to A (0.01)
    assert s.duals["service_min[S1]"] == pytest.approx(-0.01)
    assert s.ranges["service_min[S1]"] == (pytest.approx(2_000), pytest.approx(10_000))
    assert s.formulation is not None and s.formulation.lower_reason["S1"] == "floor"


def test_stability_band_binding():
    # S1 may not fall more than 10 % below its 5,000 €: 4,500 € at least; max +15 % for S2 = 5,750 €
    s = solve(floor_problem(min_change=-0.10, max_change=0.15))
    assert s.service_budget == pytest.approx({"S1": 4_500, "S2": 5_500})
    assert s.duals["service_min[S1]"] == pytest.approx(-0.01)
    capped = dataclasses.replace(
        floor_problem(), services=(ServiceSpec("S1"), ServiceSpec("S2", max_change=0.15))
    )
    t = solve(capped)
    assert t.service_budget["S2"] == pytest.approx(5_750)
    assert t.duals["service_max[S2]"] == pytest.approx(0.01)  # a euro more in S2: 0.02 instead of 0.01


def staff_problem(limit: float = 10.0, integer_posts: bool = False) -> Problem:
    """A: 0.01 ETP/unit, 2 weighted persons per unit (200 per ETP); B: 0.005 ETP/unit, 1.5 per unit
    (300 per ETP). 10 ETP: B fully (1,000 units, 5 ETP), then A 500 units: 1,000 + 1,500 = 2,500;
    the money (25,000 € of 100,000 €) does not bind; one more ETP is 100 units of A: 200."""
    return Problem(
        activities=(
            ActivitySpec("A", "S1", 10.0, staff_per_unit=0.01),
            ActivitySpec("B", "S2", 20.0, staff_per_unit=0.005),
        ),
        needs=(NeedSpec("N1", 1_000, 2.0), NeedSpec("N2", 1_000, 1.5)),
        services=(ServiceSpec("S1"), ServiceSpec("S2")),
        coverages=(Coverage("A", "N1", 1.0), Coverage("B", "N2", 1.0)),
        envelope=100_000.0,
        staff_limit=limit,
        integer_posts=integer_posts,
    )


@pytest.mark.parametrize("route", ROUTES)
def test_staff_limit_binding(route):
    s = solve(staff_problem(), solver=route)
    assert s.objective == pytest.approx(2_500)
    assert s.volumes == pytest.approx({"A": 500, "B": 1_000})
    assert s.staff_total == pytest.approx(10)
    assert s.duals["staff"] == pytest.approx(200)
    assert s.duals["envelope"] == pytest.approx(0)
    assert s.ranges["staff"][0] == pytest.approx(5)  # below 5 ETP, B becomes marginal


def test_whole_posts_per_service():
    fractional = solve(staff_problem(10.5))
    assert fractional.volumes["A"] == pytest.approx(550)
    whole = solve(staff_problem(10.5, integer_posts=True))  # 5 posts for B, at most 5 for A
    assert whole.is_mip
    assert whole.posts == {"S1": 5, "S2": 5}
    assert whole.volumes == pytest.approx({"A": 500, "B": 1_000})


def diminishing(envelope: float) -> Problem:
    """Each need counts fully up to 50 % covered, half beyond. N (priority 1) and N2 (priority
    0.8), all units 10 €. Order of funding: A's first 50 units (1 per unit), B's first 50 (0.8),
    A beyond 50 (0.5), B beyond 50 (0.4)."""
    return Problem(
        activities=(ActivitySpec("A", "S", 10.0), ActivitySpec("B", "S", 10.0)),
        needs=(NeedSpec("N", 100, 1.0), NeedSpec("N2", 100, 0.8)),
        services=(ServiceSpec("S"),),
        coverages=(Coverage("A", "N", 1.0), Coverage("B", "N2", 1.0)),
        envelope=envelope,
        diminishing_returns=((0.5, 1.0), (1.0, 0.5)),
    )


@pytest.mark.parametrize(
    ("envelope", "volumes", "objective", "dual"),
    [
        (800, {"A": 50, "B": 30}, 50 + 0.8 * 30, 0.08),
        (1_400, {"A": 90, "B": 50}, 50 + 0.5 * 40 + 0.8 * 50, 0.05),
        (1_800, {"A": 100, "B": 80}, 50 + 25 + 40 + 0.4 * 30, 0.04),
    ],
)
def test_diminishing_returns_fill_steps_in_order(envelope, volumes, objective, dual):
    s = solve(diminishing(envelope))
    assert s.volumes == pytest.approx(volumes)
    assert s.objective == pytest.approx(objective)
    assert s.duals["envelope"] == pytest.approx(dual)
    assert evaluate(diminishing(envelope), s.volumes).objective == pytest.approx(objective)


def test_rates_objective_favours_small_needs():
    problem = Problem(
        activities=(ActivitySpec("A", "S", 10.0), ActivitySpec("B", "S", 10.0)),
        needs=(NeedSpec("N1", 100, 1.0), NeedSpec("N2", 1_000, 1.5)),
        services=(ServiceSpec("S"),),
        coverages=(Coverage("A", "N1", 1.0), Coverage("B", "N2", 1.0)),
        envelope=1_000.0,
    )
    persons = solve(problem)
    assert persons.volumes == pytest.approx({"A": 0, "B": 100})  # 1.5 per unit beats 1
    rates = solve(dataclasses.replace(problem, objective="rates"))
    assert rates.volumes == pytest.approx({"A": 100, "B": 0})  # 1 % of N1 per unit beats 0.15 %
    assert rates.objective == pytest.approx(1.0)


def need_floor(**need) -> Problem:
    """N1 (priority 2) and N2 (priority 1) cost the same: without a floor everything goes to N1."""
    return Problem(
        activities=(ActivitySpec("A", "S", 10.0), ActivitySpec("B", "S", 10.0)),
        needs=(
            NeedSpec("N1", 100, 2.0, population_group="familles"),
            NeedSpec("N2", 100, 1.0, population_group="seniors", **need),
        ),
        services=(ServiceSpec("S"),),
        coverages=(Coverage("A", "N1", 1.0), Coverage("B", "N2", 1.0)),
        envelope=1_000.0,
    )


def test_hard_and_soft_coverage_floors():
    assert solve(need_floor()).objective == pytest.approx(200)
    hard = solve(need_floor(min_coverage_rate=0.3))  # B at least 30: 2 x 70 + 30
    assert hard.objective == pytest.approx(170)
    assert hard.duals["need_floor[N2]"] == pytest.approx(-1.0)  # each person required costs 2 - 1
    cheap = solve(need_floor(min_coverage_rate=0.3, min_coverage_soft=True, shortfall_penalty=0.5))
    assert cheap.volumes == pytest.approx({"A": 100, "B": 0})  # missing costs 0.5, covering costs 1
    assert cheap.shortfalls == pytest.approx({"need_floor[N2]": 30})
    assert (cheap.coverage_value, cheap.penalty, cheap.objective) == pytest.approx((200, 15, 185))
    default = solve(need_floor(min_coverage_rate=0.3, min_coverage_soft=True))  # 10 x 2 per person
    assert default.volumes == pytest.approx({"A": 70, "B": 30})


def test_group_floor():
    problem = dataclasses.replace(need_floor(), equity_floors=(EquityFloor("group", "seniors", 0.3),))
    s = solve(problem)
    assert s.objective == pytest.approx(170)
    assert s.duals["group_floor[seniors]"] == pytest.approx(-1.0)


def test_minimum_volume_and_capacity():
    problem = dataclasses.replace(
        two_needs(),
        activities=(ActivitySpec("A", "S", 100.0, capacity=80), ActivitySpec("B", "S", 50.0, min_volume=70)),
    )
    s = solve(problem)  # B's 70 units cost 3,500 €; A takes the rest up to its capacity of 80
    assert s.volumes == pytest.approx({"A": 80, "B": 80})
    assert s.reduced_costs["A"] == pytest.approx(1.0)  # 3 - 100 x 0.02: worth more capacity


def test_pulp_model_is_the_same_model():
    problem = floor_problem(legal_floor=3_000.0)
    model = build_reallocation_model(problem)
    form = model.formulation
    assert len(model.variables) == form.num_col and len(model.constraints) == form.num_row
    assert {form.row_name(i) for i in range(form.num_row)} == {
        "cover[N1]",
        "cover[N2]",
        "budget[S1]",
        "budget[S2]",
        "envelope",
    }
    model.lp.solve(cbc_solver(time_limit=10, mip=False))
    assert pulp.value(model.lp.objective) == pytest.approx(solve(problem).objective)


def test_formulation_sizes():
    form = formulate(fixed_cost())
    assert form.col_kind.count("x") == 2 and form.col_kind.count("y") == 1 and form.col_kind.count("b") == 1
    assert form.integer.sum() == 1
    assert "capacity[A]" in form.row_index


def test_uniform_cut_meets_the_envelope():
    problem = dataclasses.replace(two_needs(), envelope=8_100.0)  # today: 9,000 €
    volumes = uniform_cut(problem)
    assert volumes == pytest.approx({"A": 54, "B": 54})
    assert evaluate(problem, volumes).total_cost == pytest.approx(8_100)
    assert uniform_cut(problem, -0.5) == pytest.approx({"A": 30, "B": 30})
    floored = dataclasses.replace(
        problem,
        activities=(
            ActivitySpec("A", "S", 100.0, current_volume=60, min_volume=60),
            ActivitySpec("B", "S", 50.0, current_volume=60),
        ),
    )
    kept = uniform_cut(floored)  # A keeps its 60 mandatory units: B absorbs the cut
    assert kept["A"] == pytest.approx(60)
    assert evaluate(floored, kept).total_cost == pytest.approx(8_100)


def test_evaluate_today():
    e = evaluate(two_needs(), {"A": 60, "B": 60})
    assert e.covered == {"N1": 60, "N2": 60}
    assert e.objective == pytest.approx(3 * 60 + 60)
    assert e.total_cost == pytest.approx(9_000)
    assert e.service_budget == {"S": 9_000}
