"""Read models for the home page and the CLI: what an organisation holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
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
from services import cache
from services.numbers import format_percent


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
    """Counts, services with their number of activities, the highest-priority needs (read once
    per session, and kept while the database is unchanged: :mod:`services.cache`)."""
    counts, services, top_needs, by_perspective = cache.remember(
        session,
        ("overview", organisation.id, needs),
        lambda: _overview(session, organisation.id, needs),
        copy=lambda kept: (dict(kept[0]), list(kept[1]), list(kept[2]), dict(kept[3])),
    )
    return OrganisationOverview(
        organisation=organisation,
        counts=counts,
        services=services,
        top_needs=top_needs,
        indicators_by_perspective=by_perspective,
    )


def _overview(
    session: Session, org_id: int, needs: int
) -> tuple[dict[str, int], list[ServiceLine], list[NeedLine], dict[Perspective, int]]:
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
    return (
        organisation_counts(session, org_id),
        services,
        top_needs,
        {p: by_perspective.get(p, 0) for p in Perspective},
    )


#: The kind of period an indicator of each frequency is measured on.
FREQUENCY_PERIOD_KIND = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}


@dataclass(frozen=True)
class AttentionItem:
    """Something that needs the person's attention: a count and a few lines of detail."""

    title: str
    count: int
    lines: list[str]
    link: str | None = None  # an endpoint name for the page that deals with it


def attention_items(session: Session, principal: Any, *, today: Any) -> list[AttentionItem]:
    """What needs the attention of ``principal`` (a :class:`services.policy.Principal`)."""
    from models import MeasurementState, PeriodState, Role

    org_id = principal.organisation_id
    items: list[AttentionItem] = []
    if principal.role is Role.SERVICE_MANAGER or principal.role is Role.DIRECTION:
        due = (
            select(Indicator.label, Service.name, Period.key)
            .join(Service, Service.id == Indicator.service_id)
            .join(Period, (Period.organisation_id == org_id) & (Period.state == PeriodState.OPEN))
            .outerjoin(
                Measurement,
                (Measurement.indicator_id == Indicator.id)
                & (Measurement.period_id == Period.id)
                & (Measurement.state != MeasurementState.DRAFT),
            )
            .where(
                Indicator.organisation_id == org_id,
                Indicator.formula.is_(None),
                Period.end_date < today,
                Period.kind == case(FREQUENCY_PERIOD_KIND, value=Indicator.frequency),
                Measurement.id.is_(None),
            )
            .order_by(Period.key, Service.name, Indicator.label)
        )
        if principal.role is Role.SERVICE_MANAGER:
            due = due.where(Indicator.service_id.in_(principal.service_ids))
        rows = cache.remember(
            session,
            ("attention.due", org_id, principal.role, tuple(sorted(principal.service_ids)), today),
            lambda: [(str(a), str(b), str(c)) for a, b, c in session.execute(due)],
        )  # read here only: no copy
        items.append(
            AttentionItem(
                "Valeurs d'indicateurs à saisir",
                len(rows),
                [f"{label} — {service} — {key}" for label, service, key in rows[:8]],
            )
        )
    if principal.role is Role.DIRECTION:
        submitted = (
            select(Service.name, func.count())
            .select_from(Measurement)
            .join(Indicator, Indicator.id == Measurement.indicator_id)
            .join(Service, Service.id == Indicator.service_id)
            .where(Measurement.organisation_id == org_id, Measurement.state == MeasurementState.SUBMITTED)
            .group_by(Service.name)
            .order_by(Service.name)
        )
        waiting = cache.remember(
            session,
            ("attention.waiting", org_id),
            lambda: [(str(name), int(count)) for name, count in session.execute(submitted)],
        )  # read here only: no copy
        items.append(
            AttentionItem(
                "Valeurs soumises à valider",
                sum(int(c) for _, c in waiting),
                [f"{name} : {count}" for name, count in waiting],
            )
        )
    if principal.role is Role.ADMIN:
        users = session.scalars(select(User).where(User.organisation_id == org_id)).all()
        locked = [u for u in users if u.locked_until is not None and u.locked_until > _now()]
        inactive = [u for u in users if not u.is_active]
        items.append(
            AttentionItem(
                "Comptes verrouillés ou désactivés",
                len(locked) + len(inactive),
                [f"{u.full_name} ({u.email}) — verrouillé" for u in locked]
                + [f"{u.full_name} ({u.email}) — désactivé" for u in inactive],
                "admin.users",
            )
        )
    if principal.role is Role.FINANCE:
        year = session.scalar(
            select(func.max(CostLine.year)).where(
                CostLine.organisation_id == org_id, CostLine.kind == "actual"
            )
        )
        if year is not None:
            from services.budget import execution

            # the figures read here only: one execution (and its two costings) per data version
            run = cache.remember(
                session, ("execution", org_id, year), lambda: execution(session, org_id, year)
            )

            def percent(value: float) -> str:
                return format_percent(value, 1, trim=False)  # NaN (no budget): « — »

            lines = [f"Taux d'exécution des dépenses : {percent(run.total['rate'])}"]
            if run.state == "to_date":
                lines = [
                    f"Taux d'exécution à fin de mois {run.months} : {percent(run.total['rate'])}",
                    f"Projection de fin d'année : {percent(run.total['projected_rate'])} du budget voté",
                ]
            items.append(AttentionItem(f"Exécution du budget {year}", 1, lines, "costs.budget_execution"))
    if principal.role is Role.ELECTED:
        unsized = session.scalar(
            select(func.count()).select_from(Need).where(Need.organisation_id == org_id, Need.size.is_(None))
        )
        items.append(
            AttentionItem(
                "Besoins sans effectif connu (secret statistique)",
                int(unsized or 0),
                ["À chiffrer par une autre source avant d'en fixer la priorité."] if unsized else [],
            )
        )
    return items


def _now() -> Any:
    from models.base import utcnow

    return utcnow()
