"""Command-line commands of surveys and consultations: list, import paper answers, export, close."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup


@click.group("survey", cls=AppGroup, help="Enquêtes et consultations des habitants.")
def survey() -> None:
    """A group: its sub-commands do the work."""


def _survey(session: Any, slug: str | None, survey_id: int) -> Any:
    from models import Survey
    from pilotis.cli import find_organisation
    from pilotis.errors import PilotisError

    organisation = find_organisation(session, slug)
    found = session.get(Survey, survey_id)
    if found is None or found.organisation_id != organisation.id:
        raise PilotisError(f"enquête n° {survey_id} inconnue pour {organisation.name}.")
    return found


@survey.command("list", help="Liste les enquêtes : numéro, type, état, réponses, lien public.")
@click.option("--organisation", "slug", default=None, help="Organisation (son identifiant court).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def survey_list(slug: str | None, as_json: bool) -> None:
    from pilotis import schema
    from pilotis.cli import find_organisation
    from pilotis.database import write_session
    from pilotis.web import engine
    from services.surveys import KIND_LABELS, STATE_LABELS, surveys_of

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        rows: list[dict[str, Any]] = [
            {
                "id": s.id,
                "titre": s.title,
                "type": s.kind,
                "etat": s.state,
                "reponses": n,
                "lien": f"/participer/{s.token}",
            }
            for s, n in surveys_of(session, organisation.id)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['id']:>4}  {row['titre']} — {KIND_LABELS[row['type']]}, {STATE_LABELS[row['etat']]}, "
            f"{row['reponses']} réponse(s), {row['lien']}"
        )


@survey.command(
    "import", help="Importe des questionnaires papier saisis dans le classeur de l'enquête (.xlsx)."
)
@click.argument("survey_id", type=int)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--organisation", "slug", default=None, help="Organisation (son identifiant court).")
def survey_import(survey_id: int, path: str, slug: str | None) -> None:
    from models.base import utcnow
    from pilotis import schema
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.survey_io import import_workbook
    from services.workbooks import WorkbookError

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        found = _survey(session, slug, survey_id)
        try:
            report = import_workbook(
                session, found, Path(path).read_bytes(), user_id=None, today=utcnow().date()
            )
        except WorkbookError as exc:
            raise PilotisError(f"fichier refusé : {exc}.") from exc
        if report.errors:
            lines = "\n".join(f"  - {e}" for e in report.errors)
            raise PilotisError(f"rien n'a été importé, {len(report.errors)} erreur(s) :\n{lines}")
        title = found.title
    click.echo(f"{report.saved} questionnaire(s) importé(s) dans « {title} ».")


@survey.command("export", help="Écrit les résultats d'une enquête dans un classeur Excel.")
@click.argument("survey_id", type=int)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option("--organisation", "slug", default=None, help="Organisation (son identifiant court).")
def survey_export(survey_id: int, output: str | None, slug: str | None) -> None:
    from pilotis import schema
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.survey_results import results_workbook

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        found = _survey(session, slug, survey_id)
        content = results_workbook(session, found)
        title = found.title
    path = output or f"resultats-enquete-{survey_id}.xlsx"
    try:
        Path(path).write_bytes(content)
    except OSError as exc:
        raise PilotisError(f"impossible d'écrire {path} : {exc.strerror}.") from exc
    click.echo(f"Résultats de « {title} » écrits dans {path}.")


@survey.command("close", help="Clôt une enquête ouverte et met à jour les indicateurs qu'elle alimente.")
@click.argument("survey_id", type=int)
@click.option("--organisation", "slug", default=None, help="Organisation (son identifiant court).")
def survey_close(survey_id: int, slug: str | None) -> None:
    from models.base import utcnow
    from pilotis import schema
    from pilotis.database import write_session
    from pilotis.errors import PilotisError
    from pilotis.web import engine
    from services.surveys import SurveyError, close

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        found = _survey(session, slug, survey_id)
        try:
            fed = close(session, found, now=utcnow())
        except SurveyError as exc:
            raise PilotisError(f"{exc}.") from exc
        title = found.title
    click.echo(f"Enquête « {title} » close ; {fed.written} valeur(s) d'indicateur écrite(s).")
    for note in fed.skipped:
        click.echo(f"Indicateur non mis à jour : {note}.")
