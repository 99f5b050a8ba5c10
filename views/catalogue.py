"""The starter catalogue page (/catalogue): the administrator or the direction ticks the standard
activities, needs and indicators that apply, and gets objects to adjust instead of typing them.

The set-up wizard (views/setup.py) shows the same choices to a server administrator for an
organisation just created; both post to :func:`services.catalogue.apply_catalogue`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session

from models import Organisation
from pilotis.auth import require
from pilotis.web import db_session
from services.catalogue import (
    AppliedCatalogue,
    Catalogue,
    CatalogueError,
    Holding,
    apply_catalogue,
    coefficient_text,
    holding,
    standard_catalogue,
)
from services.org_model.sheets import DIRECTIONS, FREQUENCIES, INDICATOR_TYPES, PERSPECTIVES
from services.policy import Action, Principal
from views.lookup import get_or_404

bp = Blueprint("catalogue", __name__)


class CatalogueForm(FlaskForm):
    """Only the CSRF token: the ticks are read from the request's lists."""


@dataclass(frozen=True)
class Choice:
    """What one tick offers, with what the organisation already has."""

    code: str
    label: str
    held: bool
    details: list[str]
    note: str | None = None
    #: the activity's standard indicators
    extra: list[str] = field(default_factory=list)


def choices(cat: Catalogue, held: Holding) -> dict[str, Any]:
    """The catalogue as the page shows it: activities by service, needs, indicators by perspective."""
    activities: dict[str, list[Choice]] = {}
    for a in cat.activities.values():
        covers = "; ".join(
            f"{cat.needs[c.need].label.replace(' — {territoire}', ' (par IRIS)')}, "
            f"{coefficient_text(c.coefficient)} par {a.output_unit}"
            for c in a.covers
        )
        details = [f"Unité : {a.output_unit}", f"M57 {a.m57_function or '—'}", f"Couvre : {covers}"]
        label = a.name + (" (mission obligatoire)" if a.mandatory else "")
        service = cat.services[a.service]
        activities.setdefault(service.name, []).append(
            Choice(
                a.code,
                label,
                a.code in held.activities,
                details,
                a.description,
                [i.label for i in cat.indicators_of(a.code)],
            )
        )
    needs = []
    for n in cat.needs.values():
        if n.formula is None:
            sizing = "à chiffrer à la main"
        elif n.variables <= held.variables:
            sizing = f"chiffré par la formule {n.formula} (statistique détenue)"
        else:
            missing = ", ".join(sorted(n.variables - held.variables))
            sizing = f"formule {n.formula} : statistique {missing} à importer, créé sans effectif"
        per = " — un besoin par IRIS" if n.per == "iris" else ""
        details = [f"Public : {cat.publics[n.public].name}", f"Effectif en {n.unit}, {sizing}{per}"]
        needs.append(
            Choice(
                n.code,
                n.label.replace(" — {territoire}", " (par IRIS)"),
                n.code in held.needs,
                details,
                n.note or n.description,
            )
        )
    indicators: dict[str, list[Choice]] = {}
    for i in cat.indicators.values():
        details = [
            f"{INDICATOR_TYPES[i.type]}, {i.unit}, {DIRECTIONS[i.direction].lower()}, {FREQUENCIES[i.frequency].lower()}"
        ]
        if i.formula:
            details.append(f"Calculé : {i.formula}")
        if i.activity:
            details.append(f"Mesure : {cat.activities[i.activity].name}")
        indicators.setdefault(PERSPECTIVES[i.perspective], []).append(
            Choice(i.code, i.label, i.code in held.indicators, details)
        )
    return {"activities": activities, "needs": needs, "indicators": indicators}


def ticked(cat: Catalogue) -> tuple[list[str], list[str], list[str]]:
    """The posted ticks; with « indicateurs des activités », each ticked activity's indicators."""
    activities = request.form.getlist("activite")
    needs = request.form.getlist("besoin")
    indicators = request.form.getlist("indicateur")
    if request.form.get("avec_indicateurs"):
        indicators += [
            i.code for code in activities if code in cat.activities for i in cat.indicators_of(code)
        ]
    return activities, needs, list(dict.fromkeys(indicators))


def apply_ticked(session: Session, who: Principal, organisation: Organisation) -> AppliedCatalogue:
    cat = standard_catalogue()
    return apply_catalogue(session, who, organisation, *ticked(cat))


@bp.route("/catalogue", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    org_id = require(Action.VIEW).organisation_id
    organisation = get_or_404(Organisation, org_id)
    who = require(Action.APPLY_CATALOGUE, organisation)
    form = CatalogueForm()
    cat = standard_catalogue()
    problem = None
    if request.method == "POST":
        if not form.validate_on_submit():
            problem = "Le formulaire a expiré : rechargez la page et cochez à nouveau."
        else:
            try:
                report = apply_ticked(db_session(), who, organisation)
            except CatalogueError as exc:
                problem = str(exc)
            else:
                for line in report.lines():
                    flash(line, "success")
                return redirect(url_for("catalogue.index"), 303)
    held = holding(db_session(), organisation, cat)
    return render_template(
        "catalogue/index.html",
        form=form,
        organisation=organisation,
        choices=choices(cat, held),
        counts=cat.counts(),
        problem=problem,
        posted=posted_ticks() if problem else None,
        action=url_for("catalogue.index"),
    ), 400 if problem else 200


def posted_ticks() -> dict[str, set[str]]:
    """What was ticked, to tick it again on a refused page."""
    return {
        "activite": set(request.form.getlist("activite")),
        "besoin": set(request.form.getlist("besoin")),
        "indicateur": set(request.form.getlist("indicateur")),
        "avec_indicateurs": {"1"} if request.form.get("avec_indicateurs") else set(),
    }
