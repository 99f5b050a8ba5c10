"""Data collection: the entry grid of a service for a period, and the direction's validation."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from models import Period, Service
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.collection import (
    PENDING_ORDERS,
    STATE_LABELS,
    CollectionError,
    Entry,
    collection_grid,
    decide,
    default_period,
    left_unvalidated,
    open_periods,
    owed_counts,
    pending_validation,
    save_entries,
)
from services.policy import Action, Principal, visible_service_ids
from views.forms import ConfirmForm

bp = Blueprint("collection", __name__, url_prefix="/saisie")


def _choices(who: Principal) -> tuple[list[Service], list[Period]]:
    db = db_session()
    services = db.scalars(
        select(Service)
        .where(Service.organisation_id == who.organisation_id, Service.kind == "own")
        .order_by(Service.name)
    ).all()
    visible = visible_service_ids(who, [s.id for s in services])
    periods = open_periods(db, who.organisation_id, today=utcnow().date())
    return [s for s in services if s.id in visible], periods


@bp.route("/", methods=["GET", "POST"])
def grid() -> ResponseReturnValue:
    who = require(Action.VIEW)
    services, periods = _choices(who)
    if not services:
        abort(403)
    service_id = request.values.get("service", type=int) or services[0].id
    owed = owed_counts(db_session(), service_id, periods) if service_id in {s.id for s in services} else {}
    period_key = request.values.get("periode") or ""
    opened_on_owed = False
    if not period_key and (chosen := default_period(periods, owed)) is not None:
        period_key, opened_on_owed = chosen.key, bool(owed.get(chosen.key))
    try:
        grid = collection_grid(db_session(), who, service_id, period_key)
    except CollectionError as exc:
        flash(str(exc), "error")
        return render_template(
            "collection/grid.html",
            grid=None,
            services=services,
            periods=periods,
            service_id=service_id,
            period_key=period_key,
            owed=owed,
            opened_on_owed=opened_on_owed,
            form=ConfirmForm(),
            errors={},
        ), 400
    errors: dict[int, str] = {}
    typed: dict[int, Entry] = {}
    status = 200
    if request.method == "POST":
        form = ConfirmForm()
        if not form.validate_on_submit():
            abort(400)
        require(Action.ENTER_VALUES)
        for row in grid.rows:
            key = row.indicator.id
            if f"valeur-{key}" in request.form:
                typed[key] = Entry(
                    value=request.form.get(f"valeur-{key}", ""),
                    comment=request.form.get(f"commentaire-{key}", ""),
                    version=request.form.get(f"version-{key}", type=int),
                )
        submit = request.form.get("action") == "soumettre"
        result = save_entries(db_session(), who, grid, typed, submit=submit, now=utcnow())
        if result.errors:
            errors = result.errors
            count = len(errors)
            flash(f"{count} valeur(s) à corriger : rien n'a été enregistré.", "error")
            status = 400
        else:
            verb = "soumises à la direction" if submit else "enregistrées en brouillon"
            flash(f"{result.saved} valeur(s) {verb}.", "success")
            return redirect(url_for("collection.grid", service=service_id, periode=period_key), 303)
    return (
        render_template(
            "collection/grid.html",
            grid=grid,
            services=services,
            periods=periods,
            service_id=service_id,
            period_key=period_key,
            owed=owed,
            opened_on_owed=opened_on_owed,
            form=ConfirmForm(),
            errors=errors,
            typed=typed,
            states=STATE_LABELS,
        ),
        status,
    )


@bp.route("/validation", methods=["GET", "POST"])
def validation() -> ResponseReturnValue:
    who = require(Action.VALIDATE)
    period_key = request.values.get("periode") or None
    status = 200
    if request.method == "POST":
        form = ConfirmForm()
        if not form.validate_on_submit():
            abort(400)
        ids = [int(v) for v in request.form.getlist("mesure") if v.isdigit()]
        accept = request.form.get("action") == "valider"
        if not ids:
            flash("Cochez au moins une valeur.", "error")
            status = 400
        else:
            try:
                done = decide(
                    db_session(),
                    who,
                    ids,
                    accept=accept,
                    comment=request.form.get("commentaire", ""),
                    now=utcnow(),
                )
            except CollectionError as exc:
                flash(str(exc), "error")
                status = 400
            else:
                flash(f"{done} valeur(s) {'validée(s)' if accept else 'renvoyée(s) au service'}.", "success")
                return redirect(
                    url_for(
                        "collection.validation",
                        periode=period_key or None,
                        ordre=request.values.get("ordre") or None,
                    ),
                    303,
                )
    order = request.values.get("ordre") or "recentes"
    if order not in PENDING_ORDERS:
        flash(
            f"Ordre « {order} » inconnu : la liste est triée des plus récentes aux plus anciennes.", "error"
        )
        order, status = "recentes", 400
    lines = pending_validation(db_session(), who, period_key, order=order)
    return render_template(
        "collection/validation.html",
        lines=lines,
        order=order,
        orders=PENDING_ORDERS,
        all_checked=request.args.get("tout") == "1",
        period_key=period_key,
        form=ConfirmForm(),
        left_unvalidated=left_unvalidated(db_session(), who),
    ), status
