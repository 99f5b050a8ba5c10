"""Integrity rules held by the database itself, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models import (
    ActivityNeedCoverage,
    CostKind,
    CostLine,
    Measurement,
    MeasurementState,
    Objective,
    ObjectiveLevel,
    Perspective,
    Service,
    ServiceKind,
    Target,
    TerritoryStatistic,
)
from tests.integration import factories as f


def _refused(session: Session, obj: object) -> None:
    """The database refuses ``obj``; the test's transaction goes on (a savepoint rolls back)."""
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(obj)
        session.flush()


def test_one_measurement_per_indicator_period_and_territory(db_session):
    org = f.organisation(db_session)
    ind, per, ter = f.indicator(db_session, org), f.period(db_session, org), f.territory(db_session, org)
    for territory_id in (None, ter.id):
        db_session.add(
            Measurement(
                organisation_id=org.id,
                indicator_id=ind.id,
                period_id=per.id,
                territory_id=territory_id,
                value=1.0,
            )
        )
        db_session.flush()
        # NULLs are distinct in a unique key: the partial index must catch the organisation-wide case
        _refused(
            db_session,
            Measurement(
                organisation_id=org.id,
                indicator_id=ind.id,
                period_id=per.id,
                territory_id=territory_id,
                value=2.0,
            ),
        )


def test_a_submitted_measurement_has_a_value(db_session):
    org = f.organisation(db_session)
    ind, per = f.indicator(db_session, org), f.period(db_session, org)
    _refused(
        db_session,
        Measurement(
            organisation_id=org.id,
            indicator_id=ind.id,
            period_id=per.id,
            value=None,
            state=MeasurementState.SUBMITTED,
        ),
    )


def test_a_secret_statistic_has_no_value_and_a_published_one_has_one(db_session):
    org = f.organisation(db_session)
    ter = f.territory(db_session, org)
    base = dict(
        organisation_id=org.id,
        territory_id=ter.id,
        label="RSA",
        unit="allocataires",
        vintage=2020,
        source="CNAF",
    )
    _refused(db_session, TerritoryStatistic(variable="a", value=0.0, is_secret=True, **base))
    _refused(db_session, TerritoryStatistic(variable="b", value=None, is_secret=False, **base))
    db_session.add(TerritoryStatistic(variable="c", value=None, is_secret=True, **base))
    db_session.flush()


@pytest.mark.parametrize(
    "overrides",
    [
        {"unit_cost": Decimal("-0.01")},
        {"fixed_cost": Decimal("-1")},
        {"capacity": -1.0},
        {"staff_etp": Decimal("-0.5")},
        {"min_volume": 200.0},  # above its capacity of 100
    ],
)
def test_activity_costs_capacities_and_staff_are_non_negative(db_session, overrides):
    org = f.organisation(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        f.activity(db_session, org, **overrides)


@pytest.mark.parametrize("overrides", [{"size": -1.0}, {"priority": 0}, {"priority": 6}])
def test_need_sizes_are_non_negative_and_priorities_are_levels(db_session, overrides):
    org = f.organisation(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        f.need(db_session, org, **overrides)


def test_a_coverage_coefficient_is_non_negative(db_session):
    org = f.organisation(db_session)
    act, need = f.activity(db_session, org), f.need(db_session, org)
    _refused(db_session, ActivityNeedCoverage(activity_id=act.id, need_id=need.id, coefficient=-0.1))


def test_only_a_decision_modificative_may_lower_a_credit(db_session):
    org = f.organisation(db_session)
    line = dict(
        organisation_id=org.id,
        kind=CostKind.BUDGET,
        year=2025,
        function_code="424",
        nature_code="65",
        label="Aides",
        amount=Decimal("-100.00"),
    )
    _refused(db_session, CostLine(document_type="BP", **line))
    db_session.add(CostLine(document_type="DM", **line))
    db_session.flush()


def test_money_keeps_its_cents_exactly(db_session):
    org = f.organisation(db_session)
    line = CostLine(
        organisation_id=org.id,
        kind=CostKind.ACTUAL,
        document_type="CA",
        year=2025,
        function_code="423",
        nature_code="012",
        label="Personnel",
        amount=Decimal("1234567.89"),
    )
    db_session.add(line)
    db_session.flush()
    db_session.expire(line)
    assert line.amount == Decimal("1234567.89")
    assert isinstance(line.amount, Decimal)


def test_an_operational_objective_belongs_to_a_service(db_session):
    org = f.organisation(db_session)
    _refused(
        db_session,
        Objective(
            organisation_id=org.id,
            code="OO",
            title="Sans service",
            level=ObjectiveLevel.OPERATIONAL,
            perspective=Perspective.USERS,
        ),
    )


def test_a_partner_has_a_partner_type_and_an_own_service_has_none(db_session):
    org = f.organisation(db_session)
    _refused(db_session, Service(organisation_id=org.id, code="P", name="CAF", kind=ServiceKind.PARTNER))


def test_red_tolerance_is_beyond_amber(db_session):
    org = f.organisation(db_session)
    ind, per = f.indicator(db_session, org), f.period(db_session, org)
    _refused(
        db_session,
        Target(indicator_id=ind.id, period_id=per.id, value=10.0, amber_tolerance=0.2, red_tolerance=0.1),
    )


def test_foreign_keys_are_enforced(db_session):
    org = f.organisation(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        f.need(db_session, org, population_group_id=987_654_321)


def test_enum_columns_refuse_unknown_values_in_the_database(db_session):
    org = f.organisation(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(text("UPDATE organisations SET kind = 'mairie' WHERE id = :id"), {"id": org.id})


def test_insee_codes_are_five_characters_and_kept_as_text(db_session):
    org = f.organisation(db_session)
    ter = f.territory(db_session, org, code="2A004")  # Ajaccio: a letter in the code
    db_session.expire(ter)
    assert ter.code == "2A004"
    org.insee_code = "1069"
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.flush()


def test_naive_datetimes_are_refused(db_session):
    org = f.organisation(db_session)
    per = f.period(db_session, org)
    per.closed_at = datetime(2025, 4, 1, 12, 0)  # noqa: DTZ001 - the point: no time zone
    with pytest.raises(StatementError, match="naive datetime"), db_session.begin_nested():
        db_session.flush()
    db_session.expunge_all()


def test_timestamps_come_back_in_utc(db_session):
    org = f.organisation(db_session)
    db_session.expire(org)
    assert org.created_at.tzinfo is not None
    assert org.created_at.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - org.created_at).total_seconds()) < 600


def test_a_stale_edit_is_refused_not_silently_overwritten(engine):
    from pilotis.database import session_factory

    factory = session_factory(engine, write=True)
    with factory() as setup:
        org = f.organisation(setup)
        svc = f.service(setup, org, name="Avant")
        setup.commit()
        service_id, org_id = svc.id, org.id
    try:
        with factory() as alice, factory() as bob:
            mine = alice.get(Service, service_id)
            alice.commit()  # Alice reads the form, her transaction ends (objects are kept)
            theirs = bob.get(Service, service_id)
            theirs.name = "Bob"
            bob.commit()
            mine.name = "Alice"  # Alice saves what she read before Bob's change
            with pytest.raises(StaleDataError):
                alice.commit()
        with factory() as check:
            assert check.get(Service, service_id).name == "Bob"
    finally:
        with factory() as cleanup:
            cleanup.execute(text("DELETE FROM services WHERE id = :id"), {"id": service_id})
            cleanup.execute(text("DELETE FROM organisations WHERE id = :id"), {"id": org_id})
            cleanup.commit()
