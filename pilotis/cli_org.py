"""``pilotis org``: organisations of a server, created for any French territory."""

from __future__ import annotations

import click
from flask.cli import AppGroup

KINDS = ["ccas", "cias", "commune", "epci", "departement"]


@click.group(
    "org", cls=AppGroup, help="Organisations du serveur : création pour tout territoire français, liste."
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
