"""The ``pilotis`` command line (also reachable as ``flask --app pilotis …``)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import Engine

from models.enums import LABELS_FR, Role
from pilotis import schema
from pilotis.database import describe_url, write_session
from pilotis.errors import PilotisError
from pilotis.web import engine


def _create_app() -> Flask:
    from pilotis import create_app

    return create_app()


main = FlaskGroup(
    name="pilotis",
    create_app=_create_app,
    load_dotenv=False,
    set_debug_flag=False,
    help=(
        "Pilotis : pilotage de l'action sociale locale. La base de données est DATABASE_URL, "
        "ou à défaut SQLite dans instance/pilotis.db."
    ),
)


def register_commands(app: Flask) -> None:
    app.cli.add_command(db)
    app.cli.add_command(demo)
    app.cli.add_command(serve)


# -- database ---------------------------------------------------------------------------
@click.group(cls=AppGroup, help="Schéma de la base de données (migrations Alembic).")
def db() -> None:
    pass


@db.command("upgrade", help="Crée ou met à jour le schéma jusqu'à REVISION (par défaut : la dernière).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    target = engine()
    schema.upgrade(target, revision)
    _echo_revision(target)


@db.command("downgrade", help="Ramène le schéma à REVISION (« base » : base vide). Détruit des données.")
@click.argument("revision")
@click.confirmation_option(
    prompt="Revenir à une version antérieure du schéma peut détruire des données. Continuer ?"
)
def db_downgrade(revision: str) -> None:
    target = engine()
    schema.downgrade(target, revision)
    _echo_revision(target)


def _echo_revision(target: Engine) -> None:
    state = schema.schema_state(target)
    click.echo(f"Schéma de {describe_url(target.url)} : révision {', '.join(state.current) or 'vide'}.")


@db.command("current", help="Affiche la révision du schéma et si elle est à jour.")
def db_current() -> None:
    target = engine()
    state = schema.schema_state(target)
    labels = {
        schema.SchemaStatus.EMPTY: "base vide",
        schema.SchemaStatus.CURRENT: "à jour",
        schema.SchemaStatus.BEHIND: "à mettre à jour (pilotis db upgrade)",
        schema.SchemaStatus.UNKNOWN: "révision inconnue de cette version",
        schema.SchemaStatus.UNMANAGED: "tables non créées par Pilotis",
    }
    click.echo(
        f"{describe_url(target.url)} : révision {', '.join(state.current) or '—'} "
        f"(dernière : {', '.join(state.heads)}) — {labels[state.status]}."
    )


# -- demo and server ----------------------------------------------------------------------
@click.command(
    help=(
        "Crée ou rafraîchit l'organisation de démonstration, à partir des statistiques réelles d'une commune."
    )
)
@click.option(
    "--commune",
    default="11069",
    show_default=True,
    help="Code INSEE de la commune (25 communes d'Occitanie embarquées).",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date de référence AAAA-MM-JJ (par défaut : aujourd'hui).",
)
@click.option("--serve", "serve_after", is_flag=True, help="Démarre ensuite le serveur web.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def demo(commune: str, as_of: datetime | None, serve_after: bool, host: str, port: int) -> None:
    from services.demo import build_demo
    from services.demo.build import DemoError

    target = engine()
    state = schema.schema_state(target)
    if state.status is schema.SchemaStatus.EMPTY:
        schema.upgrade(target)
        click.echo(f"Schéma créé dans {describe_url(target.url)}.")
    else:
        schema.require_current_schema(target)
    reference_day = as_of.date() if as_of else datetime.now(UTC).date()
    try:
        with write_session(target) as session:
            summary = build_demo(session, commune.strip(), as_of=reference_day)
    except DemoError as exc:
        raise PilotisError(str(exc)) from exc
    verb = "créée" if summary.created else "rafraîchie"
    click.echo(f"Démonstration {verb} : {summary.name} ({summary.stats.changed} lignes modifiées).")
    counts = summary.counts
    click.echo(
        f"  {counts['services']} services, {counts['activities']} activités, {counts['needs']} besoins, "
        f"{counts['objectives']} objectifs, {counts['indicators']} indicateurs, "
        f"{counts['measurements']} mesures, {counts['statistics']} statistiques territoriales."
    )
    for note in summary.notes:
        click.echo(f"  Note : {note}")
    if serve_after:
        click.echo(f"Comptes de démonstration (mot de passe pour tous : {summary.password}) :")
        for email, role in summary.accounts:
            click.echo(f"  {LABELS_FR[Role(role)]:<24} {email}")
        _serve(current_app._get_current_object(), host, port)  # type: ignore[attr-defined]


@click.command(help="Démarre le serveur web (waitress) sur une base à jour.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve(host: str, port: int, threads: int) -> None:
    schema.require_current_schema(engine())
    _serve(current_app._get_current_object(), host, port, threads)  # type: ignore[attr-defined]


def _serve(app: Flask, host: str, port: int, threads: int = 4) -> None:
    import waitress

    click.echo(f"Pilotis est servi sur http://{host}:{port}/ (Ctrl+C pour arrêter).")
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="Pilotis")
    except OSError as exc:
        raise PilotisError(
            f"impossible d'écouter sur {host}:{port} ({exc.strerror or exc}) : "
            "choisissez un autre port avec --port."
        ) from exc
