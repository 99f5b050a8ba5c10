"""Sign-in, sign-out and password change."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from models import Organisation, User
from models.base import utcnow
from pilotis.auth import SignedIn, attempt_sign_in, principal
from pilotis.web import db_session
from services import accounts
from views.forms import ConfirmForm, LoginForm, PasswordChangeForm

bp = Blueprint("auth", __name__)
#: What a person signed in with a temporary password may reach before changing it.
BEFORE_A_NEW_PASSWORD = frozenset(
    {"auth.change_password", "auth.logout", "auth.login", "static", "home.set_language", "home.health"}
)


@bp.before_app_request
def _temporary_password_first() -> ResponseReturnValue | None:
    """A temporary password opens one page: the one that replaces it (ASVS 5.0 V6.4)."""
    who = principal()
    if who is None or not who.must_change_password or request.endpoint in BEFORE_A_NEW_PASSWORD:
        return None
    if request.blueprint == "api":
        return jsonify(error="Changez d'abord votre mot de passe temporaire (/compte/mot-de-passe)."), 403
    flash("Votre mot de passe est temporaire : choisissez le vôtre pour continuer.", "error")
    return redirect(url_for("auth.change_password"))


def safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no host, no ``//``) is followed after sign-in."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    return target


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        # checked without the write lock, recorded without waiting for it (pilotis.auth)
        result = attempt_sign_in(
            form.email.data or "",
            form.password.data or "",
            address=request.remote_addr or "inconnue",
            now=utcnow(),
        )
        if result.signed_in is None:
            flash(result.error or "Connexion refusée.", "error")
            return render_template("auth/login.html", form=form), result.status
        session.clear()  # no state from before sign-in survives (session fixation)
        login_user(result.signed_in, remember=bool(form.remember.data))
        flash(f"Bienvenue, {result.full_name}.", "success")
        if result.temporary_password:
            flash("Votre mot de passe est temporaire : choisissez le vôtre pour continuer.", "error")
            return redirect(url_for("auth.change_password"))
        return redirect(safe_next(form.next.data))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/deconnexion")
def logout() -> ResponseReturnValue:
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for("home.index"))
    who = principal()
    if who is not None:
        user = db_session().get(User, who.user_id)
        if user is not None:
            accounts.sign_out(user)  # the old cookies no longer open a session
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté·e.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/compte/mot-de-passe", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = db_session().get(User, current_user.principal.user_id)
        if user is None:
            abort(404)
        if not accounts.password_matches(user.password_hash, form.current.data or ""):
            form.current.errors = ["Mot de passe actuel incorrect."]
        else:
            try:
                organisation = db_session().get(Organisation, user.organisation_id or 0)
                accounts.set_password(
                    user,
                    form.new.data or "",
                    now=utcnow(),
                    organisation=organisation.name if organisation else "",
                )
            except accounts.AccountError as exc:
                form.new.errors = [str(exc)]
            else:
                db_session().flush()
                login_user(SignedIn(user))  # the new token for this browser; others are signed out
                flash("Mot de passe modifié. Vos autres sessions ont été fermées.", "success")
                return redirect(url_for("home.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status
