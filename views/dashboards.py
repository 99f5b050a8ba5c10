"""The scorecard's visual summary: status counts per perspective and per service, the
perspectives' scores over the last quarters, and a sparkline of each indicator."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request
from flask.typing import ResponseReturnValue

from pilotis.auth import require
from pilotis.web import db_session
from services.dashboards import STATUS_NAMES, STATUS_ORDER, Summary, scorecard_summary
from services.policy import Action
from services.scorecard import ScorecardError
from views.scorecard import default_period

bp = Blueprint("dashboards", __name__, url_prefix="/tableau-de-bord")


@bp.get("/synthese")
def summary() -> ResponseReturnValue:
    who = require(Action.VIEW)
    period_key = request.args.get("periode") or default_period()
    view: Summary | None
    status = 200
    try:
        view = scorecard_summary(db_session(), who, period_key)
    except ScorecardError as exc:
        flash(str(exc), "error")
        view, status = None, 400
    return (
        render_template(
            "dashboards/summary.html",
            summary=view,
            period_key=period_key,
            statuses=STATUS_ORDER,
            names=STATUS_NAMES,
        ),
        status,
    )
