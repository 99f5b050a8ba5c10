"""Budget arbitration scenarios: build the problem from the database, solve it (``optimizer``), store
and compare the results, propose and adopt.

The current situation comes from one computation: unit costs from the latest costing
(``services.costing.current_costs``: full cost, support functions included, less the fixed cost,
per unit of output), needs with their sizes and priority weights, activities with their coverage
coefficients, minimum volumes (mandatory missions) and capacities. A partner's activity costs the
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

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import (
    Activity,
    ActivityKind,
    ActivityNeedCoverage,
    BudgetDocument,
    CostKind,
    CostLine,
    Need,
    Nomenclature,
    PopulationGroup,
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
from scorecard.coverage import unique_labels
from services.coherence import coherence_of, load_frames, located_offer
from services.costing import current_costs
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


class ScenarioError(ValueError):
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
    #: Minimum coverage rate for every need of a population group (hard unless ``soft``).
    equity: list[dict[str, Any]] | None = None
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
        .where(Activity.organisation_id == organisation_id)
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
            full = costs.get(activity.id, {}).get("full_cost", 0.0)
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
        select(Activity.code, Need.code, ActivityNeedCoverage.coefficient, ActivityNeedCoverage.share,
               Activity.id, Need.id)
        .join(Activity, Activity.id == ActivityNeedCoverage.activity_id)
        .join(Need, Need.id == ActivityNeedCoverage.need_id)
        .where(Activity.organisation_id == organisation_id)
        .order_by(Activity.code, Need.code)
    ).all()  # fmt: skip
    kept = [row for row in coverage if row[1] in known_needs and row[2] > 0]
    coverages = tuple(
        Coverage(activity=a, need=n, coefficient=float(c), share=None if share is None else float(share))
        for a, n, c, share, _, _ in kept
    )
    deliveries, _ = located_offer(session, organisation_id)
    code_of = {a.id: a.code for a, _ in rows}
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


def build_problem(session: Session, organisation_id: int, data: ScenarioInput) -> Problem:
    """The scenario's problem: today's situation with its envelope, bands, options and what-ifs."""
    base = current_problem(session, organisation_id, min_change=data.min_change, max_change=data.max_change)
    problems: list[str] = []
    if data.min_change > 0 or data.max_change < 0 or data.min_change < -1:
        problems.append("la bande de stabilité doit contenir 0 % (baisse maximale ≤ 0 ≤ hausse maximale)")
    if data.envelope is not None:
        envelope = data.envelope
    elif data.cut is not None:
        envelope = base.envelope * (1 + data.cut)
    else:
        envelope = base.envelope
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
    groups = {n.population_group for n in base.needs if n.population_group}
    floors = []
    for item in data.equity or []:
        target, rate = str(item.get("target", "")), float(item.get("min_rate", 0))
        if target not in groups:
            problems.append(f"équité : public « {target} » inconnu")
        elif not 0 < rate <= 1:
            problems.append(f"équité pour « {target} » : le taux minimal doit être entre 0 et 100 %")
        else:
            floors.append(
                EquityFloor(scope="group", target=target, min_rate=rate, soft=bool(item.get("soft")))
            )
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
            "weights": weights,
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
    return f"{value:,.0f} €".replace(",", "\u202f")


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
    scenario.solver_status = (solution.status_fr if solution else "même effort partout")[:64]
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


def adopt(session: Session, scenario: Scenario, *, user_id: int | None, now: datetime) -> int:
    """An elected member adopts a proposed scenario: its budget becomes the year's budget lines.

    The lines are a BP of the scenario's year by service, split over natures like the service's
    latest budget; they replace an earlier BP of that year. Returns the number of lines. Flushes.
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
    problem = problem_from_dict(scenario.problem)
    service_of = {a.code: a.service for a in problem.activities}
    budgets: dict[str, float] = {}
    for code, cost in session.execute(
        select(Activity.code, ScenarioActivityResult.cost)
        .join(Activity, Activity.id == ScenarioActivityResult.activity_id)
        .where(ScenarioActivityResult.scenario_id == scenario.id)
    ):
        budgets[service_of.get(code, "")] = budgets.get(service_of.get(code, ""), 0.0) + float(cost)
    services = {
        s.code: s
        for s in session.scalars(select(Service).where(Service.organisation_id == scenario.organisation_id))
    }
    previous = list(
        session.scalars(
            select(BudgetDocument.id).where(
                BudgetDocument.organisation_id == scenario.organisation_id,
                BudgetDocument.year == scenario.year,
                BudgetDocument.document_type == "BP",
            )
        )
    )
    session.execute(
        delete(CostLine)
        .where(CostLine.organisation_id == scenario.organisation_id, CostLine.year == scenario.year)
        .where(CostLine.document_type == "BP", CostLine.kind == CostKind.BUDGET)
        .execution_options(synchronize_session=False)
    )
    if previous:
        session.execute(delete(BudgetDocument).where(BudgetDocument.id.in_(previous)))
    document = BudgetDocument(
        organisation_id=scenario.organisation_id,
        document_type="BP",
        year=scenario.year,
        nomenclature=Nomenclature.M57,
        budget_kind="principal",
        source_name=f"Scénario adopté : {scenario.name}"[:255],
        source_format="scenario",
        fingerprint=f"scenario-{scenario.id}-{now.isoformat()}"[:64],
        line_count=0,
        imported_by_id=user_id,
        imported_at=now,
    )
    session.add(document)
    session.flush()
    count = 0
    for code, amount in sorted(budgets.items()):
        service = services.get(code)
        if service is None or service.kind is ServiceKind.PARTNER or amount <= 0:
            continue
        split = _nature_split(session, scenario.organisation_id, service.id)
        for nature, label, share in split:
            session.add(
                CostLine(
                    organisation_id=scenario.organisation_id,
                    document_id=document.id,
                    kind=CostKind.BUDGET,
                    document_type="BP",
                    year=scenario.year,
                    nomenclature=Nomenclature.M57,
                    function_code=service.m57_function or "42",
                    m57_function_code=service.m57_function,
                    nature_code=nature,
                    label=f"{label} — {service.name}"[:255],
                    section="fonctionnement",
                    flow="depense",
                    amount=Decimal(str(round(amount * share, 2))),
                    service_id=service.id,
                )
            )
            count += 1
    document.line_count = count
    scenario.state = ScenarioState.ADOPTED
    scenario.adopted_by_id = user_id
    scenario.adopted_at = now
    session.flush()
    return count


