"""Data collection: the values a service owes for a period, their entry, submission, validation.

A service manager fills one grid per service and period, in French number formats; a value
that turns red needs a comment. Submitting sends the values to the direction, who validates
them or returns them with a comment. Validated values and closed periods are read-only: a
value still awaiting validation when its period closes stays out of the review and can no longer
be validated. Entry opens when a period starts, and an indicator is owed from its effective date.
Every save is all-or-nothing: one wrong row and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    Indicator,
    Measurement,
    MeasurementState,
    Period,
    PeriodState,
    Role,
    Service,
    Target,
    User,
)
from scorecard.engine import status_of_rows
from scorecard.errors import UserError
from services.editing import StaleEdit, apply_edit
from services.notifications import notify
from services.numbers import NumberError, parse_french_number, parse_value
from services.policy import Action, Principal, can, visible_service_ids

KIND_FREQUENCY = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}
STATE_LABELS = {"draft": "brouillon", "submitted": "soumise", "validated": "validée", "returned": "renvoyée"}


class CollectionError(UserError):
    """The grid cannot be shown or saved as asked (unknown period, out of scope…)."""


@dataclass
class GridRow:
    indicator: Indicator
    target: float | None
    band_low: float | None
    band_high: float | None
    measurement: Measurement | None
    editable: bool
    status: str = "missing"
    status_label: str = "Non renseigné"

    @property
    def state(self) -> str | None:
        return self.measurement.state.value if self.measurement else None


@dataclass
class Grid:
    service: Service
    period: Period
    rows: list[GridRow]

    @property
    def open(self) -> bool:
        return self.period.state is PeriodState.OPEN


@dataclass
class SaveResult:
    errors: dict[int, str] = field(default_factory=dict)
    saved: int = 0
    submitted: int = 0


def find_period(session: Session, organisation_id: int, key: str) -> Period:
    period = session.scalar(
        select(Period).where(Period.organisation_id == organisation_id, Period.key == key.strip())
    )
    if period is None:
        raise CollectionError(f"Période « {key} » inconnue pour votre organisation.")
    return period


def collection_grid(session: Session, principal: Principal, service_id: int, period_key: str) -> Grid:
    """The indicators of the service measured on the period's kind, with their current values."""
    service = session.get(Service, service_id)
    if service is None or service.organisation_id != principal.organisation_id:
        raise CollectionError("Service inconnu dans votre organisation.")
    period = find_period(session, principal.organisation_id, period_key)
    indicators = session.scalars(
        select(Indicator)
        .where(
            Indicator.service_id == service.id,
            Indicator.frequency == KIND_FREQUENCY[period.kind.value],
            Indicator.formula.is_(None),
            or_(Indicator.effective_from.is_(None), Indicator.effective_from <= period.end_date),
        )
        .order_by(Indicator.label)
    ).all()
    if service.id not in visible_service_ids(principal, [service.id]):
        raise CollectionError("Ce service n'est pas dans votre périmètre.")
    ids = [i.id for i in indicators]
    measurements = {
        m.indicator_id: m
        for m in session.scalars(
            select(Measurement).where(
                Measurement.indicator_id.in_(ids),
                Measurement.period_id == period.id,
                Measurement.territory_id.is_(None),
            )
        )
    }
    targets = {
        t.indicator_id: t
        for t in session.scalars(
            select(Target).where(Target.indicator_id.in_(ids), Target.period_id == period.id)
        )
    }
    rows = []
    for indicator in indicators:
        target = targets.get(indicator.id)
        measurement = measurements.get(indicator.id)
        editable = (
            period.state is PeriodState.OPEN
            and can(principal, Action.EDIT, indicator)
            and (measurement is None or measurement.state is not MeasurementState.VALIDATED)
        )
        rows.append(
            GridRow(
                indicator=indicator,
                target=target.value if target else None,
                band_low=target.band_low if target else None,
                band_high=target.band_high if target else None,
                measurement=measurement,
                editable=editable,
            )
        )
    _set_statuses(
        rows, {r.indicator.id: (r.measurement.value if r.measurement else None) for r in rows}, targets
    )
    return Grid(service=service, period=period, rows=rows)


