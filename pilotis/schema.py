"""The database schema's state against the migrations, and running them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import DBAPIError, OperationalError

from pilotis.database import describe_url, writing
from pilotis.errors import PilotisError
from pilotis.settings import PROJECT_ROOT

MIGRATIONS_PATH = PROJECT_ROOT / "migrations"


class SchemaStatus(enum.Enum):
    EMPTY = "empty"  # no table at all: a new database
    CURRENT = "current"
    BEHIND = "behind"  # an older revision of ours: `pilotis db upgrade`
    UNKNOWN = "unknown"  # a revision we do not know (newer code wrote it, or another app)
    UNMANAGED = "unmanaged"  # tables, but no Alembic version: not a Pilotis database


@dataclass(frozen=True)
class SchemaState:
    status: SchemaStatus
    current: tuple[str, ...]
    heads: tuple[str, ...]


def alembic_config(script_location: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location or str(MIGRATIONS_PATH))
    return config


def schema_state(engine: Engine, script_location: str | None = None) -> SchemaState:
    """Compare the database's Alembic revision with the migrations' heads.

    Raises :class:`PilotisError` when the database cannot be reached.
    """
    script = ScriptDirectory.from_config(alembic_config(script_location))
    heads = tuple(sorted(script.get_heads()))
    try:
        with engine.connect() as conn:
            current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
            tables = set(inspect(conn).get_table_names())
    except (OperationalError, DBAPIError) as exc:
        raise unreachable(engine, exc) from exc
    # the background queue's own tables (procrastinate, created by ``pilotis db upgrade`` beside
    # the migrations, kept by ``db downgrade``) are Pilotis' too
    tables = {t for t in tables if not t.startswith("procrastinate_")}
    if not current:
        tables.discard("alembic_version")
        status = SchemaStatus.UNMANAGED if tables else SchemaStatus.EMPTY
    elif current == heads:
        status = SchemaStatus.CURRENT
    elif all(_is_ancestor(script, rev, heads) for rev in current):
        status = SchemaStatus.BEHIND
    else:
        status = SchemaStatus.UNKNOWN
    return SchemaState(status=status, current=current, heads=heads)


def _is_ancestor(script: ScriptDirectory, revision: str, heads: tuple[str, ...]) -> bool:
    try:
        script.get_revision(revision)
    except Exception:  # alembic raises several kinds for an unknown id
        return False
    for head in heads:
        if any(r.revision == revision for r in script.walk_revisions(base="base", head=head)):
            return True
    return False


def unreachable(engine: Engine, exc: Exception) -> PilotisError:
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else ""
    return PilotisError(
        f"impossible de joindre la base de données {describe_url(engine.url)} ({reason}). "
        "Vérifiez DATABASE_URL et que le serveur de base de données est démarré."
    )


def require_current_schema(engine: Engine, script_location: str | None = None) -> None:
    """Refuse, in one French line, to work on a database whose schema is not the code's."""
    state = schema_state(engine, script_location)
    where = describe_url(engine.url)
    if state.status is SchemaStatus.CURRENT:
        return
    if state.status is SchemaStatus.EMPTY:
        raise PilotisError(
            f"la base de données {where} est vide : créez le schéma avec « pilotis db upgrade » "
            "(ou « pilotis demo » pour une démonstration)."
        )
    if state.status is SchemaStatus.BEHIND:
        raise PilotisError(
            f"la base de données {where} est à une version antérieure du schéma "
            f"({', '.join(state.current)} au lieu de {', '.join(state.heads)}) : "
            "sauvegardez-la puis lancez « pilotis db upgrade »."
        )
    if state.status is SchemaStatus.UNKNOWN:
        raise PilotisError(
            f"la base de données {where} est à une révision de schéma inconnue de cette version "
            f"de Pilotis ({', '.join(state.current)}) : installez la version de Pilotis qui l'a "
            "créée, ou une plus récente."
        )
    raise PilotisError(
        f"la base de données {where} contient des tables mais n'a pas été créée par Pilotis : "
        "indiquez une base vide dans DATABASE_URL."
    )


def upgrade(engine: Engine, revision: str = "head", script_location: str | None = None) -> None:
    """Migrate the database up to ``revision`` (creating the schema of an empty database)."""
    state = schema_state(engine, script_location)
    if state.status is SchemaStatus.UNMANAGED:
        require_current_schema(engine, script_location)
    if state.status is SchemaStatus.UNKNOWN:
        require_current_schema(engine, script_location)
    _run(engine, "upgrade", revision, script_location)


def downgrade(engine: Engine, revision: str, script_location: str | None = None) -> None:
    _run(engine, "downgrade", revision, script_location)


def _run(engine: Engine, verb: str, revision: str, script_location: str | None) -> None:
    """Run an Alembic command in one write transaction.

    On SQLite, foreign keys are switched off for the migration (and checked before the commit):
    batch mode rebuilds a table by copy and move, and dropping the old table with foreign keys on
    would cascade its ``ON DELETE CASCADE`` children away (0011 rebuilt ``organisations`` and
    deleted every objective). ``PRAGMA foreign_keys`` has no effect inside a transaction, so it is
    set on the driver's connection before the transaction begins, and set back after.
    """
    config = alembic_config(script_location)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with writing(engine).connect() as conn:
            raw = conn.connection.driver_connection if sqlite else None
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = OFF")
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    getattr(command, verb)(config, revision)
                    if raw is not None:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise PilotisError(
                                f"la migration laisserait {len(broken)} ligne(s) sans leur ligne liée "
                                f"(table « {broken[0][0]} ») : rien n'a été modifié."
                            )
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys = ON")
    except OperationalError as exc:
        if "connect" in str(exc).lower():
            raise unreachable(engine, exc) from exc
        raise