def _nature_split(session: Session, organisation_id: int, service_id: int) -> list[tuple[str, str, float]]:
    """The service's latest budget by nature (shares summing to 1), or all on nature 011."""
    latest = session.scalar(
        select(CostLine.year)
        .where(CostLine.organisation_id == organisation_id, CostLine.service_id == service_id)
        .where(CostLine.kind == CostKind.BUDGET, CostLine.flow == "depense")
        .order_by(CostLine.year.desc())
        .limit(1)
    )
    if latest is None:
        return [("011", "Charges à caractère général", 1.0)]
    lines = session.execute(
        select(CostLine.nature_code, CostLine.label, CostLine.amount)
        .where(CostLine.organisation_id == organisation_id, CostLine.service_id == service_id)
        .where(CostLine.kind == CostKind.BUDGET, CostLine.flow == "depense", CostLine.year == latest)
    ).all()
    total = sum(float(a) for _, _, a in lines)
    by_nature: dict[str, tuple[str, float]] = {}
    for nature, label, amount in lines:
        current = by_nature.get(nature, (label.split(" — ")[0], 0.0))
        by_nature[nature] = (current[0], current[1] + float(amount))
    return (
        [(n, label, value / total) for n, (label, value) in sorted(by_nature.items())]
        if total
        else [("011", "Charges à caractère général", 1.0)]
    )


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
