"""Explaining a solution in French, from the solver's own information.

Method (docs/optimizer.md, "Explanation")
-----------------------------------------
- **Shadow prices** (duals): for each binding policy constraint (the envelope, a service's legal
  floor, the bounds of its stability band, the staff limit, a hard coverage floor), the change
  of the objective per unit of its bound: "1 € de plus couvrirait X besoins pondérés".
- **Ranging**: each shadow price is only locally true; it is shown with the interval of the bound
  over which it holds (the solver's ranging, :func:`optimizer.highs_direct.ranges`).
- **Round steps, re-solved**: the envelope plus and minus ``step`` (100,000 EUR), and a round step
  for the other binding constraints (5 % of a service's bound, 1 ETP, 1 % of a floor's persons),
  re-solved warm from the optimal basis: "les 100 000 € suivants couvriraient N personnes
  pondérées de plus". For a MIP the envelope step is a full re-solve with the same solver; the
  other steps are re-solved with the integer choices fixed.
- **Reduced costs**: an activity held at its minimum would be funded further only if its unit
  cost fell by ``-d_a / mu_s`` EUR, where ``d_a < 0`` is its reduced cost and ``mu_s`` the value
  of one more euro in its service (the dual of ``budget[s]``); one at its capacity would cover
  ``d_a`` more weighted persons per unit of capacity.
- **Needs**: covered, partly covered (with the value of one more person, the dual of
  ``cover[n]``) or not covered, with the cost per weighted person of the cheapest activity that
  would cover it against what a euro buys at the margin (``1 / lambda`` EUR per weighted person).
- A MIP's duals are those of the LP with its integer choices fixed (:mod:`optimizer.solve`).
- An infeasible scenario is explained by :func:`optimizer.diagnose.diagnose_infeasibility`;
  never a bare "infeasible".
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer import highs_direct as hd
from optimizer.diagnose import _floor_label, diagnose_infeasibility
from optimizer.evaluate import uniform_cut_array, value_and_cost
from optimizer.fr import (
    format_euros,
    format_number,
    format_percent,
    format_signed_percent,
    nice_step,
    plural,
)
from optimizer.model import INF
from optimizer.problem import Problem, ServiceSpec
from optimizer.solve import DEFAULT_MIP_GAP, DUAL_TOL, VALUE_TOL, Solution, SolverName, solve

#: A MIP solved faster than this (seconds) has its envelope steps re-solved as full MIPs; a
#: slower one on its warm LP with the integer choices fixed (the explanation says so).
FULL_RESOLVE_SECONDS = 1.0
#: Steps re-solved for the binding constraints other than the envelope (the largest first).
MAX_STEPS = 3
#: Binding constraints given a sentence (the heaviest first); all are in ``Explanation.binding``.
MAX_SENTENCES = 8


@dataclass(frozen=True)
class BindingConstraint:
    """A constraint that limits the optimum, what it costs, and over which range.

    ``shadow_price``: change of the objective per unit of the bound (EUR, ETP or person);
    ``range_low``/``range_high``: the bound's interval over which the price holds (None: unknown);
    ``step``: the round change of the bound that was re-solved, signed (``+100 000`` for the
    envelope, ``-5 000`` for a floor lowered); ``step_value``: the objective's change for it.
    """

    name: str
    label_fr: str
    shadow_price: float
    range_low: float | None
    range_high: float | None
    step: float | None = None
    step_value: float | None = None


@dataclass(frozen=True)
class Explanation:
    """Sentences in French, the binding constraints, and a reason for each activity and need."""

    sentences: list[str]
    binding: list[BindingConstraint] = field(default_factory=list)
    activity_reasons: Mapping[str, str] = field(default_factory=dict)
    need_reasons: Mapping[str, str] = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Unit:
    """How the objective's unit reads: « besoins pondérés » (persons covered, summed over needs,
    weighted by priority: one person in two needs counts twice), or rate points."""

    factor: float
    one: str
    many: str

    def __call__(self, value: float) -> str:
        shown = value * self.factor
        return f"{format_number(shown)} {plural(shown, self.one, self.many)}"


def _unit(problem: Problem) -> _Unit:
    if problem.objective == "rates":
        return _Unit(100.0, "point de taux pondéré", "points de taux pondérés")
    return _Unit(1.0, "besoin pondéré", "besoins pondérés")


def _range_text(low: float | None, high: float | None, what: str, *, money: bool = True) -> str:
    """« (valable pour une enveloppe entre X € et Y €) »; empty without ranging."""
    if low is None or high is None:
        return ""

    def show(value: float) -> str:
        return format_euros(value) if money else format_number(value)

    if math.isinf(high) and math.isinf(low):
        return f" (valable quel que soit le niveau de {what})"
    if math.isinf(high):
        return f" (valable pour {what} d'au moins {show(max(low, 0.0))})"
    if math.isinf(low):
        return f" (valable pour {what} d'au plus {show(high)})"
    return f" (valable pour {what} entre {show(max(low, 0.0))} et {show(high)})"


def explain(
    problem: Problem,
    solution: Solution,
    *,
    step: float = 100_000,
    solver: SolverName | None = None,
    time_limit: float = 30.0,
    compare_uniform_cut: bool = True,
    resolve_mip: bool | None = None,
    mip_gap: float = DEFAULT_MIP_GAP,
    deadline: float | None = None,
) -> Explanation:
    """Explain ``solution`` of ``problem`` in French (see the module docstring).

    ``step``: the envelope step re-solved (EUR); ``solver``, ``time_limit``, ``mip_gap``: for a
    MIP's envelope re-solves (default: the solution's own solver); ``resolve_mip``: re-solve a
    MIP's envelope steps as two full MIP solves (``True``) or with its integer choices fixed, on
    the warm LP (``False``); by default (``None``) the full solves are made only when the MIP took
    under :data:`FULL_RESOLVE_SECONDS` and the ``deadline`` leaves room for both, so that the
    explanation never multiplies the run time of a large MIP; ``deadline``: a
    ``time.perf_counter()`` instant after which nothing more is solved (the diagnosis of an
    infeasible problem and the re-solves share what is left); ``compare_uniform_cut``: add the
    "same change everywhere" baseline.
    """
    if deadline is not None:
        time_limit = max(0.1, min(time_limit, deadline - time.perf_counter()))
    if resolve_mip is None:
        room = deadline is None or (deadline - time.perf_counter()) > 3 * solution.solve_seconds
        resolve_mip = solution.solve_seconds <= FULL_RESOLVE_SECONDS and room
    if solution.status == "infeasible":
        diagnosis = diagnose_infeasibility(problem, time_limit=time_limit)
        return Explanation(
            sentences=[
                "Le scénario est infaisable : ces contraintes ne peuvent être tenues ensemble.",
                *diagnosis,
            ],
            diagnosis=diagnosis,
        )
    if solution.status == "time_limit_no_solution":
        return Explanation(
            sentences=[
                f"Aucune solution n'a été trouvée dans la limite de temps ({format_number(time_limit)} s). "
                "Augmentez la limite de temps, ou résolvez d'abord sans coûts fixes ni postes entiers "
                "(relaxation linéaire) pour un ordre de grandeur."
            ]
        )
    if solution.status == "error" or not solution.has_values:
        return Explanation(sentences=[f"Le solveur a échoué : {solution.message or solution.status_fr}."])
    explainer = _Explainer(problem, solution, step, solver or _solver_of(solution), time_limit)
    explainer.resolve_mip, explainer.mip_gap = resolve_mip, mip_gap
    return explainer.run(compare_uniform_cut)


def _solver_of(solution: Solution) -> SolverName:
    return "cbc" if solution.solver == "cbc" else "highs-pulp" if solution.solver == "highs-pulp" else "highs"


class _Explainer:
    def __init__(
        self, problem: Problem, solution: Solution, step: float, solver: SolverName, time_limit: float
    ):
        self.problem, self.solution, self.step, self.solver, self.time_limit = (
            problem,
            solution,
            step,
            solver,
            time_limit,
        )
        self.unit = _unit(problem)
        self.resolve_mip, self.mip_gap = False, DEFAULT_MIP_GAP
        self.sentences: list[str] = []
        self.binding: list[BindingConstraint] = []
        self._engine: hd.WhatIf | None = None
        self._services: dict[str, ServiceSpec] | None = None

    # -- a warm LP for re-solves (the solve's own when it kept it)
    def engine(self) -> hd.WhatIf:
        if self._engine is None:
            s = self.solution
            if s.engine is not None and s.formulation is not None and s.formulation.problem is self.problem:
                self._engine = s.engine
            else:
                form = (
                    s.formulation
                    if s.formulation is not None and s.formulation.problem is self.problem
                    else None
                )
                self._engine = hd.WhatIf(
                    self.problem,
                    time_limit=self.time_limit,
                    integer_values=s.col_value if s.is_mip else None,
                    formulation=form,
                )
        return self._engine

    def objective_with(self, name: str, lower: float, upper: float) -> float | None:
        return self.engine().objective_with(name, lower, upper)

    def run(self, compare: bool) -> Explanation:
        self._summary(compare)
        if self.solution.duals:
            self._envelope()
            self._constraints()
        else:  # a time-limited MIP whose LP with fixed choices could not be solved
            self.sentences.append(
                f"Les prix marginaux ne sont pas disponibles pour cette solution ({self.solution.message})."
            )
        self._shortfalls()
        activity_reasons = self._activities()
        need_reasons = self._needs()
        return Explanation(self.sentences, self.binding, activity_reasons, need_reasons)

    def _summary(self, compare: bool) -> None:
        p, s = self.problem, self.solution
        persons = sum(n.size for n in p.needs)
        covered = sum(s.covered.values())
        value = s.coverage_value or 0.0
        status = ""
        if s.status == "time_limit_feasible":
            gap = (
                f" (écart à l'optimum d'au plus {format_percent(s.mip_gap, 2)})"
                if s.mip_gap is not None
                else ""
            )
            status = f" La recherche s'est arrêtée à la limite de temps : c'est la meilleure solution trouvée{gap}."
        self.sentences.append(
            f"Avec une enveloppe de {format_euros(p.envelope)}, la répartition optimale dépense "
            f"{format_euros(s.total_cost or 0.0)} et couvre {format_number(covered)} besoins sur "
            f"{format_number(persons)} ({format_percent(covered / persons if persons else 0.0)}), "
            f"soit {self.unit(value)} (une personne qui relève de deux besoins y compte deux fois).{status}"
        )
        today = value_and_cost(p, p.arrays().current_volume)
        self.sentences.append(
            f"Aujourd'hui, pour {format_euros(today.total_cost)}, les activités couvrent {self.unit(today.objective)}."
        )
        if compare:
            cut = value_and_cost(p, uniform_cut_array(p))
            if cut.total_cost > 0 and today.total_cost > 0:
                change = cut.total_cost / today.total_cost - 1
                self.sentences.append(
                    f"Une variation uniforme de toutes les activités ({format_signed_percent(change)}) couvrirait "
                    f"{self.unit(cut.objective)} : la répartition optimale en couvre "
                    f"{self.unit(value - cut.objective)} de plus."
                )
        if s.penalty > 0:
            self.sentences.append(
                f"Les taux minimaux souples manqués coûtent {self.unit(s.penalty)} de pénalité dans l'objectif."
            )
        if s.is_mip:
            self.sentences.append(
                "Les prix marginaux ci-dessous sont ceux du modèle linéaire où les choix entiers "
                "(activités ouvertes ou fermées, postes) sont fixés à ceux de la solution"
                + (
                    "."
                    if self.resolve_mip
                    else ", comme les effets de l'enveloppe (sans rouvrir ni fermer d'activité)."
                )
            )

    def _envelope(self) -> None:
        p, s = self.problem, self.solution
        dual = s.duals.get("envelope", 0.0)
        low, high = s.ranges.get("envelope", (None, None))
        if dual <= DUAL_TOL:
            unspent = p.envelope - (s.total_cost or 0.0)
            self.sentences.append(
                f"L'enveloppe n'est pas la contrainte limitante : {format_euros(max(unspent, 0.0))} restent "
                "non dépensés ; d'autres contraintes (capacités, effectifs, hausses maximales, besoins déjà "
                "couverts) bornent la couverture."
            )
            return
        up = self._envelope_step(+self.step)
        down = self._envelope_step(-min(self.step, p.envelope))
        self.binding.append(BindingConstraint("envelope", "l'enveloppe", dual, low, high, self.step, up))
        self.sentences.append(
            f"1 € de plus couvrirait {self.unit(dual)}{_range_text(low, high, 'une enveloppe')}."
        )
        if up is not None:
            linear = dual * self.step
            note = ""
            if up < linear * (1 - 1e-6):
                note = (
                    f" (moins que {self.unit(linear)} au prix marginal : ce prix ne vaut que jusqu'à {format_euros(high)})"
                    if high is not None and math.isfinite(high)
                    else ""
                )
            self.sentences.append(
                f"Les {format_euros(self.step)} suivants couvriraient {self.unit(up)} de plus{note}."
            )
        if down is not None:
            self.sentences.append(
                f"À l'inverse, {format_euros(min(self.step, p.envelope))} de moins en feraient perdre {self.unit(-down)}."
            )

    def _envelope_step(self, delta: float) -> float | None:
        s, p = self.solution, self.problem
        assert s.objective is not None  # noqa: S101
        if s.is_mip and self.resolve_mip:
            other = solve(
                dataclasses.replace(p, envelope=p.envelope + delta),
                solver=self.solver,
                time_limit=self.time_limit,
                mip_gap=self.mip_gap,
                ranging=False,
            )
            return None if other.objective is None else other.objective - s.objective
        value = self.objective_with("envelope", -INF, p.envelope + delta)
        return None if value is None else value - s.objective

    def _constraint_label(self, name: str, *, head: bool = True) -> tuple[str, str, float, float, str]:
        """(label, sentence head, step, bound, unit kind) of a binding constraint.

        ``head=False``: the head is left empty (it is written only for the constraints given a
        sentence, the first :data:`MAX_SENTENCES`; the others are ranked by their step)."""
        p, s = self.problem, self.solution
        kind, _, key = name.partition("[")
        key = key[:-1]
        form = s.formulation
        assert form is not None  # noqa: S101
        if kind in ("service_min", "service_max"):
            if self._services is None:
                self._services = {x.code: x for x in p.services}
            svc = self._services[key]
            label = f"« {svc.name or svc.code} »"
            low, high, _ = p.service_bounds()[key]
            if kind == "service_min":
                bound = low
                step = -nice_step(0.05 * bound)
                if form.lower_reason.get(key) == "floor":
                    text = (
                        f"Le service {label} est à son plancher légal ({format_euros(bound)})" if head else ""
                    )
                    return f"le plancher légal du service {label}", text, step, bound, "€"
                text = (
                    f"Le service {label} est à sa baisse maximale ({format_signed_percent(svc.min_change or 0.0)}, "
                    f"{format_euros(bound)} pour {format_euros(p.current_budgets()[key])} aujourd'hui)"
                    if head
                    else ""
                )
                return f"la baisse maximale du service {label}", text, step, bound, "€"
            bound = high if high is not None else INF
            text = (
                f"Le service {label} est à sa hausse maximale ({format_signed_percent(svc.max_change or 0.0)}, "
                f"{format_euros(bound)})"
                if head
                else ""
            )
            return f"la hausse maximale du service {label}", text, nice_step(0.05 * bound), bound, "€"
        if kind == "staff":
            limit = p.staff_limit or 0.0
            text = f"La limite d'effectifs ({format_number(limit)} ETP) est atteinte" if head else ""
            return "la limite d'effectifs", text, 1.0, limit, "ETP"
        label, persons = _floor_label(p, name)
        i = form.row_index[name]
        target = float(form.row_lower[i])
        text = (
            f"Le taux de couverture minimal de {format_percent(target / persons if persons else 0.0)} {label} est tenu de justesse"
            if head
            else ""
        )
        return f"le taux minimal {label}", text, -nice_step(max(0.01 * persons, 1.0)), target, "personnes"

    def _constraints(self) -> None:
        s = self.solution
        unbounded = {  # a service with no band and no floor: its "bound" is only that a budget is >= 0
            sv.code
            for sv in self.problem.services
            if sv.min_change is None and sv.max_change is None and not sv.legal_floor
        }
        names = [
            n
            for n, d in s.duals.items()
            if n != "envelope"
            and abs(d) > DUAL_TOL
            and n.split("[")[0]
            in ("service_min", "service_max", "staff", "need_floor", "group_floor", "territory_floor")
            and not (
                n.split("[")[0] in ("service_min", "service_max") and n[n.index("[") + 1 : -1] in unbounded
            )
        ]
        if not names:
            return
        labelled = {n: self._constraint_label(n, head=False) for n in names}
        order = sorted(names, key=lambda n: -abs(s.duals[n] * labelled[n][2]))
        for rank, name in enumerate(order):
            label, head, step, bound, kind = (
                self._constraint_label(name) if rank < MAX_SENTENCES else labelled[name]
            )
            dual = s.duals[name]
            low, high = s.ranges.get(name, (None, None))
            value = None
            if rank < MAX_STEPS and s.objective is not None:
                lower, upper = self.engine().bounds(name)
                if step < 0:
                    lower = bound + step
                else:
                    upper = bound + step
                new = self.objective_with(name, lower, upper)
                value = None if new is None else new - s.objective
            self.binding.append(BindingConstraint(name, label, dual, low, high, step, value))
            if rank >= MAX_SENTENCES:
                continue
            if kind == "€":
                per = f"chaque euro {'de plancher en moins' if step < 0 else 'de hausse permise en plus'} couvrirait {self.unit(abs(dual))} de plus"
                where = _range_text(low, high, "un budget")
                step_text = (
                    f" ; {'abaisser ce plancher' if step < 0 else 'relever ce plafond'} de {format_euros(abs(step))} couvrirait {self.unit(value)} de plus"
                    if value is not None
                    else ""
                )
            elif kind == "ETP":
                per = f"1 ETP de plus couvrirait {self.unit(dual)} de plus"
                where = _range_text(low, high, "une limite", money=False)
                step_text = f" (re-calculé : {self.unit(value)})" if value is not None else ""
            else:
                per = f"chaque personne exigée en moins libérerait {self.unit(abs(dual))}"
                where = _range_text(low, high, "un objectif (en personnes)", money=False)
                step_text = (
                    f" ; l'abaisser de {format_number(abs(step))} personnes couvrirait {self.unit(value)} de plus"
                    if value is not None
                    else ""
                )
            self.sentences.append(f"{head} : {per}{where}{step_text}.")
        if len(order) > MAX_SENTENCES:
            rest = len(order) - MAX_SENTENCES
            self.sentences.append(
                f"{rest} {plural(rest, 'autre contrainte est atteinte', 'autres contraintes sont atteintes')} "
                "(bornes des services, planchers) : leur prix marginal figure dans la liste des contraintes liantes."
            )

    def _shortfalls(self) -> None:
        p, s = self.problem, self.solution
        for name, persons_short in s.shortfalls.items():
            label, persons = _floor_label(p, name)
            form = s.formulation
            assert form is not None  # noqa: S101
            target = float(form.row_lower[form.row_index[name]])
            self.sentences.append(
                f"Le taux minimal souple de {format_percent(target / persons if persons else 0.0)} {label} n'est pas atteint : "
                f"il manque {format_number(persons_short)} personnes (pénalité de {self.unit(-float(form.cost[form.short_col[name]]) * persons_short)})."
            )

    def _activities(self) -> Mapping[str, str]:
        p, s = self.problem, self.solution
        arrays = p.arrays()
        codes = p.activity_codes()
        n = len(codes)

        def in_order(values: Mapping[str, float], default: float) -> Iterator[float]:
            # a solution's dicts are built in the order of the activities: read them straight
            if len(values) == n and next(iter(values), None) == codes[0]:
                return iter(values.values())
            return (values.get(c, default) for c in codes)

        x = np.fromiter(in_order(s.volumes, 0.0), dtype=np.float64, count=n)
        rc = np.fromiter(in_order(s.reduced_costs, 0.0), dtype=np.float64, count=n)
        running = np.fromiter(in_order(s.runs, True), dtype=np.bool_, count=n)
        minimum, capacity = arrays.min_volume, arrays.capacity
        at_min = x <= minimum + VALUE_TOL * np.maximum(1.0, minimum)
        at_cap = np.isfinite(capacity) & (
            x >= capacity - VALUE_TOL * np.maximum(1.0, np.where(np.isfinite(capacity), capacity, 1.0))
        )
        closed = (arrays.fixed_cost > 0) & ~running
        # categories as small integers (indexes of _CATEGORIES), counted with bincount
        category = np.select(
            [closed, at_min & (rc < -DUAL_TOL), at_cap & (rc > DUAL_TOL), at_min, at_cap],
            [0, 1, 2, 3, 4],
            default=5,
        )
        counts = dict(
            zip(_CATEGORIES, np.bincount(category, minlength=len(_CATEGORIES)).tolist(), strict=True)
        )
        self.sentences.append(
            f"Activités : {counts['cap'] + counts['cap_priced']} à leur capacité, "
            f"{counts['mid']} entre minimum et capacité, {counts['min'] + counts['min_priced']} "
            "à leur minimum" + (f", {counts['off']} fermées" if counts["off"] else "") + "."
        )
        # an offer given at a fixed volume (a partner's: minimum = capacity, no cost) is not a choice
        given = np.isfinite(capacity) & (minimum >= capacity) & (arrays.unit_cost <= 0)
        ranked = np.where(given, -np.inf, rc)
        best = np.argsort(-ranked)[:3]
        worth = [int(i) for i in best if ranked[i] > DUAL_TOL]
        if worth:
            names = ", ".join(
                f"« {p.activities[i].name or p.activities[i].code} » ({self.unit(float(rc[i]))} par unité)"
                for i in worth
            )
            self.sentences.append(f"Les capacités qu'il vaudrait le plus la peine d'augmenter : {names}.")
        return _Reasons(
            codes,
            lambda i: self._activity_reason(i, float(x[i]), float(rc[i]), _CATEGORIES[int(category[i])]),
        )

    def _activity_reason(self, i: int, x: float, rc: float, category: str) -> str:
        p, s = self.problem, self.solution
        a = p.activities[i]
        today = (
            f"aujourd'hui {format_number(a.current_volume)} : {format_signed_percent(x / a.current_volume - 1)}"
            if a.current_volume > 0
            else ""
        )
        units = f"{format_number(x)} {plural(x, 'unité', 'unités')}"
        volume = f"{units} ; {today}" if today else units
        if category == "off":
            return (
                f"ne fonctionne pas : son coût fixe de {format_euros(a.fixed_cost)} et son coût unitaire de "
                f"{format_euros(a.unit_cost)} couvriraient moins de besoins que d'autres dépenses."
            )
        if category == "min_priced":
            start = "maintenue à son volume obligatoire" if a.min_volume > 0 else "non financée"
            service_value = s.duals.get(f"budget[{a.service}]", 0.0)
            if service_value > DUAL_TOL:
                fall = -rc / service_value
                target = a.unit_cost - fall
                price = (
                    f"son coût unitaire devrait baisser de {format_euros(fall)} (de {format_euros(a.unit_cost)} à "
                    f"{format_euros(target)}) pour être financée davantage"
                    if target > 0
                    else "même gratuite, elle ne couvrirait pas assez de besoins encore découverts pour être financée davantage"
                )
            else:
                price = "ce n'est pas l'argent qui la limite : les besoins qu'elle couvre le sont déjà, ou elle n'en couvre pas"
            return f"{start} ({volume}) : chaque unité de plus coûterait {self.unit(-rc)} ; {price}."
        if category == "cap_priced":
            return f"à sa capacité ({volume}) : chaque unité de capacité en plus couvrirait {self.unit(rc)} de plus."
        if category == "min":
            return f"à son volume minimal ({volume}) : l'augmenter ne couvrirait rien de plus."
        if category == "cap":
            return f"à sa capacité ({volume})."
        between = "entre son minimum et sa capacité" if a.capacity is not None else "au-dessus de son minimum"
        return (
            f"financée à {units}{f' ({today})' if today else ''}, {between} : c'est à la marge que se règle "
            "son arbitrage."
        )

    def _needs(self) -> Mapping[str, str]:
        p, s = self.problem, self.solution
        arrays = p.arrays()
        n_n = len(p.needs)
        # the cheapest activity per person of each need; a coverage that counts nothing (zero
        # coefficient, or delivered where the need is not) costs infinitely much per person
        k = arrays.cov_coefficient
        per_person = np.divide(
            arrays.unit_cost[arrays.cov_activity], k, out=np.full(len(k), np.inf), where=k > 0
        )
        # the first coverage (in the problem's order) at its need's lowest cost; -1 for none
        cheapest = np.full(n_n, np.inf)
        np.minimum.at(cheapest, arrays.cov_need, per_person)
        at_cheapest = np.flatnonzero(per_person == cheapest[arrays.cov_need])
        first = np.full(n_n, len(k), dtype=np.int64)
        np.minimum.at(first, arrays.cov_need[at_cheapest], at_cheapest)
        first[first == len(k)] = -1
        rate = np.fromiter((s.coverage_rate[n.code] for n in p.needs), dtype=np.float64, count=n_n)
        covered = np.fromiter((s.covered[n.code] for n in p.needs), dtype=np.float64, count=n_n)
        full = int((rate >= 1 - 1e-9).sum())
        none = int((covered <= VALUE_TOL).sum())
        self.sentences.append(
            f"Besoins : {full} {plural(full, 'entièrement couvert', 'entièrement couverts')}, "
            f"{n_n - full - none} en partie, {none} {plural(none, 'non couvert', 'non couverts')}."
        )
        codes = [n.code for n in p.needs]
        return _Reasons(
            codes,
            lambda i: self._need_reason(
                i, int(first[i]), float(per_person[first[i]]) if first[i] >= 0 else 0.0
            ),
        )

    def _need_reason(self, i: int, cheapest: int, per_person: float) -> str:
        p, s = self.problem, self.solution
        n = p.needs[i]
        c, rate = s.covered[n.code], s.coverage_rate[n.code]
        if rate >= 1 - 1e-9:
            return f"entièrement couvert ({format_number(n.size)} personnes)."
        if cheapest < 0:
            return "aucune activité ne couvre ce besoin : il ne peut être couvert."
        activity = p.coverages[cheapest].activity
        weight = n.priority / (n.size if p.objective == "rates" else 1.0)
        per_weighted = per_person / (weight * self.unit.factor) if weight > 0 else math.inf
        envelope_dual = s.duals.get("envelope", 0.0)
        margin = (
            f" ; à la marge, 1 € couvre {self.unit(envelope_dual)}, soit "
            f"{format_euros(1 / (envelope_dual * self.unit.factor))} par {self.unit.one}"
            if envelope_dual > DUAL_TOL
            else ""
        )
        if c > VALUE_TOL:
            dual = s.duals.get(f"cover[{n.code}]", 0.0)
            return (
                f"couvert à {format_percent(rate)} ({format_number(c)} personnes sur {format_number(n.size)}) ; "
                f"une personne de plus vaudrait {self.unit(dual)} et coûterait {format_euros(per_person)} "
                f"avec l'activité la moins chère (« {activity} »){margin}."
            )
        return (
            f"non couvert : l'activité la moins chère qui le couvre (« {activity} ») coûte "
            f"{format_euros(per_person)} par personne, soit {format_euros(per_weighted)} par {self.unit.one}{margin}."
        )


#: What limits an activity at the optimum (the reason's kind), by index.
_CATEGORIES = ("off", "min_priced", "cap_priced", "min", "cap", "mid")


class _Reasons(Mapping[str, str]):
    """Reasons by code, each written when first read (145,000 activities on the large instance);
    the index of the codes is built at the first read too."""

    def __init__(self, codes: Sequence[str], write: Callable[[int], str]) -> None:
        self._index: dict[str, int] | None = None
        self._codes = codes
        self._write = write
        self._done: dict[str, str] = {}

    def __getitem__(self, code: str) -> str:
        done = self._done.get(code)
        if done is None:
            if self._index is None:
                self._index = {c: i for i, c in enumerate(self._codes)}
            done = self._done[code] = self._write(self._index[code])
        return done

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)


__all__ = ["BindingConstraint", "Explanation", "diagnose_infeasibility", "explain"]
