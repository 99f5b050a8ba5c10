"""Action plans (fiches action): the list per objective and per pilot with its timeline, the
sheet with its milestones and follow-ups, and the forms that create and edit them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from models import (
    ActionMilestone,
    ActionPlan,
    Activity,
    Indicator,
    Need,
    Objective,
    ObjectiveStatus,
    Review,
    ReviewAction,
    Role,
    Service,
    User,
)
from models.base import utcnow
from models.enums import LABELS_FR
from pilotis.auth import require
from pilotis.web import db_session
from services.action_plans import (
    MILESTONE_LABELS,
    STATUS_LABELS,
    ActionFilter,
    ActionInput,
    ActionPlanError,
    action_line,
    add_milestone,
    create_action,
    list_actions,
    record_update,
    set_milestone_state,
    timeline,
    update_action,
)
from services.editing import StaleEdit
from services.numbers import NumberError, parse_french_decimal
from services.policy import Action, Principal, can
from views.forms import REQUIRED
from views.lookup import get_or_404

bp = Blueprint("action_plans", __name__)
NONE = SelectChoice("", "—")
STATUS_CHOICES = [SelectChoice(key, label) for key, label in STATUS_LABELS.items()]
MULTIPLE = "Maintenez Ctrl (ou Cmd) pour en choisir plusieurs."


class ActionForm(FlaskForm):
    title = StringField("Intitulé de l'action", validators=[DataRequired(REQUIRED), Length(max=300)])
    code = StringField("Code (vide : numéro suivant, FA-001…)", validators=[Optional(), Length(max=64)])
    objective_id = SelectField("Objectif servi", validators=[DataRequired(REQUIRED)], validate_choice=False)
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    service_id = SelectField("Service porteur (vide : celui de l'objectif)", validate_choice=False)
    owner_id = SelectField("Pilote", validate_choice=False)
    elected_id = SelectField("Élu·e référent·e", validate_choice=False)
    partners = StringField("Partenaires associés", validators=[Optional(), Length(max=500)])
    budget = StringField("Budget (€)", validators=[Optional(), Length(max=32)])
    start_date = DateField("Début", validators=[Optional()])
    due_date = DateField("Échéance", validators=[Optional()])
    status = SelectField("Statut", choices=STATUS_CHOICES, default="planned")
    progress = IntegerField(
        "Avancement (%)",
        default=0,
        validators=[InputRequired(REQUIRED), NumberRange(0, 100, "Un pourcentage entre 0 et 100.")],
    )
    activity_ids = SelectMultipleField("Activités mobilisées", coerce=int, validate_choice=False)
    indicator_ids = SelectMultipleField(
        "Indicateurs que l'action doit faire bouger", coerce=int, validate_choice=False
    )
    need_ids = SelectMultipleField("Besoins visés", coerce=int, validate_choice=False)
    review_action_id = HiddenField()
    version = HiddenField()


class MilestoneForm(FlaskForm):
    title = StringField("Jalon", validators=[DataRequired(REQUIRED), Length(max=300)])
    due_date = DateField("Date prévue", validators=[DataRequired("Donnez la date du jalon.")])


class MilestoneStateForm(FlaskForm):
    state = HiddenField(validators=[DataRequired(REQUIRED)])
    version = HiddenField(validators=[DataRequired(REQUIRED)])


class FollowUpForm(FlaskForm):
    comment = TextAreaField("Commentaire de suivi", validators=[DataRequired(REQUIRED), Length(max=4000)])
    progress = IntegerField(
        "Avancement (%)",
        validators=[InputRequired(REQUIRED), NumberRange(0, 100, "Un pourcentage entre 0 et 100.")],
    )
    status = SelectField("Statut", choices=STATUS_CHOICES)
    review_id = SelectField("À la revue", validate_choice=False)
    version = HiddenField(validators=[DataRequired(REQUIRED)])


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _today() -> Any:
    return utcnow().date()


def _person_label(user: User) -> str:
    """Owner pickers show each person's role and service (issue 18)."""
    services = ", ".join(s.name for s in user.services)
    return f"{user.full_name} — {LABELS_FR[user.role]}" + (f" ({services})" if services else "")


