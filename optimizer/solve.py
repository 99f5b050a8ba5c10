"""Solving the reallocation model with HiGHS (default) or CBC, with duals that can be trusted.

Routes
------
- ``"highs"`` (default): the formulation goes to ``highspy`` directly as matrices
  (:mod:`optimizer.highs_direct`): fastest, and the only route with warm what-if re-solves.
- ``"highs-pulp"``: the PuLP model solved through ``pulp.HiGHS``.
- ``"cbc"``: the PuLP model solved by the CBC binary bundled with PuLP (``COIN_CMD`` pointed at
  it: ``PULP_CBC_CMD`` itself is deprecated in PuLP 3.3 and warns on construction).

Traps of PuLP 3.3 measured on this machine, each corrected here and pinned by a test
-------------------------------------------------------------------------------------
1. Through ``pulp.HiGHS`` a maximisation is solved as the minimisation of the negated objective
   and the duals and reduced costs of that minimisation are returned: every sign is opposite.
   They are negated back on that route.
2. Through ``pulp.HiGHS`` (and CBC) a MILP's duals are all 0 (or meaningless): for a MILP the
   duals, reduced costs and ranging are those of the LP with the integer choices fixed at the
   solution, re-solved (the reported volumes are that LP's, at least as good as the incumbent).
3. CBC stopped at its time limit without an integer solution reports "Not Solved" (or, on a loaded
   machine, "Infeasible") yet leaves the LP-relaxation values in the variables: that is reported as
   ``time_limit_no_solution`` with no values at all. A time-limited MIP with an incumbent is ``time_limit_feasible`` with its
   gap (HiGHS's own; for CBC an upper bound from the LP relaxation).

Conventions of :class:`Solution`
--------------------------------
``duals[name]`` is the derivative of the maximised objective with respect to the active bound of
row ``name`` (see :mod:`optimizer.model` for the names): >= 0 for a binding ``<=`` row such as
``envelope`` ("1 EUR more covers that many weighted persons"), <= 0 for a binding ``>=`` row such
as ``service_min[S]``; only rows with a non-zero dual (and ``envelope``) are listed.
``reduced_costs[activity]`` is the derivative of the objective with respect to the bound at
which the activity's volume sits (< 0 at its minimum: each forced unit costs that much; > 0 at
its capacity). ``ranges[name]`` is the interval of that bound over which the dual holds
(HiGHS ranging; a dual is only locally true). Every solve has a time limit; HiGHS runs on one
thread with a fixed seed, CBC on one thread, so the same input gives the same answer (unless a
time limit cuts a search short).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Literal

import highspy
import numpy as np
import numpy.typing as npt
import pulp

from optimizer import highs_direct as hd
from optimizer.model import FloatArray, Formulation, PulpModel, formulate, pulp_model_from
from optimizer.problem import Problem

Status = Literal["optimal", "time_limit_feasible", "infeasible", "time_limit_no_solution", "error"]
SolverName = Literal["highs", "highs-pulp", "cbc"]

STATUS_FR: dict[str, str] = {
    "optimal": "solution optimale",
    "time_limit_feasible": "limite de temps atteinte : meilleure solution trouvée (pas nécessairement optimale)",
    "infeasible": "scénario infaisable : les contraintes ne peuvent être tenues ensemble",
    "time_limit_no_solution": "limite de temps atteinte sans aucune solution",
    "error": "erreur du solveur",
}

#: The status in a few words, for a scenario's list and its stored status (64 characters at most).
STATUS_SHORT_FR: dict[str, str] = {
    "optimal": "solution optimale",
    "time_limit_feasible": "meilleure solution trouvée (limite de temps)",
    "infeasible": "scénario infaisable",
    "time_limit_no_solution": "aucune solution dans la limite de temps",
    "error": "erreur du solveur",
}

#: Duals and reduced costs smaller than this are treated as 0 (solver noise).
DUAL_TOL = 1e-9
#: Values within this of a bound are at the bound.
VALUE_TOL = 1e-7
#: Constraints ranged by a solve (the envelope and the heaviest binding ones).
MAX_RANGED = 25
#: Default relative gap at which a MIP search stops (1 %: the large instance reaches it in
#: seconds; 1e-4 took it past any time limit a user waits for).
DEFAULT_MIP_GAP = 0.01
#: A returned point may miss a row or bound by this much (relative to the bound, at least
#: FEASIBILITY_TOL in model units) before it is refused as infeasible.
FEASIBILITY_TOL = 1e-6

#: What a violated row or bound is, in French, by kind (the key follows in « »).
_ROW_FR = {
    "envelope": "l'enveloppe",
    "budget": "le budget du service",
    "cover": "la couverture du besoin",
    "capacity": "la capacité de l'activité",
    "staff": "la limite d'effectifs",
    "posts": "les postes du service",
    "need_floor": "le taux minimal du besoin",
    "group_floor": "le taux minimal du public",
    "territory_floor": "le taux minimal du territoire",
}
_COL_FR = {
    "x": "le volume de l'activité",
    "b": "la fourchette ou le plancher du service",
    "y": "l'ouverture de l'activité",
    "z": "les postes du service",
}


@dataclass(frozen=True)
class Solution:
    """The result of :func:`solve` (amounts in EUR, volumes in units, covered in persons)."""

    status: Status
    status_fr: str
    solver: str
    is_mip: bool
    objective: float | None  # maximised value: coverage value minus soft-floor penalties
    coverage_value: float | None  # priority-weighted persons (or rates) covered
    penalty: float
    mip_gap: float | None
    volumes: dict[str, float]
    runs: dict[str, bool]
    covered: dict[str, float]
    coverage_rate: dict[str, float]
    activity_cost: dict[str, float]
    service_budget: dict[str, float]
    total_cost: float | None
    staff_total: float | None
    posts: dict[str, int]
    shortfalls: dict[str, float]
    duals: dict[str, float]
    reduced_costs: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    solve_seconds: float
    message: str = ""
    formulation: Formulation | None = field(default=None, repr=False, compare=False)
    col_value: FloatArray | None = field(default=None, repr=False, compare=False)
    #: the solved LP (integers fixed) kept warm for what-if re-solves (HiGHS route only)
    engine: hd.WhatIf | None = field(default=None, repr=False, compare=False)

    @property
    def has_values(self) -> bool:
        return self.status in ("optimal", "time_limit_feasible")

    @property
    def envelope_dual(self) -> float | None:
        return self.duals.get("envelope") if self.has_values else None

    @property
    def envelope_range(self) -> tuple[float, float] | None:
        return self.ranges.get("envelope")


@dataclass
class _Raw:
    status: Status
    solver: str
    col_value: FloatArray | None = None
    mip_gap: float | None = None
    row_dual: FloatArray | None = None
    col_dual: FloatArray | None = None
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    message: str = ""
    engine: hd.WhatIf | None = None


#: Constraints whose ranges are reported (policy choices; not the structural cover/budget rows).
RANGED_KINDS = (
    "envelope",
    "staff",
    "service_min",
    "service_max",
    "need_floor",
    "group_floor",
    "territory_floor",
)


def solve(
    problem: Problem,
    *,
    solver: SolverName = "highs",
    time_limit: float = 30.0,
    relax_integers: bool = False,
    mip_gap: float = DEFAULT_MIP_GAP,
    ranging: bool = True,
    fallback: bool = True,
) -> Solution:
    """Solve ``problem`` and return volumes, costs, coverage, duals, reduced costs and ranging.

    ``time_limit``: seconds for each solver run (the MIP, then the LP with integers fixed);
    ``mip_gap``: relative gap at which a MIP search stops; ``relax_integers``: solve the LP
    relaxation (fixed costs paid pro rata, fractional posts); ``ranging``: compute the ranges
    of the binding rows (HiGHS ranging; for CBC on a HiGHS solve of the same LP); ``fallback``:
    when HiGHS fails (status "error", not infeasibility nor a time limit), solve with CBC and
    say so in ``message``. A problem with unknown codes raises :class:`ProblemError`.
    """
    start = time.perf_counter()
    form = formulate(problem, relax_integers=relax_integers)
    return solve_formulation(
        form,
        solver=solver,
        time_limit=time_limit,
        mip_gap=mip_gap,
        ranging=ranging,
        fallback=fallback,
        started=start,
    )


def solve_formulation(
    form: Formulation,
    *,
    solver: SolverName = "highs",
    time_limit: float = 30.0,
    mip_gap: float = DEFAULT_MIP_GAP,
    ranging: bool = True,
    fallback: bool = True,
    started: float | None = None,
) -> Solution:
    """:func:`solve` of a formulation already built (the benchmark times the two phases apart)."""
    if time_limit <= 0:
        raise ValueError("la limite de temps doit être positive")
    start = time.perf_counter() if started is None else started
    if solver == "highs":
        try:
            raw = _solve_highs(form, time_limit, mip_gap, ranging)
        except Exception as exc:  # a failure inside HiGHS (highspy raises several kinds): try CBC
            raw = _Raw("error", "highs", message=f"HiGHS : {exc}")
        if raw.status == "error" and fallback:
            failure = raw.message
            raw = _solve_pulp(form, "cbc", time_limit, mip_gap, ranging)
            raw.message = "; ".join(m for m in (f"{failure} ; résolu par CBC", raw.message) if m)
    elif solver in ("cbc", "highs-pulp"):
        raw = _solve_pulp(form, solver, time_limit, mip_gap, ranging)
    else:
        raise ValueError(f"solveur inconnu : {solver} (highs, highs-pulp ou cbc)")
    return _solution(form, raw, time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------
# HiGHS directly
# ----------------------------------------------------------------------------------------------


def _status_from_highs(run: hd.HighsRun, mip: bool) -> Status:
    name = run.model_status
    if name == "Optimal":
        return "optimal" if run.has_solution else "error"
    if name in ("Infeasible", "UnboundedOrInfeasible"):
        return "infeasible"
    if name in ("TimeLimit", "IterationLimit", "Interrupt", "HighsInterrupt", "SolutionLimit", "MemoryLimit"):
        return "time_limit_feasible" if (run.has_solution and mip) else "time_limit_no_solution"
    return "error"


def named_duals(
    form: Formulation, col_value: FloatArray, row_dual: FloatArray, col_dual: FloatArray
) -> dict[str, float]:
    """Non-zero duals by constraint name, per EUR for money (the model counts thousands); the
    service bounds from the reduced costs of ``b_s``."""
    duals: dict[str, float] = {}
    for i in np.flatnonzero(np.abs(row_dual) > DUAL_TOL):
        name = form.row_name(int(i))
        duals[name] = float(row_dual[i]) / form.unit_of(name)
    if "envelope" in form.row_index:
        duals.setdefault("envelope", 0.0)
    for code, j in form.b_col.items():
        d = float(col_dual[j])
        if abs(d) <= DUAL_TOL:
            continue
        at_lower = abs(col_value[j] - form.col_lower[j]) <= VALUE_TOL * max(1.0, abs(form.col_lower[j]))
        duals[f"service_min[{code}]" if (at_lower and d < 0) else f"service_max[{code}]"] = (
            d / form.money_scale
        )
    return duals


def _ranged_names(duals: dict[str, float], form: Formulation) -> list[str]:
    """The envelope, then the binding policy constraints by weight (|dual| x bound), at most MAX_RANGED.

    Each range costs one solve with the basis (about 0.1 s on the large instance): the hundreds
    of service bounds binding there are ranged only for the heaviest ones, those an explanation
    shows first.
    """
    candidates = [
        n for n, d in duals.items() if n != "envelope" and d != 0 and n.split("[")[0] in RANGED_KINDS
    ]

    def weight(name: str) -> float:
        side, i = form.bound_of(name)
        if side == "row":
            bound = form.row_upper[i] if np.isfinite(form.row_upper[i]) else form.row_lower[i]
        else:
            bound = form.col_lower[i] if side == "lower" else form.col_upper[i]
        return abs(duals[name]) * max(abs(float(bound)) * form.unit_of(name), 1.0)

    candidates.sort(key=weight, reverse=True)
    return (["envelope"] if "envelope" in duals else []) + candidates[: MAX_RANGED - 1]


def _solve_highs(form: Formulation, time_limit: float, mip_gap: float, ranging: bool) -> _Raw:
    mip = bool(form.integer.any())
    if mip:
        highs = hd.new_highs(time_limit=time_limit, mip_rel_gap=mip_gap)
    else:
        highs = hd.new_lp_highs(form, time_limit=time_limit)
    hd.pass_formulation(highs, form)
    run = hd.run(highs, mip=mip)
    status = _status_from_highs(run, mip)
    raw = _Raw(status, "highs", mip_gap=run.mip_gap)
    if status not in ("optimal", "time_limit_feasible"):
        raw.message = f"HiGHS : {run.model_status}"
        return raw
    bounds = None
    lower, upper = form.col_lower, form.col_upper
    if mip:  # trap 2: a MIP has no duals; take those of the LP with the integer choices fixed
        lower, upper = hd.fixed_bounds(form, run.col_value)
        highs = hd.new_lp_highs(form, time_limit=time_limit, fixed_integers=True)
        hd.pass_formulation(highs, form, col_lower=lower, col_upper=upper, integer=False)
        fixed = hd.run(highs, mip=False)
        if fixed.model_status != "Optimal":
            raw.col_value = run.col_value
            raw.message = "duals indisponibles : le PL à choix entiers fixés n'a pas été résolu"
            return raw
        run = fixed
        bounds = (lower, upper, form.row_lower, form.row_upper)
    raw.col_value, raw.row_dual, raw.col_dual = run.col_value, run.row_dual, run.col_dual
    if ranging:
        names = _ranged_names(named_duals(form, run.col_value, run.row_dual, run.col_dual), form)
        raw.ranges = hd.ranges(highs, form, names, bounds)
    raw.engine = hd.WhatIf.attach(form, highs, run, lower, upper, time_limit=time_limit)
    return raw


def ranges_by_highs(
    form: Formulation, col_value: FloatArray, names: list[str], time_limit: float
) -> dict[str, tuple[float, float]]:
    """Ranging of ``names`` from a HiGHS solve of the LP (integer choices fixed at ``col_value``)."""
    lower, upper = hd.fixed_bounds(form, col_value)
    try:
        highs = hd.new_lp_highs(form, time_limit=time_limit, fixed_integers=bool(form.integer.any()))
        hd.pass_formulation(highs, form, col_lower=lower, col_upper=upper, integer=False)
        if hd.run(highs, mip=False).model_status != "Optimal":
            return {}
        return hd.ranges(highs, form, names, (lower, upper, form.row_lower, form.row_upper))
    except Exception:  # ranging is an extra: CBC's solution stands without it (HiGHS failed)
        return {}


# ----------------------------------------------------------------------------------------------
# Through PuLP (CBC, or pulp.HiGHS)
# ----------------------------------------------------------------------------------------------


def cbc_solver(*, time_limit: float, mip: bool, mip_gap: float | None = None) -> pulp.LpSolver:
    """The CBC bundled with PuLP, through ``COIN_CMD`` (``PULP_CBC_CMD`` warns it is deprecated)."""
    return pulp.COIN_CMD(
        path=pulp.PULP_CBC_CMD.pulp_cbc_path,
        msg=False,
        mip=mip,
        timeLimit=time_limit,
        gapRel=mip_gap,
        threads=1,
    )


def pulp_highs_solver(*, time_limit: float, mip: bool, mip_gap: float | None = None) -> pulp.LpSolver:
    """``pulp.HiGHS`` on one thread with a fixed seed (its banner already silenced)."""
    hd.new_highs(time_limit=1.0)  # the first Highs of the process prints a banner: take it here
    return pulp.HiGHS(msg=False, mip=mip, timeLimit=time_limit, gapRel=mip_gap, threads=1, random_seed=0)


def _pulp_values(model: PulpModel) -> FloatArray:
    form = model.formulation
    values = np.empty(form.num_col)
    for j, var in enumerate(model.variables):
        v = var.varValue
        # a column that appears in no row nor objective is not sent to the solver: its bound holds
        values[j] = float(v) if v is not None else max(float(form.col_lower[j]), 0.0)
    return values


def _pulp_status(lp: pulp.LpProblem, solver: str, mip: bool) -> Status:
    if solver == "highs-pulp" and lp.solverModel is not None:
        # read HiGHS's own status: pulp.HiGHS maps a time limit with an incumbent to "Optimal"
        run_status = lp.solverModel.getModelStatus().name[1:]
        info = lp.solverModel.getInfo()
        has = int(info.primal_solution_status) == int(highspy.SolutionStatus.kSolutionStatusFeasible)
        fake = hd.HighsRun(
            run_status, has, 0.0, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), None, 0.0
        )
        return _status_from_highs(fake, mip)
    if lp.status == pulp.LpStatusOptimal:
        if lp.sol_status == pulp.LpSolutionIntegerFeasible:
            return "time_limit_feasible"
        return "optimal"
    if lp.status == pulp.LpStatusNotSolved:
        return "time_limit_no_solution"  # trap 3: CBC's "Not Solved" leaves LP values behind
    if lp.status == pulp.LpStatusInfeasible:
        return "infeasible"
    return "error"


def _solve_pulp(form: Formulation, solver: str, time_limit: float, mip_gap: float, ranging: bool) -> _Raw:
    mip = bool(form.integer.any())

    def make(is_mip: bool) -> pulp.LpSolver:
        gap = mip_gap if is_mip else None
        if solver == "cbc":
            return cbc_solver(time_limit=time_limit, mip=is_mip, mip_gap=gap)
        return pulp_highs_solver(time_limit=time_limit, mip=is_mip, mip_gap=gap)

    model = pulp_model_from(form)
    began = time.perf_counter()
    try:
        model.lp.solve(make(mip))
    except pulp.PulpSolverError as exc:
        return _Raw("error", solver, message=str(exc))
    status = _pulp_status(model.lp, solver, mip)
    if status == "infeasible" and solver == "cbc" and time.perf_counter() - began >= 0.9 * time_limit:
        # trap 3 again: CBC stopped by its time limit before any solution may also report
        # "Infeasible" (seen on a loaded machine): infeasibility it has not had the time to prove
        # is not said
        status = "time_limit_no_solution"
    raw = _Raw(status, solver)
    if status not in ("optimal", "time_limit_feasible"):
        raw.message = f"{solver} : {pulp.LpStatus.get(model.lp.status, '?')}"
        return raw  # no values reported, whatever PuLP left in the variables (trap 3)
    values = _pulp_values(model)
    if mip:
        incumbent = float(form.cost @ values)
        if status == "time_limit_feasible":
            raw.mip_gap = _gap_from_relaxation(form, solver, time_limit, incumbent)
        elif solver == "highs-pulp" and model.lp.solverModel is not None:
            raw.mip_gap = float(model.lp.solverModel.getInfo().mip_gap)
        else:
            raw.mip_gap = 0.0
        # trap 2: fix the integer choices, re-solve the LP for its duals
        for j in np.flatnonzero(form.integer):
            var = model.variables[j]
            var.lowBound = var.upBound = float(round(values[j]))
            var.cat = pulp.LpContinuous
        try:
            model.lp.solve(make(False))
        except pulp.PulpSolverError as exc:
            raw.col_value = values
            raw.message = f"duals indisponibles : {exc}"
            return raw
        if model.lp.status != pulp.LpStatusOptimal:
            raw.col_value = values
            raw.message = "duals indisponibles : le PL à choix entiers fixés n'a pas été résolu"
            return raw
        values = _pulp_values(model)
    sign = -1.0 if solver == "highs-pulp" else 1.0  # trap 1: pulp.HiGHS returns the duals of -objective
    raw.col_value = values
    raw.row_dual = sign * np.array(
        [c.pi if c.pi is not None else 0.0 for c in model.constraints], dtype=np.float64
    )
    raw.col_dual = sign * np.array(
        [v.dj if v.dj is not None else 0.0 for v in model.variables], dtype=np.float64
    )
    if ranging:  # CBC has no ranging, and PuLP hides HiGHS's column order: range with HiGHS directly
        names = _ranged_names(named_duals(form, values, raw.row_dual, raw.col_dual), form)
        raw.ranges = ranges_by_highs(form, values, names, time_limit)
    return raw


def _gap_from_relaxation(form: Formulation, solver: str, time_limit: float, incumbent: float) -> float | None:
    """Upper bound of the gap of a time-limited MIP: ``(LP relaxation - incumbent) / |incumbent|``."""
    relaxed = pulp_model_from(formulate(form.problem, relax_integers=True))
    maker = cbc_solver if solver == "cbc" else pulp_highs_solver
    try:
        relaxed.lp.solve(maker(time_limit=time_limit, mip=False))
    except pulp.PulpSolverError:
        return None
    if relaxed.lp.status != pulp.LpStatusOptimal:
        return None
    bound = float(form.cost @ _pulp_values(relaxed))
    return max(bound - incumbent, 0.0) / max(abs(incumbent), 1e-9)


# ----------------------------------------------------------------------------------------------
# The Solution
# ----------------------------------------------------------------------------------------------


def violations(form: Formulation, values: FloatArray) -> list[str]:
    """What the point ``values`` breaks, in French: rows and bounds missed by more than
    :data:`FEASIBILITY_TOL` (relative), integers that are not whole. Empty when it is feasible.

    Every point a solver returns goes through this before it is shown: CBC stopped by its time
    limit has returned, as its "best solution", a budget over the envelope.
    """
    found: list[str] = []
    terms = form.a_value * np.repeat(values, np.diff(form.a_start))
    activity = np.bincount(form.a_index, weights=terms, minlength=form.num_row).astype(np.float64)
    #: the size of each row's terms: a solver's file rounds values, so a row of large terms can
    #: miss a zero bound by a rounding of its terms (CBC writes about 8 significant digits)
    magnitude = np.bincount(form.a_index, weights=np.abs(terms), minlength=form.num_row).astype(np.float64)

    def missed(
        value: FloatArray, lower: FloatArray, upper: FloatArray, scale: FloatArray | None = None
    ) -> npt.NDArray[np.bool_]:
        size = np.ones_like(value) if scale is None else np.maximum(scale, 1.0)
        finite_low = np.where(np.isfinite(lower), lower, 0.0)
        finite_up = np.where(np.isfinite(upper), upper, 0.0)
        low_tol = FEASIBILITY_TOL * np.maximum(size, np.abs(finite_low))
        up_tol = FEASIBILITY_TOL * np.maximum(size, np.abs(finite_up))
        below = np.isfinite(lower) & (value < lower - low_tol)
        above = np.isfinite(upper) & (value > upper + up_tol)
        return np.asarray(below | above | ~np.isfinite(value))

    for i in np.flatnonzero(missed(activity, form.row_lower, form.row_upper, magnitude)):
        kind, key = form.row_kind[i], form.row_key[i]
        label = _ROW_FR.get(kind, kind) + (f" « {key} »" if key else "")
        found.append(f"{label} : contrainte non tenue")
    for j in np.flatnonzero(missed(values, form.col_lower, form.col_upper)):
        kind, key = form.col_kind[j], form.col_key[j]
        found.append(f"{_COL_FR.get(kind, kind)} « {key} » sort de ses bornes")
    fractional = form.integer & (np.abs(values - np.round(values)) > 1e-5)
    for j in np.flatnonzero(fractional):
        found.append(
            f"{_COL_FR.get(form.col_kind[j], form.col_kind[j])} « {form.col_key[j]} » n'est pas entier"
        )
    return found


def _solution(form: Formulation, raw: _Raw, seconds: float) -> Solution:
    problem = form.problem
    mip = bool(form.integer.any())
    empty = Solution(
        status=raw.status,
        status_fr=STATUS_FR[raw.status],
        solver=raw.solver,
        is_mip=mip,
        objective=None,
        coverage_value=None,
        penalty=0.0,
        mip_gap=raw.mip_gap if raw.status == "time_limit_feasible" else None,
        volumes={},
        runs={},
        covered={},
        coverage_rate={},
        activity_cost={},
        service_budget={},
        total_cost=None,
        staff_total=None,
        posts={},
        shortfalls={},
        duals={},
        reduced_costs={},
        ranges={},
        solve_seconds=seconds,
        message=raw.message,
        formulation=form,
    )
    if raw.col_value is None or raw.status not in ("optimal", "time_limit_feasible"):
        return empty
    broken = violations(form, np.asarray(raw.col_value, dtype=np.float64))
    if broken:  # an infeasible point is never a result
        status: Status = "time_limit_no_solution" if raw.status == "time_limit_feasible" else "error"
        shown = "; ".join(broken[:5]) + (f" ; et {len(broken) - 5} autre(s)" if len(broken) > 5 else "")
        return replace(
            empty,
            status=status,
            status_fr=STATUS_FR[status],
            mip_gap=None,
            message="; ".join(
                m for m in (raw.message, f"point rendu par {raw.solver} refusé car infaisable : {shown}") if m
            ),
        )
    values = np.clip(raw.col_value, form.col_lower, form.col_upper)
    values[np.abs(values) < VALUE_TOL] = 0.0
    arrays = problem.arrays()
    codes = problem.activity_codes()
    x = values[form.x_col]
    fixed_paid = np.zeros(len(codes))
    running = x > VALUE_TOL
    if form.y_col:
        with_y = np.fromiter(form.y_col.keys(), dtype=np.int64, count=len(form.y_col))
        y_cols = np.fromiter(form.y_col.values(), dtype=np.int64, count=len(form.y_col))
        y = values[y_cols]
        integral = form.integer[y_cols]
        y_paid = np.where(integral, np.round(y), y)  # relaxed: the fixed cost is paid pro rata
        fixed_paid[with_y] = arrays.fixed_cost[with_y] * y_paid
        running[with_y] = np.where(integral, y > 0.5, x[with_y] > VALUE_TOL)
    cost = arrays.unit_cost * x + fixed_paid
    budgets = np.bincount(arrays.service, weights=cost, minlength=len(problem.services))
    c_cols = np.asarray(form.need_cols, dtype=np.int64).reshape(len(problem.needs), -1)
    covered_arr = values[c_cols].sum(axis=1)
    need_codes = [n.code for n in problem.needs]
    volumes = dict(zip(codes, x.tolist(), strict=True))
    runs = dict(zip(codes, running.tolist(), strict=True))
    activity_cost = dict(zip(codes, cost.tolist(), strict=True))
    service_budget = dict(zip((s.code for s in problem.services), budgets.tolist(), strict=True))
    staff = float(arrays.staff_per_unit @ x)
    covered = dict(zip(need_codes, covered_arr.tolist(), strict=True))
    rate = dict(zip(need_codes, (covered_arr / arrays.size).tolist(), strict=True))
    coverage_value = float(form.cost[c_cols].ravel() @ values[c_cols].ravel())
    penalty = float(sum(-form.cost[c] * values[c] for c in form.short_col.values()))
    shortfalls = {name: float(values[c]) for name, c in form.short_col.items() if values[c] > VALUE_TOL}
    posts = {s: round(float(values[c])) for s, c in form.post_col.items()}
    duals: dict[str, float] = {}
    reduced: dict[str, float] = {}
    ranges: dict[str, tuple[float, float]] = {}
    if raw.row_dual is not None and raw.col_dual is not None:
        duals = named_duals(form, values, raw.row_dual, raw.col_dual)
        rc = raw.col_dual[form.x_col]
        reduced = dict(zip(codes, np.where(np.abs(rc) > DUAL_TOL, rc, 0.0).tolist(), strict=True))
        ranges = dict(raw.ranges)
    return Solution(
        status=raw.status,
        status_fr=STATUS_FR[raw.status],
        solver=raw.solver,
        is_mip=mip,
        objective=coverage_value - penalty,
        coverage_value=coverage_value,
        penalty=penalty,
        mip_gap=raw.mip_gap if mip else None,
        volumes=volumes,
        runs=runs,
        covered=covered,
        coverage_rate=rate,
        activity_cost=activity_cost,
        service_budget=service_budget,
        total_cost=float(cost.sum()),
        staff_total=staff,
        posts=posts,
        shortfalls=shortfalls,
        duals=duals,
        reduced_costs=reduced,
        ranges=ranges,
        solve_seconds=seconds,
        message=raw.message,
        formulation=form,
        col_value=values,
        engine=raw.engine,
    )
