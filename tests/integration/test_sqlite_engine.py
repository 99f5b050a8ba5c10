"""The embedded SQLite database as RELIABILITY.md measured it must be configured.

These tests use their own SQLite file whatever the backend of the run: they test the SQLite
engine itself.
"""

from __future__ import annotations

import threading

from sqlalchemy import Column, Integer, MetaData, Table, select, text, update

from pilotis.database import make_engine, session_factory


def test_pragmas_wal_busy_timeout_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    engine.dispose()


def test_write_sessions_lose_no_read_modify_write_update(tmp_path):
    """8 threads x 50 increments read then written back: without BEGIN IMMEDIATE most are lost."""
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    counters = Table("counters", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer))
    counters.create(engine)
    with engine.begin() as conn:
        conn.execute(counters.insert().values(id=1, n=0))
    factory = session_factory(engine, write=True)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                with factory() as session:
                    n = session.execute(select(counters.c.n).where(counters.c.id == 1)).scalar_one()
                    session.execute(update(counters).where(counters.c.id == 1).values(n=n + 1))
                    session.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(select(counters.c.n)).scalar_one() == 400
    engine.dispose()


def test_read_sessions_do_not_take_the_write_lock(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    reader = session_factory(engine)()
    reader.execute(text("SELECT count(*) FROM t")).scalar()  # a read transaction is open
    with session_factory(engine, write=True)() as writer:
        writer.execute(text("INSERT INTO t VALUES (1)"))
        writer.commit()  # not blocked by the open reader
    reader.close()
    engine.dispose()
