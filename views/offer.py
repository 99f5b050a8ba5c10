"""Services (the offer) and indicators: read pages, and the service sheet's versioned edit."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from models import Indicator, Objective, Service
from pilotis.auth import require
from pilotis.web import db_session
from services.editing import StaleEdit, apply_edit
from services.indicators import indicator_history
from services.policy import Action, can
from views.charts import Point, history_svg
from views.forms import ServiceForm
from views.lookup import get_or_404

bp = Blueprint("offer", __name__)
SERVICE_LABELS = {"name": "Nom", "description": "Description"}


@bp.get("/services")
def services() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = db_session().scalars(
        select(Service)
        .where(Service.organisation_id == who.organisation_id)
        .order_by(Service.kind, Service.name)
    )
    return render_template("offer/services.html", services=list(rows))


@bp.route("/services/<int:service_id>", methods=["GET", "POST"])
def service(service_id: int) -> ResponseReturnValue:
    item = get_or_404(Service, service_id)
    who = require(Action.VIEW, item)
    editable = can(who, Action.EDIT, item)
    form = ServiceForm(obj=item if request.method == "GET" else None)
    if request.method == "POST":
        require(Action.EDIT, item)
        if form.validate_on_submit():
            try:
                changed = apply_edit(
                    db_session(),
                    item,
                    int(form.version.data or 0),
                    {
                        "name": (form.name.data or "").strip(),
                        "description": (form.description.data or "").strip() or None,
                    },
                )
            except StaleEdit as stale:
                flash(stale.message(SERVICE_LABELS), "error")
                form.version.data = stale.current_version
                return render_template("offer/service.html", service=item, form=form, editable=True), 409
            flash("Service enregistré." if changed else "Aucune modification.", "success")
            return redirect(url_for("offer.service", service_id=item.id), 303)
        return render_template("offer/service.html", service=item, form=form, editable=True), 400
    indicators = db_session().scalars(
        select(Indicator).where(Indicator.service_id == item.id).order_by(Indicator.label)
    )
    visible = [i for i in indicators if can(who, Action.VIEW, i)]
    return render_template(
        "offer/service.html", service=item, form=form, editable=editable, indicators=visible
    )


@bp.get("/indicateurs/<int:indicator_id>")
def indicator(indicator_id: int) -> ResponseReturnValue:
    item = get_or_404(Indicator, indicator_id)
    require(Action.VIEW, item)
    history = indicator_history(db_session(), item)
    chart = history_svg(
        [Point(h.period_key, h.value, h.target, h.band_low, h.band_high) for h in history],
        title=f"{item.label} : valeurs et cibles des {len(history)} dernières périodes",
        unit=item.unit,
    )
    service = db_session().get(Service, item.service_id) if item.service_id else None
    objective = db_session().get(Objective, item.objective_id) if item.objective_id else None
    return render_template(
        "offer/indicator.html",
        indicator=item,
        history=history[::-1],
        chart=chart,
        service=service,
        objective=objective,
    )
