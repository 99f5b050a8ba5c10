"""Settings read from environment variables, with safe defaults for the embedded demo."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pilotis.errors import PilotisError

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
    ``PILOTIS_COOKIE_SECURE``: ``1`` or ``0``, whether the cookies are sent over HTTPS only;
    ``1`` in production by default (``0`` only to try Pilotis over plain HTTP).
    ``PILOTIS_TRUSTED_PROXIES``: how many reverse proxies stand in front of Pilotis (their
    ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed); 0 by default.
    ``PILOTIS_PUBLIC_URL``: the address people open Pilotis at, for links in e-mails and the
    public survey link (formerly ``PILOTIS_BASE_URL``, still read).
    """

    database_url: str
    secret_key: str
    instance_path: Path
    env: str
    cookie_secure: bool = True
    trusted_proxies: int = 0
    public_url: str | None = None

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
        secure = over.get("COOKIE_SECURE", env.get("PILOTIS_COOKIE_SECURE"))
        return cls(
            database_url=database_url,
            secret_key=secret_key,
            instance_path=instance_path,
            env=run_env,
            cookie_secure=run_env == "production"
            if secure in (None, "")
            else _flag("PILOTIS_COOKIE_SECURE", secure),
            trusted_proxies=_proxy_count(over.get("TRUSTED_PROXIES", env.get("PILOTIS_TRUSTED_PROXIES"))),
            public_url=public_url_from_env({"PILOTIS_PUBLIC_URL": str(over["PUBLIC_URL"])})
            if over.get("PUBLIC_URL")
            else public_url_from_env(env),
        )


#: At most this many proxies in a chain (a typo such as 10 would believe forged addresses).
MAX_TRUSTED_PROXIES = 5


def _flag(name: str, value: object) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "oui", "yes"):
        return True
    if text in ("0", "false", "non", "no"):
        return False
    raise PilotisError(f"{name} vaut « {value} » : « 1 » ou « 0 » attendu.")


def _proxy_count(value: object) -> int:
    if value in (None, ""):
        return 0
    text = str(value).strip()
    if not text.isdigit() or int(text) > MAX_TRUSTED_PROXIES:
        raise PilotisError(
            f"PILOTIS_TRUSTED_PROXIES vaut « {value} » : le nombre de proxys inverses devant Pilotis "
            f"est attendu (0 sans proxy, 1 derrière un nginx ou un Apache, au plus {MAX_TRUSTED_PROXIES})."
        )
    return int(text)


def public_url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``PILOTIS_PUBLIC_URL`` (or its former name ``PILOTIS_BASE_URL``), checked, without a final
    ``/``; None when unset."""
    env = os.environ if environ is None else environ
    name = "PILOTIS_PUBLIC_URL" if env.get("PILOTIS_PUBLIC_URL") else "PILOTIS_BASE_URL"
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise PilotisError(
            f"{name} vaut « {raw} » : l'adresse publique de Pilotis est attendue, "
            "comme « https://pilotis.exemple.fr » (http ou https, sans « ? » ni « # »)."
        )
    return raw.rstrip("/")


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