def _set_statuses(
    rows: list[GridRow], values: Mapping[int, float | None], targets: Mapping[int, Target]
) -> None:
    if not rows:
        return
    frame = pd.DataFrame(
        {
            "value": [np.nan if values.get(r.indicator.id) is None else values[r.indicator.id] for r in rows],
            "direction": [r.indicator.direction.value for r in rows],
            "target": [r.target if r.target is not None else np.nan for r in rows],
            "band_low": [r.band_low if r.band_low is not None else np.nan for r in rows],
            "band_high": [r.band_high if r.band_high is not None else np.nan for r in rows],
            "threshold_mode": [
                targets[r.indicator.id].threshold_mode.value if r.indicator.id in targets else "relative"
                for r in rows
            ],
            "amber_tolerance": [
                targets[r.indicator.id].amber_tolerance if r.indicator.id in targets else 0.05 for r in rows
            ],
            "red_tolerance": [
                targets[r.indicator.id].red_tolerance if r.indicator.id in targets else 0.10 for r in rows
            ],
        }
    )
    computed = status_of_rows(frame)
    for row, status, label in zip(rows, computed["status"], computed["status_label"], strict=True):
        row.status, row.status_label = str(status), str(label)


@dataclass(frozen=True)
class Entry:
    """What the person typed (or a number read from a workbook), the comment, the version seen."""

    value: str | float
    comment: str
    version: int | None

    @property
    def blank(self) -> bool:
        return isinstance(self.value, str) and not self.value.strip()


