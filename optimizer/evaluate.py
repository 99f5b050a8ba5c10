"""Any allocation measured as the optimizer measures its own: coverage, value, costs.

Used for today's allocation (``current_volume``) and for the "same cut everywhere" baseline
(:func:`uniform_cut`), so that the optimum is compared with what people would otherwise do.

Formulas (notation of :mod:`optimizer.problem`)
-----------------------------------------------
- covered ``c_n = min(S_n, sum_a k_an s_an x_a)`` persons, ``s_an`` the counted share of the one
  coverage model (:mod:`scorecard.coverage`: each unit of output counted once, where it is
  delivered); rate ``c_n / S_n``. Summed over needs, covered persons are *needs covered* (one
  person may be in two needs);
- value ``sum_n p_n sum_k weight_k x min(max(c_n - b_{k-1} S_n, 0), (b_k - b_{k-1}) S_n)``, divided
  by ``S_n`` for the "rates" objective (no step: ``p_n c_n``), the optimizer's ``coverage_value``;
- activity cost ``u_a x_a + f_a [a runs]`` EUR (by default an activity runs when it has a volume);
  service budget and total cost are sums of those.
Volumes of unknown activities are refused; missing activities have volume 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optimizer.problem import Problem, ProblemError
from scorecard.coverage import covered_persons, offered_persons


@dataclass(frozen=True)
class Evaluation:
    """Coverage, value and costs of an allocation (EUR, persons)."""

    covered: dict[str, float]
    coverage_rate: dict[str, float]
    objective: float
    activity_cost: dict[str, float]
    service_budget: dict[str, float]
    total_cost: float
    staff_total: float


def evaluate(
    problem: Problem, volumes: Mapping[str, float], runs: Mapping[str, bool] | None = None
) -> Evaluation:
    """Coverage, value and costs of ``volumes`` (units of output by activity code).

    ``runs``: which activities run (pay their fixed cost); by default those with a volume. An
    optimum may run an activity at volume 0 when a service's minimum budget must be spent.
    """
    known = {a.code: i for i, a in enumerate(problem.activities)}
    unknown = sorted(set(volumes) - set(known))
    if unknown:
        raise ProblemError([f"volume d'une activité inconnue : « {code} »" for code in unknown])
    x = np.zeros(len(problem.activities))
    for code, value in volumes.items():
        x[known[code]] = float(value)
    running = None
    if runs is not None:
        running = np.fromiter((bool(runs.get(a.code, False)) for a in problem.activities), dtype=np.bool_)
    return evaluate_array(problem, x, running)


def _value_and_costs(
    problem: Problem, x: npt.NDArray[np.float64], runs: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[np.float64], float, npt.NDArray[np.float64]]:
    """(covered persons by need, value, cost by activity) of volumes ``x``."""
    arrays = problem.arrays()
    size = arrays.size
    reach = offered_persons(
        len(problem.needs), arrays.cov_activity, arrays.cov_need, arrays.cov_coefficient, x
    )
    covered = covered_persons(size, reach)
    steps = problem.diminishing_returns or ((1.0, 1.0),)
    weighted = np.zeros(len(problem.needs))
    previous = 0.0
    for bound, weight in steps:
        weighted += weight * np.clip(covered - previous * size, 0.0, (bound - previous) * size)
        previous = bound
    per_need = arrays.priority * weighted / (size if problem.objective == "rates" else 1.0)
    cost = arrays.unit_cost * x + arrays.fixed_cost * ((x > 0) if runs is None else runs)
    return covered, float(per_need.sum()), cost


@dataclass(frozen=True)
class ValueCost:
    """The value and total cost of an allocation, without the detail by code."""

    objective: float
    total_cost: float


def value_and_cost(problem: Problem, x: npt.NDArray[np.float64]) -> ValueCost:
    """Value and total cost of volumes ``x`` (array in the order of the activities)."""
    _, value, cost = _value_and_costs(problem, x, None)
    return ValueCost(value, float(cost.sum()))


def evaluate_array(
    problem: Problem, x: npt.NDArray[np.float64], runs: npt.NDArray[np.bool_] | None = None
) -> Evaluation:
    """:func:`evaluate` of volumes (and ``runs``) as arrays in the order of ``problem.activities``."""
    arrays = problem.arrays()
    covered, value, cost = _value_and_costs(problem, x, runs)
    budget = np.bincount(arrays.service, weights=cost, minlength=len(problem.services))
    return Evaluation(
        covered={n.code: float(v) for n, v in zip(problem.needs, covered, strict=True)},
        coverage_rate={n.code: float(v) for n, v in zip(problem.needs, covered / arrays.size, strict=True)},
        objective=value,
        activity_cost={a.code: float(v) for a, v in zip(problem.activities, cost, strict=True)},
        service_budget={s.code: float(v) for s, v in zip(problem.services, budget, strict=True)},
        total_cost=float(cost.sum()),
        staff_total=float(arrays.staff_per_unit @ x),
    )


def uniform_cut(problem: Problem, rate: float | None = None) -> dict[str, float]:
    """Volumes after the same change of every activity: ``x_a = clip(v_a (1 + rate), m_a, K_a)``.

    ``rate`` (e.g. -0.05 for 5 % less everywhere) given: that change. ``rate=None``: the common
    rate at which the total cost ``sum_a u_a x_a + f_a [x_a > 0]`` equals the envelope (bisection:
    the cost rises with the rate), minimum volumes kept. When even every activity at its minimum
    costs more than the envelope, the minimum volumes are returned (the envelope cannot be met
    that way); when scaling up a hundredfold still costs less, that scaling is returned.
    """
    x = uniform_cut_array(problem, rate)
    return {a.code: float(v) for a, v in zip(problem.activities, x, strict=True)}


def uniform_cut_array(problem: Problem, rate: float | None = None) -> npt.NDArray[np.float64]:
    """:func:`uniform_cut` as an array in the order of the activities."""
    arrays = problem.arrays()
    current, minimum, capacity = arrays.current_volume, arrays.min_volume, arrays.capacity
    unit, fixed = arrays.unit_cost, arrays.fixed_cost

    def volumes_at(r: float, out: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
        x = np.multiply(current, 1.0 + r, out=out)
        np.maximum(x, minimum, out=x)
        np.minimum(x, capacity, out=x)
        return np.maximum(x, 0.0, out=x)

    has_fixed = fixed > 0
    any_fixed = bool(has_fixed.any())
    scratch = np.empty_like(current)  # the bisection's volumes, written in place at each step

    def cost(r: float) -> float:
        x = volumes_at(r, scratch)
        paid = fixed[has_fixed & (x > 0)].sum() if any_fixed else 0.0
        return float(np.dot(unit, x) + paid)

    if rate is not None:
        return volumes_at(rate)
    low, high = -1.0, 0.5
    if cost(low) >= problem.envelope:
        return volumes_at(low)
    while cost(high) < problem.envelope and high < 100.0:
        high *= 2
    if cost(high) < problem.envelope:
        return volumes_at(high)
    while high - low > 1e-12:  # a rate to 1e-12: the cost to well under a cent of any budget
        mid = (low + high) / 2
        if cost(mid) <= problem.envelope:
            low = mid
        else:
            high = mid
    return volumes_at(low)
