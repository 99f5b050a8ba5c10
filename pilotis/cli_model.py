"""``pilotis model``: the organisation's model workbook, out and back in (tout ou rien)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup


@click.group("model", cls=AppGroup, help="Modèle de l'organisation : tout le modèle dans un classeur Excel.")
def model() -> None:
    """A group: its sub-commands do the work."""


@model.command("export", help="Écrit le modèle de l'organisation dans un classeur Excel.")
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True), help="Fichier .xlsx."
)
def model_export(slug: str | None, output: str) -> None:
    from models.base import utcnow
    from pilotis import schema
    from pilotis.cli import find_organisation
    from pilotis.database import write_session
    from pilotis.web import engine
    from services.org_model import model_workbook

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        content = model_workbook(session, organisation, now=utcnow())
        name = organisation.name
    Path(output).write_bytes(content)
    click.echo(f"Modèle de l'organisation « {name} » écrit dans {output} ({len(content) / 1024:.0f} Ko).")


@model.command("import", help="Importe un classeur du modèle de l'organisation ; tout ou rien.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
@click.option(
    "--as",
    "email",
    default=None,
    help="Compte au nom duquel importer (ses droits s'appliquent, le journal le nomme) ; sans lui : le système, "
    "avec les droits de la direction.",
)
def model_import(path: str, slug: str | None, email: str | None) -> None:
    from models import Role
    from models.base import utcnow
    from pilotis import schema
    from pilotis.cli import _find_user, find_organisation
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.audit import acting_as
    from services.org_model import import_model
    from services.policy import Action, Principal, can
    from services.workbooks import WorkbookError

    schema.require_current_schema(engine())
    content = Path(path).read_bytes()
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        if email:
            user = _find_user(session, email)
            if not user.is_active:
                raise PilotisError(f"le compte {user.email} est désactivé.")
            if user.organisation_id != organisation.id:
                raise PilotisError(f"le compte {user.email} n'appartient pas à « {organisation.slug} ».")
            principal = Principal.of(user)
            if not can(principal, Action.IMPORT):
                raise PilotisError(f"le compte {user.email} n'a pas le droit d'importer.")
        else:
            principal = Principal(
                user_id=0, organisation_id=organisation.id, role=Role.DIRECTION, service_ids=frozenset()
            )
        with acting_as(principal.user_id or None):
            try:
                report = import_model(session, principal, content, now=utcnow())
            except WorkbookError as exc:
                raise PilotisError(f"fichier refusé : {exc}.") from exc
            if report.errors:
                for error in report.errors:
                    click.echo(f"  {error}", err=True)
                raise PilotisError(f"{len(report.errors)} erreur(s) : rien n'a été importé.")
        if not report.changed:
            click.echo("Aucun changement : le classeur correspond déjà au modèle de l'organisation.")
            return
        click.echo(f"Modèle de l'organisation « {organisation.name} » mis à jour :")
        for line in report.summary():
            click.echo(f"  {line}")
        if report.resized_needs:
            click.echo(f"  {report.resized_needs} besoin(s) redimensionné(s) à partir des statistiques.")
