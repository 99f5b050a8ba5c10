"""User administration for the administrator of the organisation."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3

from models import Organisation, Role, Service, User
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services import accounts
from services.policy import Action
from views.forms import ConfirmForm, UserForm
from views.lookup import get_or_404

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _user(user_id: int) -> User:
    user = get_or_404(User, user_id)
    require(Action.MANAGE_USERS, user)
    return user


def _service_choices(organisation_id: int) -> list[SelectChoice]:
    services = db_session().scalars(
        select(Service).where(Service.organisation_id == organisation_id).order_by(Service.name)
    )
    return [SelectChoice(str(s.id), s.name) for s in services]


def _services(organisation_id: int, ids: list[int]) -> list[Service]:
    if not ids:
        return []
    return list(
        db_session().scalars(
            select(Service).where(Service.organisation_id == organisation_id, Service.id.in_(ids))
        )
    )


@bp.get("/utilisateurs")
def users() -> ResponseReturnValue:
    who = require(Action.MANAGE_USERS)
    rows = db_session().scalars(
        select(User).where(User.organisation_id == who.organisation_id).order_by(User.full_name)
    )
    return render_template("admin/users.html", users=list(rows), now=utcnow(), form=ConfirmForm())


@bp.route("/utilisateurs/nouveau", methods=["GET", "POST"])
def create_user() -> ResponseReturnValue:
    who = require(Action.MANAGE_USERS)
    form = UserForm()
    form.services.choices = _service_choices(who.organisation_id)
    if form.validate_on_submit():
        organisation = db_session().get(Organisation, who.organisation_id)
        if organisation is None:
            abort(404)
        password = accounts.temporary_password()
        try:
            user = accounts.create_user(
                db_session(),
                organisation=organisation,
                email=form.email.data or "",
                full_name=form.full_name.data or "",
                role=Role(form.role.data),
                services=_services(who.organisation_id, form.services.data or []),
                password=password,
                now=utcnow(),
                temporary=True,
                temporary_days=current_app.config.get("PILOTIS_TEMPORARY_PASSWORD_DAYS"),
            )
        except accounts.AccountError as exc:
            flash(str(exc), "error")
        else:
            return render_template("admin/password_issued.html", user=user, password=password, created=True)
    status = 400 if request.method == "POST" else 200
    return render_template("admin/user_form.html", form=form, user=None), status


@bp.route("/utilisateurs/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    form = UserForm(obj=user if request.method == "GET" else None)
    form.services.choices = _service_choices(user.organisation_id or 0)
    if request.method == "GET":
        form.role.data = user.role.value
        form.services.data = [s.id for s in user.services]
        form.version.data = str(user.version)
    form.email.data = user.email  # the e-mail is the login: not edited here
    if form.validate_on_submit():
        if str(user.version) != (form.version.data or ""):
            flash(
                "Ce compte a été modifié entre-temps par une autre personne : vos modifications n'ont pas "
                f"été enregistrées. Valeurs actuelles : rôle « {user.role.value} », "
                f"nom « {user.full_name} ».",
                "error",
            )
            return render_template("admin/user_form.html", form=form, user=user), 409
        organisation = db_session().get(Organisation, user.organisation_id)
        if organisation is None:
            abort(404)
        try:
            accounts.update_user(
                user,
                full_name=form.full_name.data or "",
                role=Role(form.role.data),
                services=_services(organisation.id, form.services.data or []),
                organisation=organisation,
            )
        except accounts.AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Compte de {user.full_name} enregistré.", "success")
            return redirect(url_for("admin.users"))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/user_form.html", form=form, user=user), status


@bp.post("/utilisateurs/<int:user_id>/desactiver")
def deactivate_user(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    who = require(Action.MANAGE_USERS, user)
    if user.id == who.user_id:
        flash("Vous ne pouvez pas désactiver votre propre compte.", "error")
        return redirect(url_for("admin.users")), 303
    accounts.deactivate(user)
    flash(f"Compte de {user.full_name} désactivé : ses sessions sont fermées.", "success")
    return redirect(url_for("admin.users")), 303


@bp.post("/utilisateurs/<int:user_id>/reactiver")
def reactivate_user(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    accounts.reactivate(user)
    flash(f"Compte de {user.full_name} réactivé.", "success")
    return redirect(url_for("admin.users")), 303


@bp.post("/utilisateurs/<int:user_id>/mot-de-passe")
def reset_password(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    password = accounts.reset_password(
        user, now=utcnow(), days=current_app.config.get("PILOTIS_TEMPORARY_PASSWORD_DAYS")
    )
    return render_template("admin/password_issued.html", user=user, password=password, created=False)
