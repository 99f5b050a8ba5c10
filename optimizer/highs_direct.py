"""The formulation passed to HiGHS directly as sparse matrices, and warm what-if re-solves.

PuLP's HiGHS interface adds one column and one row at a time (``addCol``/``addRow`` loops), builds
a new solver for every solve and cannot re-solve. Here the arrays of :class:`~optimizer.model.Formulation`
go to ``Highs.passModel`` in one call (column-wise matrix, maximisation), and a :class:`WhatIf` keeps
the ``Highs`` instance so that changing one bound re-solves from the previous basis (dual simplex,
milliseconds on the medium instance).

Sign conventions: with the sense set to maximise, HiGHS returns row duals and column reduced
costs as the derivative of the (maximised) objective with respect to the active bound, which is
the convention of :class:`~optimizer.solve.Solution`: no sign flip here (unlike ``pulp.HiGHS``,
which negates the objective and leaves the duals of the negated problem).

HiGHS prints a banner on standard output the first time a ``Highs`` object is created in a
process, whatever its options: :func:`new_highs` creates the first one with file descriptor 1
pointed at ``/dev/null`` so that ``pilotis optimize --json`` writes nothing but JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import highspy
import numpy as np
import numpy.typing as npt

from optimizer.model import INF, FloatArray, Formulation, formulate
from optimizer.problem import Problem

_banner_lock = threading.Lock()
_banner_shown = False


def _without_stdout(make: Callable[[], Any]) -> Any:
    """Call ``make`` with file descriptor 1 sent to /dev/null (C-level output included)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no usable stdout: nothing to protect
        return make()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        return make()
    finally:
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).fflush(None)  # the banner may sit in C's stdio buffer
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def new_highs(*, time_limit: float, mip_rel_gap: float | None = None, presolve: bool = True) -> highspy.Highs:
    """A silent ``Highs`` with a time limit, one thread and a fixed seed (same input, same answer)."""
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            highs = highspy.Highs()  # type: ignore[no-untyped-call]
        else:
            highs = _without_stdout(highspy.Highs)
            _banner_shown = True
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit))
    highs.setOptionValue("random_seed", 0)
    highs.setOptionValue("threads", 1)
    if mip_rel_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if not presolve:
        highs.setOptionValue("presolve", "off")
    return highs


def new_lp_highs(form: Formulation, *, time_limit: float, fixed_integers: bool = False) -> highspy.Highs:
    """A ``Highs`` set for an LP of this model, from measurements on the generated instances.

    Dual simplex without presolve: HiGHS's presolve removes little from this model and costs
    much (CPU time, medium 52-84 ms with, 34-60 ms without; large 3.8-5.2 s with, 2.5-3.1 s
    without). Interior point plus crossover was no faster once money is scaled (large 2.3-3.2 s)
    and leaves HiGHS without a factorisation, so that asking for basis solves then crashes the
    process (highspy 1.16). ``fixed_integers``: the LP of a MIP with its integer choices fixed,
    where presolve pays (it removes the fixed columns and closed activities: large MILP 7.6 s
    with presolve, over 120 s without).
    """
    del form  # the same options for every size, measured from 116 to 145,000 activities
    return new_highs(time_limit=time_limit, presolve=fixed_integers)


def _bounds(value: float) -> float:
    return highspy.kHighsInf if value == INF else (-highspy.kHighsInf if value == -INF else value)


