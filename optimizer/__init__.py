"""The budget reallocation model (pure): problem, model, solve, explanation.

Imports only the standard library, numpy, pandas, PuLP and highspy; reads no clock and no
configuration. See docs/optimizer.md for the formulation, the explanation method and the
solver traps this package corrects.
"""

from optimizer.diagnose import diagnose_infeasibility
from optimizer.evaluate import Evaluation, evaluate, evaluate_array, uniform_cut
from optimizer.explain import BindingConstraint, Explanation, explain
from optimizer.generate import generate_problem
from optimizer.highs_direct import WhatIf
from optimizer.model import Formulation, PulpModel, build_reallocation_model, formulate
from optimizer.problem import (
    PROBLEM_SCHEMA,
    TABLE_COLUMNS,
    ActivitySpec,
    Coverage,
    Delivery,
    EquityFloor,
    NeedSpec,
    Problem,
    ProblemError,
    ServiceSpec,
    TerritorySpec,
    check_problem,
    problem_from_dict,
    problem_from_tables,
    problem_to_dict,
    problem_to_tables,
    with_computed_coverage,
)
from optimizer.solve import STATUS_FR, STATUS_SHORT_FR, Solution, SolverName, Status, solve

__all__ = [
    "PROBLEM_SCHEMA",
    "STATUS_FR",
    "STATUS_SHORT_FR",
    "TABLE_COLUMNS",
    "ActivitySpec",
    "BindingConstraint",
    "Coverage",
    "Delivery",
    "EquityFloor",
    "Evaluation",
    "Explanation",
    "Formulation",
    "NeedSpec",
    "Problem",
    "ProblemError",
    "PulpModel",
    "ServiceSpec",
    "Solution",
    "SolverName",
    "Status",
    "TerritorySpec",
    "WhatIf",
    "build_reallocation_model",
    "check_problem",
    "diagnose_infeasibility",
    "evaluate",
    "evaluate_array",
    "explain",
    "formulate",
    "generate_problem",
    "problem_from_dict",
    "problem_from_tables",
    "problem_to_dict",
    "problem_to_tables",
    "solve",
    "uniform_cut",
    "with_computed_coverage",
]