def save_entries(
    session: Session,
    principal: Principal,
    grid: Grid,
    entries: Mapping[int, Entry],
    *,
    submit: bool,
    now: datetime,
) -> SaveResult:
    """Validate every entry, then write them all (draft, or submitted) — or write nothing."""
    result = SaveResult()
    if not grid.open:
        result.errors[0] = (
            f"La période {grid.period.key} est close : plus aucune valeur ne peut y être saisie."
        )
        return result
    if grid.period.start_date > now.date():
        result.errors[0] = (
            f"La période {grid.period.key} n'a pas commencé : la saisie ouvrira le "
            f"{grid.period.start_date:%d/%m/%Y}."
        )
        return result
    by_id = {r.indicator.id: r for r in grid.rows}
    parsed: dict[int, float | None] = {}
    for indicator_id, entry in entries.items():
        row = by_id.get(indicator_id)
        if row is None:
            result.errors[indicator_id] = "Indicateur absent de cette grille."
            continue
        if not row.editable:
            if not entry.blank and (row.measurement is None or _differs(row.measurement.value, entry.value)):
                result.errors[indicator_id] = "Valeur non modifiable (validée, ou hors de vos droits)."
            continue
        if entry.blank:
            parsed[indicator_id] = None
            continue
        try:
            parsed[indicator_id] = parse_value(entry.value, row.indicator.unit)
        except NumberError as exc:
            result.errors[indicator_id] = f"{str(exc)[0].upper()}{str(exc)[1:]}."
    targets = {
        t.indicator_id: t
        for t in session.scalars(
            select(Target).where(Target.indicator_id.in_(list(by_id)), Target.period_id == grid.period.id)
        )
    }
    _set_statuses(
        grid.rows,
        {**{r.indicator.id: (r.measurement.value if r.measurement else None) for r in grid.rows}, **parsed},
        targets,
    )
    for indicator_id, value in parsed.items():
        row = by_id[indicator_id]
        if value is not None and row.status == "red" and not entries[indicator_id].comment.strip():
            result.errors[indicator_id] = "Valeur hors cible (rouge) : un commentaire est obligatoire."
        if submit and value is None and indicator_id not in result.errors:
            result.errors[indicator_id] = "Valeur manquante : renseignez-la avant de soumettre."
    if result.errors:
        return result
    savepoint = session.begin_nested()
    created: list[GridRow] = []
    try:
        for indicator_id, value in parsed.items():
            row = by_id[indicator_id]
            entry = entries[indicator_id]
            comment = entry.comment.strip() or None
            state = MeasurementState.SUBMITTED if submit and value is not None else MeasurementState.DRAFT
            measurement = row.measurement
            if measurement is None:
                if value is None and comment is None:
                    continue
                measurement = Measurement(
                    organisation_id=principal.organisation_id,
                    indicator_id=indicator_id,
                    period_id=grid.period.id,
                    territory_id=None,
                    value=value,
                    comment=comment,
                    state=state,
                    entered_by_id=principal.user_id or None,
                    entered_at=now,
                    submitted_at=now if state is MeasurementState.SUBMITTED else None,
                )
                session.add(measurement)
                row.measurement = measurement
                created.append(row)
            else:
                changes: dict[str, object] = {"value": value, "comment": comment, "state": state}
                if measurement.value != value:
                    changes |= {"entered_by_id": principal.user_id or None, "entered_at": now}
                if (
                    state is MeasurementState.SUBMITTED
                    and measurement.state is not MeasurementState.SUBMITTED
                ):
                    changes["submitted_at"] = now
                apply_edit(
                    session,
                    measurement,
                    entry.version if entry.version is not None else measurement.version,
                    changes,
                )
            result.saved += 1
            result.submitted += state is MeasurementState.SUBMITTED
        session.flush()
    except StaleEdit as stale:
        savepoint.rollback()
        current = stale.current_values.get("value")
        result.errors[int(_indicator_of(session, stale.row_id))] = (
            f"Modifiée entre-temps par {stale.changed_by or 'une autre personne'} (valeur actuelle : "
            f"{current if current is not None else '—'}) : rechargez la page."
        )
        result.saved = result.submitted = 0
        return result
    except IntegrityError:  # PostgreSQL: another first value of the same period was inserted meanwhile
        savepoint.rollback()
        for row in created:
            row.measurement = None
        result.errors[created[0].indicator.id if created else 0] = (
            "Une valeur a été saisie entre-temps pour cette période par une autre personne : rechargez la page."
        )
        result.saved = result.submitted = 0
        return result
    savepoint.commit()
    return result


def _indicator_of(session: Session, measurement_id: str) -> int:
    measurement = session.get(Measurement, int(measurement_id))
    return measurement.indicator_id if measurement else 0


def _differs(current: float | None, text: str | float) -> bool:
    try:
        return current is None or abs(parse_french_number(text) - current) > 1e-9
    except NumberError:
        return True


# -- validation by the direction ---------------------------------------------------------------
@dataclass
class PendingLine:
    measurement: Measurement
    indicator: Indicator
    service: Service
    target: Target | None = None
    status: str = "missing"
    status_label: str = "Non renseigné"


#: How the validation list is ordered: the latest submitted first, or by service.
PENDING_ORDERS = {"recentes": "Les plus récentes d'abord", "service": "Par service"}


