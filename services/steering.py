"""Defining the steering: objectives (the cascade) and indicators (with formulas and targets).

Each change goes through the ORM, so the audit trail keeps the history of moves, closures and
edits; shared rows are edited with their version (:func:`services.editing.apply_edit`).

The past stays the past: an objective or an indicator counts from its ``effective_from`` (the
day it is created unless said otherwise), which cannot fall in or before a closed period, and a
trajectory cannot rewrite the target of a closed period.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Activity,
    Direction,
    Frequency,
    Indicator,
    IndicatorType,
    Measurement,
    MeasurementState,
    Need,
    Objective,
    ObjectiveLevel,
    ObjectiveStatus,
    Period,
    PeriodKind,
    PeriodState,
    Perspective,
    Service,
    Target,
    ThresholdMode,
    User,
)
from models.base import utcnow
from scorecard import periods as P
from scorecard.errors import UserError
from scorecard.formula import FormulaError, evaluation_order, infer_unit, parse_formula, units_agree
from scorecard.targets import Shape, trajectory
from services.editing import apply_edit, lock_version
from services.policy import Action, Principal, can

CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
FREQUENCY_KIND = {
    Frequency.MONTHLY: PeriodKind.MONTH,
    Frequency.QUARTERLY: PeriodKind.QUARTER,
    Frequency.YEARLY: PeriodKind.YEAR,
}


class SteeringError(UserError):
    """A refused definition; ``field`` names the form field concerned (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- objectives ------------------------------------------------------------------------------------
@dataclass
class ObjectiveNode:
    objective: Objective
    children: list[ObjectiveNode]


def objective_tree(
    session: Session, principal: Principal, *, include_closed: bool = False
) -> list[ObjectiveNode]:
    """The cascade, strategic objectives first, each with its sub-objectives (by code)."""
    objectives = session.scalars(
        select(Objective)
        .where(Objective.organisation_id == principal.organisation_id)
        .order_by(Objective.code)
    ).all()
    if not include_closed:
        objectives = [o for o in objectives if o.status is ObjectiveStatus.ACTIVE]
    nodes = {o.id: ObjectiveNode(o, []) for o in objectives}
    roots: list[ObjectiveNode] = []
    for objective in objectives:
        parent = nodes.get(objective.parent_id) if objective.parent_id else None
        (parent.children if parent else roots).append(nodes[objective.id])
    return roots


@dataclass(frozen=True)
class ObjectiveInput:
    code: str
    title: str
    description: str | None
    perspective: Perspective
    parent_id: int | None
    service_id: int | None
    owner_id: int | None
    deadline: date | None
    weight: float
    need_ids: Sequence[int]
    activity_ids: Sequence[int]
    #: From when it counts; None: the day it is created (kept as it is on an edit).
    effective_from: date | None = None


def last_closed_end(session: Session, organisation_id: int) -> date | None:
    """The end of the organisation's latest closed period: the past that must not move."""
    return session.scalar(
        select(func.max(Period.end_date)).where(
            Period.organisation_id == organisation_id, Period.state == PeriodState.CLOSED
        )
    )


def _effective_from(
    session: Session, organisation_id: int, wanted: date | None, current: date | None, *, creating: bool
) -> dict[str, date]:
    """The ``effective_from`` to write (nothing on an edit that keeps it); refused when the new
    date, or the one it replaces, falls in a closed period: that would change a closed score."""
    if wanted is None:
        return {"effective_from": utcnow().date()} if creating else {}
    if not creating and wanted == current:
        return {}
    closed_end = last_closed_end(session, organisation_id)
    if closed_end is not None:
        for day, what in (
            (wanted, "La date d'effet"),
            (None if creating else current, "La date d'effet actuelle"),
        ):
            if day is not None and day <= closed_end:
                raise SteeringError(
                    f"{what} ({day:%d/%m/%Y}) tombe dans une période close (closes jusqu'au "
                    f"{closed_end:%d/%m/%Y}) : les scores clos ne doivent pas changer. Choisissez une "
                    f"date après le {closed_end:%d/%m/%Y}.",
                    "effective_from",
                )
    return {"effective_from": wanted}


def _same_org(
    session: Session, model: Any, ids: Iterable[int], organisation_id: int, label: str
) -> list[Any]:
    rows = []
    for ident in ids:
        row = session.get(model, ident)
        if row is None or row.organisation_id != organisation_id:
            raise SteeringError(f"{label} n° {ident} inconnu(e) dans votre organisation.")
        rows.append(row)
    return rows


def _check_objective(
    session: Session, principal: Principal, data: ObjectiveInput, current: Objective | None
) -> dict[str, Any]:
    org = principal.organisation_id
    code = data.code.strip()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", code):
        raise SteeringError(
            "Code invalide : lettres, chiffres, point, tiret ou souligné (64 caractères au plus).", "code"
        )
    clash = session.scalar(
        select(Objective.id).where(Objective.organisation_id == org, Objective.code == code)
    )
    if clash is not None and (current is None or clash != current.id):
        raise SteeringError(f"Le code « {code} » est déjà pris.", "code")
    if not data.title.strip():
        raise SteeringError("L'intitulé est obligatoire.", "title")
    if data.weight <= 0:
        raise SteeringError("Le poids doit être strictement positif.", "weight")
    parent = None
    if data.parent_id is not None:
        parent = session.get(Objective, data.parent_id)
        if parent is None or parent.organisation_id != org:
            raise SteeringError("Objectif parent inconnu.", "parent_id")
        if current is not None:
            walker: Objective | None = parent
            while walker is not None:
                if walker.id == current.id:
                    raise SteeringError(
                        "Un objectif ne peut pas être rangé sous lui-même ou sous l'un de ses sous-objectifs.",
                        "parent_id",
                    )
                walker = walker.parent
    level = ObjectiveLevel.OPERATIONAL if parent is not None else ObjectiveLevel.STRATEGIC
    service = None
    if data.service_id is not None:
        service = session.get(Service, data.service_id)
        if service is None or service.organisation_id != org:
            raise SteeringError("Service inconnu.", "service_id")
    if level is ObjectiveLevel.OPERATIONAL and service is None:
        raise SteeringError("Un objectif opérationnel est confié à un service : choisissez-le.", "service_id")
    if service is not None and not can(
        principal, Action.EDIT, Objective(organisation_id=org, service_id=service.id)
    ):
        raise SteeringError("Ce service n'est pas dans votre périmètre.", "service_id")
    if data.owner_id is not None:
        owner = session.get(User, data.owner_id)
        if owner is None or owner.organisation_id != org:
            raise SteeringError("Responsable inconnu.", "owner_id")
    return {
        "code": code,
        "title": data.title.strip(),
        "description": (data.description or "").strip() or None,
        "perspective": data.perspective,
        "parent_id": parent.id if parent else None,
        "level": level,
        "service_id": service.id if service else None,
        "owner_id": data.owner_id,
        "deadline": data.deadline,
        "weight": float(data.weight),
    }


def create_objective(session: Session, principal: Principal, data: ObjectiveInput) -> Objective:
    if not can(
        principal,
        Action.CREATE,
        Objective(organisation_id=principal.organisation_id, service_id=data.service_id),
    ):
        raise SteeringError("Vos droits ne permettent pas de créer cet objectif.")
    values = _check_objective(session, principal, data, None)
    values |= _effective_from(session, principal.organisation_id, data.effective_from, None, creating=True)
    objective = Objective(organisation_id=principal.organisation_id, **values)
    objective.needs = _same_org(session, Need, data.need_ids, principal.organisation_id, "Besoin")
    objective.activities = _same_org(
        session, Activity, data.activity_ids, principal.organisation_id, "Activité"
    )
    session.add(objective)
    session.flush()
    return objective


def update_objective(
    session: Session, principal: Principal, objective: Objective, data: ObjectiveInput, version: int
) -> bool:
    """Edit (and possibly move) an objective at the version the form was read at."""
    if not can(principal, Action.EDIT, objective):
        raise SteeringError("Vos droits ne permettent pas de modifier cet objectif.")
    values = _check_objective(session, principal, data, objective)
    values |= _effective_from(
        session, principal.organisation_id, data.effective_from, objective.effective_from, creating=False
    )
    changed = apply_edit(session, objective, version, values)
    needs = _same_org(session, Need, data.need_ids, principal.organisation_id, "Besoin")
    activities = _same_org(session, Activity, data.activity_ids, principal.organisation_id, "Activité")
    if {n.id for n in objective.needs} != {n.id for n in needs}:
        objective.needs = needs
        changed = True
    if {a.id for a in objective.activities} != {a.id for a in activities}:
        objective.activities = activities
        changed = True
    session.flush()
    return changed


def close_objective(
    session: Session, principal: Principal, objective: Objective, *, now: datetime, reopen: bool = False
) -> None:
    if not can(principal, Action.EDIT, objective):
        raise SteeringError("Vos droits ne permettent pas de clôturer cet objectif.")
    if reopen:
        objective.status, objective.closed_at = ObjectiveStatus.ACTIVE, None
    else:
        open_children = [c for c in objective.children if c.status is ObjectiveStatus.ACTIVE]
        if open_children:
            codes = ", ".join(c.code for c in open_children)
            raise SteeringError(f"Clôturez d'abord ses sous-objectifs encore ouverts : {codes}.")
        objective.status, objective.closed_at = ObjectiveStatus.CLOSED, now
    session.flush()


# -- indicators --------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndicatorInput:
    code: str
    label: str
    description: str | None
    type: IndicatorType
    unit: str
    direction: Direction
    frequency: Frequency
    perspective: Perspective
    formula: str | None
    decimals: int
    weight: float
    source: str | None
    vintage: int | None
    baseline_value: float | None
    baseline_period_key: str | None
    service_id: int | None
    owner_id: int | None
    objective_id: int | None
    activity_id: int | None
    need_id: int | None
    #: From when it counts and its values are owed; None: the day it is created (kept on an edit).
    effective_from: date | None = None


def check_formula(
    session: Session, organisation_id: int, code: str, formula: str, unit: str, *, exclude_id: int | None
) -> str | None:
    """Refuse a formula with unknown codes, a cycle or incompatible units; return the inferred unit."""
    try:
        parsed = parse_formula(formula)
    except FormulaError as exc:
        raise SteeringError(f"Formule refusée : {exc}.", "formula") from None
    if code in parsed.codes:
        raise SteeringError("Une formule ne peut pas utiliser son propre code.", "formula")
    others = session.execute(
        select(Indicator.id, Indicator.code, Indicator.formula, Indicator.unit).where(
            Indicator.organisation_id == organisation_id
        )
    ).all()
    formulas = {}
    units = {}
    known = []
    for ident, other_code, other_formula, other_unit in others:
        if ident == exclude_id:
            continue
        known.append(other_code)
        units[other_code] = other_unit
        if other_formula:
            try:
                formulas[other_code] = parse_formula(other_formula)
            except FormulaError:
                continue
    formulas[code] = parsed
    try:
        evaluation_order(formulas, known=known)
        inferred = infer_unit(parsed, units)
    except FormulaError as exc:
        raise SteeringError(f"Formule refusée : {exc}.", "formula") from None
    if not units_agree(unit, inferred):
        raise SteeringError(
            f"Unité incohérente : la formule donne « {inferred} », l'indicateur est en « {unit} ».", "unit"
        )
    return inferred


def _check_indicator(
    session: Session, principal: Principal, data: IndicatorInput, current: Indicator | None
) -> dict[str, Any]:
    org = principal.organisation_id
    code = data.code.strip()
    if not CODE.match(code):
        raise SteeringError(
            "Code invalide : minuscules, chiffres et _, commençant par une lettre (ex. repas_livres).", "code"
        )
    clash = session.scalar(
        select(Indicator.id).where(Indicator.organisation_id == org, Indicator.code == code)
    )
    if clash is not None and (current is None or clash != current.id):
        raise SteeringError(f"Le code « {code} » est déjà pris.", "code")
    if current is not None and current.code != code:
        users = [
            c
            for (c, f) in session.execute(
                select(Indicator.code, Indicator.formula).where(Indicator.organisation_id == org)
            )
            if f and re.search(rf"\b{re.escape(current.code)}\b", f)
        ]
        if users:
            raise SteeringError(
                f"Ce code est utilisé par les formules de : {', '.join(users)}. Modifiez-les d'abord.", "code"
            )
    if not data.label.strip():
        raise SteeringError("L'intitulé est obligatoire.", "label")
    if not data.unit.strip():
        raise SteeringError("L'unité est obligatoire (%, EUR, personnes…).", "unit")
    if not 0 <= data.decimals <= 6:
        raise SteeringError("Décimales : de 0 à 6.", "decimals")
    if data.weight <= 0:
        raise SteeringError("Le poids doit être strictement positif.", "weight")
    formula = (data.formula or "").strip() or None
    if formula:
        check_formula(
            session, org, code, formula, data.unit.strip(), exclude_id=current.id if current else None
        )
    if data.baseline_period_key:
        try:
            P.parse_period_key(data.baseline_period_key)
        except ValueError as exc:
            raise SteeringError(str(exc).capitalize() + ".", "baseline_period_key") from None
    for model, ident, label, name in (
        (Service, data.service_id, "Service", "service_id"),
        (User, data.owner_id, "Responsable", "owner_id"),
        (Objective, data.objective_id, "Objectif", "objective_id"),
        (Activity, data.activity_id, "Activité", "activity_id"),
        (Need, data.need_id, "Besoin", "need_id"),
    ):
        if ident is not None:
            row: Any = session.get(model, ident)
            if row is None or row.organisation_id != org:
                raise SteeringError(f"{label} inconnu(e) dans votre organisation.", name)
    if not can(principal, Action.EDIT, Indicator(organisation_id=org, service_id=data.service_id)):
        raise SteeringError("Ce service n'est pas dans votre périmètre.", "service_id")
    return {
        "code": code,
        "label": data.label.strip(),
        "description": (data.description or "").strip() or None,
        "type": data.type,
        "unit": data.unit.strip(),
        "direction": data.direction,
        "frequency": data.frequency,
        "perspective": data.perspective,
        "formula": formula,
        "decimals": data.decimals,
        "weight": float(data.weight),
        "source": (data.source or "").strip() or None,
        "vintage": data.vintage,
        "baseline_value": data.baseline_value,
        "baseline_period_key": (data.baseline_period_key or "").strip() or None,
        "service_id": data.service_id,
        "owner_id": data.owner_id,
        "objective_id": data.objective_id,
        "activity_id": data.activity_id,
        "need_id": data.need_id,
    }


def create_indicator(session: Session, principal: Principal, data: IndicatorInput) -> Indicator:
    if not can(
        principal,
        Action.CREATE,
        Indicator(organisation_id=principal.organisation_id, service_id=data.service_id),
    ):
        raise SteeringError("Vos droits ne permettent pas de créer cet indicateur.")
    values = _check_indicator(session, principal, data, None)
    values |= _effective_from(session, principal.organisation_id, data.effective_from, None, creating=True)
    indicator = Indicator(organisation_id=principal.organisation_id, **values)
    session.add(indicator)
    session.flush()
    return indicator


def update_indicator(
    session: Session, principal: Principal, indicator: Indicator, data: IndicatorInput, version: int
) -> bool:
    if not can(principal, Action.EDIT, indicator):
        raise SteeringError("Vos droits ne permettent pas de modifier cet indicateur.")
    values = _check_indicator(session, principal, data, indicator)
    values |= _effective_from(
        session, principal.organisation_id, data.effective_from, indicator.effective_from, creating=False
    )
    return apply_edit(session, indicator, version, values)


# -- targets ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdInput:
    mode: ThresholdMode
    amber: float
    red: float

    def check(self) -> None:
        if self.amber < 0 or self.red < self.amber:
            raise SteeringError("Seuils : 0 ≤ seuil orange ≤ seuil rouge.", "amber")


def set_trajectory(
    session: Session,
    principal: Principal,
    indicator: Indicator,
    *,
    start_key: str,
    end_key: str,
    start_value: float | None,
    end_value: float | None,
    shape: Shape,
    band: tuple[float | None, float | None] | None,
    thresholds: ThresholdInput,
    version: int | None = None,
) -> int:
    """Write a target on every period of the indicator's frequency from start to end (inclusive).

    ``version``: the indicator's version the targets were read at (the targets form carries it);
    an older one raises :class:`~services.editing.StaleEdit` (409) and writes nothing. Saving the
    targets moves the indicator's version on.
    """
    if not can(principal, Action.EDIT, indicator):
        raise SteeringError("Vos droits ne permettent pas de fixer les cibles de cet indicateur.")
    thresholds.check()
    kind = FREQUENCY_KIND[indicator.frequency]
    try:
        first, last = P.parse_period_key(start_key), P.parse_period_key(end_key)
    except ValueError as exc:
        raise SteeringError(str(exc).capitalize() + ".", "start") from None
    if first.kind != kind.value or last.kind != kind.value:
        example = {"month": "mois : 2026-03", "quarter": "trimestres : 2026-T1", "year": "années : 2026"}[
            kind.value
        ]
        raise SteeringError(f"Les périodes de cet indicateur sont des {example}.", "start")
    if last.start < first.start:
        raise SteeringError("La période de fin précède celle de début.", "end")
    spans = P.periods_between(kind.value, first.start, last.end)
    if len(spans) > 240:
        raise SteeringError("Trajectoire trop longue (240 périodes au plus).", "end")
    if indicator.direction is Direction.WITHIN_BAND:
        if band is None or (band[0] is None and band[1] is None):
            raise SteeringError(
                "Un indicateur « dans une fourchette » demande une borne basse ou haute.", "band_low"
            )
        if band[0] is not None and band[1] is not None and band[0] > band[1]:
            raise SteeringError("La borne basse dépasse la borne haute.", "band_low")
        values: list[float | None] = [None] * len(spans)
    else:
        if start_value is None or end_value is None:
            raise SteeringError("Indiquez les valeurs cibles de départ et d'arrivée.", "start_value")
        try:
            values = list(trajectory(start_value, end_value, len(spans), shape))
        except ValueError as exc:
            raise SteeringError(str(exc).capitalize() + ".", "shape") from None
    closed = {
        key
        for (key,) in session.execute(
            select(Period.key).where(
                Period.organisation_id == principal.organisation_id,
                Period.key.in_([s.key for s in spans]),
                Period.state == PeriodState.CLOSED,
            )
        )
    }
    if closed:
        later = P.next_period(max(P.parse_period_key(k) for k in closed)).key
        raise SteeringError(
            f"Période(s) close(s) : {', '.join(sorted(closed))}. Leur cible a servi au score figé "
            f"et ne peut plus changer : commencez la trajectoire à {later} ou après.",
            "start",
        )
    if version is not None:
        lock_version(session, indicator, version, ["label"])
    periods = ensure_periods(session, principal.organisation_id, spans)
    existing = {
        t.period_id: t for t in session.scalars(select(Target).where(Target.indicator_id == indicator.id))
    }
    for span, value in zip(spans, values, strict=True):
        period = periods[span.key]
        target = existing.get(period.id) or Target(indicator_id=indicator.id, period_id=period.id)
        target.value = None if value is None else round(value, indicator.decimals + 2)
        target.band_low, target.band_high = band if band is not None else (None, None)
        target.threshold_mode = thresholds.mode
        target.amber_tolerance, target.red_tolerance = thresholds.amber, thresholds.red
        session.add(target)
    session.flush()
    return len(spans)


def ensure_periods(session: Session, organisation_id: int, spans: list[P.PeriodSpan]) -> dict[str, Period]:
    """The organisation's periods for ``spans``, creating (open) the ones it lacks. Flushes."""
    existing = {
        p.key: p
        for p in session.scalars(
            select(Period).where(
                Period.organisation_id == organisation_id, Period.key.in_([s.key for s in spans])
            )
        )
    }
    for span in spans:
        if span.key not in existing:
            period = Period(
                organisation_id=organisation_id,
                key=span.key,
                kind=PeriodKind(span.kind),
                start_date=span.start,
                end_date=span.end,
                state=PeriodState.OPEN,
            )
            session.add(period)
            existing[span.key] = period
    session.flush()
    return existing


def write_computed_value(
    session: Session,
    *,
    organisation_id: int,
    indicator_id: int,
    period_id: int,
    value: float,
    comment: str,
    keep_entered: bool = False,
) -> bool:
    """Write a value Pilotis computes (costing, surveys) as the indicator's validated
    organisation-wide value of the period. With ``keep_entered``, a value a person entered is
    kept: returns False and writes nothing. Does not flush."""
    measurement = session.scalar(
        select(Measurement).where(
            Measurement.indicator_id == indicator_id,
            Measurement.period_id == period_id,
            Measurement.territory_id.is_(None),
        )
    )
    if measurement is None:
        session.add(
            Measurement(
                organisation_id=organisation_id, indicator_id=indicator_id, period_id=period_id,
                value=value, state=MeasurementState.VALIDATED, comment=comment,
            )
        )  # fmt: skip
        return True
    if keep_entered and measurement.entered_by_id is not None:
        return False
    if (measurement.value, measurement.comment, measurement.state) != (
        value,
        comment,
        MeasurementState.VALIDATED,
    ):
        measurement.value = value
        measurement.comment = comment
        measurement.state = MeasurementState.VALIDATED
    return True
