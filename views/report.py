"""The ABS report (diagnostic and thematic analyses): page, PDF, Excel annex, analysis texts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import HiddenField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from models import PopulationGroup, ReportText
from models.base import utcnow
from pilotis.auth import principal, require
from pilotis.web import db_session
from services.abs_calendar import AbsCalendar, abs_calendar
from services.abs_exports import annex_workbook, render_pdf
from services.abs_report import (
    ANNEX_TITLE,
    KINDS,
    MAX_TEXT,
    TEXT_LABELS,
    AbsReport,
    ReportError,
    build_report,
    may_write_texts,
    save_text,
)
from services.abs_word import WIDE_TABLE_COLUMNS
from services.editing import StaleEdit
from services.numbers import format_number
from services.policy import Action, can
from views.charts import coverage_bars_svg

bp = Blueprint("report", __name__, url_prefix="/abs")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class TextForm(FlaskForm):
    """The analysis text of one section (the page renders its inputs by hand: one form per section)."""

    annee = IntegerField(validators=[InputRequired(), NumberRange(2000, 2200)])
    theme = HiddenField(validators=[Optional(), Length(max=64)])
    section = HiddenField(validators=[InputRequired(), Length(max=64)])
    version = IntegerField(validators=[InputRequired(), NumberRange(0)])
    text = TextAreaField(validators=[Length(max=MAX_TEXT, message=f"{MAX_TEXT} caractères au plus.")])


# -- charts ------------------------------------------------------------------------------------
def bars_svg(
    rows: Sequence[tuple[str, float | None]],
    *,
    title: str,
    chart_id: str,
    suffix: str = " %",
    width: int = 720,
) -> Markup:
    """Horizontal bars of values (a missing value is written, not drawn); prints as vector."""
    drawn = [(label, value) for label, value in rows if value is not None]
    if not drawn:
        return Markup('<p class="meta">Aucune valeur à tracer.</p>')
    label_w, right, bar_h, gap, top = 250.0, 70.0, 14.0, 6.0, 6.0
    height = top + len(rows) * (bar_h + gap) + 6
    top_value = max(value for _, value in drawn) or 1.0
    plot_w = width - label_w - right
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height:.0f}" role="img" aria-labelledby="{chart_id}-title" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{chart_id}-title">{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar_h + gap)
        short = label if len(label) <= 40 else label[:39] + "…"
        out.append(
            f'<text x="{label_w - 6:.0f}" y="{y + bar_h - 3:.1f}" font-size="11" text-anchor="end" '
            f'fill="#1d2330">{escape(short)}</text>'
        )
        if value is None:
            out.append(
                f'<text x="{label_w + 4:.0f}" y="{y + bar_h - 3:.1f}" font-size="11" fill="#4a5468">'
                "non publié</text>"
            )
            continue
        w = max(0.0, value) / top_value * plot_w
        shown = format_number(value, 1) + suffix
        out.append(
            f'<rect x="{label_w:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h:.1f}" fill="#1f4e8c"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 3:.1f}" font-size="11" fill="#1d2330">'
            f"{escape(shown)}</text>"
        )
    out.append("</svg>")
    # every piece of text above went through escape(); the rest is numbers and fixed markup
    return Markup("".join(out))  # noqa: S704


def charts(report: AbsReport) -> dict[str, Markup]:
    portrait = report.portrait
    out: dict[str, Markup] = {}
    if portrait.age_shares:
        out["ages"] = bars_svg(
            portrait.age_shares,
            title=f"Structure par âge de la population de {portrait.territory} (part de la population, %)",
            chart_id="graphique-ages",
        )
    if portrait.iris is not None:
        column = [c[0] for c in portrait.iris.columns].index("filo_taux_pauvrete_60")
        rows = [
            (row.name, row.cells[column].value if row.cells[column].status == "ok" else None)
            for row in portrait.iris.rows
        ]
        if any(value is not None for _, value in rows):
            out["poverty"] = bars_svg(
                rows,
                title="Taux de pauvreté au seuil de 60 % par IRIS (INSEE Filosofi)",
                chart_id="graphique-pauvrete",
            )
    coverage = [(g.group, [g.rate]) for g in report.coherence.group_coverage if g.rate is not None]
    if coverage:
        out["coverage"] = coverage_bars_svg(
            coverage, ["Taux de couverture"], title="Taux de couverture des besoins par public"
        )
    return out


# -- request helpers ------------------------------------------------------------------------------
def _key() -> tuple[int, str, str | None]:
    raw_year = request.args.get("annee") or request.form.get("annee")
    try:
        year = int(raw_year) if raw_year else utcnow().year
    except ValueError:
        abort(400)
    if not 2000 <= year <= 2200:
        abort(400)
    theme = (request.args.get("theme") or request.form.get("theme") or "").strip() or None
    return year, ("theme" if theme else "full"), theme


def _build(organisation_id: int, year: int, kind: str, theme: str | None) -> AbsReport:
    try:
        report = build_report(db_session(), organisation_id, year=year, kind=kind, theme=theme)
    except ReportError:
        abort(404)
    if not can(principal(), Action.VIEW, ReportText(organisation_id=organisation_id)):
        report.texts = {}  # the analysis is a draft until published: not the partners' (policy)
    return report


def _calendar() -> AbsCalendar:
    return abs_calendar(utcnow().date())


def _filename(report: AbsReport, extension: str) -> str:
    if report.kind == "theme":
        return f"analyse-thematique-{report.year}-{report.theme}.{extension}"
    return f"abs-{report.year}-diagnostic.{extension}"


def _groups(organisation_id: int) -> list[tuple[str, str]]:
    rows = db_session().execute(
        select(PopulationGroup.code, PopulationGroup.name)
        .where(PopulationGroup.organisation_id == organisation_id)
        .order_by(PopulationGroup.name)
    )
    return [(code, name) for code, name in rows]


def render_page(
    report: AbsReport, *, editable: bool, drafts: dict[str, tuple[str, int]] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "report/page.html", report=report, calendar=_calendar(), charts=charts(report), editable=editable,
        drafts=drafts or {}, publics=_groups(report.organisation_id), kinds=KINDS, annex_title=ANNEX_TITLE,
    ), status  # fmt: skip


def render_document(report: AbsReport, *, calendar: AbsCalendar, inline_css: str | None = None) -> str:
    """The report as one standalone HTML document (the PDF's source, and the CLI's html format)."""
    return render_template(
        "report/document.html", report=report, calendar=calendar, charts=charts(report), editable=False,
        drafts={}, annex_title=ANNEX_TITLE, inline_css=Markup(inline_css) if inline_css else None,  # noqa: S704
        wide_columns=WIDE_TABLE_COLUMNS,
    )  # fmt: skip


def stylesheet() -> Path:
    return Path(current_app.static_folder or "static") / "css" / "report.css"


def pdf_bytes(report: AbsReport, *, calendar: AbsCalendar) -> bytes:
    return render_pdf(
        render_document(report, calendar=calendar),
        base_url=str(Path(current_app.static_folder or "static")),
        stylesheets=[stylesheet()],
    )


# -- routes -----------------------------------------------------------------------------------
@bp.get("")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    year, kind, theme = _key()
    report = _build(who.organisation_id, year, kind, theme)
    return render_page(report, editable=may_write_texts(who, who.organisation_id))


@bp.post("/texte")
def save() -> ResponseReturnValue:
    who = require(Action.VIEW)
    if not may_write_texts(who, who.organisation_id):
        abort(403)
    form = TextForm()
    year, kind, theme = _key()
    if not form.validate_on_submit():
        report = _build(who.organisation_id, year, kind, theme)
        for errors in form.errors.values():
            for error in errors:
                flash(f"Analyse non enregistrée : {error}", "error")
        section = form.section.data or ""
        return render_page(report, editable=True, drafts={section: (form.text.data or "", form.version.data or 0)},
                           status=400)  # fmt: skip
    section = form.section.data or ""
    text = form.text.data or ""
    try:
        _, changed = save_text(
            db_session(),
            who,
            who.organisation_id,
            year,
            kind,
            theme,
            section,
            text,
            int(form.version.data or 0),
        )
    except StaleEdit as stale:
        flash(stale.message(TEXT_LABELS), "error")
        report = _build(who.organisation_id, year, kind, theme)
        return render_page(report, editable=True, drafts={section: (text, stale.current_version)}, status=409)
    except ReportError as exc:
        flash(str(exc), "error")
        report = _build(who.organisation_id, year, kind, theme)
        return render_page(
            report, editable=True, drafts={section: (text, int(form.version.data or 0))}, status=400
        )
    flash("Analyse enregistrée." if changed else "Aucune modification.", "success")
    target = (
        url_for("report.index", annee=year, theme=theme) if theme else url_for("report.index", annee=year)
    )
    return redirect(f"{target}#section-{section}", 303)


@bp.route("/rapport.pdf", methods=["GET", "POST"])
def pdf() -> ResponseReturnValue:
    """The PDF is laid out by a worker (about 3 s of CPU, never in a request): the page asks for
    it (POST) and follows its progress on the task's page, where it is downloaded when ready."""
    return _document("abs-pdf", "Rapport de l'ABS (PDF)")


