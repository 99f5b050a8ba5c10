"""Flask integration of the database: one session per request, closed at teardown.

GET/HEAD/OPTIONS requests get a read session (deferred BEGIN on SQLite); others get a write
session. Handlers only flush; the request commits once, after a successful response, or rolls
back (Indico's pattern: one owner of the transaction).

On SQLite a write session takes the database's one write lock at its first statement and keeps it
until the response: whatever a write request only reads before its writes goes elsewhere (who
is signed in: :func:`reading`; the bell's count, a form's choices: :func:`read_session`), and an
uploaded file is parsed before the first use of :func:`db_session`, so that a slow request never
makes the others wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, g, request, url_for
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pilotis.database import make_engine, session_factory

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_app(app: Flask, database_url: str) -> None:
    engine = make_engine(database_url)
    app.extensions["pilotis.engine"] = engine
    app.extensions["pilotis.read_sessions"] = session_factory(engine)
    app.extensions["pilotis.write_sessions"] = session_factory(engine, write=True)
    app.after_request(_commit_write_request)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["pilotis.engine"]  # type: ignore[no-any-return]


def db_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        write = request.method not in SAFE_METHODS if request else True
        key = "pilotis.write_sessions" if write else "pilotis.read_sessions"
        factory: sessionmaker[Session] = current_app.extensions[key]
        g.db_session = factory()
    return g.db_session  # type: ignore[no-any-return]


def read_session() -> Session:
    """A session for reads that must not take SQLite's write lock: the request's own session when
    its transaction has begun (or the request is a read), else a read session of its own, closed
    at teardown. Its objects belong to it: pass on ids and values, not rows."""
    opened: Session | None = g.get("db_session")
    if (opened is not None and opened.in_transaction()) or (request and request.method in SAFE_METHODS):
        return db_session()
    if "read_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions["pilotis.read_sessions"]
        g.read_session = factory()
    return g.read_session  # type: ignore[no-any-return]


@contextmanager
def reading() -> Iterator[Session]:
    """A read session of its own, closed when the block ends (its connection back in the pool)."""
    factory: sessionmaker[Session] = current_app.extensions["pilotis.read_sessions"]
    with factory() as session:
        yield session


def public_url(endpoint: str, **values: Any) -> str:
    """The address of a page for someone outside this request (a public survey link, a mail):
    ``PILOTIS_PUBLIC_URL`` followed by the page's path, or the address this request came by."""
    base = current_app.config["PILOTIS_SETTINGS"].public_url
    if base:
        return f"{base}{url_for(endpoint, **values)}"
    return url_for(endpoint, _external=True, **values)


def keep_changes() -> None:
    """Commit this write request even though it answers with an error status (e.g. a refused
    sign-in must still count the failure)."""
    g.keep_changes = True


def release_session() -> None:
    """End the request's session now (nothing to save): work that opens its own transactions, such
    as a job run from a page, must not wait behind this request's SQLite write lock."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once this request's changes are committed (e.g. start background work
    that must see them); never if the request fails."""
    g.setdefault("after_commit", []).append(callback)


def _commit_write_request(response: Response) -> Response:
    session: Session | None = g.get("db_session")
    if session is None or request.method in SAFE_METHODS:
        return response
    if response.status_code < 400 or g.get("keep_changes"):
        session.commit()
        for callback in g.pop("after_commit", []):
            callback()
    return response


def _close_session(exc: BaseException | None) -> None:
    for key in ("db_session", "read_session"):
        session: Session | None = g.pop(key, None)
        if session is not None:
            session.rollback()  # no-op after a commit; discards anything a failed request left
            session.close()
