"""``pilotis scenario``: the budget arbitration from the database, without the web interface."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("scenario", cls=AppGroup, help="Scénarios d'arbitrage budgétaire.")
def scenario() -> None:
    """A group: its sub-commands do the work."""


@scenario.command(
    "problem",
    help="Écrit le problème d'arbitrage d'aujourd'hui (JSON, docs/problem.schema.json) sans créer de "
    "scénario, pour le résoudre hors de Pilotis (pilotis optimize FICHIER, ou tout autre solveur).",
)
@click.option("--organisation", "slug", default=None, help="Identifiant de l'organisation.")
@click.option("--year", type=click.IntRange(1990, 2100), required=True, help="Année du budget arbitré.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Fichier (défaut : écran).",
)
def scenario_problem(slug: str | None, year: int, output: str | None) -> None:
    import dataclasses
    import json

    from optimizer.problem import problem_to_dict, with_computed_coverage
    from pilotis import schema
    from pilotis.cli import find_organisation
    from pilotis.database import write_session
    from pilotis.web import engine
    from services.scenarios import current_problem

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        problem = current_problem(session, organisation.id)
        name = f"{organisation.name} — situation actuelle"
        session.rollback()  # reading only: nothing is written
    problem = with_computed_coverage(dataclasses.replace(problem, year=year, name=name))
    text = json.dumps(problem_to_dict(problem), ensure_ascii=False, indent=2)
    if output is None:
        click.echo(text)
        return
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    click.echo(
        f"Problème écrit dans {output} : {len(problem.services)} services, {len(problem.activities)} activités, "
        f"{len(problem.needs)} besoins, enveloppe d'aujourd'hui. Résolution : pilotis optimize {output}",
        err=True,
    )
