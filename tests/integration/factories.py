"""Small builders of valid rows, so each integrity test breaks exactly one rule."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from models import (
    Activity,
    Direction,
    Frequency,
    Indicator,
    IndicatorType,
    Need,
    Organisation,
    OrganisationKind,
    Period,
    PeriodKind,
    Perspective,
    PopulationGroup,
    Service,
    ServiceKind,
    Territory,
    TerritoryKind,
)


def organisation(session: Session) -> Organisation:
    org = Organisation(slug=f"t-{uuid.uuid4().hex[:10]}", name="CCAS de Test", kind=OrganisationKind.CCAS)
    session.add(org)
    session.flush()
    return org


def territory(session: Session, org: Organisation, code: str = "11069") -> Territory:
    t = Territory(organisation_id=org.id, kind=TerritoryKind.COMMUNE, code=code, name="Commune")
    session.add(t)
    session.flush()
    return t


def need(session: Session, org: Organisation, **overrides: object) -> Need:
    group = PopulationGroup(organisation_id=org.id, code=f"g{uuid.uuid4().hex[:6]}", name="Public")
    session.add(group)
    session.flush()
    values: dict[str, object] = {
        "organisation_id": org.id,
        "population_group_id": group.id,
        "territory_id": territory(session, org, code=uuid.uuid4().hex[:5]).id,
        "code": f"N{uuid.uuid4().hex[:6]}",
        "label": "Besoin",
        "size": 10.0,
        "unit": "personnes",
    }
    values.update(overrides)
    n = Need(**values)
    session.add(n)
    session.flush()
    return n


def service(session: Session, org: Organisation, **overrides: object) -> Service:
    values: dict[str, object] = {
        "organisation_id": org.id,
        "code": f"S{uuid.uuid4().hex[:6]}",
        "name": "Service",
        "kind": ServiceKind.OWN,
    }
    values.update(overrides)
    s = Service(**values)
    session.add(s)
    session.flush()
    return s


def activity(session: Session, org: Organisation, **overrides: object) -> Activity:
    values: dict[str, object] = {
        "organisation_id": org.id,
        "service_id": service(session, org).id,
        "code": f"A{uuid.uuid4().hex[:6]}",
        "name": "Activité",
        "output_unit": "repas",
        "unit_cost": Decimal("11.20"),
        "capacity": 100.0,
    }
    values.update(overrides)
    a = Activity(**values)
    session.add(a)
    session.flush()
    return a


def indicator(session: Session, org: Organisation, **overrides: object) -> Indicator:
    values: dict[str, object] = {
        "organisation_id": org.id,
        "code": f"i_{uuid.uuid4().hex[:6]}",
        "label": "Indicateur",
        "type": IndicatorType.OUTPUT,
        "unit": "repas",
        "direction": Direction.HIGHER_IS_BETTER,
        "frequency": Frequency.MONTHLY,
        "perspective": Perspective.USERS,
    }
    values.update(overrides)
    i = Indicator(**values)
    session.add(i)
    session.flush()
    return i


def period(session: Session, org: Organisation, key: str = "2025-03") -> Period:
    p = Period(
        organisation_id=org.id,
        key=key,
        kind=PeriodKind.MONTH,
        start_date=date(2025, 3, 1),
        end_date=date(2025, 3, 31),
    )
    session.add(p)
    session.flush()
    return p
