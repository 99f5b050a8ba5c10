"""Settings read from environment variables, with safe defaults for the embedded demo."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The project's root (the folder holding ``migrations/``, ``templates/`` and ``static/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


@dataclass(frozen=True)
class Settings:
    """What the application needs to start.

    ``DATABASE_URL``: any SQLAlchemy URL; ``postgresql://`` and ``postgres://`` are served by
    psycopg 3. Without it, SQLite in ``<instance>/pilotis.db``.
    ``PILOTIS_SECRET_KEY``: the session signing key; without it one is generated into
    ``<instance>/secret_key`` on first run and reused afterwards.
    ``PILOTIS_INSTANCE_PATH``: where the SQLite file, the secret key and uploads live.
    ``PILOTIS_ENV``: ``production`` (default: secure cookies) or ``development``.
    """

    database_url: str
    secret_key: str
    instance_path: Path
    env: str

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        over = dict(overrides or {})
        instance_path = Path(
            str(over.get("INSTANCE_PATH") or env.get("PILOTIS_INSTANCE_PATH") or DEFAULT_INSTANCE_PATH)
        )
        database_url = str(over.get("DATABASE_URL") or resolve_database_url(env, instance_path))
        secret_key = str(
            over.get("SECRET_KEY")
            or env.get("PILOTIS_SECRET_KEY")
            or env.get("SECRET_KEY")
            or load_or_create_secret_key(instance_path)
        )
        run_env = str(over.get("ENV") or env.get("PILOTIS_ENV") or "production")
        if run_env not in ("production", "development"):
            raise ValueError(
                f"PILOTIS_ENV vaut « {run_env} » : valeurs possibles « production » ou « development »."
            )
        return cls(
            database_url=database_url,
            secret_key=secret_key,
            instance_path=instance_path,
            env=run_env,
        )


def resolve_database_url(environ: Mapping[str, str] | None = None, instance_path: Path | None = None) -> str:
    """``DATABASE_URL``, or the embedded SQLite file under the instance folder."""
    env = os.environ if environ is None else environ
    if env.get("DATABASE_URL"):
        return env["DATABASE_URL"]
    folder = instance_path or Path(env.get("PILOTIS_INSTANCE_PATH") or DEFAULT_INSTANCE_PATH)
    return f"sqlite:///{folder / 'pilotis.db'}"


def load_or_create_secret_key(instance_path: Path) -> str:
    """Read ``<instance>/secret_key``, creating it (mode 0600) with 64 random hex digits if absent."""
    path = instance_path / "secret_key"
    if path.exists():
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting at once keep one key, the loser reads the winner's.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