def pass_formulation(
    highs: highspy.Highs,
    form: Formulation,
    *,
    col_lower: FloatArray | None = None,
    col_upper: FloatArray | None = None,
    integer: bool = True,
) -> None:
    """Load ``form`` into ``highs`` in one call (maximisation, column-wise matrix).

    ``col_lower``/``col_upper`` replace the formulation's column bounds (to fix integer choices);
    ``integer=False`` drops integrality (an LP).
    """
    inf = highspy.kHighsInf
    lower = form.col_lower if col_lower is None else col_lower
    upper = form.col_upper if col_upper is None else col_upper
    lower = np.where(np.isinf(lower), -inf, lower)
    upper = np.where(np.isinf(upper), inf, upper)
    row_lower = np.where(np.isinf(form.row_lower), -inf, form.row_lower)
    row_upper = np.where(np.isinf(form.row_upper), inf, form.row_upper)
    integrality = (form.integer & integer).astype(np.int32)
    status = highs.passModel(
        form.num_col,
        form.num_row,
        int(form.a_start[-1]),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize),
        0.0,
        form.cost,
        lower.astype(np.float64),
        upper.astype(np.float64),
        row_lower.astype(np.float64),
        row_upper.astype(np.float64),
        form.a_start.astype(np.int32),
        form.a_index.astype(np.int32),
        form.a_value,
        integrality,
    )
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS a refusé le modèle")


@dataclass
class HighsRun:
    """What one HiGHS run returned, in the conventions of this package (maximisation)."""

    model_status: str  # HighsModelStatus name without the "k": "Optimal", "TimeLimit", "Infeasible"…
    has_solution: bool
    objective: float
    col_value: FloatArray
    row_value: FloatArray
    col_dual: FloatArray
    row_dual: FloatArray
    mip_gap: float | None
    seconds: float


def run(highs: highspy.Highs, *, mip: bool, values: bool = True) -> HighsRun:
    """Run the loaded model and read its status and solution (values only when there is one).

    ``values=False``: only the status, objective and time (a re-solve asked for its objective);
    the value and dual arrays are then empty."""
    start = time.perf_counter()
    returned = highs.run()
    if returned == highspy.HighsStatus.kError and highs.getModelStatus() == highspy.HighsModelStatus.kNotset:
        # HiGHS's global thread scheduler is made once per process: a Highs of the default
        # thread count run earlier in the process (another library, a user's script) leaves it
        # with that count, and a run on one thread then refuses to start. Rebuild it and retry.
        highspy.Highs.resetGlobalScheduler(True)
        highs.run()
    seconds = time.perf_counter() - start
    status = highs.getModelStatus()
    info = highs.getInfo()
    has_solution = int(info.primal_solution_status) == int(highspy.SolutionStatus.kSolutionStatusFeasible)
    name = status.name[1:] if status.name.startswith("k") else status.name
    n_col, n_row = highs.getNumCol(), highs.getNumRow()
    if has_solution and values:
        solution = highs.getSolution()
        col_value = np.asarray(solution.col_value, dtype=np.float64)
        row_value = np.asarray(solution.row_value, dtype=np.float64)
        valid_dual = solution.dual_valid and not mip
        col_dual = np.asarray(solution.col_dual, dtype=np.float64) if valid_dual else np.zeros(n_col)
        row_dual = np.asarray(solution.row_dual, dtype=np.float64) if valid_dual else np.zeros(n_row)
    else:
        col_value = row_value = col_dual = row_dual = np.zeros(0)
    objective = float(info.objective_function_value) if has_solution else math.nan
    gap = float(info.mip_gap) if mip and has_solution else None
    return HighsRun(name, has_solution, objective, col_value, row_value, col_dual, row_dual, gap, seconds)


Bounds = tuple[FloatArray, FloatArray, FloatArray, FloatArray]  # col lower, col upper, row lower, row upper


