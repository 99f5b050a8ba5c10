"""The needs register and each need's sheet (its definition, sizing, qualitative evidence, priority
and the activities that cover it, edited at their versions), the offer-need coherence matrix, and
the import of territorial statistics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3
from wtforms.validators import InputRequired, NumberRange, Optional

from models import (
    Activity,
    ActivityNeedCoverage,
    EvidenceKind,
    Need,
    NeedEvidence,
    NeedObservation,
    Organisation,
    PopulationGroup,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
)
from models.base import utcnow
from models.enums import LABELS_FR
from pilotis.auth import require
from pilotis.web import db_session
from services.coherence import build_coherence, need_offer, publish_coverage_indicators
from services.editing import StaleEdit
from services.exports import coherence_workbook
from services.needs import priority_setter, resize_needs, set_priority, size_history
from services.policy import Action, Principal, can
from services.statistics_import import (
    StatisticsImportError,
    import_statistics,
    imported_vintages,
    remove_statistics,
)
from services.steering import SteeringError
from services.value_chain import (
    CoverageInput,
    NeedInput,
    ObservationInput,
    add_observation,
    create_need,
    delete_observation,
    held_variables,
    remove_coverage,
    set_coverage,
    update_need,
    update_observation,
)
from views.forms import REQUIRED, ConfirmForm, FrenchNumberField, VersionField
from views.lookup import get_or_404
from views.value_chain_forms import (
    NONE,
    CoverageForm,
    NeedForm,
    ObservationForm,
    VersionOnlyForm,
)

bp = Blueprint("needs", __name__)


class PriorityForm(ConfirmForm):
    level = SelectField(
        "Priorité",
        choices=[
            SelectChoice(str(i), f"{i} — {label}")
            for i, label in enumerate(["faible", "modérée", "moyenne", "forte", "très forte"], start=1)
        ],
    )
    weight = FrenchNumberField(
        "Poids pour l'arbitrage (vide : la priorité)", validators=[Optional(), NumberRange(0, 100)]
    )
    #: The need's version the form was read at: a stale save is refused (409), never applied.
    version = VersionField(validators=[InputRequired(REQUIRED)])


class StatisticsForm(ConfirmForm):
    file = FileField("Fichier publié (.csv)", validators=[FileRequired("Choisissez un fichier.")])
    source = SelectField(
        "Source",
        choices=[
            SelectChoice("caf", "CAF — allocataires par IRIS"),
            SelectChoice("filosofi", "INSEE — Filosofi (IRIS ou commune)"),
            SelectChoice("census", "INSEE — recensement par âge"),
        ],
    )
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


NEED_LABELS = {
    "label": "Intitulé",
    "size": "Effectif",
    "sizing_formula": "Formule",
    "unit": "Unité",
    "source": "Source",
    "priority": "Priorité",
}
PRIORITY_LABELS = {"priority": "Priorité", "priority_weight": "Poids pour l'arbitrage"}
OBSERVATION_LABELS = {"kind": "Nature", "observed_on": "Date", "source": "Source", "summary": "Résumé"}
#: Territory kinds, widest first, for the need form's list.
KIND_ORDER = [
    TerritoryKind.EPCI,
    TerritoryKind.COMMUNE,
    TerritoryKind.QUARTIER,
    TerritoryKind.QPV,
    TerritoryKind.IRIS,
    TerritoryKind.DEPARTEMENT,
    TerritoryKind.REGION,
    TerritoryKind.FRANCE,
]


def _show_error(form: Any, exc: SteeringError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [str(exc)]
    else:
        flash(str(exc), "error")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "", "None") else None
    except (TypeError, ValueError):
        return None


def _coverage_form(who: Principal, need: Need, formdata: bool = False) -> CoverageForm:
    form = CoverageForm() if formdata else CoverageForm(formdata=None)
    activities = db_session().scalars(
        select(Activity)
        .where(Activity.organisation_id == who.organisation_id, Activity.archived_at.is_(None))
        .order_by(Activity.name)
    )
    form.other_id.choices = [NONE, *(SelectChoice(str(a.id), a.name) for a in activities)]
    form.other_id.label.text = "Activité qui couvre le besoin"
    if not formdata:
        form.version.data = need.version
        wanted = _int(request.args.get("activite"))
        link = db_session().get(ActivityNeedCoverage, (wanted, need.id)) if wanted else None
        if link is not None:
            form.other_id.data = str(link.activity_id)
            form.coefficient.data = link.coefficient
            form.share.data = link.share
            form.note.data = link.note
    return form


def _need_page(who: Principal, item: Need, status: int = 200, **forms: Any) -> ResponseReturnValue:
    form = forms.get("priority")
    if form is None:  # every current value, so that changing the level keeps the élu's weight
        form = PriorityForm(formdata=None)
        form.level.data = str(item.priority)
        form.weight.data = item.priority_weight
        form.version.data = item.version
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
    editable = can(who, Action.EDIT, item)
    observation = forms.get("observation") or ObservationForm(
        formdata=None, kind=EvidenceKind.FOCUS_GROUP.value
    )
    return render_template(
        "needs/need.html",
        need=item,
        line=line,
        history=size_history(db_session(), item),
        offer=need_offer(db_session(), item, view),
        evidence=evidence,
        group=group,
        territory=territory,
        form=form,
        setter=priority_setter(db_session(), item),
        can_prioritise=can(who, Action.SET_PRIORITY, item),
        threshold=view.threshold,
        rule=view.rule,
        editable=editable,
        observation_form=observation,
        failed_observation=forms.get("failed_observation"),
        failed_form=forms.get("failed_form"),
        observation_kinds=[(k.value, LABELS_FR[k]) for k in EvidenceKind],
        coverage=forms.get("coverage") or _coverage_form(who, item),
        disclosure=getattr(view, "disclosure", None),
    ), status


@bp.route("/besoins/<int:need_id>", methods=["GET", "POST"])
def need(need_id: int) -> ResponseReturnValue:
    item = get_or_404(Need, need_id)
    who = require(Action.VIEW, item)
    if request.method == "POST":
        require(Action.SET_PRIORITY, item)
        form = PriorityForm()
        if form.validate_on_submit():
            try:
                set_priority(
                    db_session(),
                    who,
                    item,
                    level=int(form.level.data or 3),
                    weight=form.weight.data,
                    now=utcnow(),
                    version=int(form.version.data or 0),
                )
            except StaleEdit as stale:
                flash(stale.message(PRIORITY_LABELS), "error")
                form.version.data = stale.current_version
                return _need_page(who, item, 409, priority=form)
            flash("Priorité enregistrée.", "success")
            return redirect(url_for("needs.need", need_id=item.id), 303)
        if form.version.errors:
            flash("Version de la fiche manquante : rechargez la page et recommencez.", "error")
        return _need_page(who, item, 400, priority=form)
    return _need_page(who, item)


# -- definition and sizing -----------------------------------------------------------------------------
def _need_choices(who: Principal, form: NeedForm) -> None:
    from services.demo.spec import POPULATION_GROUPS

    groups = (
        db_session()
        .scalars(
            select(PopulationGroup)
            .where(PopulationGroup.organisation_id == who.organisation_id)
            .order_by(PopulationGroup.name)
        )
        .all()
    )
    held = {g.code for g in groups}
    standard = [
        SelectChoice(f"std:{code}", f"{name} (public standard, créé avec le besoin)")
        for code, name, _ in POPULATION_GROUPS
        if code not in held
    ]
    form.population_group_id.choices = [NONE, *(SelectChoice(str(g.id), g.name) for g in groups), *standard]
    territories = (
        db_session().scalars(select(Territory).where(Territory.organisation_id == who.organisation_id)).all()
    )
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    territories = sorted(territories, key=lambda t: (order.get(t.kind, 99), t.name, t.code))
    form.territory_id.choices = [
        NONE,
        *(
            SelectChoice(
                str(t.id),
                f"{t.name} ({t.kind.value.upper() if t.kind is TerritoryKind.IRIS else t.kind.value} {t.code})",
            )
            for t in territories
        ),
    ]


def _need_input(form: NeedForm) -> NeedInput:
    from services.demo.spec import POPULATION_GROUPS

    group = form.population_group_id.data or ""
    new_group = None
    if group.startswith("std:"):
        new_group = next(((c, n) for c, n, _ in POPULATION_GROUPS if c == group[4:]), None)
    return NeedInput(
        label=form.label.data or "",
        population_group_id=None if new_group else _int(group),
        territory_id=_int(form.territory_id.data),
        unit=form.unit.data or "",
        sizing=form.sizing.data or "",
        sizing_formula=form.sizing_formula.data,
        size=None if form.size.data is None else float(form.size.data),
        size_as_of=form.size_as_of.data,
        source=form.source.data,
        evidence_note=form.evidence_note.data,
        code=form.code.data or "",
        description=form.description.data,
        public_description=form.public_description.data,
        new_group=new_group,
    )


def _variables(who: Principal) -> list[str]:
    return sorted(held_variables(db_session(), who.organisation_id))


@bp.route("/besoins/nouveau", methods=["GET", "POST"])
def create_need_page() -> ResponseReturnValue:
    who = require(Action.CREATE, Need(organisation_id=require(Action.VIEW).organisation_id))
    form = NeedForm()
    _need_choices(who, form)
    if request.method == "GET":
        form.unit.data = "personnes"
    if form.validate_on_submit():
        try:
            item = create_need(db_session(), who, _need_input(form), today=utcnow().date())
        except SteeringError as exc:
            _show_error(form, exc)
        else:
            flash(f"Besoin « {item.label} » créé : reliez-le aux activités qui le couvrent.", "success")
            return redirect(url_for("needs.need", need_id=item.id), 303)
    return render_template(
        "needs/need_form.html", form=form, need=None, variables=_variables(who)
    ), 400 if request.method == "POST" else 200


@bp.route("/besoins/<int:need_id>/definition", methods=["GET", "POST"])
def edit_need(need_id: int) -> ResponseReturnValue:
    item = get_or_404(Need, need_id)
    who = require(Action.VIEW, item)
    form = NeedForm(obj=item if request.method == "GET" else None)
    _need_choices(who, form)
    if request.method == "GET":
        form.population_group_id.data = str(item.population_group_id)
        form.territory_id.data = str(item.territory_id)
        form.sizing.data = "formula" if item.sizing_formula else "manual"
        form.version.data = item.version
    status = 200
    if request.method == "POST":
        require(Action.EDIT, item)
        status = 400
        if form.validate_on_submit():
            try:
                changed = update_need(
                    db_session(),
                    who,
                    item,
                    _need_input(form),
                    int(form.version.data or 0),
                    today=utcnow().date(),
                )
            except StaleEdit as stale:
                flash(stale.message(NEED_LABELS), "error")
                form.version.data = stale.current_version
                status = 409
            except SteeringError as exc:
                _show_error(form, exc)
            else:
                flash("Besoin enregistré." if changed else "Aucune modification.", "success")
                return redirect(url_for("needs.need", need_id=item.id), 303)
    return render_template(
        "needs/need_form.html",
        form=form,
        need=item,
        variables=_variables(who),
        editable=can(who, Action.EDIT, item),
    ), status


# -- qualitative evidence ---------------------------------------------------------------------------------
def _observation_input(form: ObservationForm) -> ObservationInput:
    return ObservationInput(
        EvidenceKind(form.kind.data), form.observed_on.data, form.source.data or "", form.summary.data or ""
    )


@bp.post("/besoins/<int:need_id>/observations")
def add_observation_page(need_id: int) -> ResponseReturnValue:
    item = get_or_404(Need, need_id)
    require(Action.VIEW, item)
    who = require(Action.EDIT, item)
    form = ObservationForm()
    if form.validate_on_submit():
        try:
            add_observation(db_session(), who, item, _observation_input(form), today=utcnow().date())
        except SteeringError as exc:
            _show_error(form, exc)
        else:
            flash("Preuve qualitative ajoutée.", "success")
            return redirect(url_for("needs.need", need_id=item.id, _anchor="temoignages"), 303)
    return _need_page(who, item, 400, observation=form)


@bp.post("/besoins/<int:need_id>/observations/<int:observation_id>")
def edit_observation_page(need_id: int, observation_id: int) -> ResponseReturnValue:
    """Change a piece of qualitative evidence, or remove it (``delete=1``), at its version."""
    item = get_or_404(Need, need_id)
    require(Action.VIEW, item)
    who = require(Action.EDIT, item)
    observation = db_session().get(NeedObservation, observation_id)
    if observation is None or observation.need_id != item.id:
        abort(404)
    if request.form.get("delete") == "1":
        confirm = VersionOnlyForm()
        if not confirm.validate_on_submit():
            abort(400)
        try:
            delete_observation(db_session(), who, observation, int(confirm.version.data or 0))
        except StaleEdit as stale:
            flash(stale.message(OBSERVATION_LABELS), "error")
            return _need_page(who, item, 409)
        flash("Preuve qualitative retirée.", "success")
        return redirect(url_for("needs.need", need_id=item.id, _anchor="temoignages"), 303)
    form = ObservationForm()
    if form.validate_on_submit():
        try:
            changed = update_observation(
                db_session(),
                who,
                observation,
                _observation_input(form),
                int(form.version.data or 0),
                today=utcnow().date(),
            )
        except StaleEdit as stale:
            flash(stale.message(OBSERVATION_LABELS), "error")
            return _need_page(who, item, 409)
        except SteeringError as exc:
            _show_error(form, exc)
        else:
            flash("Preuve qualitative enregistrée." if changed else "Aucune modification.", "success")
            return redirect(url_for("needs.need", need_id=item.id, _anchor="temoignages"), 303)
    return _need_page(who, item, 400, failed_form=form, failed_observation=observation.id)


# -- the activities that cover the need --------------------------------------------------------------------
@bp.post("/besoins/<int:need_id>/activites")
def need_coverage(need_id: int) -> ResponseReturnValue:
    item = get_or_404(Need, need_id)
    require(Action.VIEW, item)
    who = require(Action.EDIT, item)
    form = _coverage_form(who, item, formdata=True)
    if not form.validate_on_submit():
        return _need_page(who, item, 400, coverage=form)
    activity = db_session().get(Activity, _int(form.other_id.data) or 0)
    if activity is None or activity.organisation_id != who.organisation_id:
        form.other_id.errors = ["Choisissez l'activité qui couvre le besoin."]
        return _need_page(who, item, 400, coverage=form)
    try:
        changed = set_coverage(
            db_session(),
            who,
            activity,
            item,
            CoverageInput(float(form.coefficient.data), form.share.data, form.note.data),
            page=item,
            version=int(form.version.data or 0),
        )
    except StaleEdit as stale:
        flash(stale.message(NEED_LABELS) + " (activités qui le couvrent)", "error")
        return _need_page(who, item, 409)
    except SteeringError as exc:
        _show_error(form, exc)
        return _need_page(who, item, 400, coverage=form)
    flash(
        f"Couverture par « {activity.name} » enregistrée." if changed else "Aucune modification.", "success"
    )
    return redirect(url_for("needs.need", need_id=item.id, _anchor="couverture"), 303)


@bp.post("/besoins/<int:need_id>/activites/<int:activity_id>/retirer")
def need_coverage_remove(need_id: int, activity_id: int) -> ResponseReturnValue:
    item = get_or_404(Need, need_id)
    require(Action.VIEW, item)
    who = require(Action.EDIT, item)
    activity = get_or_404(Activity, activity_id)
    require(Action.EDIT, activity)
    form = VersionOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        removed = remove_coverage(
            db_session(), who, activity, item, page=item, version=int(form.version.data or 0)
        )
    except StaleEdit as stale:
        flash(stale.message(NEED_LABELS) + " (activités qui le couvrent)", "error")
        return _need_page(who, item, 409)
    except SteeringError as exc:
        flash(str(exc), "error")
        return _need_page(who, item, 400)
    flash(f"« {activity.name} » ne couvre plus ce besoin." if removed else "Aucune modification.", "success")
    return redirect(url_for("needs.need", need_id=item.id, _anchor="couverture"), 303)


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
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="coherence-offre-besoins.xlsx"'},
    )


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
                for warning in report.warnings:  # lines of other territories skipped, encoding
                    flash(f"{warning[0].upper()}{warning[1:]}.", "warning")
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
