"""Budget arbitration scenarios: create and run (in the background), read why, compare, propose, adopt."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from models import Activity, Need, Organisation, Scenario, ScenarioState
from models.base import utcnow
from pilotis.auth import require
from pilotis.background import submit_run
from pilotis.web import after_commit, db_session, engine
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
    need = SelectField("Hypothèse : changer la priorité du besoin", choices=[], validate_choice=False)
    need_weight = FrenchNumberField(
        "Nouveau poids de priorité", validators=[Optional(), NumberRange(0.01, 100)]
    )
    activity = SelectField(
        "Hypothèse : changer le coût unitaire de l'activité", choices=[], validate_choice=False
    )
    activity_cost = FrenchNumberField("Nouveau coût unitaire (€)", validators=[Optional(), NumberRange(0)])


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
    form.need.choices = choices([("", "—")] + [(c, label) for c, label in needs])
    form.weights.choices = choices(
        [("", "Ceux fixés par les élus")]
        + [
            (str(s.id), f"Ceux que propose la consultation « {s.title} »")
            for s in consultations_of(session, organisation_id)
        ]
    )
    form.activity.choices = choices([("", "—")] + [(c, name) for c, name in activities])
    return form


def _launch(scenario: Scenario, user_id: int) -> None:
    start_run(db_session(), scenario, now=utcnow())
    target, scenario_id = engine(), scenario.id
    limit = float(current_app.config.get("PILOTIS_SOLVE_TIME_LIMIT", 30.0))

    def submit() -> None:
        submit_run(target, scenario_id, user_id=user_id, time_limit=limit)

    after_commit(submit)


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
                priorities={form.need.data: float(form.need_weight.data)}
                if form.need.data and form.need_weight.data is not None
                else None,
                unit_costs={form.activity.data: float(form.activity_cost.data)}
                if form.activity.data and form.activity_cost.data is not None
                else None,
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
    stale = bool(running and scenario.started_at and utcnow() - scenario.started_at > STALE_AFTER)
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
