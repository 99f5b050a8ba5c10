"""The strategy map: the mission, the four perspectives, the objectives with their status, and
the "contributes to" links the direction draws between them."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3
from wtforms.validators import DataRequired

from models import ObjectiveLink, Period
from pilotis.auth import require
from pilotis.web import db_session
from services.policy import Action, Principal, can
from services.scorecard import ScorecardError
from services.steering import SteeringError
from services.strategy_map import StrategyMap, add_link, build_strategy_map, remove_link
from views.forms import REQUIRED
from views.scorecard import default_period

bp = Blueprint("strategy", __name__)


class LinkForm(FlaskForm):
    # the service checks the objectives (organisation, perspectives, closure) with French messages
    source_id = SelectField("Cet objectif…", validators=[DataRequired(REQUIRED)], validate_choice=False)
    target_id = SelectField(
        "… contribue à cet objectif", validators=[DataRequired(REQUIRED)], validate_choice=False
    )
    periode = HiddenField()


class RemoveLinkForm(FlaskForm):
    lien = HiddenField(validators=[DataRequired(REQUIRED)])
    version = HiddenField()
    periode = HiddenField()


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _periods(who: Principal) -> list[str]:
    return list(
        db_session().scalars(
            select(Period.key)
            .where(Period.organisation_id == who.organisation_id, Period.kind != "month")
            .order_by(Period.start_date.desc(), Period.kind)
        )
    )


def _page(
    who: Principal, period_key: str, form: LinkForm | None = None, status: int = 200
) -> ResponseReturnValue:
    view: StrategyMap | None
    try:
        view = build_strategy_map(db_session(), who, period_key)
    except ScorecardError as exc:
        flash(str(exc), "error")
        view, status = None, 400
    drawer = can(who, Action.CREATE, ObjectiveLink(organisation_id=who.organisation_id))
    if form is None and drawer:
        form = LinkForm(formdata=None)
    if form is not None and view is not None:
        choices = [SelectChoice("", "—"), *(SelectChoice(str(i), label) for i, label in view.linkable)]
        form.source_id.choices = choices
        form.target_id.choices = choices
        form.periode.data = period_key
    return (
        render_template(
            "strategy/index.html",
            view=view,
            period_key=period_key,
            periods=_periods(who),
            form=form if drawer else None,
            remove_form=RemoveLinkForm(formdata=None) if drawer else None,
        ),
        status,
    )


@bp.get("/carte-strategique")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    return _page(who, request.args.get("periode") or default_period())


@bp.post("/carte-strategique/liens")
def add_link_page() -> ResponseReturnValue:
    who = require(Action.CREATE, ObjectiveLink(organisation_id=require(Action.VIEW).organisation_id))
    period_key = request.form.get("periode") or default_period()
    form = LinkForm()
    if form.validate_on_submit():
        try:
            link = add_link(db_session(), who, _int(form.source_id.data), _int(form.target_id.data))
        except SteeringError as exc:
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None:
                field.errors = [str(exc)]
            else:
                flash(str(exc), "error")
        else:
            flash(f"Lien enregistré : « {link.source.code} » contribue à « {link.target.code} ».", "success")
            return redirect(url_for("strategy.index", periode=period_key, _anchor="liens"), 303)
    return _page(who, period_key, form, 400)


@bp.post("/carte-strategique/liens/suppression")
def remove_link_page() -> ResponseReturnValue:
    who = require(Action.VIEW)
    form = RemoveLinkForm()
    period_key = request.form.get("periode") or default_period()
    if not form.validate_on_submit() or _int(form.lien.data) is None:
        require(Action.EDIT, ObjectiveLink(organisation_id=who.organisation_id))
        flash("Choisissez le lien à supprimer.", "error")
        return _page(who, period_key, None, 400)
    link = db_session().get(ObjectiveLink, _int(form.lien.data))
    if link is None:
        abort(404)
    who = require(Action.EDIT, link)
    source, target = link.source.code, link.target.code
    try:
        remove_link(db_session(), who, link, _int(form.version.data))
    except SteeringError as exc:
        flash(str(exc), "error")
        return _page(who, period_key, None, 409)
    flash(f"Lien supprimé : « {source} » ne contribue plus à « {target} ».", "success")
    return redirect(url_for("strategy.index", periode=period_key, _anchor="liens"), 303)
