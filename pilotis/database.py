"""Engines and sessions, usable without Flask (CLI, scheduler, tests).

SQLite is configured as RELIABILITY.md measured it must be: WAL, a busy timeout, foreign keys
on, and ``BEGIN IMMEDIATE`` for write transactions so that a read-modify-write never upgrades
a read lock (which loses updates or fails with "database is locked"). Read transactions still
use a deferred ``BEGIN`` so that readers never queue behind writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

#: Execution option that marks an engine (and so its sessions) as writing.
WRITE_OPTION = "pilotis_write"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str) -> URL:
    """Parse a database URL; ``postgres://`` and ``postgresql://`` are served by psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def describe_url(url: str | URL) -> str:
    """The URL without its password, for messages."""
    parsed = normalise_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the project's SQLite or PostgreSQL settings."""
    parsed = normalise_url(url)
    # the connection used last is the next one lent (a pool of several connections: PostgreSQL,
    # a SQLite file): its caches are warm, and on SQLite its PRAGMA data_version lets
    # services.cache share a result between requests
    memory = parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed)
    if not (parsed.get_backend_name() == "sqlite" and memory):
        kwargs.setdefault("pool_use_lifo", True)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(parsed, **kwargs)


def _make_sqlite_engine(parsed: URL, **kwargs: Any) -> Engine:
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if database and database != ":memory:":
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def writing(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take the write lock at BEGIN on SQLite."""
    return engine.execution_options(**{WRITE_OPTION: True})


#: The attribute of an engine holding its session factories: they live and go with it.
_FACTORIES = "_pilotis_session_factories"


def session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """The engine's session factory, made once per engine (a worker or a command opens many
    sessions); ``write=True`` for sessions that will change rows."""
    from services import audit

    made: dict[bool, sessionmaker[Session]] | None = getattr(engine, _FACTORIES, None)
    if made is None:
        made = {}
        setattr(engine, _FACTORIES, made)
    if write not in made:
        factory = sessionmaker(bind=writing(engine) if write else engine, expire_on_commit=False)
        audit.install(factory)
        made[write] = factory
    return made[write]


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One unit of work outside a request: commit on success, roll back on any error."""
    with session_factory(engine, write=True)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def short_write_session(engine: Engine, *, wait_ms: int) -> Iterator[Session]:
    """A write unit of work that waits at most ``wait_ms`` for the write lock (SQLite's busy
    timeout, PostgreSQL's lock timeout) instead of the usual 10 s: past it, ``OperationalError``,
    and the caller decides (a sign-in defers its bookkeeping rather than keep a person waiting).
    Commit on success, roll back on any error; the connection goes back to the pool as it came."""
    from services import audit

    with writing(engine).connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        raw = connection.connection.dbapi_connection
        if sqlite and raw is not None:  # before BEGIN IMMEDIATE, which is where it waits
            raw.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        factory = sessionmaker(bind=connection, expire_on_commit=False)
        audit.install(factory)
        try:
            with factory() as session:
                if not sqlite:
                    session.execute(text(f"SET LOCAL lock_timeout = '{int(wait_ms)}ms'"))
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            if sqlite and raw is not None:
                raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