def pending_validation(
    session: Session, principal: Principal, period_key: str | None = None, *, order: str = "recentes"
) -> list[PendingLine]:
    """The submitted values of open periods (those of closed periods can no longer be validated),
    each with its target and the status it would take once validated; the latest submitted
    first (``order="recentes"``) or grouped by service, newest period first (``"service"``)."""
    if order not in PENDING_ORDERS:
        raise CollectionError(f"Ordre « {order} » inconnu : « recentes » ou « service ».")
    query = (
        select(Measurement, Indicator, Service)
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(Service, Service.id == Indicator.service_id)
        .join(Period, Period.id == Measurement.period_id)
        .where(
            Measurement.organisation_id == principal.organisation_id,
            Measurement.state == MeasurementState.SUBMITTED,
            Period.state == PeriodState.OPEN,
        )
    )
    if order == "service":
        query = query.order_by(Service.name, Period.end_date.desc(), Period.key, Indicator.label)
    else:
        query = query.order_by(
            Measurement.submitted_at.is_(None),
            Measurement.submitted_at.desc(),
            Period.end_date.desc(),
            Service.name,
            Indicator.label,
        )
    if period_key:
        query = query.where(Period.key == period_key)
    lines = [PendingLine(m, i, s) for m, i, s in session.execute(query)]
    if not lines:
        return lines
    wanted = {(line.indicator.id, line.measurement.period_id) for line in lines}
    targets = {
        (t.indicator_id, t.period_id): t
        for t in session.scalars(
            select(Target).where(
                Target.indicator_id.in_({i for i, _ in wanted}),
                Target.period_id.in_({p for _, p in wanted}),
            )
        )
    }
    for line in lines:
        line.target = targets.get((line.indicator.id, line.measurement.period_id))
    frame = pd.DataFrame(
        {
            "value": [line.measurement.value for line in lines],
            "direction": [line.indicator.direction.value for line in lines],
            "target": [_or_nan(line.target.value if line.target else None) for line in lines],
            "band_low": [_or_nan(line.target.band_low if line.target else None) for line in lines],
            "band_high": [_or_nan(line.target.band_high if line.target else None) for line in lines],
            "threshold_mode": [
                line.target.threshold_mode.value if line.target else "relative" for line in lines
            ],
            "amber_tolerance": [line.target.amber_tolerance if line.target else 0.05 for line in lines],
            "red_tolerance": [line.target.red_tolerance if line.target else 0.10 for line in lines],
        }
    )
    computed = status_of_rows(frame)
    for line, status, label in zip(lines, computed["status"], computed["status_label"], strict=True):
        line.status, line.status_label = str(status), str(label)
    return lines


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value


def left_unvalidated(session: Session, principal: Principal) -> int:
    """How many values were still submitted when their period closed (out of its review)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Measurement)
            .join(Period, Period.id == Measurement.period_id)
            .where(
                Measurement.organisation_id == principal.organisation_id,
                Measurement.state == MeasurementState.SUBMITTED,
                Period.state == PeriodState.CLOSED,
            )
        )
        or 0
    )


def open_periods(session: Session, organisation_id: int, *, today: date) -> list[Period]:
    """The periods open to entry: not closed, and started by ``today`` (a trajectory that creates
    periods years ahead does not open them to entry)."""
    return list(
        session.scalars(
            select(Period)
            .where(
                Period.organisation_id == organisation_id,
                Period.state == PeriodState.OPEN,
                Period.start_date <= today,
            )
            .order_by(Period.start_date, Period.kind)
        )
    )


def owed_counts(session: Session, service_id: int, periods: list[Period]) -> dict[str, int]:
    """For each period (by key): how many values the service still owes (none yet, a draft, or
    returned), among the indicators measured on the period's kind and effective by its end."""
    indicators = session.execute(
        select(Indicator.id, Indicator.frequency, Indicator.effective_from).where(
            Indicator.service_id == service_id, Indicator.formula.is_(None)
        )
    ).all()
    done = {
        (indicator_id, period_id)
        for indicator_id, period_id in session.execute(
            select(Measurement.indicator_id, Measurement.period_id).where(
                Measurement.indicator_id.in_([i.id for i in indicators]),
                Measurement.period_id.in_([p.id for p in periods]),
                Measurement.territory_id.is_(None),
                Measurement.state.in_([MeasurementState.SUBMITTED, MeasurementState.VALIDATED]),
            )
        )
    }
    return {
        period.key: sum(
            1
            for indicator_id, frequency, effective_from in indicators
            if frequency.value == KIND_FREQUENCY[period.kind.value]
            and (effective_from is None or effective_from <= period.end_date)
            and (indicator_id, period.id) not in done
        )
        for period in periods
    }


