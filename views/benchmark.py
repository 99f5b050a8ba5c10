"""Benchmarking between organisations on standard indicators: the page, the consent to be named
and the Excel export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup, escape
from sqlalchemy.exc import OperationalError
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from models import Organisation
from pilotis.auth import require
from pilotis.web import db_session
from scorecard.benchmark import STRATA, STRATUM_LABELS
from services.benchmark import (
    FAMILIES,
    HEADER,
    BenchmarkError,
    IndicatorComparison,
    ReferenceMapping,
    benchmark_workbook,
    build_benchmark,
    check_mapping,
    ensure_fresh,
    import_mapped,
    import_reference,
    mappings,
    parse_mapping_lines,
    reference_files,
    save_mapping,
    set_named,
    values_page,
)
from services.numbers import format_number
from services.policy import Action, can
from views.forms import ConfirmForm

T = TypeVar("T")

bp = Blueprint("benchmark", __name__, url_prefix="/comparaison")


NEW_MAPPING = "__nouvelle__"
RAW_FORMAT = "__pilotis__"


class ReferenceForm(ConfirmForm):
    file = FileField("Fichier (.csv)", validators=[FileRequired("Choisissez un fichier.")])
    mapping = SelectField("Disposition du fichier", choices=[], validate_choice=True)
    name = StringField("Nom de la nouvelle correspondance (enregistrée pour les prochains fichiers)")
    organisation = StringField("Colonne du code de l'organisation (SIREN, code INSEE…)")
    stratum = StringField("Colonne de la strate de taille (0-5k, 5-20k…)")
    population = StringField("ou colonne de la population (la strate en est déduite)")
    year = StringField("Colonne de l'année")
    fixed_year = IntegerField("ou année de tout le fichier", validators=[Optional()])
    indicators = TextAreaField(
        "Indicateurs, un par ligne : « code = colonne » (ex. depense_hab_total = DRF_hab)"
    )


class ConsentForm(ConfirmForm):
    named = BooleanField(
        "Notre organisation accepte d'être nommée dans les comparaisons des autres organisations"
    )


def _instance() -> Path:
    return Path(current_app.instance_path)


def _organisation(organisation_id: int) -> Organisation:
    organisation = db_session().get(Organisation, organisation_id)
    if organisation is None:  # pragma: no cover - a signed-in user's organisation exists
        abort(404)
    return organisation


def _short(value: float) -> str:
    return format_number(value, 0 if abs(value) >= 100 else 1)


def histogram_svg(item: IndicatorComparison, *, width: int = 760) -> Markup:
    """The distribution as a histogram (counts per class of equal width), the class holding the
    organisation's value in red, the quartiles marked; described by the table beside it. Only for a
    comparable indicator (never drawn otherwise)."""
    hist, comparison = item.histogram, item.comparison
    if hist is None or not comparison.comparable or comparison.quartiles is None:
        return Markup("")
    left, right, top, bottom, height = 20.0, 20.0, 14.0, 40.0, 170.0
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = hist.edges[0], hist.edges[-1]
    span = (high - low) or 1.0
    peak = max(hist.counts) or 1

    def x(v: float) -> float:
        return left + plot_w * (v - low) / span

    key = escape(item.info.code)
    title = f"Distribution — {item.info.label} ({item.info.unit}) : {comparison.n} organisations"
    out = [
        f'<svg class="chart benchmark" viewBox="0 0 {width} {height:.0f}" role="img" '
        f'aria-labelledby="svg-{key}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="svg-{key}">{escape(title)}</title>'
    ]
    bar_w = plot_w / len(hist.counts)
    for i, count in enumerate(hist.counts):
        h = plot_h * count / peak
        colour = "#c62828" if hist.own_bin == i else "#1f4e8c"
        out.append(
            f'<rect x="{left + i * bar_w + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, bar_w - 2):.1f}" '
            f'height="{h:.1f}" fill="{colour}" fill-opacity="0.8"/>'
        )
    base = top + plot_h
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="#8a93a6"/>')
    q1, median, q3 = comparison.quartiles
    for value, dash in ((q1, "4 3"), (median, ""), (q3, "4 3")):
        out.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{top}" y2="{base}" stroke="#1d2330" '
            f'stroke-width="{1 if dash else 2}"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
        )
    for tick in (low, q1, median, q3, high):
        out.append(
            f'<text x="{x(tick):.1f}" y="{base + 14}" font-size="11" text-anchor="middle" fill="#4a5468">'
            f"{escape(_short(tick))}</text>"
        )
    out.append(
        f'<text x="{left}" y="{height - 4}" font-size="11" fill="#1d2330">rouge : la classe de votre valeur · '
        "traits : 1er quartile, médiane (épais), 3e quartile</text></svg>"
    )
    # every piece of text above went through escape(); the rest is numbers and fixed markup
    return Markup("".join(out))  # noqa: S704


def _fresh_or_stored(build: Callable[[bool], T]) -> T:
    """The page with the viewer's indicators brought up to date, or — when SQLite refuses the
    page's read session the write that needs (another connection wrote meanwhile: « database is
    locked ») — with the values as stored, rather than an error page; the next view or the
    nightly job stores them."""
    try:
        return build(True)
    except OperationalError:
        db_session().rollback()
        return build(False)


@bp.get("")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    organisation = _organisation(who.organisation_id)
    view = _fresh_or_stored(
        lambda refresh: build_benchmark(
            db_session(), who.organisation_id, instance_path=_instance(), update_own=refresh
        )
    )
    charts = {item.info.code: histogram_svg(item) for items in view.families.values() for item in items}
    form = ConsentForm()
    form.named.data = organisation.benchmark_named
    return render_template(
        "benchmark/index.html",
        view=view,
        charts=charts,
        families=FAMILIES,
        strata=STRATA,
        stratum_labels=STRATUM_LABELS,
        form=form,
        can_consent=can(who, Action.EDIT, organisation),
        can_import=can(who, Action.ADMINISTER),
    )


@bp.get("/indicateurs/<code>")
def values(code: str) -> ResponseReturnValue:
    """One page of the values of an indicator (anonymous unless consented), when comparable."""
    who = require(Action.VIEW)
    page_number = request.args.get("page", 1, type=int) or 1
    page = _fresh_or_stored(
        lambda refresh: values_page(
            db_session(),
            who.organisation_id,
            code,
            page=page_number,
            instance_path=_instance(),
            update_own=refresh,
        )
    )
    if page is None:
        abort(404)
    return render_template("benchmark/values.html", page=page, stratum_labels=STRATUM_LABELS)


def _reference_form() -> ReferenceForm:
    form = ReferenceForm()
    form.mapping.choices = [
        (RAW_FORMAT, "Format Pilotis (" + ";".join(HEADER) + ")"),
        *((m.name, f"Correspondance enregistrée : {m.name}") for m in mappings(_instance())),
        (NEW_MAPPING, "Nouvelle correspondance de colonnes (ci-dessous)"),
    ]
    return form


def _render_references(
    form: ReferenceForm, problems: list[str] | None = None, status: int = 200
) -> ResponseReturnValue:
    return (
        render_template(
            "benchmark/references.html",
            form=form,
            files=reference_files(_instance()),
            saved=mappings(_instance()),
            problems=problems or [],
            header=";".join(HEADER),
        ),
        status,
    )


@bp.get("/referentiels")
def references() -> ResponseReturnValue:
    """The imported reference files, the saved column mappings and the import form (administrator)."""
    require(Action.ADMINISTER)
    return _render_references(_reference_form())


@bp.post("/referentiels")
def import_file() -> ResponseReturnValue:
    """Import a reference file, in Pilotis's format or through a column mapping (saved when new)."""
    require(Action.ADMINISTER)
    form = _reference_form()
    if not form.validate_on_submit():
        problems = [f"{form[k].label.text} : {' '.join(v)}" for k, v in form.errors.items() if k in form]
        return _render_references(form, problems or ["Formulaire invalide : rien n'a été importé."], 400)
    upload = form.file.data
    content, filename = upload.read(), str(upload.filename or "referentiel.csv")
    try:
        if form.mapping.data == RAW_FORMAT:
            result = import_reference(_instance(), content, filename)
        else:
            if form.mapping.data == NEW_MAPPING:
                mapping = ReferenceMapping(
                    name=(form.name.data or "").strip(),
                    organisation=(form.organisation.data or "").strip(),
                    indicators=parse_mapping_lines(form.indicators.data or ""),
                    stratum=(form.stratum.data or "").strip() or None,
                    population=(form.population.data or "").strip() or None,
                    year=(form.year.data or "").strip() or None,
                    fixed_year=form.fixed_year.data,
                )
                check_mapping(mapping)
            else:
                mapping = next(m for m in mappings(_instance()) if m.name == form.mapping.data)
            result = import_mapped(_instance(), content, filename, mapping)
            if form.mapping.data == NEW_MAPPING:
                save_mapping(_instance(), mapping)
    except BenchmarkError as exc:
        return _render_references(form, [*exc.messages, "Rien n'a été importé."], 400)
    state = "inchangé (même contenu)" if result.unchanged else ("remplacé" if result.replaced else "ajouté")
    flash(
        f"Référentiel {result.path.name} {state} : {result.organisations} organisation(s) anonyme(s), "
        f"{result.values} valeur(s).",
        "success",
    )
    return redirect(url_for("benchmark.references"), 303)


