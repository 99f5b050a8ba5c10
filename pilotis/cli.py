"""The ``pilotis`` command line (also reachable as ``flask --app pilotis …``)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models import Organisation, Service, User
from models.base import utcnow
from models.enums import LABELS_FR, Role
from pilotis import schema
from pilotis.database import describe_url, write_session
from pilotis.errors import PilotisError, report_user_errors
from pilotis.web import engine
from services import accounts


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
    app.cli.add_command(scheduler)
    app.cli.add_command(worker)
    app.cli.add_command(jobs_group)
    app.cli.add_command(coherence)
    app.cli.add_command(costs)
    from pilotis.cli_optimize import optimize

    app.cli.add_command(optimize)
    from pilotis.cli_report import benchmark, report

    app.cli.add_command(report)
    app.cli.add_command(benchmark)
    from pilotis.cli_surveys import survey

    app.cli.add_command(survey)
    from pilotis.cli_model import model

    app.cli.add_command(model)
    from pilotis.cli_org import org

    app.cli.add_command(org)
    from pilotis.cli_scenario import scenario

    app.cli.add_command(scenario)
    app.cli.add_command(cost_driver)
    app.cli.add_command(import_group)
    app.cli.add_command(scorecard)
    app.cli.add_command(users)
    app.cli.add_command(db)
    app.cli.add_command(demo)
    app.cli.add_command(serve)
    report_user_errors(app.cli)


# -- database ---------------------------------------------------------------------------
@click.group(cls=AppGroup, help="Schéma de la base de données (migrations Alembic).")
def db() -> None:
    """A group: its sub-commands do the work."""


@db.command("upgrade", help="Crée ou met à jour le schéma jusqu'à REVISION (par défaut : la dernière).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    from pilotis.worker import prepare_queue

    target = engine()
    schema.upgrade(target, revision)
    if prepare_queue(target):
        click.echo("File des tâches de fond (procrastinate) créée.")
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
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if host in ("127.0.0.1", "localhost", "::1"):
            # the local demo is plain HTTP on this machine: cookies must travel without TLS
            app.config.update(SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)
        click.echo(f"Comptes de démonstration (mot de passe pour tous : {summary.password}) :")
        for email, role in summary.accounts:
            click.echo(f"  {LABELS_FR[Role(role)]:<24} {email}")
        _serve(app, host, port)


@click.command(help="Démarre le serveur web (waitress) sur une base à jour.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve(host: str, port: int, threads: int) -> None:
    schema.require_current_schema(engine())
    _embedded_worker("serveur web")
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


# -- accounts ---------------------------------------------------------------------------------
@click.group(cls=AppGroup, help="Comptes des utilisateurs.")
def users() -> None:
    """A group: its sub-commands do the work."""


ROLE_NAMES = [role.value for role in Role]


def _find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise PilotisError(f"aucun compte pour « {email} ».")
    return user


@users.command("list", help="Liste les comptes (d'une organisation avec --organisation).")
@click.option("--organisation", "slug", default=None, help="Identifiant de l'organisation (ex. demo-11069).")
def users_list(slug: str | None) -> None:
    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        query = select(User, Organisation.slug).outerjoin(
            Organisation, Organisation.id == User.organisation_id
        )
        if slug:
            query = query.where(Organisation.slug == slug)
        rows = session.execute(query.order_by(Organisation.slug, User.email)).all()
        if not rows:
            click.echo("Aucun compte.")
        for user, org_slug in rows:
            state = "actif" if user.is_active else "désactivé"
            scope = ", ".join(s.code for s in user.services)
            click.echo(
                f"{user.email:<45} {LABELS_FR[user.role]:<24} {org_slug or '—':<14} {state}"
                + ("  [administrateur du serveur]" if user.is_superadmin else "")
                + (f"  [{scope}]" if scope else "")
            )


@users.command("create", help="Crée un compte et affiche son mot de passe temporaire.")
@click.argument("email")
@click.option("--name", "full_name", required=True, help="Nom complet.")
@click.option("--role", type=click.Choice(ROLE_NAMES))
@click.option("--organisation", "slug", help="Identifiant de l'organisation (ex. demo-11069).")
@click.option(
    "--service",
    "service_codes",
    multiple=True,
    help="Code d'un service (responsable de service ; répétable).",
)
@click.option("--superadmin", is_flag=True, help="Administrateur du serveur : crée les organisations.")
def users_create(
    email: str,
    full_name: str,
    role: str | None,
    slug: str | None,
    service_codes: tuple[str, ...],
    superadmin: bool,
) -> None:
    if superadmin:
        from pilotis.cli_org import create_superadmin

        return create_superadmin(email, full_name, role, slug)
    if not role or not slug:
        raise PilotisError("--role et --organisation sont obligatoires (sauf --superadmin).")
    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = session.scalar(select(Organisation).where(Organisation.slug == slug))
        if organisation is None:
            raise PilotisError(f"organisation « {slug} » inconnue (voir « pilotis users list »).")
        services = []
        for code in service_codes:
            service = session.scalar(
                select(Service).where(Service.organisation_id == organisation.id, Service.code == code)
            )
            if service is None:
                raise PilotisError(f"service « {code} » inconnu dans l'organisation « {slug} ».")
            services.append(service)
        password = accounts.temporary_password()
        try:
            user = accounts.create_user(
                session,
                organisation=organisation,
                email=email,
                full_name=full_name,
                role=Role(role),
                services=services,
                password=password,
                now=utcnow(),
                temporary=True,
            )
        except accounts.AccountError as exc:
            raise PilotisError(str(exc)) from exc
        click.echo(f"Compte créé : {user.email} ({LABELS_FR[user.role]}).")
        click.echo(f"Mot de passe temporaire (à changer à la première connexion) : {password}")


@users.command("deactivate", help="Désactive un compte ; ses sessions sont fermées.")
@click.argument("email")
def users_deactivate(email: str) -> None:
    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        user = _find_user(session, email)
        accounts.deactivate(user)
        click.echo(f"Compte {user.email} désactivé.")


@users.command("set-password", help="Fixe un mot de passe (demandé deux fois) ou en donne un temporaire.")
@click.argument("email")
@click.option("--temporary", is_flag=True, help="Génère et affiche un mot de passe temporaire.")
def users_set_password(email: str, temporary: bool) -> None:
    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        user = _find_user(session, email)
        if temporary:
            password = accounts.reset_password(user, now=utcnow())
            click.echo(f"Mot de passe temporaire de {user.email} : {password}")
            return
        password = click.prompt("Nouveau mot de passe", hide_input=True, confirmation_prompt="Confirmation")
        try:
            accounts.set_password(user, password, now=utcnow())
        except accounts.AccountError as exc:
            raise PilotisError(str(exc)) from exc
        click.echo(f"Mot de passe de {user.email} modifié ; ses sessions sont fermées.")


# -- scorecard ------------------------------------------------------------------------------
@click.command(help="Calcule le tableau de bord d'une période (JSON ou classeur Excel).")
@click.option("--period", "period_key", required=True, help="Période : AAAA-MM, AAAA-T1 à T4 ou AAAA.")
@click.option("--format", "fmt", type=click.Choice(["json", "xlsx"]), default="json", show_default=True)
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
@click.option("--service", "service_code", default=None, help="Code d'un service : son seul tableau de bord.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Fichier de sortie (par défaut : la sortie standard pour JSON, scorecard-PERIODE.xlsx).",
)
@with_appcontext
def scorecard(
    period_key: str, fmt: str, slug: str | None, service_code: str | None, output: str | None
) -> None:
    import json

    from services.exports import scorecard_workbook
    from services.policy import Principal
    from services.scorecard import ScorecardError, build_scorecard, scorecard_json

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        service_id = None
        if service_code:
            service_id = session.scalar(
                select(Service.id).where(
                    Service.organisation_id == organisation.id, Service.code == service_code
                )
            )
            if service_id is None:
                raise PilotisError(f"service « {service_code} » inconnu dans « {organisation.slug} ».")
        reader = Principal(
            user_id=0, organisation_id=organisation.id, role=Role.DIRECTION, service_ids=frozenset()
        )
        try:
            view = build_scorecard(session, reader, period_key, service_id=service_id)
        except ScorecardError as exc:
            raise PilotisError(str(exc)) from exc
        if fmt == "json":
            text = json.dumps(scorecard_json(view), ensure_ascii=False, indent=2, default=str)
            if output:
                with open(output, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
                click.echo(f"Tableau de bord {view.period.key} écrit dans {output}.", err=True)
            else:
                click.echo(text)
            return
        path = output or f"scorecard-{view.period.key}.xlsx"
        with open(path, "wb") as handle:
            handle.write(scorecard_workbook(view, organisation.name))
        click.echo(f"Tableau de bord {view.period.key} écrit dans {path}.")


# -- imports --------------------------------------------------------------------------------
@click.group("import", cls=AppGroup, help="Imports de fichiers (tout ou rien).")
def import_group() -> None:
    """A group: its sub-commands do the work."""


@import_group.command(
    "measurements", help="Importe un classeur de valeurs rempli à partir du modèle Pilotis."
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "--as", "email", required=True, help="Adresse du compte au nom duquel importer (ses droits s'appliquent)."
)
@click.option(
    "--submit", is_flag=True, help="Soumet les valeurs à la direction au lieu de les laisser en brouillon."
)
def import_measurements_command(path: str, email: str, submit: bool) -> None:
    from services.audit import acting_as
    from services.measurement_io import import_measurements
    from services.policy import Action, Principal, can
    from services.workbooks import WorkbookError

    schema.require_current_schema(engine())
    with open(path, "rb") as handle:
        content = handle.read()
    with write_session(engine()) as session:
        user = _find_user(session, email)
        if not user.is_active:
            raise PilotisError(f"le compte {user.email} est désactivé.")
        principal = Principal.of(user)
        if not can(principal, Action.IMPORT):
            raise PilotisError(f"le compte {user.email} n'a pas le droit d'importer des valeurs.")
        with acting_as(user.id):
            try:
                report = import_measurements(session, principal, content, submit=submit, now=utcnow())
            except WorkbookError as exc:
                raise PilotisError(f"fichier refusé : {exc}.") from exc
            if report.errors:
                for error in report.errors:
                    click.echo(f"  {error}", err=True)
                raise PilotisError(f"{len(report.errors)} erreur(s) : rien n'a été importé.")
        click.echo(report.summary)


def find_organisation(session: Session, slug: str | None) -> Organisation:
    """The organisation named by ``--organisation``, or the only one; a French error otherwise."""
    query = select(Organisation).order_by(Organisation.slug)
    if slug:
        query = query.where(Organisation.slug == slug)
    organisations = session.scalars(query).all()
    if not organisations:
        raise PilotisError(
            f"organisation « {slug} » inconnue." if slug else "aucune organisation dans la base."
        )
    if len(organisations) > 1:
        raise PilotisError(
            f"plusieurs organisations ({', '.join(o.slug for o in organisations)}) : précisez --organisation."
        )
    return organisations[0]


#: How a job's outcome reads in French (``pilotis jobs run``).
OUTCOME_LABELS = {"succeeded": "réussie", "failed": "en échec", "skipped": "ignorée", "running": "en cours"}

#: Exit status of an import whose file was valid but wrote nothing for the organisation.
EXIT_NOTHING_WRITTEN = 3


@import_group.command(
    "statistics",
    help="Importe des statistiques publiées (INSEE, CAF) ; tout ou rien. Code de sortie 3 quand le "
    "fichier est valide mais ne concerne aucun territoire de l'organisation.",
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--source", type=click.Choice(["filosofi", "caf", "census"]), required=True)
@click.option(
    "--vintage", type=click.IntRange(1990, 2100), default=None, help="Millésime, si le fichier ne le dit pas."
)
@click.option(
    "--force-vintage",
    is_flag=True,
    help="Garder --vintage même s'il contredit le millésime du nom du fichier.",
)
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
def import_statistics_command(
    path: str, source: str, vintage: int | None, force_vintage: bool, slug: str | None
) -> None:
    from pathlib import Path

    from services.needs import resize_needs
    from services.statistics_import import StatisticsImportError, import_statistics

    schema.require_current_schema(engine())
    content = Path(path).read_bytes()
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        try:
            report = import_statistics(
                session,
                organisation.id,
                content,
                source=source,
                filename=Path(path).name,
                vintage=vintage,
                force_vintage=force_vintage,
            )
        except StatisticsImportError as exc:
            raise PilotisError(f"fichier refusé : {exc}.") from exc
        if report.errors:
            for error in report.errors:
                click.echo(f"  {error}", err=True)
            raise PilotisError(f"{len(report.errors)} erreur(s) : rien n'a été importé.")
        if report.wrote_nothing:
            for warning in report.warnings:
                click.echo(f"Avertissement : {warning}.", err=True)
            raise click.exceptions.Exit(EXIT_NOTHING_WRITTEN)
        resized = resize_needs(session, organisation.id)
        vintages = ", ".join(str(v) for v in report.vintages) or str(report.vintage)
        click.echo(
            f"{report.layout}, millésime {vintages} : {report.stats.inserted} chiffre(s) ajouté(s), "
            f"{report.stats.unchanged} déjà connu(s), {report.rows_outside} territoire(s) hors de l'organisation ignoré(s)."
        )
        for warning in report.warnings:
            click.echo(f"Avertissement : {warning}.", err=True)
        _echo_resized(resized.resized)


def _echo_resized(resized: list[tuple[str, float | None, float | None]]) -> None:
    for code, before, after in resized:
        click.echo(
            f"  besoin {code} : {before if before is not None else 'inconnu'} → {after if after is not None else 'inconnu'}"
        )


@import_group.command(
    "remove-statistics",
    help="Retire un millésime importé par erreur (toutes ses statistiques d'une source), puis "
    "redimensionne les besoins ; chaque suppression est inscrite au journal.",
)
@click.option("--source", type=click.Choice(["filosofi", "caf", "census"]), required=True)
@click.option("--vintage", type=click.IntRange(1900, 2200), required=True, help="Millésime à retirer.")
@click.option("--as", "email", default=None, help="Compte au nom duquel retirer (inscrit au journal).")
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
def remove_statistics_command(source: str, vintage: int, email: str | None, slug: str | None) -> None:
    from services.audit import acting_as
    from services.needs import resize_needs
    from services.statistics_import import StatisticsImportError, remove_statistics

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        user_id: int | None = None
        if email:
            user = session.scalar(
                select(User).where(
                    User.email == email.strip().lower(), User.organisation_id == organisation.id
                )
            )
            if user is None:
                raise PilotisError(f"compte « {email} » inconnu dans l'organisation {organisation.slug}.")
            user_id = user.id
        with acting_as(user_id):
            try:
                removed = remove_statistics(session, organisation.id, source=source, vintage=vintage)
            except StatisticsImportError as exc:
                raise PilotisError(f"{exc}.") from exc
            resized = resize_needs(session, organisation.id)
        click.echo(f"Millésime {vintage} ({source}) retiré : {removed} chiffre(s) supprimé(s).")
        _echo_resized(resized.resized)


@import_group.command(
    "budget",
    help="Importe un budget ou un compte (CSV SCDL « budget », ou export d'un logiciel financier avec "
    "--mapping) ; tout ou rien. Réimporter le même document ne change rien.",
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "--mapping", "mapping", default=None, help="Correspondance de colonnes enregistrée (export non SCDL)."
)
@click.option(
    "--nomenclature",
    type=click.Choice(["M57", "M14", "M22"]),
    default=None,
    help="Nomenclature d'un CSV SCDL (par défaut : celle du nom du fichier, sinon M57).",
)
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
def import_budget_command(path: str, mapping: str | None, nomenclature: str | None, slug: str | None) -> None:
    from pathlib import Path

    from models.base import utcnow
    from services.budget import import_budget
    from services.budget_files import BudgetFileError

    schema.require_current_schema(engine())
    content = Path(path).read_bytes()
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        try:
            result = import_budget(
                session,
                organisation.id,
                content,
                Path(path).name,
                mapping_name=mapping,
                nomenclature=nomenclature,
                now=utcnow(),
            )
        except BudgetFileError as exc:
            for message in exc.messages:
                click.echo(f"  {message}", err=True)
            raise PilotisError(
                f"{len(exc.messages)} erreur(s) dans {Path(path).name} : rien n'a été importé."
            ) from exc
        for warning in result.warnings:
            click.echo(f"  Attention : {warning}", err=True)
        click.echo(result.summary())


@import_group.command(
    "mapping", help="Enregistre une correspondance de colonnes (fichier JSON) pour les exports financiers."
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "--organisation", "slug", default=None, help="Identifiant de l'organisation (s'il y en a plusieurs)."
)
def import_mapping_command(path: str, slug: str | None) -> None:
    import json
    from pathlib import Path

    from services.budget import save_mapping
    from services.budget_files import BudgetFileError

    schema.require_current_schema(engine())
    try:
        definition = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PilotisError(f"{Path(path).name} n'est pas un JSON lisible : {exc}.") from exc
    if not isinstance(definition, dict):
        raise PilotisError(f"{Path(path).name} : un objet JSON est attendu.")
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        try:
            row = save_mapping(session, organisation.id, definition)
        except BudgetFileError as exc:
            raise PilotisError(" ; ".join(exc.messages) + ".") from exc
        click.echo(f"Correspondance « {row.name} » enregistrée.")


@click.command(help="Coûts complets des activités, flux et exécution budgétaire d'une année (JSON ou Excel).")
@click.option(
    "--year", "year", type=click.IntRange(1990, 2200), default=None, help="Par défaut : le dernier compte."
)
@click.option("--format", "fmt", type=click.Choice(["json", "xlsx"]), default="json", show_default=True)
@click.option("--organisation", "slug", default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None)
@with_appcontext
def costs(year: int | None, fmt: str, slug: str | None, output: str | None) -> None:
    import json

    from services.budget import execution
    from services.cost_exports import costs_json, costs_workbook
    from services.costing import CostModelError, compute, latest_report, unit_cost_trend, years_with_costs

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        known = [y for y, _ in years_with_costs(session, organisation.id)]
        if year is not None and year not in known:
            years = ", ".join(str(y) for y in sorted(known)) or "aucune"
            raise PilotisError(f"aucun budget ni compte pour {year} (années disponibles : {years}).")
        try:
            report = (
                compute(session, organisation.id, year) if year else latest_report(session, organisation.id)
            )
        except CostModelError as exc:
            raise PilotisError(f"{exc}.") from exc
        if report is None:
            raise PilotisError("aucun coût à calculer : importez un budget et créez le modèle de coûts.")
        run = execution(session, organisation.id, report.year)
        trend = unit_cost_trend(session, organisation.id)
        if fmt == "xlsx":
            path = output or f"couts-{report.year}.xlsx"
            with open(path, "wb") as handle:
                handle.write(costs_workbook(report, run, trend, organisation.name))
            click.echo(f"Coûts {report.year} écrits dans {path}.")
            return
        text = json.dumps(costs_json(report, run, trend), ensure_ascii=False, indent=2)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        else:
            click.echo(text)


@click.command("cost-driver", help="Modifie la quantité d'inducteur d'une activité dans un centre de coût.")
@click.argument("centre")
@click.argument("activity")
@click.argument("quantity")
@click.option("--organisation", "slug", default=None)
@with_appcontext
def cost_driver(centre: str, activity: str, quantity: str, slug: str | None) -> None:
    from services.costing import CostModelError, publish_cost_indicators, set_driver_quantity

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        try:
            set_driver_quantity(session, organisation.id, centre, activity, quantity)
        except CostModelError as exc:
            raise PilotisError(f"{exc}.") from exc
        count = publish_cost_indicators(session, organisation.id)
        click.echo(f"Inducteur modifié ; {count} valeur(s) d'indicateurs de coût recalculée(s).")


@click.command(help="Cohérence de l'offre et des besoins (JSON ou classeur Excel).")
@click.option("--format", "fmt", type=click.Choice(["json", "xlsx"]), default="json", show_default=True)
@click.option("--organisation", "slug", default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option(
    "--publish-year",
    type=click.IntRange(1990, 2100),
    default=None,
    help="Publie aussi les taux de couverture de cette année au tableau de bord.",
)
@with_appcontext
def coherence(fmt: str, slug: str | None, output: str | None, publish_year: int | None) -> None:
    import dataclasses
    import json

    from services.coherence import build_coherence, publish_coverage_indicators
    from services.exports import coherence_workbook

    schema.require_current_schema(engine())
    with write_session(engine()) as session:
        organisation = find_organisation(session, slug)
        if publish_year:
            count = publish_coverage_indicators(session, organisation.id, year=publish_year)
            click.echo(f"{count} taux de couverture publiés pour {publish_year}.", err=True)
        view = build_coherence(session, organisation.id)
        if fmt == "xlsx":
            path = output or "coherence.xlsx"
            with open(path, "wb") as handle:
                handle.write(coherence_workbook(view, organisation.name))
            click.echo(f"Cohérence écrite dans {path}.")
            return
        data = {
            "rule": view.rule,
            "least_covered_priority_need": view.least_covered.code if view.least_covered else None,
            "needs": [dataclasses.asdict(n) for n in view.needs],
            "matrix": [
                {"group": g, "territory": t, **dataclasses.asdict(c)} for (g, t), c in view.cells.items()
            ],
            "orphans": view.orphans,
        }
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        else:
            click.echo(text)


# -- background work ---------------------------------------------------------------------------
def _embedded_worker(where: str) -> None:
    """PILOTIS_WORKER=embedded (the default): this process runs a worker thread of its own."""
    from pilotis.worker import start_embedded_worker, worker_mode

    if worker_mode() == "embedded":
        start_embedded_worker(engine())
        click.echo(
            f"Tâches de fond exécutées dans ce {where} (PILOTIS_WORKER=external pour les laisser à pilotis worker)."
        )


@click.command(
    help="Exécute les tâches de fond (calculs de scénarios, rapports PDF et Word, tâches planifiées par "
    "organisation) : autant de processus que voulu, sur une ou plusieurs machines."
)
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Tâches menées en même temps par ce processus.",
)
@click.option("--burst", is_flag=True, help="S'arrête dès que la file est vide.")
@with_appcontext
def worker(concurrency: int, burst: bool) -> None:
    import signal
    import threading

    from pilotis.database import make_engine
    from pilotis.worker import is_postgresql, prepare_queue, run_queue_worker, run_table_worker

    schema.require_current_schema(engine())
    url = current_app.config["PILOTIS_SETTINGS"].database_url
    own = make_engine(url)
    backend = "procrastinate sur PostgreSQL" if is_postgresql(own) else "table des tâches sur SQLite"
    click.echo(f"Worker démarré ({backend}, {concurrency} à la fois ; Ctrl+C pour arrêter).")
    try:
        if is_postgresql(own):
            prepare_queue(own)
            run_queue_worker(own, concurrency=concurrency, burst=burst)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        threads = [
            threading.Thread(target=run_table_worker, args=(own,), kwargs={"stop": stop, "burst": burst})
            for _ in range(concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        except KeyboardInterrupt:
            stop.set()
            for thread in threads:
                thread.join()
    finally:
        own.dispose()
        click.echo("Worker arrêté.")


# -- scheduled jobs ---------------------------------------------------------------------------
@click.command(help="Démarre le planificateur des tâches (un seul processus, à part des serveurs web).")
@with_appcontext
def scheduler() -> None:
    from jobs.scheduler import build_scheduler

    schema.require_current_schema(engine())
    settings = current_app.config["PILOTIS_SETTINGS"]
    planner = build_scheduler(settings.database_url)
    _embedded_worker("planificateur")
    click.echo(
        "Planificateur démarré (Ctrl+C pour arrêter). Tâches : " + ", ".join(j.id for j in planner.get_jobs())
    )
    try:
        planner.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("Planificateur arrêté.")


@click.group("jobs", cls=AppGroup, help="Tâches planifiées : liste et lancement immédiat.")
def jobs_group() -> None:
    """A group: its sub-commands do the work."""


@jobs_group.command("list", help="Chaque tâche, son calendrier, sa dernière et sa prochaine exécution.")
def jobs_list() -> None:
    from jobs.registry import JOBS
    from jobs.runner import status_text
    from jobs.scheduler import next_run
    from models import JobRun

    schema.require_current_schema(engine())
    now = utcnow()
    with write_session(engine()) as session:
        for spec in JOBS:
            last = session.scalar(
                select(JobRun).where(JobRun.job_name == spec.name).order_by(JobRun.started_at.desc()).limit(1)
            )
            upcoming = next_run(spec.cron, now)
            last_text = (
                f"{last.started_at:%d/%m/%Y %H:%M} UTC, {status_text(last, now)} ({last.period_key})"
                if last
                else "jamais"
            )
            click.echo(f"{spec.name:<15} {spec.schedule_text}")
            click.echo(
                f"{'':<15} dernière : {last_text} ; prochaine : {upcoming:%d/%m/%Y %H:%M} UTC"
                if upcoming
                else ""
            )
            if last is not None and last.error:
                click.echo(f"{'':<15} erreur : {last.error.splitlines()[-1]}")


@jobs_group.command(
    "run", help="Lance une tâche maintenant (pour une période donnée, ou pour ce qui est dû)."
)
@click.argument("name")
@click.option(
    "--period", "period_key", default=None, help="Clé de période (ex. 2025-T4) ; par défaut ce qui est dû."
)
@click.option("--organisation", "slug", default=None)
def jobs_run(name: str, period_key: str | None, slug: str | None) -> None:
    from jobs.registry import BY_NAME
    from jobs.runner import run_one, tick
    from jobs.scheduler import context

    if name not in BY_NAME:
        raise PilotisError(f"tâche « {name} » inconnue : {', '.join(BY_NAME)}.")
    schema.require_current_schema(engine())
    ctx = context(current_app.config["PILOTIS_SETTINGS"])
    if period_key is None:
        outcomes = tick(engine(), name, ctx)
    else:
        with write_session(engine()) as session:
            organisation_id = find_organisation(session, slug).id
        outcomes = [run_one(engine(), BY_NAME[name], organisation_id, period_key, ctx)]
    if not outcomes:
        click.echo(f"{name} : rien à faire maintenant.")
    failed = 0
    for outcome in outcomes:
        shown = OUTCOME_LABELS.get(outcome.status, outcome.status)
        click.echo(f"{outcome.job} {outcome.key} : {shown} — {outcome.message}")
        failed += outcome.status == "failed"
    if failed:
        raise PilotisError(f"{failed} exécution(s) en échec (voir « pilotis jobs list »).")
