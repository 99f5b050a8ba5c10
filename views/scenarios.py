"""Budget arbitration scenarios: create and run (in the background), read why, compare, propose, adopt."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms import BooleanField, FieldList, Form, FormField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from models import Activity, Need, Organisation, PopulationGroup, Scenario, ScenarioState, Territory
from models.base import utcnow
from pilotis.auth import require
from pilotis.background import cancel_tasks, queue_run, run_task
from pilotis.web import after_commit, db_session, engine
from pilotis.worker import dispatch, forget_queue_job
from services.budget import current_voted_budget
from services.numbers import format_euros
from services.policy import Action, can
from services.problem_files import problem_xlsx_bytes
from services.scenario_exports import comparison_workbook, scenario_workbook
from services.scenarios import (
    STATE_LABELS,
    ScenarioError,
    ScenarioInput,
    activity_results,
    adopt,
    cancel_run,
    comparison,
    create_scenario,
    need_results,
    propose,
    scenarios_of,
    service_results,
    start_run,
)
from services.survey_results import consultations_of
from views.charts import coverage_bars_svg
from views.downloads import xlsx_response
from views.forms import ConfirmForm, FrenchNumberField, choices
from views.lookup import get_or_404

bp = Blueprint("scenarios", __name__, url_prefix="/scenarios")
#: A run older than this is shown as interrupted (the server stopped): it can be cancelled and re-run.
STALE_AFTER = timedelta(minutes=10)


#: Empty rows offered for each kind of hypothesis, and the most a form may send.
HYPOTHESIS_ROWS = 3
MAX_ROWS = 50


class PriorityRow(Form):
    """A what-if: another priority weight for one need."""

    need = SelectField("Besoin", choices=[], validate_choice=False)
    weight = FrenchNumberField("Poids de priorité", validators=[Optional(), NumberRange(0.01, 100)])


class UnitCostRow(Form):
    """A what-if: another unit cost for one activity."""

    activity = SelectField("Activité", choices=[], validate_choice=False)
    cost = FrenchNumberField("Coût unitaire (€)", validators=[Optional(), NumberRange(0, 1e9)])


class EquityRow(Form):
    """An equity floor: a minimum coverage rate over every need of a public or of a territory."""

    target = SelectField("Public ou territoire", choices=[], validate_choice=False)
    rate = FrenchNumberField("Taux minimal (%)", validators=[Optional(), NumberRange(0.1, 100)])
    soft = BooleanField("Souple (peut être manqué, avec une pénalité)")


class NeedFloorRow(Form):
    """A minimum coverage rate of one need."""

    need = SelectField("Besoin", choices=[], validate_choice=False)
    rate = FrenchNumberField("Taux minimal (%)", validators=[Optional(), NumberRange(0.1, 100)])
    soft = BooleanField("Souple (peut être manqué, avec une pénalité)")


class ScenarioForm(ConfirmForm):
    name = StringField("Nom du scénario", validators=[DataRequired("Donnez un nom."), Length(max=200)])
    year = IntegerField(
        "Année budgétaire", validators=[InputRequired("Indiquez l'année."), NumberRange(2000, 2100)]
    )
    cut = FrenchNumberField(
        "Variation de l'enveloppe par rapport à aujourd'hui (%)",
        validators=[InputRequired("Indiquez la variation (par exemple -5)."), NumberRange(-90, 100)],
    )
    min_change = FrenchNumberField(
        "Baisse maximale d'un service (%)",
        default=-10.0,
        validators=[InputRequired("Indiquez la baisse maximale."), NumberRange(-100, 0)],
    )
    max_change = FrenchNumberField(
        "Hausse maximale d'un service (%)",
        default=15.0,
        validators=[InputRequired("Indiquez la hausse maximale."), NumberRange(0, 1000)],
    )
    method = SelectField(
        "Méthode",
        choices=choices(
            [("optimise", "Répartition optimisée selon les priorités"), ("uniform", "Même effort partout")]
        ),
    )
    objective = SelectField(
        "Ce que l'on maximise",
        choices=choices(
            [("persons", "Personnes couvertes, pondérées par la priorité"),
             ("rates", "Taux de couverture, pondérés par la priorité")]
        ),
    )  # fmt: skip
    diminishing_returns = BooleanField(
        "Rendements décroissants (couvrir un besoin déjà bien couvert vaut moins)"
    )
    staff_limit = FrenchNumberField(
        "Plafond d'effectif (ETP, facultatif)", validators=[Optional(), NumberRange(0)]
    )
    weights = SelectField("Poids de priorité des besoins", choices=[], validate_choice=False)
    #: Several hypotheses per scenario: priorities of needs, unit costs of activities, floors.
    priorities = FieldList(FormField(PriorityRow), min_entries=HYPOTHESIS_ROWS, max_entries=MAX_ROWS)
    unit_costs = FieldList(FormField(UnitCostRow), min_entries=HYPOTHESIS_ROWS, max_entries=MAX_ROWS)
    equity = FieldList(FormField(EquityRow), min_entries=HYPOTHESIS_ROWS, max_entries=MAX_ROWS)
    need_floors = FieldList(FormField(NeedFloorRow), min_entries=HYPOTHESIS_ROWS, max_entries=MAX_ROWS)


def _form(session: Any, organisation_id: int) -> ScenarioForm:
    form = ScenarioForm()
    needs = session.execute(
        select(Need.code, Need.label).where(Need.organisation_id == organisation_id).order_by(Need.label)
    ).all()
    activities = session.execute(
        select(Activity.code, Activity.name)
        .where(Activity.organisation_id == organisation_id, Activity.unit_cost.is_not(None))
        .order_by(Activity.name)
    ).all()
    groups = session.scalars(
        select(PopulationGroup.name)
        .join(Need, Need.population_group_id == PopulationGroup.id)
        .where(Need.organisation_id == organisation_id)
        .distinct()
        .order_by(PopulationGroup.name)
    ).all()
    territories = session.scalars(
        select(Territory.name)
        .join(Need, Need.territory_id == Territory.id)
        .where(Need.organisation_id == organisation_id)
        .distinct()
        .order_by(Territory.name)
    ).all()
    need_choices = choices([("", "—")] + [(c, label) for c, label in needs])
    for priority in form.priorities:
        priority.form.need.choices = need_choices
    for need_floor in form.need_floors:
        need_floor.form.need.choices = need_choices
    for unit_cost in form.unit_costs:
        unit_cost.form.activity.choices = choices([("", "—")] + [(c, name) for c, name in activities])
    for equity in form.equity:
        equity.form.target.choices = choices(
            [("", "—")]
            + [(f"group:{g}", f"Public : {g}") for g in groups]
            + [(f"territory:{t}", f"Territoire : {t}") for t in territories]
        )
    form.weights.choices = choices(
        [("", "Ceux fixés par les élus")]
        + [
            (str(s.id), f"Ceux que propose la consultation « {s.title} »")
            for s in consultations_of(session, organisation_id)
        ]
    )
    return form


def _launch(scenario: Scenario, user_id: int) -> None:
    """Mark the scenario running and queue its solve for a worker, once this request commits."""
    session = db_session()
    start_run(session, scenario, now=utcnow())
    limit = float(current_app.config.get("PILOTIS_SOLVE_TIME_LIMIT", 30.0))
    task = queue_run(session, scenario, user_id=user_id, time_limit=limit)
    target, task_id = engine(), task.id
    after_commit(lambda: dispatch(target, [task_id]))


def _reader(action: Action) -> Any:
    """The principal if they may read a scenario, were it one shared with the partners (the list
    and the comparisons: not a service manager's)."""
    who = require(action)
    return require(action, Scenario(organisation_id=who.organisation_id, shared_with_partners=True))


@bp.route("", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    who = _reader(Action.VIEW)
    session = db_session()
    marker = Scenario(organisation_id=who.organisation_id)
    editable = can(who, Action.CREATE, marker)
    form = _form(session, who.organisation_id)
    status = 200
    if request.method == "GET":
        form.year.data = utcnow().year + 1
        form.cut.data = None
    if request.method == "POST":
        require(Action.CREATE, marker)
        if form.validate_on_submit():
            data = ScenarioInput(
                name=form.name.data or "",
                year=int(form.year.data or 0),
                cut=float(form.cut.data or 0) / 100,
                min_change=float(form.min_change.data or 0) / 100,
                max_change=float(form.max_change.data or 0) / 100,
                method=form.method.data or "optimise",
                objective=form.objective.data or "persons",
                diminishing_returns=bool(form.diminishing_returns.data),
                staff_limit=float(form.staff_limit.data) if form.staff_limit.data is not None else None,
                priorities={
                    r.need.data: float(r.weight.data)
                    for r in (entry.form for entry in form.priorities)
                    if r.need.data and r.weight.data is not None
                }
                or None,
                unit_costs={
                    r.activity.data: float(r.cost.data)
                    for r in (item.form for item in form.unit_costs)
                    if r.activity.data and r.cost.data is not None
                }
                or None,
                equity=[
                    {
                        "scope": "group" if r.target.data.startswith("group:") else "territory",
                        "target": r.target.data.partition(":")[2],
                        "min_rate": float(r.rate.data) / 100,
                        "soft": bool(r.soft.data),
                    }
                    for r in (floor.form for floor in form.equity)
                    if r.target.data and r.rate.data is not None
                ]
                or None,
                need_floors=[
                    {"code": r.need.data, "min_rate": float(r.rate.data) / 100, "soft": bool(r.soft.data)}
                    for r in (need.form for need in form.need_floors)
                    if r.need.data and r.rate.data is not None
                ]
                or None,
                consultation_id=int(form.weights.data) if (form.weights.data or "").isdigit() else None,
            )
            try:
                scenario = create_scenario(session, who.organisation_id, data, user_id=who.user_id)
                _launch(scenario, who.user_id)
            except ScenarioError as exc:
                flash(f"Scénario non créé : {exc}.", "error")
                status = 400
            else:
                return redirect(url_for("scenarios.show", scenario_id=scenario.id), 303)
        else:
            status = 400
    voted = current_voted_budget(session, who.organisation_id, utcnow().year + 1)
    cut_help = (
        "Par exemple -5 pour une enveloppe réduite de 5 % par rapport au budget voté de l'année en cours "
        "(BP + BS + DM, dépenses réelles de fonctionnement du budget principal)"
        + (
            f" : budget voté {voted[0]}, {format_euros(voted[1], 0)}."
            if voted
            else " ; sans budget voté, par rapport au coût complet des activités aujourd'hui."
        )
    )
    return (
        render_template(
            "scenarios/index.html",
            cut_help=cut_help,
            scenarios=[s for s in scenarios_of(session, who.organisation_id) if can(who, Action.VIEW, s)],
            labels=STATE_LABELS,
            form=form,
            editable=editable,
        ),
        status,
    )


@bp.get("/<int:scenario_id>")
def show(scenario_id: int) -> ResponseReturnValue:
    scenario = get_or_404(Scenario, scenario_id)
    who = require(Action.VIEW, scenario)
    session = db_session()
    running = scenario.state is ScenarioState.RUNNING
    task = run_task(session, scenario.id) if running else None
    # a run whose task is over (or that never had one) while the scenario still says running was
    # interrupted for good; a queued or retried task is not stale, however long it waits
    stale = bool(
        running
        and (task is None or task.state not in ("queued", "running"))
        and scenario.started_at
        and utcnow() - scenario.started_at > STALE_AFTER
    )
    needs = need_results(session, scenario)
    chart = coverage_bars_svg(
        [(n["label"], [n["rate_before"], n["rate"]]) for n in needs],
        ["Aujourd'hui", scenario.name],
        title=f"Taux de couverture des besoins, aujourd'hui et dans le scénario « {scenario.name} »",
    )
    return render_template(
        "scenarios/show.html",
        scenario=scenario,
        label=STATE_LABELS[scenario.state],
        running=running,
        stale=stale,
        task=task,
        services=service_results(session, scenario),
        activities=activity_results(session, scenario),
        needs=needs,
        chart=chart if needs else None,
        sentences=(scenario.explanation or "").splitlines(),
        can_edit=can(who, Action.EDIT, scenario),
        can_adopt=can(who, Action.ADOPT, scenario),
        can_share=can(who, Action.SHARE, scenario),
        form=ConfirmForm(),
    )


def _act(scenario_id: int, action: Action) -> tuple[Scenario, Any]:
    scenario = get_or_404(Scenario, scenario_id)
    who = require(action, scenario)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return scenario, who


@bp.post("/<int:scenario_id>/calculer")
def run(scenario_id: int) -> ResponseReturnValue:
    scenario, who = _act(scenario_id, Action.EDIT)
    try:
        _launch(scenario, who.user_id)
    except ScenarioError as exc:
        flash(f"{exc}.", "error")
        return redirect(url_for("scenarios.show", scenario_id=scenario.id), 303)
    flash("Calcul lancé.", "success")
    return redirect(url_for("scenarios.show", scenario_id=scenario.id), 303)


@bp.post("/<int:scenario_id>/annuler")
def cancel(scenario_id: int) -> ResponseReturnValue:
    scenario, _ = _act(scenario_id, Action.EDIT)
    try:
        cancel_run(db_session(), scenario)
    except ScenarioError as exc:
        flash(f"{exc}.", "error")
    else:
        target, cancelled = engine(), cancel_tasks(db_session(), scenario.id)

        def forget() -> None:
            for task in cancelled:
                forget_queue_job(target, task)

        after_commit(forget)
        flash("Calcul annulé.", "success")
    return redirect(url_for("scenarios.show", scenario_id=scenario.id), 303)


@bp.post("/<int:scenario_id>/proposer")
def propose_scenario(scenario_id: int) -> ResponseReturnValue:
    scenario, who = _act(scenario_id, Action.EDIT)
    try:
        propose(db_session(), scenario, user_id=who.user_id, now=utcnow())
    except ScenarioError as exc:
        flash(f"{exc}.", "error")
    else:
        flash("Scénario proposé aux élus.", "success")
    return redirect(url_for("scenarios.show", scenario_id=scenario.id), 303)


@bp.post("/<int:scenario_id>/adopter")
def adopt_scenario(scenario_id: int) -> ResponseReturnValue:
    scenario, who = _act(scenario_id, Action.ADOPT)
    try:
        lines = adopt(db_session(), scenario, user_id=who.user_id, now=utcnow())
    except ScenarioError as exc:
        flash(f"{exc}.", "error")
    else:
        flash(f"Scénario adopté : {lines} ligne(s) du budget primitif {scenario.year} créées.", "success")
    return redirect(url_for("scenarios.show", scenario_id=scenario.id), 303)


@bp.post("/<int:scenario_id>/partage")
def share(scenario_id: int) -> ResponseReturnValue:
    """The direction shows a scenario to the partners, or withdraws it (journaled by the ORM)."""
    scenario, _ = _act(scenario_id, Action.SHARE)
    choice = request.form.get("partage", "")
    if choice not in ("oui", "non"):
        abort(400)
    scenario.shared_with_partners = choice == "oui"
    flash(
        "Scénario partagé avec les partenaires."
        if scenario.shared_with_partners
        else "Scénario retiré des partenaires : il redevient interne.",
        "success",
    )
    return redirect(url_for("scenarios.show", scenario_id=scenario.id), 303)


@bp.get("/<int:scenario_id>/export.xlsx")
def export(scenario_id: int) -> ResponseReturnValue:
    scenario = get_or_404(Scenario, scenario_id)
    require(Action.EXPORT, scenario)
    session = db_session()
    organisation = session.get(Organisation, scenario.organisation_id)
    content = scenario_workbook(
        scenario,
        service_results(session, scenario),
        activity_results(session, scenario),
        need_results(session, scenario),
        organisation.name if organisation else "",
    )
    return xlsx_response(content, f"scenario-{scenario.id}.xlsx")


@bp.get("/<int:scenario_id>/probleme.<fmt>")
def problem_file(scenario_id: int, fmt: str) -> ResponseReturnValue:
    scenario = get_or_404(Scenario, scenario_id)
    require(Action.EXPORT, scenario)
    if fmt == "json":
        return Response(
            json.dumps(scenario.problem, ensure_ascii=False, indent=2),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="probleme-{scenario.id}.json"'},
        )
    if fmt == "xlsx":
        from optimizer import problem_from_dict

        return xlsx_response(
            problem_xlsx_bytes(problem_from_dict(scenario.problem)), f"probleme-{scenario.id}.xlsx"
        )
    abort(404)


def _compared(who: Any) -> list[Scenario]:
    ids = request.args.getlist("ids", type=int)
    chosen = [get_or_404(Scenario, i) for i in ids[:6]]
    for scenario in chosen:
        require(Action.VIEW, scenario)
    if len(chosen) < 2:
        flash("Cochez au moins deux scénarios à comparer.", "error")
    return chosen


@bp.get("/comparer")
def compare() -> ResponseReturnValue:
    who = _reader(Action.VIEW)
    chosen = _compared(who)
    if len(chosen) < 2:
        return redirect(url_for("scenarios.index"), 303)
    rows, services, needs = comparison(db_session(), chosen)
    chart = coverage_bars_svg(
        [(n, [r.coverage.get(n) for r in rows]) for n in needs],
        [r.scenario.name for r in rows],
        title="Taux de couverture des besoins selon les scénarios comparés",
    )
    return render_template(
        "scenarios/compare.html", rows=rows, services=services, needs=needs, chart=chart, labels=STATE_LABELS,
        ids=[s.id for s in chosen],
    )  # fmt: skip


@bp.get("/comparer.xlsx")
def compare_export() -> ResponseReturnValue:
    who = _reader(Action.EXPORT)
    chosen = _compared(who)
    if len(chosen) < 2:
        abort(400)
    rows, services, needs = comparison(db_session(), chosen)
    return xlsx_response(comparison_workbook(rows, services, needs), "comparaison-scenarios.xlsx")