@bp.get("/annexe.xlsx")
def annex() -> ResponseReturnValue:
    who = require(Action.EXPORT)
    year, kind, theme = _key()
    report = _build(who.organisation_id, year, kind, theme)
    return Response(annex_workbook(report), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{_filename(report, "xlsx")}"'})  # fmt: skip


@bp.route("/rapport.docx", methods=["GET", "POST"])
def word() -> ResponseReturnValue:
    """The report as a Word document, to finish in a word processor (same policy as the PDF),
    written by a worker as the PDF is."""
    return _document("abs-docx", "Rapport de l'ABS à compléter (Word)")


def _document(kind_of_task: str, label: str) -> ResponseReturnValue:
    """GET: the person's latest file of this report and a button to prepare it; POST: queue it."""
    from models import Task
    from pilotis.web import after_commit, engine
    from pilotis.worker import dispatch, new_task
    from views.forms import ConfirmForm

    who = require(Action.EXPORT)
    year, kind, theme = _key()
    if theme is not None and theme not in {code for code, _ in _groups(who.organisation_id)}:
        abort(404)
    key = f"{kind_of_task}:{year}:{kind}:{theme or ''}"
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        args = {
            "year": year,
            "kind": kind,
            "theme": theme,
            "today": utcnow().date().isoformat(),
            "with_texts": can(who, Action.VIEW, ReportText(organisation_id=who.organisation_id)),
        }
        task = new_task(
            db_session(),
            kind_of_task,
            organisation_id=who.organisation_id,
            user_id=who.user_id,
            args=args,
            key=key,
        )
        target, task_id = engine(), task.id
        after_commit(lambda: dispatch(target, [task_id]))
        return redirect(url_for("tasks.show", task_id=task.id), 303)
    latest = db_session().scalar(
        select(Task).where(Task.key == key, Task.user_id == who.user_id).order_by(Task.id.desc()).limit(1)
    )
    return render_template(
        "report/document_task.html",
        label=label,
        task=latest,
        year=year,
        theme=theme,
        endpoint=request.endpoint,
        form=form,
    )
