"""Results kept while the database is unchanged (services.cache): the costing of the demo is
computed once per session, shared by read sessions while no commit happened, and a commit —
from another session, another connection or the very connection that read it — is seen."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

import services.costing
from models import CostKind, CostLine
from pilotis import database
from pilotis.database import make_engine, session_factory, write_session
from services import cache
from services.costing import compute, years_with_costs


@pytest.fixture
def costings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per run of the costing core (its organisation), from a cleared process cache."""
    runs: list[int] = []
    core = services.costing.compute_costing

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(1)
        return core(*args, **kwargs)

    monkeypatch.setattr(services.costing, "compute_costing", counted)
    cache.clear()
    return runs


def _expense_line(session: Session, organisation_id: int) -> tuple[int, int, Decimal]:
    """The largest expense line of the latest accounts: id, year, amount."""
    year = next(y for y, basis in years_with_costs(session, organisation_id) if basis == "actual")
    found = session.execute(
        select(CostLine.id, CostLine.amount)
        .where(CostLine.organisation_id == organisation_id, CostLine.year == year)
        .where(CostLine.kind == CostKind.ACTUAL, CostLine.flow == "depense")
        .where(CostLine.section == "fonctionnement", CostLine.operation == "reelle")
        .order_by(CostLine.amount.desc(), CostLine.id)
    ).first()
    assert found is not None
    return int(found[0]), year, found[1]


@pytest.fixture
def line(engine: Engine, demo) -> Iterator[tuple[int, int, Decimal]]:  # type: ignore[no-untyped-def]
    """An expense line of the demo's latest accounts (id, year, amount), its amount put back after."""
    with session_factory(engine)() as session:
        found = _expense_line(session, demo.organisation_id)
    yield found
    with write_session(engine) as session:
        row = session.get(CostLine, found[0])
        assert row is not None
        row.amount = found[2]


def _add(engine: Engine, line_id: int, euros: int) -> None:
    with write_session(engine) as session:
        row = session.get(CostLine, line_id)
        assert row is not None
        row.amount = row.amount + euros


def _snapshot(engine: Engine) -> str | None:
    """PostgreSQL's snapshot now (a commit anywhere on the server changes it), None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT pg_current_snapshot()::text")).scalar())


def test_the_services_read_the_shell_write_option():
    assert cache.WRITE_OPTION == database.WRITE_OPTION


def test_one_costing_per_session_and_shared_until_a_commit_is_seen(engine, demo, line, costings):
    line_id, year, _ = line
    org = demo.organisation_id
    reads = session_factory(engine)
    before = _snapshot(engine)
    with reads() as session:
        first = compute(session, org, year)
        again = compute(session, org, year, basis="actual")  # "auto" is the accounts here: the same
        assert costings == [1]
        first.activities["full_cost"] = 0.0  # a caller's change stays its own
        assert again.activities["full_cost"].sum() == pytest.approx(first.costing.total_out)
    with reads() as session:
        shared = compute(session, org, year)
    if engine.dialect.name == "sqlite" or _snapshot(engine) == before:  # no commit on the server since
        assert costings == [1]
    assert shared.costing.total_in == again.costing.total_in

    _add(engine, line_id, 1000)
    runs = len(costings)
    with reads() as session:
        changed = compute(session, org, year)
    assert len(costings) == runs + 1
    assert changed.costing.total_in == pytest.approx(again.costing.total_in + 1000)


def test_the_connection_that_committed_sees_its_own_commit(database_url, demo, line, costings):
    line_id, year, _ = line
    single = make_engine(database_url, pool_size=1, max_overflow=0)  # one connection for all
    try:
        with session_factory(single)() as session:
            total = compute(session, demo.organisation_id, year).costing.total_in
        _add(single, line_id, 250)  # SQLite keeps that connection's own data_version
        with session_factory(single)() as session:
            seen = compute(session, demo.organisation_id, year).costing.total_in
        assert seen == pytest.approx(total + 250)
    finally:
        single.dispose()


def test_a_write_session_never_shares_and_sees_its_own_flushes(engine, demo, line, costings):
    line_id, year, amount = line
    with write_session(engine) as session:
        total = compute(session, demo.organisation_id, year).costing.total_in
        compute(session, demo.organisation_id, year)
        assert costings == [1]  # once per session
        row = session.get(CostLine, line_id)
        assert row is not None
        row.amount = amount + 40
        session.flush()
        assert compute(session, demo.organisation_id, year).costing.total_in == pytest.approx(total + 40)
        assert costings == [1, 1]
        session.rollback()
    with write_session(engine) as session:
        assert compute(session, demo.organisation_id, year).costing.total_in == pytest.approx(total)
    assert costings == [1, 1, 1]  # not read from the process's results


def test_a_test_session_inside_a_transaction_keeps_to_itself(db_session, demo, costings):
    line_id, year, amount = _expense_line(db_session, demo.organisation_id)  # rolled back after
    total = compute(db_session, demo.organisation_id, year).costing.total_in
    row = db_session.get(CostLine, line_id)
    assert row is not None
    row.amount = amount + 7
    db_session.commit()  # a savepoint of the test's transaction, not a commit of the database
    assert compute(db_session, demo.organisation_id, year).costing.total_in == pytest.approx(total + 7)
    assert costings == [1, 1]