def _choices(who: Principal, form: ActionForm, current: ActionPlan | None) -> None:
    db = db_session()
    org = who.organisation_id
    objectives = db.scalars(
        select(Objective).where(Objective.organisation_id == org).order_by(Objective.code)
    )
    form.objective_id.choices = [
        NONE,
        *(
            SelectChoice(str(o.id), f"{o.code} — {o.title}")
            for o in objectives
            if can(who, Action.VIEW, o)
            and (o.status is not ObjectiveStatus.CLOSED or (current and o.id == current.objective_id))
        ),
    ]
    services = db.scalars(select(Service).where(Service.organisation_id == org).order_by(Service.name))
    form.service_id.choices = [
        NONE,
        *(
            SelectChoice(str(s.id), s.name)
            for s in services
            if can(who, Action.EDIT, ActionPlan(organisation_id=org, service_id=s.id))
        ),
    ]
    users = db.scalars(
        select(User).where(User.organisation_id == org, User.is_active.is_(True)).order_by(User.full_name)
    ).all()
    form.owner_id.choices = [NONE, *(SelectChoice(str(u.id), _person_label(u)) for u in users)]
    form.elected_id.choices = [
        NONE,
        *(SelectChoice(str(u.id), u.full_name) for u in users if u.role is Role.ELECTED),
    ]
    form.activity_ids.choices = [
        SelectChoice(a.id, a.name)
        for a in db.scalars(select(Activity).where(Activity.organisation_id == org).order_by(Activity.name))
    ]
    form.indicator_ids.choices = [
        SelectChoice(i.id, f"{i.code} — {i.label}")
        for i in db.scalars(
            select(Indicator).where(Indicator.organisation_id == org).order_by(Indicator.code)
        )
        if can(who, Action.VIEW, i)
    ]
    form.need_ids.choices = [
        SelectChoice(n.id, n.label)
        for n in db.scalars(select(Need).where(Need.organisation_id == org).order_by(Need.code))
    ]


def _input(form: ActionForm) -> ActionInput:
    raw_budget = (form.budget.data or "").strip()
    try:
        budget = parse_french_decimal(raw_budget) if raw_budget else None
    except NumberError as exc:
        form.budget.errors = [f"Budget : {exc}."]
        raise
    return ActionInput(
        objective_id=_int(form.objective_id.data),
        title=form.title.data or "",
        code=form.code.data or "",
        description=form.description.data,
        service_id=_int(form.service_id.data),
        owner_id=_int(form.owner_id.data),
        elected_id=_int(form.elected_id.data),
        partners=form.partners.data,
        budget=budget,
        start_date=form.start_date.data,
        due_date=form.due_date.data,
        status=form.status.data or "planned",
        progress=int(form.progress.data or 0),
        activity_ids=form.activity_ids.data or [],
        indicator_ids=form.indicator_ids.data or [],
        need_ids=form.need_ids.data or [],
        review_action_id=_int(form.review_action_id.data),
    )