def default_period(periods: list[Period], owed: Mapping[str, int]) -> Period | None:
    """The period the grid opens on: among the open, started ``periods``, the one still owing
    values that ended first (an overdue month comes before the year still running, which starts
    earlier but is owed only at its end); when nothing is owed, the most recent one."""
    owing = [p for p in periods if owed.get(p.key)]
    if owing:
        return min(owing, key=lambda p: (p.end_date, p.start_date))
    return max(periods, key=lambda p: (p.start_date, -p.end_date.toordinal()), default=None)


def decide(
    session: Session,
    principal: Principal,
    measurement_ids: list[int],
    *,
    accept: bool,
    comment: str,
    now: datetime,
) -> int:
    """Validate the submitted values, or return them to the service with a comment."""
    if not can(principal, Action.VALIDATE):
        raise CollectionError("Seule la direction valide les valeurs.")
    if not accept and not comment.strip():
        raise CollectionError("Un commentaire est obligatoire pour renvoyer des valeurs au service.")
    done = 0
    returned: list[Measurement] = []
    for measurement_id in measurement_ids:
        measurement = session.get(Measurement, measurement_id)
        if measurement is None or measurement.organisation_id != principal.organisation_id:
            raise CollectionError(f"Valeur n° {measurement_id} introuvable.")
        if measurement.state is not MeasurementState.SUBMITTED:
            raise CollectionError(f"La valeur n° {measurement_id} n'est plus en attente de validation.")
        if measurement.period.state is PeriodState.CLOSED:
            raise CollectionError(
                f"La période {measurement.period.key} est close et sa revue figée : la valeur "
                f"« {measurement.indicator.label} » ne peut plus y être validée ni renvoyée : elle "
                "figure dans la revue comme non validée et ne compte pas."
            )
        if accept:
            measurement.state = MeasurementState.VALIDATED
            measurement.validated_by_id = principal.user_id
            measurement.validated_at = now
        else:
            # the manager's own comment stays theirs: the direction's goes beside it
            measurement.state = MeasurementState.RETURNED
            measurement.review_comment = comment.strip()
            returned.append(measurement)
        done += 1
    session.flush()
    _tell_returned(session, principal, returned, now=now)
    return done


def _tell_returned(
    session: Session, principal: Principal, returned: list[Measurement], *, now: datetime
) -> None:
    """One notification per service and period to the service's managers (and whoever entered a
    value), with the direction's comment and a link to the grid to correct."""
    groups: dict[tuple[int, int], list[Measurement]] = {}
    for measurement in returned:
        service_id = measurement.indicator.service_id
        if service_id is not None:
            groups.setdefault((service_id, measurement.period_id), []).append(measurement)
    for (service_id, _), values in groups.items():
        service = session.get(Service, service_id)
        period = values[0].period
        managers = list(
            session.scalars(
                select(User).where(
                    User.organisation_id == principal.organisation_id,
                    User.role == Role.SERVICE_MANAGER,
                    User.services.any(Service.id == service_id),
                )
            )
        )
        entered = [session.get(User, m.entered_by_id) for m in values if m.entered_by_id]
        people = [u for u in [*managers, *entered] if u is not None and u.id != principal.user_id]
        name = service.name if service else ""
        lines = "\n".join(
            f"- {m.indicator.label} : {m.review_comment}" for m in sorted(values, key=_label_of)
        )
        notify(
            session,
            people,
            kind="reminder",
            title=f"{len(values)} valeur(s) renvoyée(s) par la direction : {name}, {period.key}",
            body=f"À corriger puis soumettre à nouveau ({name}, période {period.key}) :\n{lines}",
            link=f"/saisie/?service={service_id}&periode={period.key}",
            now=now,
        )


def _label_of(measurement: Measurement) -> str:
    return measurement.indicator.label
