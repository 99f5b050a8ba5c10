"""Scorecard pages: the organisation's and a service's, by perspective and objective; export."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, abort, flash, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from models import Organisation, Period, PeriodState, Review, Service, Territory
from pilotis.auth import require
from pilotis.web import db_session
from scorecard import periods as P
from services.exports import scorecard_workbook
from services.policy import Action, Principal, visible_service_ids
from services.scorecard import ScorecardError, ScorecardView, build_scorecard

bp = Blueprint("scorecard", __name__, url_prefix="/tableau-de-bord")


def default_period() -> str:
    """The last quarter ended before today's quarter."""
    return P.last_complete_quarter(datetime.now(UTC).date()).key


def _options(who: Principal) -> dict[str, object]:
    db = db_session()
    services = db.scalars(
        select(Service).where(Service.organisation_id == who.organisation_id).order_by(Service.name)
    ).all()
    visible = visible_service_ids(who, [s.id for s in services])
    periods = db.scalars(
        select(Period.key)
        .where(Period.organisation_id == who.organisation_id, Period.kind != "month")
        .order_by(Period.start_date.desc(), Period.kind)
    ).all()
    territories = db.scalars(
        select(Territory)
        .where(Territory.organisation_id == who.organisation_id)
        .order_by(Territory.kind, Territory.name)
    ).all()
    return {
        "services": [s for s in services if s.id in visible],
        "periods": periods,
        "territories": territories,
    }


def _frozen(who: Principal, view: ScorecardView | None) -> dict[str, object]:
    """For a closed period: its period row and its frozen review, which the page points to."""
    if view is None:
        return {"review": None, "closed_period": None}
    db = db_session()
    period = db.scalar(
        select(Period).where(Period.organisation_id == who.organisation_id, Period.key == view.period.key)
    )
    if period is None or period.state is not PeriodState.CLOSED:
        return {"review": None, "closed_period": None}
    review = db.scalar(select(Review).where(Review.period_id == period.id))
    return {"review": review, "closed_period": period}


def _view(who: Principal, service_id: int | None) -> tuple[ScorecardView | None, str, int | None]:
    period_key = request.args.get("periode") or default_period()
    territory_id = request.args.get("territoire", type=int)
    try:
        return (
            build_scorecard(db_session(), who, period_key, service_id=service_id, territory_id=territory_id),
            period_key,
            territory_id,
        )
    except ScorecardError as exc:
        flash(str(exc), "error")
        return None, period_key, territory_id


@bp.get("/")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    service_id = request.args.get("service", type=int)
    view, period_key, territory_id = _view(who, service_id)
    status = 200 if view is not None else 400
    return (
        render_template(
            "scorecard/index.html",
            view=view,
            period_key=period_key,
            service_id=service_id,
            territory_id=territory_id,
            service=None,
            **_options(who),
            **_frozen(who, view),
        ),
        status,
    )


@bp.get("/service/<int:service_id>")
def service(service_id: int) -> ResponseReturnValue:
    who = require(Action.VIEW)
    item = db_session().get(Service, service_id)
    if item is None or item.organisation_id != who.organisation_id:
        abort(404)
    if service_id not in visible_service_ids(who, [service_id]):
        abort(403)
    view, period_key, territory_id = _view(who, service_id)
    return (
        render_template(
            "scorecard/index.html",
            view=view,
            period_key=period_key,
            service_id=service_id,
            territory_id=territory_id,
            service=item,
            **_options(who),
            **_frozen(who, view),
        ),
        200 if view is not None else 400,
    )


@bp.get("/export.xlsx")
def export() -> ResponseReturnValue:
    who = require(Action.EXPORT)
    service_id = request.args.get("service", type=int)
    view, _, _ = _view(who, service_id)
    if view is None:
        abort(400)
    organisation = db_session().get(Organisation, who.organisation_id)
    name = organisation.name if organisation else ""
    return Response(
        scorecard_workbook(view, name),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="tableau-de-bord-{view.period.key}.xlsx"'},
    )
