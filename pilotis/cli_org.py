"""``pilotis org``: organisations of a server, created for any French territory."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

KINDS = ["ccas", "cias", "commune", "epci", "departement"]


@click.group(
    "org",
    cls=AppGroup,
    help="Organisations du serveur : création pour tout territoire français, liste, catalogue de départ.",
)
def org() -> None:
    """A group: its sub-commands do the work."""


@org.command("create", help="Crée une organisation, ses territoires, ses statistiques et son administrateur.")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    required=True,
    help="ccas ou commune : une commune ; cias ou epci : les communes d'un EPCI ; departement : ses communes.",
)
@click.option(
    "--code",
    required=True,
    help="Code INSEE de la commune (35238, 2A004, 97411), SIREN de l'EPCI (9 chiffres) ou code du département.",
)
@click.option("--name", default=None, help="Nom de l'organisation (par défaut : « CCAS de <commune> »…).")
@click.option(
    "--admin", "admin_email", default=None, help="Adresse du premier administrateur de l'organisation."
)
@click.option("--admin-name", default=None, help="Nom complet de cet administrateur.")
def org_create(
    kind: str, code: str, name: str | None, admin_email: str | None, admin_name: str | None
) -> None:
    from models.base import utcnow
    from models.enums import LABELS_FR
    from pilotis import schema
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.organisations import OrganisationError, create_organisation

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        try:
            created = create_organisation(
                session, kind, code, name=name, admin_email=admin_email, admin_name=admin_name, now=utcnow()
            )
        except OrganisationError as exc:
            raise PilotisError(f"{exc} Rien n'a été créé.") from exc
        organisation = created.organisation
        click.echo(
            f"Organisation créée : {organisation.name} ({LABELS_FR[organisation.kind]}, code {organisation.insee_code})."
        )
        click.echo(f"Identifiant (--organisation) : {organisation.slug}")
        click.echo(f"Territoires : {created.territories_text()}.")
        loaded = ", ".join(f"{n} {source}" for source, n in sorted(created.statistics.items())) or "aucune"
        click.echo(f"Statistiques chargées : {loaded} (dont {created.secret} secrètes).")
        if created.admin is not None:
            click.echo(f"Administrateur : {created.admin.email}")
            click.echo(f"Mot de passe temporaire (à changer à la première connexion) : {created.password}")
        else:
            click.echo(
                'Aucun administrateur créé : pilotis users create ADRESSE --name "NOM" --role admin '
                f"--organisation {organisation.slug}"
            )
    click.echo("Ensuite : pilotis serve, puis connectez-vous avec ce compte.")


@org.command("list", help="Liste les organisations du serveur : identifiant, type, code.")
def org_list() -> None:
    from models.enums import LABELS_FR
    from pilotis import schema
    from pilotis.database import write_session
    from pilotis.web import engine
    from services.organisations import list_organisations

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisations = list_organisations(session)
        if not organisations:
            click.echo("Aucune organisation : pilotis org create --kind ccas --code CODE_INSEE …")
        for organisation in organisations:
            click.echo(
                f"{organisation.slug:<40} {LABELS_FR[organisation.kind]:<17} {organisation.insee_code or '—':<10} "
                f"{organisation.name}"
            )


@org.command(
    "catalogue",
    help="Part du catalogue standard : crée dans l'organisation les activités, besoins et indicateurs choisis "
    "(et les services qu'il leur faut). Ce qui existe déjà (même code) est laissé tel quel.",
)
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (voir pilotis org list)."
)
@click.option(
    "--activities", default="", help="Codes d'activités séparés par des virgules (A_PORTAGE,A_SAAD)."
)
@click.option("--needs", default="", help="Codes de besoins séparés par des virgules (PA80,RSA_IRIS).")
@click.option("--indicators", default="", help="Codes d'indicateurs séparés par des virgules (repas_livres).")
@click.option("--all", "everything", is_flag=True, help="Tout le catalogue.")
@click.option(
    "--list", "listing", is_flag=True, help="Affiche le catalogue (codes, unités, formules) sans rien créer."
)
@click.option(
    "--as",
    "email",
    default=None,
    help="Compte au nom duquel appliquer (ses droits s'appliquent, le journal le nomme) ; sans lui : le système, "
    "avec les droits de la direction.",
)
def org_catalogue(
    slug: str | None,
    activities: str,
    needs: str,
    indicators: str,
    everything: bool,
    listing: bool,
    email: str | None,
) -> None:
    from services.catalogue import CatalogueError, standard_catalogue

    try:
        cat = standard_catalogue()
    except CatalogueError as exc:
        from pilotis.errors import PilotisError

        raise PilotisError(str(exc)) from exc
    if listing:
        _print_catalogue(cat)
        return
    _apply(slug, activities, needs, indicators, everything, email)


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _apply(
    slug: str | None, activities: str, needs: str, indicators: str, everything: bool, email: str | None
) -> None:
    from models import Role
    from pilotis import schema
    from pilotis.cli import _find_user, find_organisation
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.audit import acting_as
    from services.catalogue import CatalogueError, apply_catalogue, standard_catalogue
    from services.policy import Principal

    cat = standard_catalogue()
    chosen = (
        (list(cat.activities), list(cat.needs), list(cat.indicators))
        if everything
        else (_codes(activities), _codes(needs), _codes(indicators))
    )
    if not any(chosen):
        raise PilotisError(
            "indiquez --activities, --needs, --indicators ou --all (la liste : pilotis org catalogue --list)."
        )
    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        if email:
            user = _find_user(session, email)
            if not user.is_active:
                raise PilotisError(f"le compte {user.email} est désactivé.")
            principal = Principal.of(user)
            actor: int | None = user.id
        else:
            principal = Principal(
                user_id=0, organisation_id=organisation.id, role=Role.DIRECTION, service_ids=frozenset()
            )
            actor = None
        with acting_as(actor):
            try:
                report = apply_catalogue(session, principal, organisation, *chosen)
            except CatalogueError as exc:
                raise PilotisError(f"{exc} Rien n'a été créé.") from exc
        click.echo(f"Catalogue appliqué à « {organisation.name} » ({organisation.slug}) :")
        for line in report.lines():
            click.echo(f"- {line}")


def _print_catalogue(cat: Any) -> None:
    from services.catalogue import coefficient_text
    from services.org_model.sheets import DIRECTIONS, FREQUENCIES, PERSPECTIVES

    counts = cat.counts()
    click.echo(
        f"Catalogue standard : {counts['activities']} activités, {counts['needs']} besoins, "
        f"{counts['indicators']} indicateurs, {counts['services']} services et partenaires, "
        f"{counts['publics']} publics."
    )
    click.echo("\nActivités (--activities) :")
    for a in cat.activities.values():
        publics = ", ".join(
            f"{p.name} ({c.need}, {coefficient_text(c.coefficient)})" for p, c in cat.publics_of(a)
        )
        mandatory = ", obligatoire" if a.mandatory else ""
        click.echo(f"  {a.code:<24} {a.name} — {a.output_unit}, M57 {a.m57_function or '—'}{mandatory}")
        click.echo(f"  {'':<24} service {a.service} ; couvre : {publics}")
        click.echo(f"  {'':<24} indicateurs : {', '.join(i.code for i in cat.indicators_of(a.code))}")
    click.echo("\nBesoins (--needs) :")
    for n in cat.needs.values():
        sizing = f"formule {n.formula}" if n.formula else "à chiffrer à la main"
        per = ", un par IRIS" if n.per == "iris" else ""
        click.echo(f"  {n.code:<24} {n.label} — {cat.publics[n.public].name}, {n.unit}, {sizing}{per}")
    click.echo("\nIndicateurs (--indicators) :")
    for i in cat.indicators.values():
        formula = f", = {i.formula}" if i.formula else ""
        click.echo(
            f"  {i.code:<36} {i.label} — {i.unit}, {DIRECTIONS[i.direction].lower()}, "
            f"{FREQUENCIES[i.frequency].lower()}, {PERSPECTIVES[i.perspective].lower()}{formula}"
        )


@org.command("search", help="Cherche une commune, un EPCI ou un département par son nom ou son code.")
@click.argument("query")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Seulement les territoires de ce type.")
def org_search(query: str, kind: str | None) -> None:
    from services.organisations import LEVEL_OF, parse_kind
    from services.reference_data import search_places

    levels = ("commune", "epci", "departement") if kind is None else (LEVEL_OF[parse_kind(kind)],)
    places = search_places(query, kinds=levels)
    if not places:
        click.echo(f"Aucun territoire ne correspond à « {query} ».")
    for place in places:
        click.echo(
            f"{place.code:<10} {place.kind:<12} {place.name}" + (f" ({place.detail})" if place.detail else "")
        )


def create_superadmin(email: str, full_name: str, role: str | None, slug: str | None) -> None:
    """``pilotis users create EMAIL --name NOM --superadmin [--organisation SLUG --role ROLE]``."""
    from sqlalchemy import select

    from models import Organisation, Role
    from models.base import utcnow
    from pilotis import schema
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.accounts import AccountError
    from services.organisations import create_server_admin

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = None
        if slug:
            organisation = session.scalar(select(Organisation).where(Organisation.slug == slug))
            if organisation is None:
                raise PilotisError(f"organisation « {slug} » inconnue (voir « pilotis org list »).")
        try:
            user, password = create_server_admin(
                session,
                email=email,
                full_name=full_name,
                organisation=organisation,
                role=Role(role or "admin"),
                now=utcnow(),
            )
        except AccountError as exc:
            raise PilotisError(str(exc)) from exc
        scope = f"et compte de « {organisation.slug} »" if organisation else "sans organisation"
        click.echo(f"Administrateur du serveur créé : {user.email} ({scope}).")
        click.echo(f"Mot de passe temporaire (à changer à la première connexion) : {password}")
        click.echo("Il crée les organisations depuis la page « Créer une organisation » (/installation).")
