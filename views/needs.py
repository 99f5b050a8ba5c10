"""The needs register, the offer-need coherence matrix, and the import of territorial statistics."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3
from wtforms.validators import InputRequired, NumberRange, Optional

from models import Need, NeedEvidence, Organisation, PopulationGroup, Territory, TerritoryStatistic
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.coherence import build_coherence, need_offer, publish_coverage_indicators
from services.exports import coherence_workbook
from services.needs import priority_setter, resize_needs, set_priority, size_history
from services.policy import Action, can
from services.statistics_import import (
    StatisticsImportError,
    import_statistics,
    imported_vintages,
    remove_statistics,
)
from views.forms import ConfirmForm
from views.lookup import get_or_404

bp = Blueprint("needs", __name__)


class PriorityForm(ConfirmForm):
    level = SelectField("Priorité", choices=[SelectChoice(str(i), f"{i} — {label}") for i, label in
                                             enumerate(["faible", "modérée", "moyenne", "forte", "très forte"], start=1)])  # fmt: skip
    weight = IntegerField(
        "Poids pour l'arbitrage (vide : la priorité)", validators=[Optional(), NumberRange(0, 100)]
    )


class StatisticsForm(ConfirmForm):
    file = FileField("Fichier publié (.csv)", validators=[FileRequired("Choisissez un fichier.")])
    source = SelectField("Source", choices=[SelectChoice("caf", "CAF — allocataires par IRIS"),
                                            SelectChoice("filosofi", "INSEE — Filosofi (IRIS ou commune)"),
                                            SelectChoice("census", "INSEE — recensement par âge")])  # fmt: skip
    vintage = IntegerField(
        "Millésime (si le fichier ne le dit pas)", validators=[Optional(), NumberRange(1990, 2100)]
    )
    force_vintage = BooleanField("Garder ce millésime même si le nom du fichier en indique un autre")


class RemoveVintageForm(ConfirmForm):
    source = SelectField(
        "Source",
        choices=[
            SelectChoice("caf", "CAF"),
            SelectChoice("filosofi", "Filosofi"),
            SelectChoice("census", "Recensement"),
        ],
        validate_choice=True,
    )
    vintage = IntegerField(
        "Millésime", validators=[InputRequired("Millésime manquant."), NumberRange(1900, 2200)]
    )


@bp.get("/besoins")
def register() -> ResponseReturnValue:
    who = require(Action.VIEW)
    view = build_coherence(db_session(), who.organisation_id)
    return render_template("needs/register.html", view=view)


@bp.route("/besoins/<int:need_id>", methods=["GET", "POST"])
def need(need_id: int) -> ResponseReturnValue:
    item = get_or_404(Need, need_id)
    who = require(Action.VIEW, item)
    form = PriorityForm()
    status = 200
    if request.method == "POST":
        require(Action.SET_PRIORITY, item)
        if form.validate_on_submit():
            set_priority(
                db_session(),
                who,
                item,
                level=int(form.level.data or 3),
                weight=form.weight.data,
                now=utcnow(),
            )
            flash("Priorité enregistrée.", "success")
            return redirect(url_for("needs.need", need_id=item.id), 303)
        status = 400
    elif request.method == "GET":
        form.level.data = str(item.priority)
    view = build_coherence(db_session(), who.organisation_id)
    line = next(line for line in view.needs if line.need_id == item.id)
    evidence = (
        db_session()
        .execute(
            select(TerritoryStatistic, Territory.name)
            .join(NeedEvidence, NeedEvidence.statistic_id == TerritoryStatistic.id)
            .join(Territory, Territory.id == TerritoryStatistic.territory_id)
            .where(NeedEvidence.need_id == item.id)
            .order_by(Territory.name)
        )
        .all()
    )
    group = db_session().get(PopulationGroup, item.population_group_id)
    territory = db_session().get(Territory, item.territory_id)
    return render_template(
        "needs/need.html", need=item, line=line, history=size_history(db_session(), item), offer=need_offer(db_session(), item, view),
        evidence=evidence, group=group, territory=territory, form=form, setter=priority_setter(db_session(), item),
        can_prioritise=can(who, Action.SET_PRIORITY, item), threshold=view.threshold, rule=view.rule,
    ), status  # fmt: skip


@bp.get("/coherence")
def coherence() -> ResponseReturnValue:
    who = require(Action.VIEW)
    view = build_coherence(db_session(), who.organisation_id)
    gaps = sorted((n for n in view.needs if n.gap_index is not None), key=lambda n: -n.gap_index)[:10]  # type: ignore[operator]
    return render_template("needs/coherence.html", view=view, gaps=gaps, form=ConfirmForm())


@bp.get("/coherence/export.xlsx")
def export() -> ResponseReturnValue:
    who = require(Action.EXPORT)
    organisation = db_session().get(Organisation, who.organisation_id)
    content = coherence_workbook(
        build_coherence(db_session(), who.organisation_id), organisation.name if organisation else ""
    )
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="coherence-offre-besoins.xlsx"'})  # fmt: skip


@bp.post("/coherence/publier")
def publish() -> ResponseReturnValue:
    who = require(Action.EDIT, TerritoryStatistic(organisation_id=require(Action.VIEW).organisation_id))
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("needs.coherence"), 303)
    year = utcnow().year - 1
    count = publish_coverage_indicators(db_session(), who.organisation_id, year=year)
    flash(f"{count} taux de couverture publiés au tableau de bord pour {year}.", "success")
    return redirect(url_for("needs.coherence"), 303)


@bp.route("/statistiques/import", methods=["GET", "POST"])
def import_page() -> ResponseReturnValue:
    who = require(Action.VIEW)
    require(Action.IMPORT, TerritoryStatistic(organisation_id=who.organisation_id))
    form = StatisticsForm()
    errors: list[str] = []
    warnings: list[str] = []
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        try:
            report = import_statistics(
                db_session(),
                who.organisation_id,
                upload.read(),
                source=form.source.data or "",
                filename=upload.filename or "",
                vintage=form.vintage.data,
                force_vintage=bool(form.force_vintage.data),
            )
        except StatisticsImportError as exc:
            errors = [f"Fichier refusé : {exc}."]
        else:
            if report.errors:
                errors = report.errors
            elif report.wrote_nothing:
                warnings = [f"{w[0].upper()}{w[1:]}." for w in report.warnings]
            else:
                resized = resize_needs(db_session(), who.organisation_id)
                flash(
                    f"Millésime {report.vintage} importé : {report.stats.inserted} chiffre(s) ajouté(s), "
                    f"{report.stats.unchanged} déjà connu(s) ; {report.rows_outside} territoire(s) hors de "
                    f"l'organisation ignoré(s) ; {len(resized.resized)} besoin(s) redimensionné(s).",
                    "success",
                )
                return redirect(url_for("needs.register"), 303)
        status = 400 if errors else 200
    elif request.method == "POST":
        status = 400
    return _import_page(form, errors, warnings, status)


def _import_page(
    form: StatisticsForm, errors: list[str], warnings: list[str], status: int
) -> ResponseReturnValue:
    who = require(Action.VIEW)
    vintages = imported_vintages(db_session(), who.organisation_id)
    return render_template(
        "needs/import.html",
        form=form,
        errors=errors,
        warnings=warnings,
        vintages=vintages,
        remove_form=RemoveVintageForm(),
    ), status


@bp.post("/statistiques/retirer")
def remove_vintage() -> ResponseReturnValue:
    """Take back a vintage imported by mistake: its figures go, the needs are resized from the rest."""
    who = require(Action.VIEW)
    require(Action.IMPORT, TerritoryStatistic(organisation_id=who.organisation_id))
    form = RemoveVintageForm()
    if not form.validate_on_submit():
        problems = [str(e) for errors in form.errors.values() for e in errors] or ["Demande incomplète."]
        return _import_page(StatisticsForm(formdata=None), problems, [], 400)
    try:
        removed = remove_statistics(
            db_session(),
            who.organisation_id,
            source=form.source.data or "",
            vintage=int(form.vintage.data or 0),
        )
    except StatisticsImportError as exc:
        return _import_page(StatisticsForm(formdata=None), [f"{str(exc)[0].upper()}{str(exc)[1:]}."], [], 400)
    resized = resize_needs(db_session(), who.organisation_id)
    flash(
        f"Millésime {form.vintage.data} retiré : {removed} chiffre(s) supprimé(s) ; "
        f"{len(resized.resized)} besoin(s) redimensionné(s).",
        "success",
    )
    return redirect(url_for("needs.import_page"), 303)
