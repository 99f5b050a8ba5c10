"""Costs: activity costs and their flows, budget execution, the cost model (finance), budget imports."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import SelectField

from models import BudgetDocument, CostCentre, CostLine, Organisation
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session, read_session
from services.budget import DOCUMENT_LABELS, documents, execution, import_budget, mapping_names
from services.budget_files import BudgetFileError
from services.cost_exports import costs_workbook
from services.costing import (
    DRIVER_LABELS,
    METHOD_LABELS,
    STAGE_LABELS,
    CostingReport,
    CostModelError,
    compute,
    driver_table,
    publish_cost_indicators,
    save_drivers,
    save_keys,
    set_method,
    unit_cost_history,
    years_with_costs,
)
from services.editing import StaleEdit
from services.nomenclatures import nature_chapter, nature_label
from services.policy import Action, can
from views.charts import Flow, sankey_svg
from views.forms import ConfirmForm, choices

bp = Blueprint("costs", __name__, url_prefix="/couts")


@bp.before_request
def _cost_model_readers() -> None:
    """The cost model is internal (services.policy): not for partners nor service managers."""
    who = require(Action.VIEW)
    require(Action.VIEW, CostLine(organisation_id=who.organisation_id))


COLUMN_OF_STAGE = {"ressource": (0, None), "support": (1, 2), "activite": (2, 3), "affectation": (0, 3)}


class BudgetUploadForm(ConfirmForm):
    file = FileField(
        "Fichier du budget ou du compte (.csv, .xlsx)", validators=[FileRequired("Choisissez un fichier.")]
    )
    mapping = SelectField("Format du fichier", choices=[], validate_choice=True)
    nomenclature = SelectField(
        "Nomenclature (CSV SCDL)",
        choices=choices([("", "Celle du nom du fichier, sinon M57"), ("M57", "M57"), ("M14", "M14 (convertie en M57)"),
                          ("M22", "M22 (établissements sociaux et médico-sociaux)")]),
    )  # fmt: skip


def _year(organisation_id: int) -> tuple[int | None, list[int]]:
    years = [y for y, _ in years_with_costs(db_session(), organisation_id)]
    wanted = request.args.get("annee", type=int)
    if wanted is not None and wanted not in years:
        abort(404)
    if wanted is None:
        actual = [y for y, b in years_with_costs(db_session(), organisation_id) if b == "actual"]
        wanted = actual[0] if actual else (years[0] if years else None)
    return wanted, years


def _resource(nature: str) -> str:
    """A nature grouped by its budget chapter (``012 Charges de personnel``) for the flow chart."""
    chapter = nature_chapter("M57", nature, section="fonctionnement", flow="depense") or nature[:3]
    label = nature_label("M57", chapter)
    return f"{chapter} {label}" if label else f"Nature {chapter}"


def _flows(report: CostingReport) -> list[Flow]:
    kinds = report.centres["kind"].to_dict()
    out = []
    for _, row in report.costing.flows.iterrows():
        stage = str(row["stage"])
        source, target = str(row["source"]), str(row["target"])
        if stage == "ressource":
            columns = (0, 1 if kinds.get(target) == "support" else 2)
            source_label = _resource(source)
        elif stage == "support":
            columns = (1, 1 if kinds.get(target) == "support" else 2)
            source_label = report.names.get(source, source)
        elif stage == "activite":
            columns = (2, 3)
            source_label = report.names.get(source, source)
        else:
            columns = (0, 3)
            source_label = _resource(source)
        out.append(Flow(source_label, report.names.get(target, target), float(row["amount"]), *columns))
    merged: dict[tuple[str, str, int, int], float] = {}
    for f in out:
        key = (f.source, f.target, f.source_column, f.target_column)
        merged[key] = merged.get(key, 0.0) + f.amount
    return [Flow(s, t, amount, sc, tc) for (s, t, sc, tc), amount in merged.items()]


@bp.get("")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    session = db_session()
    year, years = _year(who.organisation_id)
    report = error = None
    if year is not None:
        try:
            report = compute(session, who.organisation_id, year)
        except CostModelError as exc:
            error = str(exc)
    flows = _flows(report) if report else []
    chart = (
        sankey_svg(
            flows,
            title=f"Des ressources aux activités, {year} : natures de dépenses, fonctions support, services, activités",
            headings=["Ressources", "Fonctions support", "Services", "Activités"],
        )
        if report
        else None
    )
    history = unit_cost_history(session, who.organisation_id)
    trend = {code: {y: e.unit_cost for y, e in by_year.items()} for code, by_year in history.items()}
    return render_template(
        "costs/index.html",
        year=year,
        years=years,
        report=report,
        error=error,
        chart=chart,
        flows=flows,
        trend=trend,
        history=history,
        trend_years=sorted({y for t in trend.values() for y in t}),
        stage_labels=STAGE_LABELS,
        method_label=METHOD_LABELS.get(report.method, "") if report else "",
        isnan=math.isnan,
        editable=can(who, Action.EDIT, CostCentre(organisation_id=who.organisation_id)),
    )


@bp.get("/export.xlsx")
def export() -> ResponseReturnValue:
    who = require(Action.EXPORT)
    session = db_session()
    year, _ = _year(who.organisation_id)
    if year is None:
        abort(404)
    try:
        report = compute(session, who.organisation_id, year)
    except CostModelError:
        abort(409)
    organisation = session.get(Organisation, who.organisation_id)
    history = unit_cost_history(session, who.organisation_id)
    content = costs_workbook(
        report,
        execution(session, who.organisation_id, year),
        {code: {y: e.unit_cost for y, e in by_year.items()} for code, by_year in history.items()},
        organisation.name if organisation else "",
        history=history,
    )
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="couts-{year}.xlsx"'},
    )


@bp.get("/execution")
def budget_execution() -> ResponseReturnValue:
    who = require(Action.VIEW)
    year, years = _year(who.organisation_id)
    run = execution(db_session(), who.organisation_id, year) if year is not None else None
    return render_template("costs/execution.html", year=year, years=years, run=run, isnan=math.isnan)


@bp.route("/modele", methods=["GET", "POST"])
def model() -> ResponseReturnValue:
    who = require(Action.VIEW)
    session = db_session()
    editable = can(who, Action.EDIT, CostCentre(organisation_id=who.organisation_id))
    form = ConfirmForm()
    status = 200
    if request.method == "POST":
        require(Action.EDIT, CostCentre(organisation_id=who.organisation_id))
        if not form.validate_on_submit():
            abort(400)
        what = request.form.get("what", "")
        try:
            if what == "method":
                set_method(session, who.organisation_id, request.form.get("method", ""))
                message = "Méthode de répartition enregistrée."
            elif what == "keys":
                centre = request.form.get("centre", "")
                shares = {k.removeprefix("cle-"): v for k, v in request.form.items() if k.startswith("cle-")}
                version = request.form.get("version", type=int)
                if version is None:  # the keys read by the form, or nothing is replaced
                    raise CostModelError("version des clés manquante : rechargez la page et recommencez")
                save_keys(session, who.organisation_id, centre, shares, version)
                message = "Clés de répartition enregistrées."
            elif what == "drivers":
                centre = request.form.get("centre", "")
                quantities: dict[int, Any] = {}
                for key, value in request.form.items():
                    if key.startswith("qte-"):
                        try:
                            quantities[int(key.removeprefix("qte-"))] = value
                        except ValueError:
                            abort(400)
                save_drivers(session, who.organisation_id, centre, request.form.get("driver", ""), quantities)
                message = "Inducteurs enregistrés."
            else:
                abort(400)
            count = publish_cost_indicators(session, who.organisation_id)
        except StaleEdit as stale:
            flash(
                f"Les clés de « {stale.current_values.get('name')} » ont été modifiées entre-temps par "
                f"{stale.changed_by or 'une autre personne'}"
                f"{f' le {stale.changed_at:%d/%m/%Y à %H:%M} (UTC)' if stale.changed_at else ''} : "
                "les clés actuelles sont affichées ci-dessous. Les vôtres n'ont pas été enregistrées : "
                "reprenez-les à partir de celles-ci.",
                "error",
            )
            status = 409
            session.rollback()
        except CostModelError as exc:
            flash(f"Rien n'a été enregistré : {exc}.", "error")
            status = 400
            session.rollback()
        else:
            flash(f"{message} {count} valeur(s) d'indicateurs de coût recalculée(s).", "success")
            return redirect(url_for("costs.model"), 303)
    organisation = session.get(Organisation, who.organisation_id)
    all_centres = list(
        session.scalars(
            select(CostCentre)
            .where(CostCentre.organisation_id == who.organisation_id)
            .order_by(CostCentre.kind.desc(), CostCentre.name)
        )
    )
    return (
        render_template(
            "costs/model.html",
            centres=driver_table(session, who.organisation_id),
            method=organisation.costing_method if organisation else "reciprocal",
            methods=METHOD_LABELS,
            drivers=DRIVER_LABELS,
            editable=editable,
            form=form,
            all_centres=all_centres,
            versions={c.code: c.version for c in all_centres},
        ),
        status,
    )


@bp.route("/import", methods=["GET", "POST"])
def upload() -> ResponseReturnValue:
    who = require(Action.VIEW)
    session = db_session()
    marker = BudgetDocument(organisation_id=who.organisation_id)
    editable = can(who, Action.IMPORT, marker)
    form = BudgetUploadForm()
    form.mapping.choices = [("", "CSV SCDL « budget » (données ouvertes)")] + [
        (name, f"Export avec la correspondance « {name} »")
        for name in mapping_names(read_session(), who.organisation_id)  # the lock waits for the file
    ]
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        require(Action.IMPORT, marker)
        if form.validate_on_submit():
            content = form.file.data.read()
            filename = form.file.data.filename or "budget.csv"
            try:
                result = import_budget(
                    session,
                    who.organisation_id,
                    content,
                    filename,
                    mapping_name=form.mapping.data or None,
                    nomenclature=form.nomenclature.data or None,
                    user_id=who.user_id,
                    now=utcnow(),
                )
            except BudgetFileError as exc:
                errors = list(exc.messages)
                session.rollback()
            except CostModelError as exc:
                errors = [str(exc)]
                session.rollback()
            else:
                for warning in result.warnings:
                    flash(f"Attention : {warning}", "warning")
                flash(result.summary(), "success")
                return redirect(url_for("costs.upload"), 303)
        status = 400
    return (
        render_template(
            "costs/import.html",
            form=form,
            errors=errors,
            editable=editable,
            documents=documents(session, who.organisation_id),
            labels=DOCUMENT_LABELS,
        ),
        status,
    )
