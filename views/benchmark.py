"""Benchmarking between organisations on standard indicators: the page, the consent to be named
and the Excel export."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from wtforms import BooleanField

from models import Organisation
from pilotis.auth import require
from pilotis.web import db_session
from scorecard.benchmark import STRATA, STRATUM_LABELS
from services.benchmark import (
    FAMILIES,
    IndicatorComparison,
    benchmark_workbook,
    build_benchmark,
    set_named,
)
from services.numbers import format_number
from services.policy import Action, can
from views.forms import ConfirmForm

bp = Blueprint("benchmark", __name__, url_prefix="/comparaison")


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


def distribution_svg(item: IndicatorComparison, *, width: int = 760) -> Markup:
    """A strip plot of the values on one axis, the box of the quartiles and the median, the
    organisation's own value marked; peers of the same size stratum drawn apart. Only for a
    comparable indicator (the caller never draws others' values otherwise)."""
    comparison = item.comparison
    if not comparison.comparable or comparison.quartiles is None:
        return Markup("")
    rows = comparison.rows
    values = [float(v) for v in rows["value"]]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    left, right, height = 20.0, 20.0, 130.0
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + plot_w * (v - low) / (high - low)

    title = f"Distribution — {item.info.label} ({item.info.unit})"
    key = item.info.code
    q1, median, q3 = comparison.quartiles
    out = [
        f'<svg class="chart benchmark" viewBox="0 0 {width} {height:.0f}" role="img" '
        f'aria-labelledby="svg-{escape(key)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="svg-{escape(key)}">{escape(title)}</title>',
        f'<line x1="{left}" x2="{width - right}" y1="96" y2="96" stroke="#8a93a6"/>',
        f'<rect x="{x(q1):.1f}" y="22" width="{max(1.0, x(q3) - x(q1)):.1f}" height="56" fill="#e3ebf6" '
        'stroke="#1f4e8c"/>',
        f'<line x1="{x(median):.1f}" x2="{x(median):.1f}" y1="22" y2="78" stroke="#1f4e8c" stroke-width="3"/>',
    ]
    for tick in (low + pad, q1, median, q3, high - pad):
        out.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="92" y2="100" stroke="#8a93a6"/>'
            f'<text x="{x(tick):.1f}" y="114" font-size="11" text-anchor="middle" fill="#4a5468">'
            f"{escape(_short(tick))}</text>"
        )
    for _, row in rows.iterrows():
        value = float(row["value"])
        own = bool(row["own"])
        peer = bool(row["same_stratum"])
        cy = 50 if own else (38 if peer else 64)
        colour = "#c62828" if own else ("#2e7d32" if peer else "#6b7385")
        radius = 7 if own else 4.5
        out.append(
            f'<circle cx="{x(value):.1f}" cy="{cy}" r="{radius}" fill="{colour}" fill-opacity="0.85">'
            f"<title>{escape(str(row['label']))} : {escape(_short(value))} {escape(item.info.unit)}</title>"
            "</circle>"
        )
    out.append(
        f'<text x="{left}" y="{height - 2}" font-size="11" fill="#1d2330">● rouge : vous · vert : même strate · '
        "gris : autres · boîte : 1er et 3e quartiles, trait : médiane</text>"
    )
    out.append("</svg>")
    # every piece of text above went through escape(); the rest is numbers and fixed markup
    return Markup("".join(out))  # noqa: S704


@bp.get("")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    organisation = _organisation(who.organisation_id)
    view = build_benchmark(db_session(), who.organisation_id, instance_path=_instance())
    charts = {item.info.code: distribution_svg(item) for items in view.families.values() for item in items}
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
    )


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
    view = build_benchmark(db_session(), who.organisation_id, instance_path=_instance())
    return Response(
        benchmark_workbook(view),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="comparaison-organisations.xlsx"'},
    )