def _basic_state(
    highs: highspy.Highs, bounds: Bounds
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Values and bounds of the basic variables in HiGHS's own basis order.

    HiGHS's basis matrix is made of columns of ``[A I]``: a basic row stands for ``-r_i`` (minus
    the row activity), bounded by ``[-U_i, -L_i]`` (checked against ``getRanging`` in the tests).
    """
    solution = highs.getSolution()
    _, basic = cast(Any, highs).getBasicVariables()  # not in highspy's stubs
    basic = np.asarray(basic, dtype=np.int64)
    col_value = np.asarray(solution.col_value, dtype=np.float64)
    row_value = np.asarray(solution.row_value, dtype=np.float64)
    col_lower, col_upper, row_lower, row_upper = bounds
    is_col = basic >= 0
    col = np.where(is_col, basic, 0)
    row = np.where(is_col, 0, -basic - 1)
    value = np.where(is_col, col_value[col], -row_value[row])
    lower = np.where(is_col, col_lower[col], -row_upper[row])
    upper = np.where(is_col, col_upper[col], -row_lower[row])
    return value, lower, upper, col_value, row_value, basic


def _ratio_test(
    at: float, direction: FloatArray, value: FloatArray, lower: FloatArray, upper: FloatArray
) -> tuple[float, float]:
    """Interval of ``at + t`` over which ``value + t x direction`` stays within its bounds."""
    tol = 1e-9
    pos, neg = direction > tol, direction < -tol
    with np.errstate(divide="ignore", invalid="ignore"):
        up_steps = np.concatenate(
            ((upper[pos] - value[pos]) / direction[pos], (lower[neg] - value[neg]) / direction[neg])
        )
        dn_steps = np.concatenate(
            ((lower[pos] - value[pos]) / direction[pos], (upper[neg] - value[neg]) / direction[neg])
        )
    t_up = max(float(np.min(up_steps, initial=INF)), 0.0)
    t_dn = min(float(np.max(dn_steps, initial=-INF)), 0.0)
    return at + t_dn, at + t_up


#: A nonbasic row's status, when only "not basic" matters (a row's ranging does not use its side).
_NONBASIC = highspy.HighsBasisStatus.kNonbasic


def _bound_of_nonbasic(at: float, lower: float, upper: float) -> highspy.HighsBasisStatus | None:
    """kLower or kUpper for a nonbasic column at ``at`` (HiGHS holds it on one of its bounds);
    None when the value does not tell (equal bounds, no finite bound near it)."""
    near_low = math.isfinite(lower) and abs(at - lower) <= 1e-7 * max(1.0, abs(lower))
    near_up = math.isfinite(upper) and abs(at - upper) <= 1e-7 * max(1.0, abs(upper))
    if near_low and not near_up:
        return highspy.HighsBasisStatus.kLower
    if near_up and not near_low:
        return highspy.HighsBasisStatus.kUpper
    return None


def ranges(
    highs: highspy.Highs, form: Formulation, names: list[str], bounds: Bounds | None = None
) -> dict[str, tuple[float, float]]:
    """For each constraint, the interval of its active bound over which its dual stays valid.

    The same figures as HiGHS's ``getRanging`` (``row_bound_dn/up``, ``col_bound_dn/up``), computed
    only for the constraints asked: one solve with the basis per constraint (``B^-1 e_r`` for a
    row, ``B^-1 a_j`` for the bound of a column) and a ratio test, instead of ranging every row and
    column (3 s on the large instance). A constraint that is not binding keeps its dual (0) from
    its current activity to infinity. Needs the basis of a solved LP. ``bounds``: the bounds
    loaded in ``highs`` when they are not the formulation's (integers fixed, what-if changes).
    Amounts of money are returned in euros (the model counts thousands).
    """
    basis = highs.getBasis()
    if not basis.valid:
        return {}
    if bounds is None:
        bounds = (form.col_lower, form.col_upper, form.row_lower, form.row_upper)
    value, lower, upper, col_value, row_value, basic = _basic_state(highs, bounds)
    col_lo, col_up, row_lo, row_up = bounds
    basic_cols = set(basic[basic >= 0].tolist())
    basic_rows = set((-basic[basic < 0] - 1).tolist())
    #: basis.col_status copies the whole list (2 ms for 6,100 columns): read only when a
    #: nonbasic column's bound cannot be told from its value (fixed or free columns)
    col_statuses: list[highspy.HighsBasisStatus] | None = None
    out: dict[str, tuple[float, float]] = {}
    for name in names:
        side, index = form.bound_of(name)
        if side == "row":
            at, lo_b, up_b = float(row_value[index]), float(row_lo[index]), float(row_up[index])
            status = highspy.HighsBasisStatus.kBasic if index in basic_rows else _NONBASIC
        else:
            at, lo_b, up_b = float(col_value[index]), float(col_lo[index]), float(col_up[index])
            if index in basic_cols:
                status = highspy.HighsBasisStatus.kBasic
            else:
                told = _bound_of_nonbasic(at, lo_b, up_b)
                if told is None:
                    if col_statuses is None:
                        col_statuses = basis.col_status
                    told = col_statuses[index]
                status = told
        if status == highspy.HighsBasisStatus.kBasic:
            # not binding: the bound can move up to the activity without changing anything
            unit = form.unit_of(name)
            out[name] = (
                (at * unit, INF)
                if (side == "upper" or (side == "row" and lo_b == -INF))
                else (-INF, at * unit)
            )
            continue
        if side == "row":
            _, direction = cast(Any, highs).getBasisInverseCol(int(index))
            low, high = _ratio_test(at, np.asarray(direction), value, lower, upper)
        else:
            _, reduced = cast(Any, highs).getReducedColumn(int(index))
            low, high = _ratio_test(at, -np.asarray(reduced), value, lower, upper)
            if status == highspy.HighsBasisStatus.kUpper:
                low = max(low, lo_b)  # an upper bound cannot pass below the lower one
            elif status == highspy.HighsBasisStatus.kLower:
                high = min(high, up_b)
        unit = form.unit_of(name)
        out[name] = (low * unit + 0.0, high * unit + 0.0)
    return out


def fixed_bounds(form: Formulation, col_value: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Column bounds with every integer column fixed at its (rounded) value."""
    lower, upper = form.col_lower.copy(), form.col_upper.copy()
    fixed = np.round(col_value[form.integer])
    lower[form.integer] = fixed
    upper[form.integer] = fixed
    return lower, upper


