"""Budget arbitration scenarios: build the problem from the database, solve it (``optimizer``), store
and compare the results, propose and adopt.

The current situation comes from one computation: unit costs from the latest closed year's
costing (``services.costing.current_costs``: full cost, support functions included, less the
fixed cost, per unit of output of that year — its actual volume, else its output indicator, else
the reference volume), today's volumes at the activities' reference volumes; needs with their
sizes and priority weights, activities with their coverage coefficients, minimum volumes (mandatory missions) and capacities. A partner's activity costs the
organisation nothing and keeps its volume: it covers needs but is not arbitrated.

A run is split so that no database transaction stays open while the solver works:
``start_run`` (mark running) -> ``solve_problem`` (pure, no session) -> ``store_results``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models import (
    Activity,
    ActivityKind,
    ActivityNeedCoverage,
    ActivityVolume,
    BudgetDocument,
    CostKind,
    CostLine,
    Need,
    Nomenclature,
    PopulationGroup,
    Role,
    Scenario,
    ScenarioActivityResult,
    ScenarioNeedResult,
    ScenarioState,
    Service,
    ServiceKind,
    Survey,
    Territory,
)
from optimizer import (
    STATUS_SHORT_FR,
    ActivitySpec,
    Coverage,
    Delivery,
    EquityFloor,
    Explanation,
    NeedSpec,
    Problem,
    ProblemError,
    ServiceSpec,
    Solution,
    TerritorySpec,
    evaluate,
    explain,
    problem_from_dict,
    problem_to_dict,
    solve,
    uniform_cut,
    with_computed_coverage,
)
from scorecard.costing import centre_of_lines
from scorecard.coverage import unique_labels
from scorecard.errors import UserError
from scorecard.money import split_cents
from services.budget import (
    DocumentToWrite,
    LineToWrite,
    current_voted_budget,
    fingerprint_of,
    write_budget_document,
)
from services.coherence import coherence_of, load_frames, located_offer
from services.costing import CostModelError, compute, current_costs, latest_report, load_model
from services.notifications import notify_roles
from services.numbers import format_euros
from services.problem_files import solution_to_dict

DEFAULT_MIN_CHANGE = -0.10
DEFAULT_MAX_CHANGE = 0.15
TIME_LIMIT = 30.0
STATE_LABELS = {
    ScenarioState.DRAFT: "brouillon",
    ScenarioState.RUNNING: "calcul en cours",
    ScenarioState.SOLVED: "calculé",
    ScenarioState.INFEASIBLE: "impossible",
    ScenarioState.FAILED: "échec du calcul",
    ScenarioState.CANCELLED: "annulé",
    ScenarioState.PROPOSED: "proposé par les finances",
    ScenarioState.ADOPTED: "adopté",
}


#: The smallest priority weight a consultation gives a need (the optimizer needs positive weights).
MIN_WEIGHT = 0.01


class ScenarioError(UserError):
    """A scenario that cannot be created, run, proposed or adopted; the message is in French."""


@dataclass(frozen=True)
class ScenarioInput:
    name: str
    year: int
    #: The envelope as a change of today's total (``-0.05`` for a 5 % cut) or as an amount.
    cut: float | None = None
    envelope: float | None = None
    min_change: float = DEFAULT_MIN_CHANGE
    max_change: float = DEFAULT_MAX_CHANGE
    method: str = "optimise"
    objective: str = "persons"
    diminishing_returns: bool = False
    staff_limit: float | None = None
    #: What-ifs: priority weight by need code, unit cost by activity code.
    priorities: dict[str, float] | None = None
    unit_costs: dict[str, float] | None = None
    #: Equity floors: a minimum coverage rate over every need of a population group or of a
    #: territory (``scope`` "group" or "territory", ``target`` its name, ``min_rate`` a fraction,
    #: hard unless ``soft``).
    equity: list[dict[str, Any]] | None = None
    #: Minimum coverage rates of single needs (``code``, ``min_rate`` a fraction, ``soft``).
    need_floors: list[dict[str, Any]] | None = None
    description: str | None = None
    #: The needs' priority weights: the élus' (``None``) or those a closed consultation proposes
    #: (its survey id). What-if priorities still apply on top.
    consultation_id: int | None = None


def current_problem(
    session: Session,
    organisation_id: int,
    *,
    min_change: float = DEFAULT_MIN_CHANGE,
    max_change: float = DEFAULT_MAX_CHANGE,
) -> Problem:
    """Today's situation as an optimizer problem, with the envelope equal to today's total cost.

    Coverage follows the one coverage model (``scorecard.coverage``, the coherence's): the
    problem carries the territory tree, the deliveries and the explicit shares, and each
    coverage's counted share and each need's persons covered today are written in it
    (:func:`optimizer.problem.with_computed_coverage`), equal to ``/coherence`` by construction.
    """
    costs = current_costs(session, organisation_id)
    territory_rows = session.execute(
        select(Territory.id, Territory.parent_id, Territory.name, Territory.code)
        .where(Territory.organisation_id == organisation_id)
        .order_by(Territory.id)
    ).all()
    labels = dict(
        zip(
            [t.id for t in territory_rows],
            unique_labels([t.name for t in territory_rows], [t.code for t in territory_rows]),
            strict=True,
        )
    )
    rows = session.execute(
        select(Activity, Service)
        .join(Service, Service.id == Activity.service_id)
        .where(Activity.organisation_id == organisation_id, Activity.archived_at.is_(None))
        .order_by(Activity.code)
    ).all()
    activities: list[ActivitySpec] = []
    budgets: dict[str, float] = {}
    floors: dict[str, float] = {}
    services: dict[str, Service] = {}
    for activity, service in rows:
        services[service.code] = service
        territory = labels.get(activity.territory_id) if activity.territory_id is not None else None
        volume = float(activity.volume or 0)
        fixed = float(activity.fixed_cost or 0)
        partner = service.kind is ServiceKind.PARTNER or activity.unit_cost is None
        if partner:
            unit, fixed = 0.0, 0.0
        else:
            costed = costs.get(activity.id, {})
            full = costed.get("full_cost", 0.0)
            # the closed year's cost over that year's volume (its actual volume, else its output
            # indicator, else the reference volume: services.costing.load_volumes)
            closed = costed.get("volume", 0.0) if full > 0 else 0.0
            if closed > 0:
                unit = max(0.0, (full - fixed) / closed)
            else:
                recorded = float(activity.unit_cost or 0) * volume + fixed
                total = full if full > 0 else recorded
                unit = max(0.0, (total - fixed) / volume) if volume > 0 else float(activity.unit_cost or 0)
            # a millionth of a euro: survives Excel's 15 digits, and budgets are computed from it
            unit = round(unit, 6)
        capacity = float(activity.capacity) if activity.capacity is not None else None
        minimum = float(activity.min_volume or 0)
        if partner:  # a partner's offer is given: it covers needs at its current volume
            minimum, capacity = volume, volume
        activities.append(
            ActivitySpec(
                code=activity.code,
                service=service.code,
                unit_cost=unit,
                name=activity.name,
                fixed_cost=fixed,
                current_volume=volume,
                min_volume=min(minimum, capacity) if capacity is not None else minimum,
                capacity=capacity,
                staff_per_unit=float(activity.staff_etp or 0) / volume if volume > 0 else 0.0,
                territory=territory,
            )
        )
        cost = unit * volume + fixed
        budgets[service.code] = budgets.get(service.code, 0.0) + cost
        if activity.kind is ActivityKind.MANDATORY and not partner:
            floors[service.code] = floors.get(service.code, 0.0) + unit * minimum + fixed
    service_specs = tuple(
        ServiceSpec(
            code=code,
            name=service.name,
            current_budget=round(budgets.get(code, 0.0), 2),
            min_change=None if service.kind is ServiceKind.PARTNER else min_change,
            max_change=None if service.kind is ServiceKind.PARTNER else max_change,
            legal_floor=round(floors.get(code, 0.0), 2),
        )
        for code, service in sorted(services.items())
    )
    needs = session.execute(
        select(Need, PopulationGroup.name)
        .join(PopulationGroup, PopulationGroup.id == Need.population_group_id)
        .where(Need.organisation_id == organisation_id, Need.size.is_not(None), Need.size > 0)
        .order_by(Need.code)
    ).all()
    need_specs = tuple(
        NeedSpec(
            code=need.code,
            size=float(need.size or 0),
            priority=float(need.priority_weight or 1.0),
            name=need.label,
            population_group=group,
            territory=labels[need.territory_id],
        )
        for need, group in needs
    )
    known_needs = {n.code for n in need_specs}
    coverage = session.execute(
        select(
            Activity.code,
            Need.code,
            ActivityNeedCoverage.coefficient,
            ActivityNeedCoverage.share,
            Activity.id,
            Need.id,
        )
        .join(Activity, Activity.id == ActivityNeedCoverage.activity_id)
        .join(Need, Need.id == ActivityNeedCoverage.need_id)
        .where(Activity.organisation_id == organisation_id, Activity.archived_at.is_(None))
        .order_by(Activity.code, Need.code)
    ).all()
    kept = [row for row in coverage if row[1] in known_needs and row[2] > 0]
    coverages = tuple(
        Coverage(activity=a, need=n, coefficient=float(c), share=None if share is None else float(share))
        for a, n, c, share, _, _ in kept
    )
    deliveries, _ = located_offer(session, organisation_id)
    code_of = {a.id: a.code for a, _ in rows}  # archived activities are not in today's offer
    deliveries = deliveries[deliveries["activity_id"].isin(list(code_of))]
    delivery_specs = tuple(
        Delivery(activity=code_of[int(a)], territory=labels[int(t)], share=float(share))
        for a, t, share in zip(
            deliveries["activity_id"].tolist(),
            deliveries["territory_id"].tolist(),
            deliveries["share"].tolist(),
            strict=True,
        )
    )
    territory_specs = tuple(
        TerritorySpec(code=labels[t.id], parent=labels.get(t.parent_id) if t.parent_id else None, name=t.name)
        for t in territory_rows
    )
    total = sum(budgets.values())
    problem = Problem(
        activities=tuple(activities),
        needs=need_specs,
        services=service_specs,
        coverages=coverages,
        envelope=round(total, 2),
        deliveries=delivery_specs,
        territories=territory_specs,
    )
    # The coherence's counted shares, over every need (those of unknown size too): where an
    # explicit share given to a need left out of the problem (unknown size) makes the problem's
    # rule differ, that activity's counted shares are written as explicit shares, delivered
    # everywhere, so that the problem counts exactly what /coherence counts.
    frames = load_frames(session, organisation_id)
    counted = coherence_of(frames).activity_shares.set_index(["activity_id", "need_id"])["counted_share"]
    wanted = [float(counted.get((aid, nid), 0.0)) for _, _, _, _, aid, nid in kept]
    differs = {
        c.activity
        for c, want, got in zip(coverages, wanted, problem.arrays().cov_share, strict=True)
        if not math.isclose(want, float(got), rel_tol=1e-9, abs_tol=1e-12)
    }
    if differs:
        problem = replace(
            problem,
            coverages=tuple(
                replace(c, share=want) if c.activity in differs else c
                for c, want in zip(coverages, wanted, strict=True)
            ),
            deliveries=tuple(d for d in delivery_specs if d.activity not in differs),
        )
    return with_computed_coverage(problem)


@dataclass(frozen=True)
class EnvelopeBaseline:
    """What a scenario's envelope is measured against: the current year's voted budget."""

    #: The year of the voted budget (None: no voted budget before the scenario's year).
    year: int | None
    amount: float
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "amount": self.amount, "label": self.label}


def envelope_baseline(
    session: Session, organisation_id: int, year: int, today_total: float
) -> EnvelopeBaseline:
    """The voted budget (BP + BS + DM, real operating expenses of the principal budget) of the
    newest year before the scenario's year — the current year while next year's budget is
    prepared — not the last accounts; without any voted budget, today's full cost of the activities."""
    voted = current_voted_budget(session, organisation_id, year)
    if voted is None:
        return EnvelopeBaseline(None, round(today_total, 2), "coût complet des activités aujourd'hui")
    voted_year, amount = voted
    return EnvelopeBaseline(voted_year, float(amount), f"budget voté {voted_year} (BP + BS + DM)")


def build_problem(session: Session, organisation_id: int, data: ScenarioInput) -> Problem:
    """The scenario's problem: today's situation with its envelope, bands, options and what-ifs."""
    base = current_problem(session, organisation_id, min_change=data.min_change, max_change=data.max_change)
    problems: list[str] = []
    if data.min_change > 0 or data.max_change < 0 or data.min_change < -1:
        problems.append("la bande de stabilité doit contenir 0 % (baisse maximale ≤ 0 ≤ hausse maximale)")
    baseline = envelope_baseline(session, organisation_id, data.year, base.envelope)
    if data.envelope is not None:
        envelope = data.envelope
    elif data.cut is not None:
        envelope = baseline.amount * (1 + data.cut)
    else:
        envelope = baseline.amount
    if envelope < 0 or not math.isfinite(envelope):
        problems.append("l'enveloppe doit être un montant positif")
    known_needs = {n.code for n in base.needs}
    known_activities = {a.code for a in base.activities}
    for code, weight in (data.priorities or {}).items():
        if code not in known_needs:
            problems.append(f"priorité : besoin « {code} » inconnu")
        elif weight <= 0:
            problems.append(f"priorité du besoin « {code} » : le poids doit être positif")
    for code, cost in (data.unit_costs or {}).items():
        if code not in known_activities:
            problems.append(f"coût unitaire : activité « {code} » inconnue")
        elif cost < 0:
            problems.append(f"coût unitaire de « {code} » : il ne peut pas être négatif")
    targets = {
        "group": ({n.population_group for n in base.needs if n.population_group}, "public"),
        "territory": ({n.territory for n in base.needs if n.territory}, "territoire"),
    }
    floors = []
    for item in data.equity or []:
        scope = str(item.get("scope", "group"))
        target, rate = str(item.get("target", "")), float(item.get("min_rate", 0))
        known, word = targets.get(scope, (set(), scope))
        if scope not in targets:
            problems.append(f"équité : portée « {scope} » inconnue (public ou territoire)")
        elif target not in known:
            problems.append(f"équité : {word} « {target} » inconnu")
        elif not 0 < rate <= 1:
            problems.append(f"équité pour « {target} » : le taux minimal doit être entre 0 et 100 %")
        else:
            floors.append(
                EquityFloor(
                    scope="group" if scope == "group" else "territory",
                    target=target,
                    min_rate=rate,
                    soft=bool(item.get("soft")),
                )
            )
    need_floors: dict[str, tuple[float, bool]] = {}
    for item in data.need_floors or []:
        code, rate = str(item.get("code", "")), float(item.get("min_rate", 0))
        if code not in known_needs:
            problems.append(f"taux minimal : besoin « {code} » inconnu")
        elif not 0 < rate <= 1:
            problems.append(f"taux minimal du besoin « {code} » : il doit être entre 0 et 100 %")
        else:
            need_floors[code] = (rate, bool(item.get("soft")))
    if problems:
        raise ScenarioError(" ; ".join(problems))
    raw = problem_to_dict(base)
    raw["envelope"] = round(envelope, 2)
    raw["name"] = data.name
    raw["year"] = data.year
    raw["objective"] = data.objective
    raw["staff_limit"] = data.staff_limit
    if data.diminishing_returns:
        raw["diminishing_returns"] = [[0.5, 1.0], [0.8, 0.6], [1.0, 0.3]]
    for need in raw["needs"]:
        if need["code"] in (data.priorities or {}):
            need["priority"] = float((data.priorities or {})[need["code"]])
        if need["code"] in need_floors:
            need["min_coverage_rate"], need["min_coverage_soft"] = need_floors[need["code"]]
    for activity in raw["activities"]:
        if activity["code"] in (data.unit_costs or {}):
            activity["unit_cost"] = float((data.unit_costs or {})[activity["code"]])
    problem = problem_from_dict(raw)
    if floors:
        problem = problem_from_dict(
            {**problem_to_dict(problem), "equity_floors": [problem_to_dict_floor(f) for f in floors]}
        )
    return problem


def problem_to_dict_floor(floor: EquityFloor) -> dict[str, Any]:
    return {"scope": floor.scope, "target": floor.target, "min_rate": floor.min_rate, "soft": floor.soft}


def create_scenario(
    session: Session, organisation_id: int, data: ScenarioInput, *, user_id: int | None
) -> Scenario:
    """A new draft scenario holding its problem. Flushes."""
    name = data.name.strip()
    if not name:
        raise ScenarioError("donnez un nom au scénario")
    if session.scalar(
        select(Scenario.id).where(Scenario.organisation_id == organisation_id, Scenario.name == name)
    ):
        raise ScenarioError(f"un scénario « {name} » existe déjà")
    if data.method not in ("optimise", "uniform"):
        raise ScenarioError(f"méthode « {data.method} » inconnue")
    weights = _weights(session, organisation_id, data.consultation_id)
    if data.consultation_id is not None:
        sized = set(
            session.scalars(
                select(Need.code).where(
                    Need.organisation_id == organisation_id, Need.size.is_not(None), Need.size > 0
                )
            )
        )
        # a need no resident gave a point to keeps a token weight: the optimizer needs a positive one
        chosen = {c: max(MIN_WEIGHT, w) for c, w in weights["consultation"].items() if c in sized}
        data = replace(data, priorities={**chosen, **(data.priorities or {})})
    try:
        problem = build_problem(session, organisation_id, data)
    except ProblemError as error:
        raise ScenarioError(" ; ".join(error.messages)) from None
    baseline = envelope_baseline(
        session, organisation_id, data.year, float(sum(s.current_budget or 0.0 for s in problem.services))
    )
    scenario = Scenario(
        organisation_id=organisation_id,
        name=name[:200],
        description=data.description,
        year=data.year,
        envelope=Decimal(str(round(problem.envelope, 2))),
        staff_limit_etp=Decimal(str(data.staff_limit)) if data.staff_limit is not None else None,
        objective_mode=data.objective,
        diminishing_returns=data.diminishing_returns,
        parameters={
            "cut": data.cut,
            "min_change": data.min_change,
            "max_change": data.max_change,
            "priorities": data.priorities or {},
            "unit_costs": data.unit_costs or {},
            "equity": data.equity or [],
            "need_floors": data.need_floors or [],
            "weights": weights,
            "baseline": baseline.as_dict(),
        },
        method=data.method,
        problem=problem_to_dict(problem),
        created_by_id=user_id,
        state=ScenarioState.DRAFT,
    )
    session.add(scenario)
    session.flush()
    return scenario


def _weights(session: Session, organisation_id: int, consultation_id: int | None) -> dict[str, Any]:
    """The élus' weights of the needs and, beside them, those of a closed consultation (the one
    chosen, or else the latest), recorded with the scenario so that its page shows both."""
    from services.survey_results import latest_consultation, proposed_weights_by_code

    elected = {
        code: float(weight or 1.0)
        for code, weight in session.execute(
            select(Need.code, Need.priority_weight).where(Need.organisation_id == organisation_id)
        )
    }
    survey = session.get(Survey, consultation_id) if consultation_id is not None else None
    if consultation_id is not None and (
        survey is None
        or survey.organisation_id != organisation_id
        or survey.kind != "consultation"
        or survey.state != "closed"
    ):
        raise ScenarioError(
            "consultation inconnue ou pas encore close : ses pondérations ne sont pas disponibles"
        )
    if survey is None:
        survey = latest_consultation(session, organisation_id)
    consultation = proposed_weights_by_code(session, survey) if survey is not None else {}
    if consultation_id is not None and not consultation:
        raise ScenarioError("cette consultation n'a pas de réponses : elle ne propose aucune pondération")
    return {
        "source": "consultation" if consultation_id is not None else "elected",
        "survey_id": survey.id if survey is not None else None,
        "survey_title": survey.title if survey is not None else None,
        "elected": elected,
        "consultation": consultation,
    }


def start_run(session: Session, scenario: Scenario, *, now: datetime) -> None:
    if scenario.state in (ScenarioState.RUNNING,):
        raise ScenarioError("le calcul de ce scénario est déjà en cours")
    if scenario.state is ScenarioState.ADOPTED:
        raise ScenarioError("un scénario adopté ne se recalcule pas : copiez-le")
    scenario.state = ScenarioState.RUNNING
    scenario.progress = "en attente du calcul"
    scenario.started_at = now
    session.flush()


def cancel_run(session: Session, scenario: Scenario) -> None:
    if scenario.state is not ScenarioState.RUNNING:
        raise ScenarioError("aucun calcul en cours pour ce scénario")
    scenario.state = ScenarioState.CANCELLED
    scenario.progress = "annulé : le résultat du calcul en cours sera ignoré"
    session.flush()


@dataclass
class RunResult:
    problem: Problem
    solution: Solution | None
    explanation: Explanation
    volumes: dict[str, float]
    method: str


def solve_problem(
    raw_problem: dict[str, Any],
    method: str,
    *,
    time_limit: float = TIME_LIMIT,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Pure: solve (or apply the same cut everywhere) and explain. No database."""
    problem = problem_from_dict(raw_problem)
    if method == "uniform":
        volumes = uniform_cut(problem)
        result = evaluate(problem, volumes)
        sentences = [
            "Même effort demandé à chaque activité : chaque volume change du même pourcentage "
            "(les volumes obligatoires restent au moins à leur minimum), sans tenir compte des priorités.",
            f"Coût total : {_euros(result.total_cost)} pour une enveloppe de {_euros(problem.envelope)}.",
        ]
        return RunResult(problem, None, Explanation(sentences=sentences), volumes, method)
    if progress:
        progress("résolution par le solveur (HiGHS)")
    solution = solve(problem, time_limit=time_limit)
    if progress:
        progress("explication : prix implicites, plages de validité, coûts réduits")
    explanation = explain(problem, solution, time_limit=time_limit)
    return RunResult(problem, solution, explanation, dict(solution.volumes), method)


def _euros(value: float) -> str:
    return format_euros(value, 0)


def store_results(session: Session, scenario: Scenario, result: RunResult, *, now: datetime) -> bool:
    """Write a run's results unless the run was cancelled meanwhile (returns False then). Flushes."""
    session.refresh(scenario)
    if scenario.state is ScenarioState.CANCELLED:
        return False
    problem = result.problem
    ids = {
        str(code): int(i)
        for code, i in session.execute(
            select(Activity.code, Activity.id).where(Activity.organisation_id == scenario.organisation_id)
        )
    }
    need_ids = {
        str(code): int(i)
        for code, i in session.execute(
            select(Need.code, Need.id).where(Need.organisation_id == scenario.organisation_id)
        )
    }
    today = evaluate(problem, {a.code: a.current_volume for a in problem.activities})
    solution = result.solution
    session.execute(delete(ScenarioActivityResult).where(ScenarioActivityResult.scenario_id == scenario.id))
    session.execute(delete(ScenarioNeedResult).where(ScenarioNeedResult.scenario_id == scenario.id))
    feasible = result.method == "uniform" or (solution is not None and solution.has_values)
    if feasible:
        after = evaluate(problem, result.volumes, solution.runs if solution is not None else None)
        for activity in problem.activities:
            if activity.code not in ids:
                continue
            volume = float(result.volumes.get(activity.code, 0.0))
            session.add(
                ScenarioActivityResult(
                    scenario_id=scenario.id,
                    activity_id=ids[activity.code],
                    volume=max(0.0, round(volume, 6)),
                    runs=bool(solution.runs.get(activity.code, volume > 0)) if solution else volume > 0,
                    cost=Decimal(str(round(max(0.0, after.activity_cost.get(activity.code, 0.0)), 2))),
                    current_cost=Decimal(str(round(today.activity_cost.get(activity.code, 0.0), 2))),
                    reduced_cost=solution.reduced_costs.get(activity.code) if solution else None,
                    explanation=result.explanation.activity_reasons.get(activity.code),
                )
            )
        for need in problem.needs:
            if need.code not in need_ids:
                continue
            session.add(
                ScenarioNeedResult(
                    scenario_id=scenario.id,
                    need_id=need_ids[need.code],
                    covered=max(0.0, float(after.covered.get(need.code, 0.0))),
                    coverage_rate=after.coverage_rate.get(need.code),
                    current_covered=today.covered.get(need.code),
                    shadow_price=None,
                    explanation=result.explanation.need_reasons.get(need.code),
                )
            )
        scenario.objective_value = float(after.objective)
    else:
        scenario.objective_value = None
    scenario.state = ScenarioState.SOLVED if feasible else ScenarioState.INFEASIBLE
    if solution is not None and solution.status in ("error", "time_limit_no_solution"):
        scenario.state = ScenarioState.FAILED
    # a few words, never cut (the full status opens the explanation)
    scenario.solver_status = STATUS_SHORT_FR[solution.status] if solution else "même effort partout"
    sentences = list(result.explanation.sentences)
    sentences += [line for line in result.explanation.diagnosis if line not in sentences]
    scenario.explanation = "\n".join(sentences)
    scenario.solution = (
        solution_to_dict(problem, solution, result.explanation)
        if solution is not None
        else {"method": "uniform", "volumes": result.volumes, "sentences": result.explanation.sentences}
    )
    scenario.solved_at = now
    scenario.progress = None
    session.flush()
    return True


def fail_run(session: Session, scenario: Scenario, message: str) -> None:
    session.refresh(scenario)
    if scenario.state is ScenarioState.CANCELLED:
        return
    scenario.state = ScenarioState.FAILED
    scenario.progress = None
    scenario.explanation = message
    session.flush()


def run_now(session: Session, scenario: Scenario, *, now: datetime, time_limit: float = TIME_LIMIT) -> None:
    """Solve in the caller's transaction (command line, tests of the service)."""
    start_run(session, scenario, now=now)
    try:
        result = solve_problem(scenario.problem, scenario.method, time_limit=time_limit)
    except ProblemError as error:
        fail_run(session, scenario, "problème invalide : " + " ; ".join(error.messages))
        return
    store_results(session, scenario, result, now=now)


# --- Compare, propose, adopt -------------------------------------------------------------------------


@dataclass
class ComparedScenario:
    scenario: Scenario
    total: float
    by_service: dict[str, float]
    coverage: dict[str, float]
    binding: list[str]


def comparison(
    session: Session, scenarios: list[Scenario]
) -> tuple[list[ComparedScenario], list[str], list[str]]:
    """Side by side: envelope, budget by service, coverage rate by need, binding constraints."""
    out: list[ComparedScenario] = []
    services: list[str] = []
    needs: list[str] = []
    for scenario in scenarios:
        problem = problem_from_dict(scenario.problem)
        service_of = {a.code: a.service for a in problem.activities}
        names = {s.code: s.name or s.code for s in problem.services}
        by_service: dict[str, float] = {}
        rows = session.execute(
            select(Activity.code, ScenarioActivityResult.cost)
            .join(Activity, Activity.id == ScenarioActivityResult.activity_id)
            .where(ScenarioActivityResult.scenario_id == scenario.id)
        ).all()
        for code, cost in rows:
            label = names.get(service_of.get(code, ""), "")
            by_service[label] = by_service.get(label, 0.0) + float(cost)
        coverage = {
            str(label): float(rate or 0.0)
            for label, rate in session.execute(
                select(Need.label, ScenarioNeedResult.coverage_rate)
                .join(Need, Need.id == ScenarioNeedResult.need_id)
                .where(ScenarioNeedResult.scenario_id == scenario.id)
            )
        }
        binding = [
            str(b.get("label", b.get("label_fr", b.get("name", ""))))
            for b in (scenario.solution or {}).get("binding", [])
        ]
        for name in by_service:
            if name not in services:
                services.append(name)
        for name in coverage:
            if name not in needs:
                needs.append(name)
        out.append(ComparedScenario(scenario, sum(by_service.values()), by_service, coverage, binding))
    return out, sorted(services), sorted(needs)


def propose(session: Session, scenario: Scenario, *, user_id: int | None, now: datetime) -> None:
    if scenario.state is not ScenarioState.SOLVED:
        raise ScenarioError("seul un scénario calculé et réalisable peut être proposé")
    scenario.state = ScenarioState.PROPOSED
    scenario.proposed_by_id = user_id
    scenario.proposed_at = now
    session.flush()
    notify_roles(
        session,
        scenario.organisation_id,
        [Role.ELECTED],
        kind="review",
        title=f"Scénario à adopter : {scenario.name} ({scenario.year})",
        body=f"Les finances proposent le scénario « {scenario.name} » pour {scenario.year} : "
        "il attend votre adoption.",
        link=f"/scenarios/{scenario.id}",
        now=now,
    )


def adopt(session: Session, scenario: Scenario, *, user_id: int | None, now: datetime) -> int:
    """An elected member adopts a proposed scenario: its figures become the year's budget primitif.

    Written by the one budget writer (:func:`services.budget.write_budget_document`): a BP of the
    scenario's year in the principal budget, replacing an earlier BP of that year and budget (an
    annex budget of the same year is not touched). Each activity's amount is exactly the
    scenario's, to the cent:

    - it is split between the activity's own part and its share of the support functions
      (general administration…) as in the costing its unit cost came from
      (:func:`adoption_lines`), so that the support functions keep their budget lines;
    - each part is split over the natures (and, for the support part, the support services and
      functions) of the current voted budget, by a largest-remainder split in cents;
    - every line is assigned to its activity, so that the costing of the year gives back each
      activity's amount and each service's total, whatever the drivers.

    Lines of the replaced BP that the scenario does not arbitrate (revenues, investment, order
    operations) are kept in the new document. The activities' planned volumes of the year become
    the scenario's, and the cost indicators of the year are recomputed. Returns the number of
    lines. Flushes.
    """
    if scenario.state is not ScenarioState.PROPOSED:
        raise ScenarioError("les finances doivent d'abord proposer ce scénario")
    already = session.scalar(
        select(Scenario.id).where(
            Scenario.organisation_id == scenario.organisation_id,
            Scenario.year == scenario.year,
            Scenario.state == ScenarioState.ADOPTED,
        )
    )
    if already:
        raise ScenarioError(f"un scénario est déjà adopté pour {scenario.year}")
    organisation_id = scenario.organisation_id
    results = session.execute(
        select(Activity, ScenarioActivityResult)
        .join(ScenarioActivityResult, ScenarioActivityResult.activity_id == Activity.id)
        .join(Service, Service.id == Activity.service_id)
        .where(ScenarioActivityResult.scenario_id == scenario.id, Service.kind != ServiceKind.PARTNER)
        .order_by(Activity.code)
    ).all()
    lines = adoption_lines(
        session,
        organisation_id,
        scenario.year,
        [(activity, Decimal(result.cost)) for activity, result in results],
        costs_year=(scenario.parameters or {}).get("costs_year"),
    )
    lines += _kept_lines(session, organisation_id, scenario.year)
    for activity, result in results:  # the year's planned output is the scenario's
        volume = next((v for v in activity.volumes if v.year == scenario.year), None)
        if volume is None:
            volume = ActivityVolume(activity_id=activity.id, year=scenario.year)
            activity.volumes.append(volume)
        volume.planned_volume = float(result.volume)
    session.flush()
    written = write_budget_document(
        session,
        organisation_id,
        DocumentToWrite(
            document_type="BP",
            year=scenario.year,
            nomenclature=Nomenclature.M57,
            budget_kind="principal",
            source_name=f"Scénario adopté : {scenario.name}",
            source_format="scenario",
            fingerprint=fingerprint_of(
                "scenario", scenario.id, now.isoformat(), [repr(line) for line in lines]
            ),
        ),
        lines,
        user_id=user_id,
        now=now,
    )
    scenario.state = ScenarioState.ADOPTED
    scenario.adopted_by_id = user_id
    scenario.adopted_at = now
    session.flush()
    return written.lines


@dataclass(frozen=True)
class _Pool:
    """Budget lines grouped by what a new line copies: service, function, nature, label."""

    keys: list[tuple[int | None, str, str | None, str, str]]
    weights: list[Decimal]


def _pool(rows: list[Any]) -> _Pool:
    sums: dict[tuple[int | None, str, str | None, str, str], Decimal] = {}
    for service_id, function, m57, nature, label, amount in rows:
        key = (service_id, function or "", m57, nature, str(label).split(" — ")[0])
        sums[key] = sums.get(key, Decimal(0)) + Decimal(amount)
    kept = sorted((k, v) for k, v in sums.items() if v > 0)
    return _Pool([k for k, _ in kept], [v for _, v in kept])


def adoption_lines(
    session: Session,
    organisation_id: int,
    year: int,
    amounts: list[tuple[Activity, Decimal]],
    *,
    costs_year: int | None = None,
) -> list[LineToWrite]:
    """The BP lines that give each activity exactly its amount, support functions kept.

    For an activity of amount ``C`` whose costing (``costs_year``, else the latest) gave a direct
    cost ``D`` and a support share ``S``: ``C`` is split into ``C·D/(D+S)`` for the activity's
    service and ``C·S/(D+S)`` for the support functions, to the cent (largest remainder). The
    service's part follows the natures of the service's lines in the current voted budget (the
    newest year before ``year`` with one; else nature 011); the support part follows the lines of
    the support centres in that budget. Every line is assigned 100 % to its activity.
    """
    voted = current_voted_budget(session, organisation_id, year)
    source_year = voted[0] if voted is not None else None
    report = None
    try:
        report = (
            compute(session, organisation_id, costs_year)
            if costs_year
            else latest_report(session, organisation_id)
        )
    except CostModelError:
        report = None
    rows = (
        session.execute(
            select(
                CostLine.service_id,
                CostLine.function_code,
                CostLine.m57_function_code,
                CostLine.nature_code,
                CostLine.label,
                CostLine.amount,
                func.coalesce(CostLine.m57_function_code, CostLine.function_code),
            )
            .outerjoin(BudgetDocument, BudgetDocument.id == CostLine.document_id)
            .where(CostLine.organisation_id == organisation_id, CostLine.year == source_year)
            .where(CostLine.kind == CostKind.BUDGET, CostLine.document_type.in_(("BP", "BS", "DM")))
            .where(
                CostLine.section == "fonctionnement",
                CostLine.operation == "reelle",
                CostLine.flow == "depense",
            )
            .where(CostLine.document_id.is_(None) | (BudgetDocument.budget_kind == "principal"))
        ).all()
        if source_year is not None
        else []
    )
    centres, _, _ = load_model(session, organisation_id)
    supports = set(centres.index[centres["kind"] == "support"]) if not centres.empty else set()
    if rows and supports:
        frame = pd.DataFrame(
            {
                "service": pd.array([r[0] for r in rows], dtype="Int64"),
                "function": [str(r[6] or "") for r in rows],
            }
        )
        in_support = [c in supports for c in centre_of_lines(frame, centres).tolist()]
    else:
        in_support = [False] * len(rows)
    support_pool = _pool([r[:6] for r, is_support in zip(rows, in_support, strict=True) if is_support])
    by_service: dict[int, _Pool] = {}
    for row, is_support in zip(rows, in_support, strict=True):
        if not is_support and row[0] is not None:
            by_service.setdefault(int(row[0]), _Pool([], []))
    for service_id in by_service:
        by_service[service_id] = _pool(
            [
                r[:6]
                for r, is_support in zip(rows, in_support, strict=True)
                if not is_support and r[0] == service_id
            ]
        )
    names = {
        int(i): str(n)
        for i, n in session.execute(
            select(Service.id, Service.name).where(Service.organisation_id == organisation_id)
        )
    }
    out: list[LineToWrite] = []
    for activity, amount in amounts:
        if amount <= 0:
            continue
        direct = support = 0.0
        if report is not None and activity.id in report.activities.index:
            direct = max(0.0, float(cast(float, report.activities.at[activity.id, "direct_cost"])))
            support = max(0.0, float(cast(float, report.activities.at[activity.id, "support_cost"])))
        own_pool = by_service.get(activity.service_id) or _Pool(
            [
                (
                    activity.service_id,
                    activity.service.m57_function or "42",
                    activity.service.m57_function,
                    "011",
                    "Charges à caractère général",
                )
            ],
            [Decimal(1)],
        )
        if not support_pool.keys or support <= 0:
            own_amount, support_amount = amount, Decimal(0)
        elif direct <= 0:
            own_amount, support_amount = Decimal(0), amount
        else:
            own_amount, support_amount = split_cents(amount, [direct, support])
        for pool, part, what in ((own_pool, own_amount, None), (support_pool, support_amount, "support")):
            if part <= 0:
                continue
            for (line_service, function, m57, nature, label), value in zip(
                pool.keys, split_cents(part, pool.weights), strict=True
            ):
                if value == 0:
                    continue
                service = names.get(line_service, "") if line_service is not None else ""
                text = (
                    f"{label} — {service} pour « {activity.name} »" if what else f"{label} — {activity.name}"
                )
                out.append(
                    LineToWrite(
                        nomenclature=Nomenclature.M57,
                        function_code=function,
                        m57_function_code=m57,
                        nature_code=nature,
                        label=text,
                        amount=value,
                        service_id=line_service,
                        allocations=((activity.id, Decimal(1)),),
                    )
                )
    return out


def _kept_lines(session: Session, organisation_id: int, year: int) -> list[LineToWrite]:
    """The lines of the year's principal BP that a scenario does not arbitrate (all but the real
    operating expenses), with their assignments: the adopted BP carries them over."""
    kept = session.scalars(
        select(CostLine)
        .outerjoin(BudgetDocument, BudgetDocument.id == CostLine.document_id)
        .where(CostLine.organisation_id == organisation_id, CostLine.year == year)
        .where(CostLine.document_type == "BP", CostLine.kind == CostKind.BUDGET)
        .where(CostLine.document_id.is_(None) | (BudgetDocument.budget_kind == "principal"))
        .where(
            (CostLine.section != "fonctionnement")
            | (CostLine.operation != "reelle")
            | (CostLine.flow != "depense")
        )
        .order_by(CostLine.id)
    ).all()
    return [
        LineToWrite(
            nomenclature=line.nomenclature,
            function_code=line.function_code,
            m57_function_code=line.m57_function_code,
            nature_code=line.nature_code,
            label=line.label,
            amount=Decimal(line.amount),
            section=line.section,
            operation=line.operation,
            flow=line.flow,
            service_id=line.service_id,
            month=line.month,
            allocations=tuple((a.activity_id, Decimal(a.share)) for a in line.allocations),
        )
        for line in kept
    ]


def scenarios_of(session: Session, organisation_id: int) -> list[Scenario]:
    return list(
        session.scalars(
            select(Scenario)
            .where(Scenario.organisation_id == organisation_id)
            .order_by(Scenario.created_at.desc(), Scenario.id.desc())
        )
    )


def activity_results(session: Session, scenario: Scenario) -> list[dict[str, Any]]:
    problem = problem_from_dict(scenario.problem)
    specs = {a.code: a for a in problem.activities}
    services = {s.code: s.name for s in problem.services}
    rows = session.execute(
        select(Activity.code, Activity.name, Activity.output_unit, ScenarioActivityResult)
        .join(ScenarioActivityResult, ScenarioActivityResult.activity_id == Activity.id)
        .where(ScenarioActivityResult.scenario_id == scenario.id)
        .order_by(Activity.name)
    ).all()
    out = []
    for code, name, unit, result in rows:
        spec = specs.get(code)
        current = float(result.current_cost or 0)
        out.append(
            {
                "code": code,
                "name": name,
                "unit": unit,
                "service": services.get(spec.service, "") if spec else "",
                "current_volume": spec.current_volume if spec else None,
                "volume": result.volume,
                "current_cost": current,
                "cost": float(result.cost),
                "change": float(result.cost) - current,
                "unit_cost": spec.unit_cost if spec else None,
                "reason": result.explanation,
                "reduced_cost": result.reduced_cost,
            }
        )
    return out


def need_results(session: Session, scenario: Scenario) -> list[dict[str, Any]]:
    problem = problem_from_dict(scenario.problem)
    specs = {n.code: n for n in problem.needs}
    rows = session.execute(
        select(Need.code, Need.label, ScenarioNeedResult)
        .join(ScenarioNeedResult, ScenarioNeedResult.need_id == Need.id)
        .where(ScenarioNeedResult.scenario_id == scenario.id)
        .order_by(Need.label)
    ).all()
    out = []
    weights = (scenario.parameters or {}).get("weights") or {}
    for code, label, result in rows:
        spec = specs.get(code)
        size = spec.size if spec else None
        before = result.current_covered
        out.append(
            {
                "code": code,
                "label": label,
                "priority": spec.priority if spec else None,
                "elected_weight": (weights.get("elected") or {}).get(code),
                "consultation_weight": (weights.get("consultation") or {}).get(code),
                "size": size,
                "covered_before": before,
                "rate_before": (before / size) if before is not None and size else None,
                "covered": result.covered,
                "rate": result.coverage_rate,
                "given_up": (before - result.covered) if before is not None else None,
                "reason": result.explanation,
            }
        )
    return out


def service_results(session: Session, scenario: Scenario) -> list[dict[str, Any]]:
    problem = problem_from_dict(scenario.problem)
    by_service: dict[str, dict[str, Any]] = {
        s.code: {
            "code": s.code,
            "name": s.name or s.code,
            "current": 0.0,
            "proposed": 0.0,
            "floor": s.legal_floor,
            "min_change": s.min_change,
            "max_change": s.max_change,
        }
        for s in problem.services
    }
    for row in activity_results(session, scenario):
        spec = next((a for a in problem.activities if a.code == row["code"]), None)
        if spec is None:
            continue
        entry = by_service[spec.service]
        entry["current"] += row["current_cost"]
        entry["proposed"] += row["cost"]
    out = [e for e in by_service.values() if e["current"] > 0 or e["proposed"] > 0]
    for entry in out:
        entry["change"] = entry["proposed"] - entry["current"]
        entry["rate"] = entry["change"] / entry["current"] if entry["current"] else None
    return sorted(out, key=lambda e: -cast(float, e["current"]))
