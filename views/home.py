"""The home page of each role: the organisation, and what needs my attention."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from models import Organisation
from models.base import utcnow
from pilotis.auth import LANGUAGES, require
from pilotis.web import db_session
from services.overview import attention_items, organisation_overview
from services.policy import Action
from views.auth import safe_next

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    db = db_session()
    organisation = db.get(Organisation, who.organisation_id)
    overview = organisation_overview(db, organisation) if organisation else None
    items = attention_items(db, who, today=utcnow().date())
    return render_template("home/index.html", overview=overview, items=items)


@bp.post("/langue")
def set_language() -> ResponseReturnValue:
    lang = request.form.get("lang", "fr")
    session["lang"] = lang if lang in LANGUAGES else "fr"
    return redirect(safe_next(request.form.get("next")))


@bp.get("/sante")
def health() -> ResponseReturnValue:
    """Liveness for a load balancer: the database answers a trivial query."""
    db_session().execute(text("SELECT 1"))
    return jsonify(status="ok")
