"""The home page: the organisation(s) of the database and what they hold."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from pilotis.web import db_session
from services.overview import list_organisations, organisation_overview

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    session = db_session()
    overviews = [organisation_overview(session, org) for org in list_organisations(session)]
    return render_template("home/index.html", overviews=overviews)


@bp.get("/sante")
def health() -> ResponseReturnValue:
    """Liveness for a load balancer: the database answers a trivial query."""
    from sqlalchemy import text

    db_session().execute(text("SELECT 1"))
    return jsonify(status="ok")
