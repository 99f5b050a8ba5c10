"""The home page of each role: the organisation, and what needs my attention."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from models import Organisation
from models.base import utcnow
from pilotis.auth import LANGUAGES, require
from pilotis.web import db_session
from services.dashboards import role_home
from services.overview import attention_items, organisation_overview
from services.policy import Action
from views.auth import safe_next
from views.scorecard import default_period

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    db = db_session()
    organisation = db.get(Organisation, who.organisation_id)
    overview = organisation_overview(db, organisation) if organisation else None
    today = utcnow().date()
    items = attention_items(db, who, today=today)
    # what this role must decide or do first (services.dashboards), above the organisation's figures
    home = (
        role_home(db, who, today=today, period_key=default_period(), attention=items)
        if organisation
        else None
    )
    return render_template("home/index.html", overview=overview, items=items, home=home)


@bp.post("/langue")
def set_language() -> ResponseReturnValue:
    lang = request.form.get("lang", "fr")
    session["lang"] = lang if lang in LANGUAGES else "fr"
    return redirect(safe_next(request.form.get("next")))


@bp.get("/sante")
def health() -> ResponseReturnValue:
    """For a load balancer or a monitor (public, no secrets, JSON): the database answers a trivial
    query and the background queue is readable with no task waiting too long; 200, else 503."""
    from pilotis.web import engine
    from pilotis.worker import queue_health

    try:
        db_session().execute(text("SELECT 1"))
    except Exception:  # whatever the driver says, a monitor needs a plain answer
        return _json({"status": "indisponible", "database": "La base de données ne répond pas."}, 503)
    try:
        queue = queue_health(engine())
    except Exception:
        return _json(
            {"status": "indisponible", "database": "ok", "queue": "La file des tâches ne répond pas."}, 503
        )
    body = {
        "status": "ok" if queue.ok else "indisponible",
        "database": "ok",
        "queue": {
            "backend": queue.backend,
            "ok": queue.ok,
            "queued": queue.queued,
            "running": queue.running,
            "oldest_queued_seconds": queue.oldest_queued_seconds,
            "workers": queue.workers,
            "problems": queue.problems,
        },
    }
    return _json(body, 200 if queue.ok else 503)


def _json(body: dict[str, Any], status: int) -> Response:
    """JSON in plain UTF-8 (a person reads a monitor's answer too)."""
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
