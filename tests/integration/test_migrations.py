"""Alembic: from an empty database to the models, down and up again, and the schema checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import models
from pilotis import schema
from pilotis.database import make_engine
from pilotis.errors import PilotisError


def _diff(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, models.Base.metadata)


def test_upgrade_from_empty_matches_the_models_and_round_trips(empty_database_url):
    engine = make_engine(empty_database_url)
    assert schema.schema_state(engine).status is schema.SchemaStatus.EMPTY
    schema.upgrade(engine)
    assert schema.schema_state(engine).status is schema.SchemaStatus.CURRENT
    assert _diff(engine) == []
    assert set(models.Base.metadata.tables) <= set(inspect(engine).get_table_names())

    schema.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    schema.upgrade(engine)
    assert _diff(engine) == []
    engine.dispose()


def test_constraint_names_follow_the_convention(engine):
    inspector = inspect(engine)
    fks = inspector.get_foreign_keys("needs")
    assert {fk["name"] for fk in fks} >= {"fk_needs_territory_id_territories"}
    uniques = {u["name"] for u in inspector.get_unique_constraints("measurements")}
    assert "uq_measurements_indicator_id_period_id_territory_id" in uniques


@pytest.fixture
def scripts_with_a_newer_revision(tmp_path: Path) -> str:
    """A copy of the migrations with one more (empty) revision: the database is then behind."""
    copy = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_PATH, copy, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory.from_config(schema.alembic_config(str(copy))).get_current_head()
    (copy / "versions" / "9999_newer.py").write_text(
        f'revision = "9999"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
        encoding="utf-8",
    )
    return str(copy)


def test_an_older_schema_is_reported_with_what_to_do(empty_database_url, scripts_with_a_newer_revision):
    engine = make_engine(empty_database_url)
    schema.upgrade(engine)
    state = schema.schema_state(engine, scripts_with_a_newer_revision)
    assert state.status is schema.SchemaStatus.BEHIND
    with pytest.raises(PilotisError, match=r"version antérieure.*pilotis db upgrade"):
        schema.require_current_schema(engine, scripts_with_a_newer_revision)
    schema.upgrade(engine, script_location=scripts_with_a_newer_revision)
    assert schema.schema_state(engine, scripts_with_a_newer_revision).status is schema.SchemaStatus.CURRENT
    engine.dispose()


def test_unknown_revisions_and_foreign_tables_are_refused(empty_database_url):
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    with pytest.raises(PilotisError, match="pas été créée par Pilotis"):
        schema.require_current_schema(engine)
    with pytest.raises(PilotisError, match="pas été créée par Pilotis"):
        schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('abcdef123456')"))
    assert schema.schema_state(engine).status is schema.SchemaStatus.UNKNOWN
    with pytest.raises(PilotisError, match="révision de schéma inconnue"):
        schema.require_current_schema(engine)
    engine.dispose()


def test_an_unreachable_database_gives_one_french_line():
    engine = make_engine("postgresql://postgres@127.0.0.1:1/absent")
    with pytest.raises(PilotisError) as info:
        schema.schema_state(engine)
    message = info.value.format_message()
    assert "impossible de joindre la base de données" in message
    assert "\n" not in message


def test_upgrading_keeps_the_rows_of_tables_rebuilt_by_batch_mode(empty_database_url):
    """0011 rebuilds ``organisations`` (copy and move on SQLite): with foreign keys on, dropping the old
    table cascaded every objective, indicator and user away."""
    engine = make_engine(empty_database_url)
    schema.upgrade(engine, "0009_effective_dates")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (id, slug, name, kind, insee_code, created_at, updated_at, version) "
                "VALUES (1, 'ccas-test', 'CCAS test', 'ccas', '35238', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO population_groups (id, organisation_id, code, name, created_at, updated_at) "
                "VALUES (1, 1, 'PA', 'Aînés', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    schema.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM population_groups")).scalar_one() == 1
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1  # set back on
    engine.dispose()