def _show_error(form: Any, exc: ActionPlanError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [str(exc)]
    else:
        flash(str(exc), "error")


def _creator(who: Principal) -> bool:
    """May the person create an action in at least one service?"""
    probe = next(iter(who.service_ids), None) if who.role is Role.SERVICE_MANAGER else None
    return can(who, Action.CREATE, ActionPlan(organisation_id=who.organisation_id, service_id=probe))


# -- the list ------------------------------------------------------------------------------------
@bp.get("/actions")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    db = db_session()
    org = who.organisation_id
    criteria = ActionFilter(
        objective_id=_int(request.args.get("objectif", "")),
        owner_id=_int(request.args.get("pilote", "")),
        service_id=_int(request.args.get("service", "")),
        status=request.args.get("statut") or None,
    )
    if criteria.status and criteria.status not in (*STATUS_LABELS, "open", "late"):
        flash(f"Statut inconnu : « {criteria.status} ». Choisissez-en un dans la liste.", "error")
        criteria = ActionFilter(criteria.objective_id, criteria.owner_id, criteria.service_id, None)
    objective = None
    if criteria.objective_id is not None:
        objective = db.get(Objective, criteria.objective_id)
        if objective is None or objective.organisation_id != org:
            abort(404)
        require(Action.VIEW, objective)
    today = _today()
    lines = list_actions(db, who, today=today, criteria=criteria)
    people = {
        u.id: u.full_name
        for u in db.scalars(select(User).where(User.organisation_id == org).order_by(User.full_name))
    }
    owner_ids = db.scalars(
        select(ActionPlan.owner_id)
        .where(ActionPlan.organisation_id == org, ActionPlan.owner_id.is_not(None))
        .distinct()
    ).all()
    owners = sorted(((i, people[i]) for i in owner_ids if i in people), key=lambda p: p[1])
    objectives = [
        (o.id, f"{o.code} — {o.title}")
        for o in db.scalars(
            select(Objective).where(Objective.organisation_id == org).order_by(Objective.code)
        )
        if can(who, Action.VIEW, o)
    ]
    return render_template(
        "action_plans/index.html",
        lines=lines,
        timeline=timeline(lines, today),
        criteria=criteria,
        objective=objective,
        owner_name=people.get(criteria.owner_id) if criteria.owner_id else None,
        owners=owners,
        objectives=objectives,
        statuses=STATUS_LABELS,
        creator=_creator(who),
        today=today,
    )


# -- create and edit -----------------------------------------------------------------------------
@bp.route("/actions/nouvelle", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    who = require(Action.VIEW)
    if not _creator(who):
        abort(403)
    form = ActionForm()
    _choices(who, form, None)
    decision = None
    if request.method == "GET":
        form.objective_id.data = request.args.get("objectif", "")
        decision_id = _int(request.args.get("decision", ""))
        if decision_id is not None:
            decision = db_session().get(ReviewAction, decision_id)
            review = db_session().get(Review, decision.review_id) if decision else None
            if decision is None or review is None or review.organisation_id != who.organisation_id:
                abort(404)
            # a decision taken at a review becomes an action sheet: its text, pilot, date, objective
            form.title.data = decision.text[:300]
            form.owner_id.data = str(decision.owner_id or "")
            form.due_date.data = decision.due_date
            form.objective_id.data = str(decision.objective_id or "")
            form.review_action_id.data = str(decision.id)
            if decision.indicator_id:
                form.indicator_ids.data = [decision.indicator_id]
    if form.validate_on_submit():
        try:
            action = create_action(db_session(), who, _input(form), now=utcnow())
        except (ActionPlanError, NumberError) as exc:
            if isinstance(exc, ActionPlanError):
                _show_error(form, exc)
        else:
            flash(f"Fiche action {action.code} créée.", "success")
            return redirect(url_for("action_plans.sheet", action_id=action.id), 303)
    status = 400 if request.method == "POST" else 200
    return render_template("action_plans/form.html", form=form, action=None, decision=decision), status


@bp.route("/actions/<int:action_id>/modifier", methods=["GET", "POST"])
def edit(action_id: int) -> ResponseReturnValue:
    action = get_or_404(ActionPlan, action_id)
    who = require(Action.EDIT, action)
    form = ActionForm(obj=action if request.method == "GET" else None)
    _choices(who, form, action)
    if request.method == "GET":
        form.objective_id.data = str(action.objective_id)
        form.service_id.data = str(action.service_id or "")
        form.owner_id.data = str(action.owner_id or "")
        form.elected_id.data = str(action.elected_id or "")
        form.budget.data = f"{action.budget}".replace(".", ",") if action.budget is not None else ""
        form.activity_ids.data = [a.id for a in action.activities]
        form.indicator_ids.data = [i.id for i in action.indicators]
        form.need_ids.data = [n.id for n in action.needs]
        form.review_action_id.data = str(action.review_action_id or "")
        form.version.data = str(action.version)
    if form.validate_on_submit():
        try:
            changed = update_action(
                db_session(), who, action, _input(form), _int(form.version.data) or 0, now=utcnow()
            )
        except StaleEdit as stale:
            flash(
                stale.message(
                    {
                        "title": "Intitulé",
                        "status": "Statut",
                        "progress": "Avancement",
                        "due_date": "Échéance",
                    }
                ),
                "error",
            )
            form.version.data = str(stale.current_version)
            return render_template("action_plans/form.html", form=form, action=action, decision=None), 409
        except (ActionPlanError, NumberError) as exc:
            if isinstance(exc, ActionPlanError):
                _show_error(form, exc)
        else:
            flash("Fiche action enregistrée." if changed else "Aucune modification.", "success")
            return redirect(url_for("action_plans.sheet", action_id=action.id), 303)
    status = 400 if request.method == "POST" else 200
    return render_template("action_plans/form.html", form=form, action=action, decision=None), status


# -- the sheet, its milestones and follow-ups ------------------------------------------------------
def _sheet(
    who: Principal,
    action: ActionPlan,
    *,
    milestone_form: MilestoneForm | None = None,
    follow_form: FollowUpForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    db = db_session()
    today = _today()
    names = {
        u.id: u.full_name for u in db.scalars(select(User).where(User.organisation_id == who.organisation_id))
    }
    line = action_line(action, names, today)
    editable = can(who, Action.EDIT, action)
    if follow_form is None:
        follow_form = FollowUpForm(formdata=None, progress=action.progress, status=action.status)
    reviews = db.execute(
        select(Review.id, Review.title)
        .where(Review.organisation_id == who.organisation_id)
        .order_by(Review.frozen_at.desc())
        .limit(12)
    ).all()
    follow_form.review_id.choices = [
        SelectChoice("", "Entre deux revues"),
        *(SelectChoice(str(i), t) for i, t in reviews),
    ]
    follow_form.version.data = str(action.version)
    updates = [
        (
            u,
            names.get(u.author_id) if u.author_id else None,
            dict(reviews).get(u.review_id) if u.review_id else None,
        )
        for u in action.updates
    ]
    return (
        render_template(
            "action_plans/sheet.html",
            action=action,
            line=line,
            timeline=timeline([line], today),
            editable=editable,
            milestone_form=milestone_form or MilestoneForm(formdata=None),
            follow_form=follow_form,
            state_form=MilestoneStateForm(formdata=None),
            updates=updates,
            statuses=STATUS_LABELS,
            milestone_labels=MILESTONE_LABELS,
            objective_openable=can(who, Action.VIEW, action.objective),
            today=today,
        ),
        status,
    )


@bp.get("/actions/<int:action_id>")
def sheet(action_id: int) -> ResponseReturnValue:
    action = get_or_404(ActionPlan, action_id)
    who = require(Action.VIEW, action)
    return _sheet(who, action)


@bp.post("/actions/<int:action_id>/jalons")
def add_milestone_page(action_id: int) -> ResponseReturnValue:
    action = get_or_404(ActionPlan, action_id)
    who = require(Action.EDIT, action)
    form = MilestoneForm()
    if form.validate_on_submit():
        try:
            milestone = add_milestone(db_session(), who, action, form.title.data or "", form.due_date.data)
        except ActionPlanError as exc:
            _show_error(form, exc)
        else:
            flash(f"Jalon « {milestone.title} » ajouté.", "success")
            return redirect(url_for("action_plans.sheet", action_id=action.id, _anchor="jalons"), 303)
    return _sheet(who, action, milestone_form=form, status=400)


@bp.post("/actions/<int:action_id>/jalons/<int:milestone_id>")
def milestone_state(action_id: int, milestone_id: int) -> ResponseReturnValue:
    action = get_or_404(ActionPlan, action_id)
    who = require(Action.EDIT, action)
    milestone = get_or_404(ActionMilestone, milestone_id)
    if milestone.action_id != action.id:
        abort(404)
    form = MilestoneStateForm()
    if not form.validate_on_submit():
        flash("Choisissez l'état du jalon.", "error")
        return _sheet(who, action, status=400)
    try:
        set_milestone_state(
            db_session(), who, milestone, form.state.data or "", _int(form.version.data) or 0, today=_today()
        )
    except StaleEdit as stale:
        flash(stale.message({"title": "Jalon", "state": "État"}), "error")
        return _sheet(who, action, status=409)
    except ActionPlanError as exc:
        flash(str(exc), "error")
        return _sheet(who, action, status=400)
    flash(f"Jalon « {milestone.title} » : {MILESTONE_LABELS[milestone.state].lower()}.", "success")
    return redirect(url_for("action_plans.sheet", action_id=action.id, _anchor="jalons"), 303)


@bp.post("/actions/<int:action_id>/suivi")
def follow_up(action_id: int) -> ResponseReturnValue:
    action = get_or_404(ActionPlan, action_id)
    who = require(Action.EDIT, action)
    form = FollowUpForm()
    form.review_id.choices = []
    if form.validate_on_submit():
        try:
            record_update(
                db_session(),
                who,
                action,
                progress=form.progress.data,
                status=form.status.data,
                comment=form.comment.data or "",
                version=_int(form.version.data) or 0,
                review_id=_int(form.review_id.data or ""),
                now=utcnow(),
            )
        except StaleEdit as stale:
            flash(
                stale.message(
                    {
                        "title": "Intitulé",
                        "status": "Statut",
                        "progress": "Avancement",
                        "due_date": "Échéance",
                    }
                ),
                "error",
            )
            return _sheet(who, action, follow_form=form, status=409)
        except ActionPlanError as exc:
            _show_error(form, exc)
        else:
            flash("Suivi enregistré.", "success")
            return redirect(url_for("action_plans.sheet", action_id=action.id, _anchor="suivi"), 303)
    return _sheet(who, action, follow_form=form, status=400)
