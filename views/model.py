"""« Modèle de l'organisation » : the whole model in one Excel workbook, downloaded and uploaded back
(all or nothing, each refusal located by sheet, row and column)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired

from models import Organisation, Service
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.policy import Action, Principal, can
from views.forms import ConfirmForm

bp = Blueprint("model", __name__, url_prefix="/modele")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ModelUploadForm(ConfirmForm):
    file = FileField("Classeur du modèle (.xlsx)", validators=[FileRequired("Choisissez un fichier.")])


def _require_model() -> Principal:
    """The workbook holds every service's rows and edits the value chain: the direction and the
    administrator (who edit it on the pages too)."""
    who = require(Action.VIEW)
    if not can(who, Action.EDIT, Service(organisation_id=who.organisation_id)):
        abort(403)
    return who


def _organisation(who: Principal) -> Organisation:
    organisation = db_session().get(Organisation, who.organisation_id)
    if organisation is None:
        abort(404)
    return organisation


@bp.route("/", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    who = _require_model()
    form = ModelUploadForm()
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            from services.org_model import import_model
            from services.workbooks import WorkbookError

            try:
                report = import_model(db_session(), who, form.file.data.read(), now=utcnow())
            except WorkbookError as exc:
                errors = [f"Fichier refusé : {exc}."]
            else:
                if report.errors:
                    errors = [f"{str(e)[0].upper()}{str(e)[1:]}." for e in report.errors]
                else:
                    if not report.changed:
                        flash(
                            "Aucun changement : le classeur correspond déjà au modèle de l'organisation.",
                            "success",
                        )
                    else:
                        lines = report.summary()
                        if report.resized_needs:
                            lines.append(f"{report.resized_needs} besoin(s) redimensionné(s)")
                        flash("Modèle mis à jour (voir le journal) : " + " ; ".join(lines) + ".", "success")
                    return redirect(url_for("model.index"), 303)
    return render_template(
        "model/index.html", form=form, errors=errors, organisation=_organisation(who)
    ), status


@bp.get("/modele.xlsx")
def export() -> ResponseReturnValue:
    who = _require_model()
    from services.org_model import model_workbook

    organisation = _organisation(who)
    content = model_workbook(db_session(), organisation, now=utcnow())
    return Response(
        content,
        mimetype=XLSX,
        headers={"Content-Disposition": f'attachment; filename="modele-{organisation.slug}.xlsx"'},
    )