@bp.post("/consentement")
def consent() -> ResponseReturnValue:
    who = require(Action.VIEW)
    organisation = _organisation(who.organisation_id)
    require(Action.EDIT, organisation)
    form = ConsentForm()
    if not form.validate_on_submit():
        flash("Formulaire invalide : rien n'a été changé.", "error")
        return redirect(url_for("benchmark.index"), 303)
    named = bool(form.named.data)
    changed = set_named(db_session(), organisation.id, named)
    # a page's read session stores nothing: the figures the others will now read under this name
    # are stored here, in this write
    ensure_fresh(db_session(), organisation.id)
    if changed:
        flash(
            "Votre organisation sera nommée dans les comparaisons des autres organisations."
            if named
            else "Votre organisation apparaîtra anonyme dans les comparaisons des autres organisations.",
            "success",
        )
    else:
        flash("Aucun changement.", "success")
    return redirect(url_for("benchmark.index"), 303)


@bp.get("/export.xlsx")
def export() -> ResponseReturnValue:
    who = require(Action.EXPORT)
    view = _fresh_or_stored(
        lambda refresh: build_benchmark(
            db_session(), who.organisation_id, instance_path=_instance(), update_own=refresh
        )
    )
    return Response(
        benchmark_workbook(view),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="comparaison-organisations.xlsx"'},
    )
