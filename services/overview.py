"""Read models for the home page and the CLI: what an organisation holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Activity,
    CostLine,
    Indicator,
    Measurement,
    Need,
    Objective,
    Organisation,
    Period,
    Perspective,
    PopulationGroup,
    Service,
    ServiceKind,
    Territory,
    TerritoryStatistic,
    User,
)


def organisation_counts(session: Session, organisation_id: int) -> dict[str, int]:
    """How many rows of each kind an organisation holds (for the home page and the CLI)."""
    models: dict[str, Any] = {
        "territories": Territory,
        "statistics": TerritoryStatistic,
        "population_groups": PopulationGroup,
        "needs": Need,
        "services": Service,
        "activities": Activity,
        "objectives": Objective,
        "indicators": Indicator,
        "periods": Period,
        "measurements": Measurement,
        "cost_lines": CostLine,
        "users": User,
    }
    return {
        name: int(
            session.scalar(
                select(func.count()).select_from(model).where(model.organisation_id == organisation_id)
            )
            or 0
        )
        for name, model in models.items()
    }


@dataclass(frozen=True)
class ServiceLine:
    name: str
    kind: ServiceKind
    is_support: bool
    activities: int


@dataclass(frozen=True)
class NeedLine:
    label: str
    territory: str
    group: str
    size: float | None
    unit: str
    priority: int
    source: str | None
    vintage: int | None


@dataclass(frozen=True)
class OrganisationOverview:
    organisation: Organisation
    counts: dict[str, int]
    services: list[ServiceLine]
    top_needs: list[NeedLine]
    indicators_by_perspective: dict[Perspective, int]


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


def organisation_overview(
    session: Session, organisation: Organisation, *, needs: int = 8
) -> OrganisationOverview:
    """Counts, services with their number of activities, the highest-priority needs."""
    org_id = organisation.id
    services = [
        ServiceLine(name, kind, is_support, int(count))
        for name, kind, is_support, count in session.execute(
            select(Service.name, Service.kind, Service.is_support, func.count(Activity.id))
            .outerjoin(Activity, Activity.service_id == Service.id)
            .where(Service.organisation_id == org_id)
            .group_by(Service.id, Service.name, Service.kind, Service.is_support)
            .order_by(Service.kind, Service.name)
        )
    ]
    top_needs = [
        NeedLine(need.label, territory, group, need.size, need.unit, need.priority, need.source, need.vintage)
        for need, territory, group in session.execute(
            select(Need, Territory.name, PopulationGroup.name)
            .join(Territory, Territory.id == Need.territory_id)
            .join(PopulationGroup, PopulationGroup.id == Need.population_group_id)
            .where(Need.organisation_id == org_id)
            .order_by(Need.priority.desc(), Need.size.desc().nulls_last(), Need.code)
            .limit(needs)
        )
    ]
    by_perspective = {
        perspective: int(count)
        for perspective, count in session.execute(
            select(Indicator.perspective, func.count())
            .where(Indicator.organisation_id == org_id)
            .group_by(Indicator.perspective)
        )
    }
    return OrganisationOverview(
        organisation=organisation,
        counts=organisation_counts(session, org_id),
        services=services,
        top_needs=top_needs,
        indicators_by_perspective={p: by_perspective.get(p, 0) for p in Perspective},
    )
