"""Objectives (the cascade) and indicators (definition and targets)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3

from models import (
    Activity,
    Direction,
    Frequency,
    Indicator,
    IndicatorType,
    Need,
    Objective,
    ObjectiveStatus,
    Perspective,
    Service,
    Target,
    ThresholdMode,
    User,
)
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.editing import StaleEdit
from services.numbers import NumberError, parse_french_number
from services.policy import Action, Principal, can
from services.steering import (
    IndicatorInput,
    ObjectiveInput,
    SteeringError,
    ThresholdInput,
    close_objective,
    create_indicator,
    create_objective,
    objective_tree,
    set_trajectory,
    update_indicator,
    update_objective,
)
from views.forms import ConfirmForm, IndicatorForm, ObjectiveForm, TrajectoryForm
from views.lookup import get_or_404

bp = Blueprint("steering", __name__)
NONE = SelectChoice("", "—")


def _rows(model: Any, who: Principal, label: Any, order: Any) -> list[SelectChoice]:
    rows = db_session().scalars(
        select(model).where(model.organisation_id == who.organisation_id).order_by(order)
    )
    return [NONE, *(SelectChoice(str(r.id), label(r)) for r in rows)]


def _int(value: Any) -> int | None:
    return int(value) if value not in (None, "", "None") else None


def _number(form_field: Any, label: str) -> float | None:
    raw = (form_field.data or "").strip() if isinstance(form_field.data, str) else form_field.data
    if raw in (None, ""):
        return None
    try:
        return parse_french_number(raw)
    except NumberError as exc:
        form_field.errors = [f"{label} : {exc}."]
        raise


def _show_error(form: Any, exc: SteeringError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [str(exc)]
    else:
        flash(str(exc), "error")


# -- objectives ----------------------------------------------------------------------------------
@bp.get("/objectifs")
def objectives() -> ResponseReturnValue:
    who = require(Action.VIEW)
    include_closed = request.args.get("clos") == "1"
    tree = objective_tree(db_session(), who, include_closed=include_closed)
    return render_template(
        "steering/objectives.html", tree=tree, include_closed=include_closed, form=ConfirmForm()
    )


def _objective_form(who: Principal, form: ObjectiveForm, current: Objective | None) -> None:
    objectives = db_session().scalars(
        select(Objective).where(Objective.organisation_id == who.organisation_id).order_by(Objective.code)
    )
    form.parent_id.choices = [
        NONE,
        *(
            SelectChoice(str(o.id), f"{o.code} — {o.title}")
            for o in objectives
            if not current or o.id != current.id
        ),
    ]
    form.service_id.choices = _rows(Service, who, lambda s: s.name, Service.name)
    form.owner_id.choices = _rows(User, who, lambda u: u.full_name, User.full_name)
    needs = db_session().scalars(
        select(Need).where(Need.organisation_id == who.organisation_id).order_by(Need.code)
    )
    form.need_ids.choices = [SelectChoice(n.id, n.label) for n in needs]
    activities = db_session().scalars(
        select(Activity).where(Activity.organisation_id == who.organisation_id).order_by(Activity.name)
    )
    form.activity_ids.choices = [SelectChoice(a.id, a.name) for a in activities]


def _objective_input(form: ObjectiveForm) -> ObjectiveInput:
    return ObjectiveInput(
        code=form.code.data or "", title=form.title.data or "", description=form.description.data,
        perspective=Perspective(form.perspective.data), parent_id=_int(form.parent_id.data),
        service_id=_int(form.service_id.data), owner_id=_int(form.owner_id.data), deadline=form.deadline.data,
        weight=float(form.weight.data or 0), need_ids=form.need_ids.data or [], activity_ids=form.activity_ids.data or [],
    )  # fmt: skip


@bp.route("/objectifs/nouveau", methods=["GET", "POST"])
def create_objective_page() -> ResponseReturnValue:
    who = require(Action.CREATE)
    if not can(
        who,
        Action.CREATE,
        Objective(organisation_id=who.organisation_id, service_id=next(iter(who.service_ids), None)),
    ):
        abort(403)
    form = ObjectiveForm()
    _objective_form(who, form, None)
    if request.method == "GET" and request.args.get("parent"):
        form.parent_id.data = request.args["parent"]
    if form.validate_on_submit():
        try:
            objective = create_objective(db_session(), who, _objective_input(form))
        except SteeringError as exc:
            _show_error(form, exc)
        else:
            flash(f"Objectif {objective.code} créé.", "success")
            return redirect(url_for("steering.objectives"), 303)
    return render_template(
        "steering/objective_form.html", form=form, objective=None
    ), 400 if request.method == "POST" else 200


@bp.route("/objectifs/<int:objective_id>", methods=["GET", "POST"])
def edit_objective(objective_id: int) -> ResponseReturnValue:
    objective = get_or_404(Objective, objective_id)
    who = require(Action.VIEW, objective)
    editable = can(who, Action.EDIT, objective)
    form = ObjectiveForm(obj=objective if request.method == "GET" else None)
    _objective_form(who, form, objective)
    if request.method == "GET":
        form.parent_id.data = str(objective.parent_id or "")
        form.service_id.data = str(objective.service_id or "")
        form.owner_id.data = str(objective.owner_id or "")
        form.perspective.data = objective.perspective.value
        form.need_ids.data = [n.id for n in objective.needs]
        form.activity_ids.data = [a.id for a in objective.activities]
        form.version.data = str(objective.version)
    status = 200
    if request.method == "POST":
        require(Action.EDIT, objective)
        if form.validate_on_submit():
            try:
                changed = update_objective(
                    db_session(), who, objective, _objective_input(form), int(form.version.data or 0)
                )
            except StaleEdit as stale:
                flash(
                    stale.message({"title": "Intitulé", "parent_id": "Parent", "service_id": "Service"}),
                    "error",
                )
                form.version.data = str(stale.current_version)
                return render_template(
                    "steering/objective_form.html", form=form, objective=objective, editable=True
                ), 409
            except SteeringError as exc:
                _show_error(form, exc)
            else:
                flash("Objectif enregistré." if changed else "Aucune modification.", "success")
                return redirect(url_for("steering.objectives"), 303)
        status = 400
    return render_template(
        "steering/objective_form.html", form=form, objective=objective, editable=editable
    ), status


@bp.post("/objectifs/<int:objective_id>/cloture")
def close_objective_page(objective_id: int) -> ResponseReturnValue:
    objective = get_or_404(Objective, objective_id)
    who = require(Action.EDIT, objective)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    reopen = objective.status is ObjectiveStatus.CLOSED
    try:
        close_objective(db_session(), who, objective, now=utcnow(), reopen=reopen)
    except SteeringError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Objectif {objective.code} {'rouvert' if reopen else 'clôturé'}.", "success")
    return redirect(url_for("steering.objectives", clos="1"), 303)


# -- indicators ---------------------------------------------------------------------------------
@bp.get("/indicateurs")
def indicators() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = (
        db_session()
        .scalars(
            select(Indicator)
            .where(Indicator.organisation_id == who.organisation_id)
            .order_by(Indicator.perspective, Indicator.label)
        )
        .all()
    )
    visible = [i for i in rows if can(who, Action.VIEW, i)]
    services = {
        s.id: s.name
        for s in db_session().scalars(select(Service).where(Service.organisation_id == who.organisation_id))
    }
    return render_template("steering/indicators.html", indicators=visible, services=services)


def _indicator_form(who: Principal, form: IndicatorForm) -> None:
    form.service_id.choices = _rows(Service, who, lambda s: s.name, Service.name)
    form.owner_id.choices = _rows(User, who, lambda u: u.full_name, User.full_name)
    form.objective_id.choices = _rows(Objective, who, lambda o: f"{o.code} — {o.title}", Objective.code)
    form.activity_id.choices = _rows(Activity, who, lambda a: a.name, Activity.name)
    form.need_id.choices = _rows(Need, who, lambda n: n.label, Need.code)


def _indicator_input(form: IndicatorForm) -> IndicatorInput:
    baseline = _number(form.baseline_value, "Valeur de référence")
    return IndicatorInput(
        code=form.code.data or "", label=form.label.data or "", description=form.description.data,
        type=IndicatorType(form.type.data), unit=form.unit.data or "", direction=Direction(form.direction.data),
        frequency=Frequency(form.frequency.data), perspective=Perspective(form.perspective.data),
        formula=form.formula.data, decimals=int(form.decimals.data or 0), weight=float(form.weight.data or 0),
        source=form.source.data, vintage=form.vintage.data, baseline_value=baseline,
        baseline_period_key=form.baseline_period_key.data, service_id=_int(form.service_id.data),
        owner_id=_int(form.owner_id.data), objective_id=_int(form.objective_id.data),
        activity_id=_int(form.activity_id.data), need_id=_int(form.need_id.data),
    )  # fmt: skip


@bp.route("/indicateurs/nouveau", methods=["GET", "POST"])
def create_indicator_page() -> ResponseReturnValue:
    who = require(Action.CREATE)
    if not can(
        who,
        Action.CREATE,
        Indicator(organisation_id=who.organisation_id, service_id=next(iter(who.service_ids), None)),
    ):
        abort(403)
    form = IndicatorForm()
    _indicator_form(who, form)
    if form.validate_on_submit():
        try:
            indicator = create_indicator(db_session(), who, _indicator_input(form))
        except (SteeringError, NumberError) as exc:
            if isinstance(exc, SteeringError):
                _show_error(form, exc)
        else:
            flash(f"Indicateur {indicator.code} créé : fixez maintenant ses cibles.", "success")
            return redirect(url_for("steering.targets", indicator_id=indicator.id), 303)
    return render_template(
        "steering/indicator_form.html", form=form, indicator=None
    ), 400 if request.method == "POST" else 200


@bp.route("/indicateurs/<int:indicator_id>/definition", methods=["GET", "POST"])
def edit_indicator(indicator_id: int) -> ResponseReturnValue:
    indicator = get_or_404(Indicator, indicator_id)
    who = require(Action.VIEW, indicator)
    form = IndicatorForm(obj=indicator if request.method == "GET" else None)
    _indicator_form(who, form)
    if request.method == "GET":
        for name in ("type", "direction", "frequency", "perspective"):
            getattr(form, name).data = getattr(indicator, name).value
        for name in ("service_id", "owner_id", "objective_id", "activity_id", "need_id"):
            getattr(form, name).data = str(getattr(indicator, name) or "")
        form.baseline_value.data = (
            "" if indicator.baseline_value is None else str(indicator.baseline_value).replace(".", ",")
        )
        form.version.data = str(indicator.version)
    status = 200
    if request.method == "POST":
        require(Action.EDIT, indicator)
        if form.validate_on_submit():
            try:
                changed = update_indicator(
                    db_session(), who, indicator, _indicator_input(form), int(form.version.data or 0)
                )
            except StaleEdit as stale:
                flash(stale.message({"label": "Intitulé", "formula": "Formule", "unit": "Unité"}), "error")
                form.version.data = str(stale.current_version)
                return render_template(
                    "steering/indicator_form.html", form=form, indicator=indicator, editable=True
                ), 409
            except SteeringError as exc:
                _show_error(form, exc)
            except NumberError:
                status = 400  # the field already carries the French message
            else:
                flash("Indicateur enregistré." if changed else "Aucune modification.", "success")
                return redirect(url_for("offer.indicator", indicator_id=indicator.id), 303)
        status = 400
    return render_template(
        "steering/indicator_form.html",
        form=form,
        indicator=indicator,
        editable=can(who, Action.EDIT, indicator),
    ), status


@bp.route("/indicateurs/<int:indicator_id>/cibles", methods=["GET", "POST"])
def targets(indicator_id: int) -> ResponseReturnValue:
    indicator = get_or_404(Indicator, indicator_id)
    who = require(Action.VIEW, indicator)
    form = TrajectoryForm()
    if request.method == "GET":
        form.version.data = indicator.version
    status = 200
    if request.method == "POST":
        require(Action.EDIT, indicator)
        if not request.form.get("version"):
            flash("Version des cibles manquante : rechargez la page et recommencez.", "error")
        if form.validate_on_submit():
            try:
                low, high = _number(form.band_low, "Borne basse"), _number(form.band_high, "Borne haute")
                count = set_trajectory(
                    db_session(), who, indicator, start_key=form.start.data or "", end_key=form.end.data or "",
                    start_value=_number(form.start_value, "Cible de départ"),
                    end_value=_number(form.end_value, "Cible d'arrivée"), shape=form.shape.data,
                    band=(low, high) if indicator.direction is Direction.WITHIN_BAND else None,
                    thresholds=ThresholdInput(ThresholdMode(form.mode.data), _number(form.amber, "Seuil orange") or 0.0,
                                              _number(form.red, "Seuil rouge") or 0.0),
                    version=int(form.version.data or 0),
                )  # fmt: skip
            except StaleEdit as stale:
                flash(
                    f"Les cibles de cet indicateur ont été modifiées entre-temps par "
                    f"{stale.changed_by or 'une autre personne'}"
                    f"{f' le {stale.changed_at:%d/%m/%Y à %H:%M} (UTC)' if stale.changed_at else ''} : "
                    "les cibles actuelles sont dans le tableau ci-dessous. Les vôtres n'ont pas été "
                    "enregistrées : reprenez-les à partir de celles-ci.",
                    "error",
                )
                form.version.data = stale.current_version
                status = 409
            except SteeringError as exc:
                _show_error(form, exc)
            except NumberError:
                status = 400  # the field already carries the French message
            else:
                flash(f"{count} cible(s) enregistrée(s).", "success")
                return redirect(url_for("steering.targets", indicator_id=indicator.id), 303)
        status = status if status == 409 else 400
    from models import Period

    rows = db_session().execute(
        select(Target, Period.key).join(Period, Period.id == Target.period_id)
        .where(Target.indicator_id == indicator.id).order_by(Period.start_date.desc()).limit(36)
    ).all()  # fmt: skip
    return render_template(
        "steering/targets.html",
        indicator=indicator,
        form=form,
        rows=rows,
        editable=can(who, Action.EDIT, indicator),
    ), status
