"""The ``pilotis`` command line, on an empty database of the run's backend."""

from __future__ import annotations

import shutil

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from models import Organisation
from pilotis import cli, schema
from pilotis.database import make_engine


@pytest.fixture
def cli_app(make_app, empty_database_url):
    return make_app(empty_database_url)


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False, standalone_mode=True)


def test_demo_twice_leaves_one_demo(cli_app, empty_database_url):
    first = invoke(cli_app, "demo", "--as-of", "2026-11-26")
    assert first.exit_code == 0, first.output
    assert "Schéma créé" in first.output and "Démonstration créée" in first.output
    second = invoke(cli_app, "demo", "--as-of", "2026-11-26")
    assert second.exit_code == 0, second.output
    assert "Démonstration rafraîchie" in second.output and "(0 lignes modifiées)" in second.output
    engine = make_engine(empty_database_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Organisation)) == 1
    engine.dispose()


def test_demo_serve_prints_the_address_and_the_accounts(cli_app, monkeypatch):
    served = {}
    monkeypatch.setattr(
        cli, "_serve",
        lambda app, host, port, threads=4: served.update(host=host, port=port, secure=app.config["SESSION_COOKIE_SECURE"]),
    )  # fmt: skip
    result = invoke(cli_app, "demo", "--serve", "--port", "5099", "--as-of", "2026-11-26")
    assert result.exit_code == 0, result.output
    assert served == {"host": "127.0.0.1", "port": 5099, "secure": False}  # plain HTTP on this machine
    assert "direction@carcassonne.pilotis.example" in result.output
    assert "Élu·e" in result.output and "demo-pilotis-2026" in result.output


def test_unknown_commune_is_refused_in_french(cli_app):
    result = invoke(cli_app, "demo", "--commune", "99999")
    assert result.exit_code == 1
    assert "Erreur : commune « 99999 » absente" in result.output


def test_db_commands(cli_app):
    assert "base vide" in invoke(cli_app, "db", "current").output
    result = invoke(cli_app, "db", "upgrade")
    head = ScriptDirectory.from_config(schema.alembic_config()).get_current_head()
    assert result.exit_code == 0 and f"révision {head}" in result.output
    assert "à jour" in invoke(cli_app, "db", "current").output
    assert invoke(cli_app, "db", "downgrade", "base", "--yes").exit_code == 0
    assert "base vide" in invoke(cli_app, "db", "current").output


def test_serve_refuses_an_empty_database(cli_app):
    result = invoke(cli_app, "serve")
    assert result.exit_code == 1
    assert "est vide" in result.output and "pilotis db upgrade" in result.output


def test_an_older_schema_gets_one_line_saying_what_to_do(cli_app, tmp_path, monkeypatch):
    assert invoke(cli_app, "db", "upgrade").exit_code == 0
    newer = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_PATH, newer, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory.from_config(schema.alembic_config()).get_current_head()
    (newer / "versions" / "9999_newer.py").write_text(
        f'revision = "9999"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(schema, "MIGRATIONS_PATH", newer)
    for command in (["demo"], ["serve"]):
        result = invoke(cli_app, *command)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Erreur : ")
        assert "version antérieure du schéma" in lines[0] and "pilotis db upgrade" in lines[0]
    assert invoke(cli_app, "db", "upgrade").exit_code == 0
    assert invoke(cli_app, "demo", "--as-of", "2026-11-26").exit_code == 0


def test_an_unreachable_database_gets_one_french_line(make_app):
    app = make_app("postgresql://postgres@127.0.0.1:1/absent")
    for command in (["demo"], ["db", "current"], ["serve"]):
        result = invoke(app, *command)
        assert result.exit_code == 1
        assert result.output.count("\n") == 1, result.output
        assert result.output.startswith("Erreur : impossible de joindre la base de données")
        assert "Traceback" not in result.output