class WhatIf:
    """A loaded model kept warm: change a bound, re-solve from the previous basis.

    For an LP (or a MIP whose integer choices are fixed by ``integer_values``, the columns of a
    solution) a re-solve after changing one bound starts from the previous optimal basis (dual
    simplex: milliseconds on the medium instance). A MIP without ``integer_values`` is re-solved
    as a MIP (branch and bound again, no warm start); ``relax_integers`` makes it its LP relaxation.
    Bounds are changed by constraint name (``envelope``, ``staff``, ``service_min[S1]``…).
    """

    def __init__(
        self,
        problem: Problem,
        *,
        time_limit: float = 30.0,
        relax_integers: bool = False,
        integer_values: FloatArray | None = None,
        formulation: Formulation | None = None,
        mip_rel_gap: float | None = None,
    ) -> None:
        self.form = (
            formulation if formulation is not None else formulate(problem, relax_integers=relax_integers)
        )
        self.time_limit = float(time_limit)
        has_integers = bool(self.form.integer.any())
        self.mip = has_integers and integer_values is None and not relax_integers
        if self.mip:
            self.highs = new_highs(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        else:
            fixed = integer_values is not None and has_integers
            self.highs = new_lp_highs(self.form, time_limit=time_limit, fixed_integers=fixed)
        lower = upper = None
        if integer_values is not None and has_integers:
            lower, upper = fixed_bounds(self.form, integer_values)
        self.col_lower = (self.form.col_lower if lower is None else lower).copy()
        self.col_upper = (self.form.col_upper if upper is None else upper).copy()
        self.row_lower = self.form.row_lower.copy()
        self.row_upper = self.form.row_upper.copy()
        pass_formulation(
            self.highs, self.form, col_lower=self.col_lower, col_upper=self.col_upper, integer=self.mip
        )
        self.last = run(self.highs, mip=self.mip)

    @classmethod
    def attach(
        cls,
        form: Formulation,
        highs: highspy.Highs,
        last: HighsRun,
        col_lower: FloatArray,
        col_upper: FloatArray,
        *,
        time_limit: float = 30.0,
    ) -> WhatIf:
        """A WhatIf over an LP already loaded and solved in ``highs`` (no second solve);
        ``time_limit``: seconds for each re-solve."""
        self = cls.__new__(cls)
        self.form, self.highs, self.last, self.mip = form, highs, last, False
        self.time_limit = float(time_limit)
        self.col_lower, self.col_upper = col_lower.copy(), col_upper.copy()
        self.row_lower, self.row_upper = form.row_lower.copy(), form.row_upper.copy()
        return self

    @property
    def objective(self) -> float | None:
        """Objective of the last solve, or None when it found no solution."""
        return self.last.objective if self.last.has_solution else None

    @property
    def seconds(self) -> float:
        return self.last.seconds

    def resolve(self) -> float | None:
        """Re-solve (warm for an LP) and return the objective, or None without a solution
        (``last`` then holds the status, objective and time, not the values).

        HiGHS measures its time limit on the instance's clock, which runs across solves: a kept
        instance would stop after ``time_limit`` seconds of cumulative solving. Each re-solve gets
        its own ``time_limit`` from where the clock stands."""
        self.highs.setOptionValue("time_limit", self.highs.getRunTime() + self.time_limit)
        self.last = run(self.highs, mip=self.mip, values=False)  # only the objective is read
        return self.objective

    def bounds(self, name: str) -> tuple[float, float]:
        """Current ``(lower, upper)`` of constraint ``name`` (EUR for money; ±inf when absent)."""
        side, i = self.form.bound_of(name)
        unit = self.form.unit_of(name)
        if side == "row":
            return float(self.row_lower[i]) * unit, float(self.row_upper[i]) * unit
        return float(self.col_lower[i]) * unit, float(self.col_upper[i]) * unit

    def set_bounds(self, name: str, lower: float, upper: float) -> None:
        """Change the bounds of constraint ``name`` (EUR for money); for ``service_min[s]`` and
        ``service_max[s]`` these are the bounds of the service's budget ``b_s`` (both sides set)."""
        side, i = self.form.bound_of(name)
        unit = self.form.unit_of(name)
        lower, upper = lower / unit, upper / unit
        if side == "row":
            self.row_lower[i], self.row_upper[i] = lower, upper
            self.highs.changeRowBounds(i, _bounds(lower), _bounds(upper))
        else:
            self.col_lower[i], self.col_upper[i] = lower, upper
            self.highs.changeColBounds(i, _bounds(lower), _bounds(upper))

    def set_envelope(self, envelope: float) -> None:
        self.set_bounds("envelope", -INF, envelope)

    def objective_with(self, name: str, lower: float, upper: float) -> float | None:
        """Objective with constraint ``name`` bounded by ``[lower, upper]``, restored after."""
        saved = self.bounds(name)
        self.set_bounds(name, lower, upper)
        try:
            return self.resolve()
        finally:
            self.set_bounds(name, *saved)  # the next solve starts from this basis: still warm

    def envelope_objective(self, envelope: float) -> float | None:
        """Objective for another envelope (the problem's is restored after)."""
        return self.objective_with("envelope", -INF, envelope)

    def ranges(self, names: list[str]) -> dict[str, tuple[float, float]]:
        """Ranging of constraints at the current optimum (LP only)."""
        if self.mip:
            return {}
        return ranges(
            self.highs, self.form, names, (self.col_lower, self.col_upper, self.row_lower, self.row_upper)
        )


def solve_matrices(
    form: Formulation, *, time_limit: float = 30.0, mip_rel_gap: float | None = None
) -> HighsRun:
    """Solve a formulation once (the benchmark's reference route)."""
    mip = bool(form.integer.any())
    highs = (
        new_highs(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        if mip
        else new_lp_highs(form, time_limit=time_limit)
    )
    pass_formulation(highs, form)
    return run(highs, mip=mip)
