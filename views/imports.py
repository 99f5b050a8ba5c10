"""The Excel template of a service's values, and the upload of a filled one."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField

from models import Organisation
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.collection import CollectionError, collection_grid
from services.measurement_io import import_measurements, template_workbook
from services.policy import Action, visible_service_ids
from services.workbooks import WorkbookError
from views.forms import ConfirmForm

bp = Blueprint("imports", __name__, url_prefix="/saisie/excel")


class UploadForm(ConfirmForm):
    file = FileField("Classeur rempli (.xlsx)", validators=[FileRequired("Choisissez un fichier.")])
    submit_values = BooleanField("Soumettre directement à la direction")


@bp.get("/modele.xlsx")
def template() -> ResponseReturnValue:
    who = require(Action.VIEW)
    service_id = request.args.get("service", type=int)
    period_key = request.args.get("periode", "")
    if service_id is None:
        abort(400)
    if service_id not in visible_service_ids(who, [service_id]):
        abort(403)
    try:
        grid = collection_grid(db_session(), who, service_id, period_key)
    except CollectionError:
        abort(404)
    organisation = db_session().get(Organisation, who.organisation_id)
    if organisation is None:
        abort(404)
    filename = f"saisie-{grid.service.code}-{grid.period.key}.xlsx"
    return Response(
        template_workbook(grid, organisation),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/depot", methods=["GET", "POST"])
def upload() -> ResponseReturnValue:
    who = require(Action.ENTER_VALUES)
    service_id = request.values.get("service", type=int)
    period_key = request.values.get("periode") or None
    form = UploadForm()
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        content = form.file.data.read()
        try:
            report = import_measurements(
                db_session(),
                who,
                content,
                expected_service_id=service_id,
                expected_period=period_key,
                submit=bool(form.submit_values.data),
                now=utcnow(),
            )
        except WorkbookError as exc:
            errors = [f"Fichier refusé : {exc}."]
        else:
            if report.errors:
                errors = [str(e) for e in report.errors]
            else:
                flash(report.summary, "success")
                return redirect(url_for("collection.grid", service=service_id, periode=report.period), 303)
        status = 400
    elif request.method == "POST":
        status = 400
    return render_template(
        "collection/upload.html", form=form, errors=errors, service_id=service_id, period_key=period_key
    ), status
