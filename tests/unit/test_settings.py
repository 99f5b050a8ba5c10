import stat

import pytest

from pilotis.database import describe_url, normalise_url
from pilotis.settings import Settings, load_or_create_secret_key, resolve_database_url


def test_secret_key_is_generated_once_private_and_reused(tmp_path):
    key = load_or_create_secret_key(tmp_path)
    assert len(key) == 64
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert load_or_create_secret_key(tmp_path) == key


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path):
    settings = Settings.from_env({"PILOTIS_INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'pilotis.db'}"
    assert settings.is_production
    assert resolve_database_url({"DATABASE_URL": "postgresql://u@h/db"}) == "postgresql://u@h/db"


def test_given_secret_key_wins_and_no_file_is_written(tmp_path):
    settings = Settings.from_env({"PILOTIS_INSTANCE_PATH": str(tmp_path), "PILOTIS_SECRET_KEY": "k" * 40})
    assert settings.secret_key == "k" * 40
    assert not (tmp_path / "secret_key").exists()


def test_unknown_environment_is_refused_in_french(tmp_path):
    with pytest.raises(ValueError, match="valeurs possibles"):
        Settings.from_env({"PILOTIS_INSTANCE_PATH": str(tmp_path), "PILOTIS_ENV": "prod"})


def test_postgres_urls_use_psycopg_and_hide_passwords():
    assert normalise_url("postgres://u:secret@h/db").drivername == "postgresql+psycopg"
    assert "secret" not in describe_url("postgresql://u:secret@h/db")
