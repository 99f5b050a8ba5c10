"""The server administrator's set-up wizard: create an organisation for any French territory.

Four steps: choose the kind and find the territory by name or code; check the name and give
the first administrator's address; see the result (the administrator's temporary password is
shown once, on that page only); tick what applies in the starter catalogue (activities, needs,
indicators), or skip it. Only a server administrator (``is_superadmin``) gets here; one who
belongs to no organisation is brought here from every other page, since they see no
organisation's rows. The catalogue step applies to an organisation not started yet: once it has
a value chain, its own administrator and direction complete it from /catalogue.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from models import Organisation, OrganisationKind
from models.base import utcnow
from models.enums import LABELS_FR
from pilotis.auth import principal, require
from pilotis.web import db_session
from services import organisations as orgs
from services.catalogue import CatalogueError, holding, is_started, standard_catalogue
from services.policy import NO_ORGANISATION, Action
from services.reference_data import search_places
from views.catalogue import CatalogueForm, apply_ticked, choices, posted_ticks
from views.lookup import get_or_404

bp = Blueprint("setup", __name__, url_prefix="/installation")

#: What a server administrator of no organisation may still reach besides the wizard.
WITHOUT_ORGANISATION = frozenset(
    {"static", "auth.login", "auth.logout", "auth.change_password", "home.health", "home.set_language"}
)
KIND_HELP = {
    OrganisationKind.CCAS: "une commune : ses IRIS, son EPCI, son département, sa région",
    OrganisationKind.COMMUNE: "une commune, comme un CCAS",
    OrganisationKind.CIAS: "les communes membres d'un EPCI",
    OrganisationKind.EPCI: "les communes membres de l'EPCI",
    OrganisationKind.DEPARTEMENT: "toutes les communes du département et leurs EPCI",
}


class OrganisationForm(FlaskForm):
    kind = HiddenField(validators=[DataRequired("Choisissez le type d'organisation.")])
    code = HiddenField(validators=[DataRequired("Choisissez le territoire.")])
    name = StringField(
        "Nom de l'organisation",
        validators=[DataRequired("Indiquez le nom de l'organisation."), Length(max=200)],
    )
    admin_email = EmailField(
        "Adresse du premier administrateur de l'organisation",
        validators=[Optional(), Email("Adresse électronique invalide."), Length(max=254)],
    )
    admin_name = StringField("Nom complet de cet administrateur", validators=[Optional(), Length(max=200)])


@bp.before_app_request
def _bring_to_setup() -> ResponseReturnValue | None:
    """A server administrator of no organisation has only the wizard to see."""
    who = principal()
    if who is None or who.organisation_id != NO_ORGANISATION:
        return None
    if request.endpoint is None or request.endpoint in WITHOUT_ORGANISATION or request.blueprint == "setup":
        return None
    return redirect(url_for("setup.index"))


def _kind(value: str | None) -> OrganisationKind | None:
    try:
        return OrganisationKind(value or "")
    except ValueError:
        return None


@bp.get("/")
def index() -> ResponseReturnValue:
    """Step 1: the server's organisations, the kind to create and the territory search."""
    require(Action.CREATE_ORGANISATION)
    kind = _kind(request.args.get("type"))
    query = (request.args.get("q") or "").strip()[:100]
    places = []
    error = None
    if request.args.get("type") is not None and kind is None:
        error = "Choisissez le type d'organisation."
    elif kind is not None and query:
        places = search_places(query, kinds=(orgs.LEVEL_OF[kind],))
        if not places:
            error = f"Aucun territoire ne correspond à « {query} » pour ce type d'organisation : essayez son nom ou son code."
    elif kind is not None and "q" in request.args:
        error = "Indiquez le nom ou le code du territoire."
    existing = orgs.list_organisations(db_session())
    status = 400 if error and request.args.get("type") is not None and kind is None else 200
    return render_template(
        "setup/index.html",
        kinds=[(k, LABELS_FR[k], KIND_HELP[k]) for k in OrganisationKind],
        kind=kind,
        query=query,
        places=places,
        error=error,
        organisations=existing,
    ), status


@bp.route("/nouvelle", methods=["GET", "POST"])
def create() -> ResponseReturnValue:
    """Step 2 (check and give the administrator) and step 3 (the result)."""
    require(Action.CREATE_ORGANISATION)
    form = OrganisationForm()
    if request.method == "GET":
        form.kind.data = request.args.get("type", "")
        form.code.data = request.args.get("code", "")
    scope = None
    problem = None
    try:
        scope = orgs.perimeter(form.kind.data or "", form.code.data or "")
    except orgs.OrganisationError as exc:
        problem = str(exc)
    if scope is not None and request.method == "GET":
        form.name.data = orgs.default_name(scope.kind, scope.name)
    if scope is not None and problem is None:
        twin = orgs.existing(db_session(), scope.kind, scope.code)
        if twin is not None:
            problem = (
                f"une organisation {LABELS_FR[scope.kind]} existe déjà pour {scope.name} ({scope.code}) : "
                f"« {twin.name} », identifiant {twin.slug}."
            )
    if request.method == "POST" and problem is None and form.validate_on_submit():
        try:
            created = orgs.create_organisation(
                db_session(),
                form.kind.data or "",
                form.code.data or "",
                name=form.name.data,
                admin_email=form.admin_email.data or None,
                admin_name=form.admin_name.data or None,
                now=utcnow(),
            )
        except orgs.OrganisationError as exc:
            problem = str(exc)
        else:
            return render_template("setup/created.html", created=created), 201
    status = 400 if request.method == "POST" or problem else 200
    return render_template("setup/confirm.html", form=form, scope=scope, problem=problem), status


@bp.route("/<int:organisation_id>/catalogue", methods=["GET", "POST"])
def catalogue(organisation_id: int) -> ResponseReturnValue:
    """Step 4: the starter catalogue for the organisation just created (or skip it)."""
    require(Action.CREATE_ORGANISATION)
    organisation = get_or_404(Organisation, organisation_id)
    who = require(Action.APPLY_CATALOGUE, organisation)
    form = CatalogueForm()
    cat = standard_catalogue()
    session = db_session()
    problem = None
    report = None
    started = is_started(session, organisation.id)
    if request.method == "POST" and not started:
        if not form.validate_on_submit():
            problem = "Le formulaire a expiré : rechargez la page et cochez à nouveau."
        else:
            try:
                report = apply_ticked(session, who, organisation)
            except CatalogueError as exc:
                problem = str(exc)
    elif request.method == "POST":
        problem = "déjà lancée"
    held = holding(session, organisation, cat)
    status = 400 if problem else 200
    return render_template(
        "setup/catalogue.html",
        form=form,
        organisation=organisation,
        choices=choices(cat, held),
        counts=cat.counts(),
        problem=problem if not started else None,
        started=started and report is None,
        report=report,
        posted=None if not problem else posted_ticks(),
        action=url_for("setup.catalogue", organisation_id=organisation.id),
    ), status
