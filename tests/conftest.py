"""Fixtures: every database test runs on the backend named by PILOTIS_TEST_DATABASE_URL.

Without it, a fresh SQLite file per test session. CI runs the whole suite once on SQLite and
once on a fresh PostgreSQL database (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import CodeType

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import Engine, delete, select, text, tuple_
from sqlalchemy.orm import Session

from pilotis import create_app, schema
from pilotis.database import make_engine, normalise_url, write_session
from pilotis.worker import prepare_queue

#: The reference day of the demo in tests: figures do not depend on the day the tests run.
DEMO_AS_OF = date(2026, 11, 26)
DEMO_COMMUNE = "11069"


#: The tests' password hash: still scrypt, at a cost of 2^10 instead of 2^15 (werkzeug's
#: default, about 100 ms per hash here, RELIABILITY.md trap 6). Several hundred sign-ins and
#: every demo build hash or check passwords; ``test_the_production_hash_is_scrypt_at_full_cost``
#: pins what a real server uses.
TEST_PASSWORD_METHOD = "scrypt:1024:8:1"


def pytest_configure(config: pytest.Config) -> None:
    from services import accounts

    accounts.PASSWORD_METHOD = TEST_PASSWORD_METHOD


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``PILOTIS_TESTS=database``, only the tests that touch the database: those that use
    the session's database (``database_url``, directly or through another fixture). CI runs the
    whole suite on SQLite, then these again on PostgreSQL; a test that needs no database gives
    the same answer on both, so it runs once."""
    if os.environ.get("PILOTIS_TESTS") != "database":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if "database_url" in getattr(item, "fixturenames", ()) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's database. Under pytest-xdist each worker has its own: a SQLite file in its
    own temporary folder, or on PostgreSQL a database named after the given one and the worker
    (``<name>_gw0``…), created for the session and dropped after it."""
    url = os.environ.get("PILOTIS_TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'pilotis-test.db'}"
    elif not worker or not is_postgresql(url):
        yield url
    else:
        name = f"{normalise_url(url).database}_{worker}"
        with _postgresql_database(url, name) as worker_url:
            yield worker_url


@contextmanager
def _postgresql_database(url: str, name: str, *, template: str | None = None) -> Iterator[str]:
    """A new database ``name`` on the server of ``url`` (empty, or a copy of the database
    ``template``), dropped when the block ends."""
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        yield normalise_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def is_postgresql(url: str) -> bool:
    return normalise_url(url).get_backend_name() == "postgresql"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The test database, emptied and migrated to the current schema once per session."""
    eng = make_engine(database_url)
    if is_postgresql(database_url):
        name = normalise_url(database_url).database or ""
        if "test" not in name:
            pytest.exit(
                f"PILOTIS_TEST_DATABASE_URL names the database « {name} »: the tests empty it, so "
                "its name must contain « test »."
            )
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    schema.upgrade(eng)
    prepare_queue(eng)  # as ``pilotis db upgrade``: procrastinate's schema on PostgreSQL
    yield eng
    eng.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, whatever it committed."""
    from sqlalchemy.orm import sessionmaker

    from services.audit import install

    connection = engine.connect()
    transaction = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    install(factory)  # audited, like the application's sessions
    session = factory()
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@contextmanager
def rows_added_are_removed(engine: Engine) -> Iterator[None]:
    """Whatever rows the block adds to any table are deleted when it ends (children first).

    For fixtures whose tests commit through the application (a module-scoped set of targets, a
    live server): the session-wide demo is left as they found it, so that a later test does not
    count their indicators, reviews or notifications, whatever the order of the tests."""
    from models import Base

    tables = Base.metadata.sorted_tables

    def keys() -> dict[str, set[tuple[object, ...]]]:
        with engine.connect() as conn:
            return {
                table.name: {tuple(row) for row in conn.execute(select(*table.primary_key.columns))}
                for table in tables
            }

    before = keys()
    yield
    after = keys()
    with write_session(engine) as session:
        for table in reversed(tables):
            added = after[table.name] - before[table.name]
            columns = list(table.primary_key.columns)
            for chunk in _chunks(sorted(added, key=repr), 500):
                if len(columns) == 1:
                    session.execute(delete(table).where(columns[0].in_([key[0] for key in chunk])))
                else:
                    session.execute(delete(table).where(tuple_(*columns).in_(chunk)))


def _chunks(items: list[tuple[object, ...]], size: int) -> Iterator[list[tuple[object, ...]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@pytest.fixture(scope="session")
def demo(engine: Engine):  # type: ignore[no-untyped-def]
    """The demo organisation of Carcassonne, built once and committed."""
    from services.demo import build_demo

    with write_session(engine) as session:
        return build_demo(session, DEMO_COMMUNE, as_of=DEMO_AS_OF)


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A brand-new empty database on the same backend, dropped after the test."""
    if not is_postgresql(database_url):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _postgresql_database(database_url, f"pilotis_t_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture(scope="session")
def _demo_template(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the session's backend holding what ``pilotis demo`` writes into an empty one,
    built once: the tests that need a demo of their own get a copy of it (a copy costs a few
    milliseconds on SQLite and well under a second on PostgreSQL; building the demo, seconds)."""
    folder = tmp_path_factory.mktemp("demo-template")

    def build(url: str) -> None:
        app = new_app(url, folder / "instance")
        result = app.test_cli_runner().invoke(args=["demo", "--as-of", DEMO_AS_OF.isoformat()])
        assert result.exit_code == 0, result.output
        engine = app.extensions["pilotis.engine"]
        if not is_postgresql(url):
            with engine.connect() as conn:  # everything into the main file, which is what is copied
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()  # PostgreSQL copies a template only while nobody is connected to it

    if not is_postgresql(database_url):
        url = f"sqlite:///{folder / 'demo.db'}"
        build(url)
        yield url
        return
    with _postgresql_database(database_url, f"{normalise_url(database_url).database}_demo") as url:
        build(url)
        yield url


@pytest.fixture
def demo_database_url(_demo_template: str, database_url: str, tmp_path: Path) -> Iterator[str]:
    """A brand-new database, dropped after the test, holding exactly what
    ``pilotis demo --as-of 2026-11-26`` writes into an empty database (for tests of commands that
    need a demo of their own, apart from the session's shared one)."""
    if not is_postgresql(_demo_template):
        template = normalise_url(_demo_template).database or ""
        copy = tmp_path / "demo.db"
        shutil.copyfile(template, copy)
        yield f"sqlite:///{copy}"
        return
    template = normalise_url(_demo_template).database or ""
    # connected to the session's database: a template being copied must have no connection
    with _postgresql_database(database_url, f"pilotis_t_{uuid.uuid4().hex[:12]}", template=template) as url:
        yield url


class _CompiledTemplates(BytecodeCache):
    """Jinja bytecode shared by every app of the session, in memory: each test builds its own app
    (whose template cache starts empty), and compiling the templates again for each one was the
    larger part of a page test. A template whose source changed gets a different checksum and is
    compiled again."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        found = self._code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)


_TEMPLATES = _CompiledTemplates()


def new_app(database_url: str, instance_path: Path, **config: object) -> Flask:
    """An application for the tests on ``database_url``; the caller disposes of its engine."""
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "tests-only-" + "x" * 32,
            "INSTANCE_PATH": str(instance_path),
            "TESTING": True,
            **config,
        }
    )
    app.jinja_env.bytecode_cache = _TEMPLATES
    return app


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on a given database; their connection pools are closed after the test."""
    apps: list[Flask] = []

    def factory(database_url: str, **config: object) -> Flask:
        app = new_app(database_url, tmp_path / "instance", **config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["pilotis.engine"].dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask], database_url: str, engine: Engine) -> Flask:
    return make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def csrf_token(html: str) -> str:
    """The CSRF token of the first form of a page."""
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


DEMO_PASSWORD = "demo-pilotis-2026"


def demo_email(login: str) -> str:
    return f"{login}@carcassonne.pilotis.example"


def sign_in(client: FlaskClient, login: str, password: str = DEMO_PASSWORD) -> FlaskClient:
    """Sign in through the login form, as a person would (CSRF token included)."""
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    response = client.post(
        "/connexion", data={"csrf_token": token, "email": demo_email(login), "password": password}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def login_as(app: Flask, demo) -> Callable[[str], FlaskClient]:  # type: ignore[no-untyped-def]
    """``login_as("direction")``: a test client signed in as that demo account."""

    def factory(login: str) -> FlaskClient:
        return sign_in(app.test_client(), login)

    return factory


@pytest.fixture(scope="session")
def other_demo(engine: Engine, demo):  # type: ignore[no-untyped-def]
    """A second organisation in the same database (the demo of Rodez)."""
    from services.demo import build_demo

    with write_session(engine) as session:
        return build_demo(session, "12202", as_of=DEMO_AS_OF)


@pytest.fixture(autouse=True)
def _forget_sign_in_failures(request: pytest.FixtureRequest) -> Iterator[None]:
    """Failed sign-ins of one test must not lock accounts or throttle addresses in the next."""
    yield
    if "engine" not in request.fixturenames:
        return
    engine = request.getfixturevalue("engine")
    from sqlalchemy import func, or_, select, update

    from models import LoginFailure, User

    # most tests fail no sign-in: look first (a read), write only when there is something to forget
    with engine.connect() as conn:
        failures = conn.scalar(select(func.count()).select_from(LoginFailure))
        locked = conn.scalar(
            select(func.count())
            .select_from(User)
            .where(or_(User.failed_logins != 0, User.locked_until.is_not(None)))
        )
    if not failures and not locked:
        return
    with write_session(engine) as session:
        session.execute(text(f"DELETE FROM {LoginFailure.__tablename__}"))
        session.execute(update(User).values(failed_logins=0, locked_until=None))
