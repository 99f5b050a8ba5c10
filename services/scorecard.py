"""The scorecard of an organisation for a period: load from the database, compute, present.

Gathers the inputs of :func:`scorecard.engine.compute_scorecard` as DataFrames (only the periods
the engine will read), calls it, and arranges the result for pages, the API, the command line
and exports. Respects the reader's scope: a service manager sees only their services.

What counts (the rule of :mod:`scorecard.engine`): validated values only. A submitted value is
shown "à valider", a returned one "renvoyée au service", both counted as not reported; a draft
is neither shown nor counted. Indicators and objectives count from their ``effective_from``.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Indicator, Measurement, Objective, Period, Perspective, Service, Target, Territory
from models.enums import LABELS_FR
from scorecard import periods as P
from scorecard.engine import (
    AGGREGATE_LABELS,
    ROLLUP_RULE,
    STATE_LABELS,
    TREND_LABELS,
    Scorecard,
    compute_scorecard,
    reading_period,
)
from scorecard.errors import UserError
from services import cache
from services.policy import Principal, visible_service_ids


class ScorecardError(UserError):
    """A scorecard that cannot be computed as asked; the message is in French."""


@dataclass
class IndicatorLine:
    indicator_id: int
    code: str
    label: str
    unit: str
    decimals: int
    direction: str
    service: str | None
    period_key: str
    value: float | None
    target: float | None
    band_low: float | None
    band_high: float | None
    status: str
    status_label: str
    achievement: float | None
    previous_value: float | None
    trend_previous: str | None
    last_year_value: float | None
    trend_last_year: str | None
    comment: str | None
    weight: float
    #: ``validated``, ``submitted``, ``returned``, ``draft`` or None (no value at all).
    state: str | None = None
    state_label: str = ""
    #: For a value not validated yet: the status it would have once validated.
    provisional_status: str | None = None
    provisional_label: str | None = None

    @property
    def settled(self) -> bool:
        """Whether the line counts as reported: a validated value."""
        return self.state == "validated"

    @property
    def awaiting(self) -> bool:
        """A value shown but not counted: submitted (à valider) or returned to the service."""
        return self.state in ("submitted", "returned")


@dataclass
class ObjectiveBlock:
    objective_id: int
    code: str
    title: str
    service: str | None
    score: float | None
    status: str
    status_label: str
    reported: int
    counted: int
    indicators: list[IndicatorLine] = field(default_factory=list)
    children: list[ObjectiveBlock] = field(default_factory=list)


@dataclass
class PerspectiveBlock:
    perspective: Perspective
    label: str
    score: float | None
    status: str
    status_label: str
    objectives: list[ObjectiveBlock] = field(default_factory=list)
    loose: list[IndicatorLine] = field(default_factory=list)


@dataclass
class ScorecardView:
    period: P.PeriodSpan
    rule: str
    score: float | None
    status: str
    status_label: str
    reported: int
    counted: int
    total: int
    perspectives: list[PerspectiveBlock]
    filters: dict[str, Any]
    raw: Scorecard
    #: Lines shown but not counted: submitted (à valider) or returned values.
    awaiting: int = 0

    def lines(self) -> list[IndicatorLine]:
        result: list[IndicatorLine] = []

        def walk(block: ObjectiveBlock) -> None:
            result.extend(block.indicators)
            for child in block.children:
                walk(child)

        for perspective in self.perspectives:
            for block in perspective.objectives:
                walk(block)
            result.extend(perspective.loose)
        return result


def _float(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def build_scorecard(
    session: Session,
    principal: Principal,
    period_key: str,
    *,
    service_id: int | None = None,
    territory_id: int | None = None,
) -> ScorecardView:
    """The scorecard of the principal's organisation for ``period_key``, within their scope."""
    try:
        period = P.parse_period_key(period_key)
    except ValueError as exc:
        raise ScorecardError(str(exc).capitalize()) from None
    org_id = principal.organisation_id
    services = {s.id: s for s in session.scalars(select(Service).where(Service.organisation_id == org_id))}
    allowed = visible_service_ids(principal, services)
    if service_id is not None:
        if service_id not in services:
            raise ScorecardError("Service inconnu dans votre organisation.")
        if service_id not in allowed:
            raise ScorecardError("Ce service n'est pas dans votre périmètre.")
        allowed = {service_id}
    if territory_id is not None:
        territory = session.get(Territory, territory_id)
        if territory is None or territory.organisation_id != org_id:
            raise ScorecardError("Territoire inconnu dans votre organisation.")
    # the same period for the same scope: computed once per session and, for a page's read
    # session, kept while the database is unchanged (services.cache); each caller gets a copy
    scope = frozenset(allowed)
    return cache.remember(
        session,
        ("scorecard", org_id, period.key, service_id, territory_id, scope),
        lambda: _build(session, org_id, period, services, allowed, service_id, territory_id),
        copy=_copy_view,
    )


def _copy_view(view: ScorecardView) -> ScorecardView:
    """The view with its own blocks and lines (the frames of ``raw`` are shared: read them only)."""

    def block(b: ObjectiveBlock) -> ObjectiveBlock:
        return replace(
            b, indicators=[copy.copy(line) for line in b.indicators], children=[block(c) for c in b.children]
        )

    return replace(
        view,
        perspectives=[
            replace(
                p, objectives=[block(b) for b in p.objectives], loose=[copy.copy(line) for line in p.loose]
            )
            for p in view.perspectives
        ],
        filters=dict(view.filters),
    )


def _build(
    session: Session,
    org_id: int,
    period: P.PeriodSpan,
    services: dict[int, Service],
    allowed: set[int],
    service_id: int | None,
    territory_id: int | None,
) -> ScorecardView:
    # the columns read, as rows (attribute access like the model's): no ORM object per indicator
    indicators: Sequence[Any] = session.execute(
        select(
            Indicator.id,
            Indicator.effective_from,
            Indicator.code,
            Indicator.label,
            Indicator.unit,
            Indicator.decimals,
            Indicator.direction,
            Indicator.frequency,
            Indicator.formula,
            Indicator.objective_id,
            Indicator.perspective,
            Indicator.weight,
            Indicator.service_id,
        )
        .where(Indicator.organisation_id == org_id)
        .order_by(Indicator.id)
    ).all()
    limited = service_id is not None or len(allowed) != len(services)
    if limited:
        indicators = [i for i in indicators if i.service_id in allowed]
    ind = pd.DataFrame(
        {
            "effective_from": [i.effective_from for i in indicators],
            "code": [i.code for i in indicators],
            "direction": [i.direction.value for i in indicators],
            "frequency": [i.frequency.value for i in indicators],
            "formula": [i.formula for i in indicators],
            "objective_id": [float(i.objective_id) if i.objective_id else np.nan for i in indicators],
            "perspective": [i.perspective.value for i in indicators],
            "weight": [float(i.weight) for i in indicators],
        },
        index=pd.Index([i.id for i in indicators], name="indicator_id"),
    )
    keys: set[str] = set()
    for frequency in set(ind["frequency"]):
        span = reading_period(frequency, period)
        keys |= {span.key, P.previous_period(span).key, P.same_period_last_year(span).key}
    ids = [i.id for i in indicators]
    measured = session.execute(
        select(
            Measurement.indicator_id,
            Period.key,
            Measurement.value,
            Measurement.territory_id,
            Measurement.comment,
            Measurement.state,
        )
        .join(Period, Period.id == Measurement.period_id)
        .where(
            Measurement.organisation_id == org_id,
            Period.key.in_(keys),
            Measurement.value.is_not(None),
            Measurement.territory_id.is_(None)
            if territory_id is None
            else Measurement.territory_id == territory_id,
        )
    ).all()
    measurements = _frame(
        measured, ["indicator_id", "period_key", "value", "territory_id", "comment", "state"]
    )
    measurements = measurements[measurements["indicator_id"].isin(ids)]
    measurements["state"] = measurements["state"].map(lambda s: getattr(s, "value", s))
    targets = _frame(
        session.execute(
            select(
                Target.indicator_id,
                Period.key,
                Target.value,
                Target.band_low,
                Target.band_high,
                Target.threshold_mode,
                Target.amber_tolerance,
                Target.red_tolerance,
            )
            .join(Period, Period.id == Target.period_id)
            .where(Period.organisation_id == org_id, Period.key.in_(keys))
        ).all(),
        columns=[
            "indicator_id",
            "period_key",
            "target",
            "band_low",
            "band_high",
            "threshold_mode",
            "amber_tolerance",
            "red_tolerance",
        ],
    )
    if not targets.empty:
        targets["threshold_mode"] = targets["threshold_mode"].map(lambda m: getattr(m, "value", m))
        targets = targets[targets["indicator_id"].isin(ids)]
    objectives = session.scalars(select(Objective).where(Objective.organisation_id == org_id)).all()
    if limited:
        used = {i.objective_id for i in indicators if i.objective_id}
        parents = {o.id: o.parent_id for o in objectives}
        keep = set(used)
        for objective_id in used:
            parent = parents.get(objective_id)
            while parent:
                keep.add(parent)
                parent = parents.get(parent)
        objectives = [o for o in objectives if o.id in keep]
    obj = pd.DataFrame(
        {
            "effective_from": [o.effective_from for o in objectives],
            "parent_id": [float(o.parent_id) if o.parent_id else np.nan for o in objectives],
            "perspective": [o.perspective.value for o in objectives],
            "weight": [float(o.weight) for o in objectives],
        },
        index=pd.Index([o.id for o in objectives], name="objective_id"),
    )
    result = compute_scorecard(
        ind, measurements[["indicator_id", "period_key", "value", "state"]], targets, obj, period=period
    )
    # what did not exist yet in that period is left out of it (effective dates)
    present, counted = set(result.indicators.index.tolist()), set(result.objectives.index.tolist())
    indicators = [i for i in indicators if i.id in present]
    objectives = [o for o in objectives if o.id in counted]
    comments: dict[tuple[int, str], str] = {
        (indicator_id, period_key): comment
        for indicator_id, period_key, comment in zip(
            measurements["indicator_id"].tolist(),
            measurements["period_key"].tolist(),
            measurements["comment"].tolist(),
            strict=True,
        )
        if isinstance(comment, str) and comment
    }
    return _arrange(
        result,
        indicators,
        objectives,
        services,
        comments,
        filters={
            "period": period.key,
            "service_id": service_id,
            "territory_id": territory_id,
        },
    )


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """The rows of a query as a frame, built a column at a time (faster than from the rows)."""
    if not rows:
        return pd.DataFrame(rows, columns=columns)
    return pd.DataFrame(dict(zip(columns, (list(column) for column in zip(*rows, strict=True)), strict=True)))


#: The engine's columns an indicator line shows.
INDICATOR_COLUMNS = [
    "status",
    "state",
    "period_key",
    "shown_value",
    "target",
    "band_low",
    "band_high",
    "status_label",
    "achievement",
    "previous_value",
    "trend_previous",
    "last_year_value",
    "trend_last_year",
    "provisional_status",
    "provisional_label",
]


def _records(frame: pd.DataFrame, columns: list[str]) -> dict[Any, dict[Hashable, Any]]:
    """``frame[columns].to_dict("index")``, read a column at a time (``to_dict`` boxes every cell)."""
    values = [frame[column].tolist() for column in columns]
    return {
        key: dict(zip(columns, row, strict=True))
        for key, row in zip(frame.index.tolist(), zip(*values, strict=True), strict=True)
    }


def _arrange(
    result: Scorecard,
    indicators: Any,
    objectives: Any,
    services: dict[int, Service],
    comments: dict[tuple[int, str], str],
    *,
    filters: dict[str, Any],
) -> ScorecardView:
    rows = _records(result.indicators, INDICATOR_COLUMNS)  # no row lookup per indicator
    lines: dict[int, IndicatorLine] = {}
    for indicator in indicators:
        row = rows[indicator.id]
        status = str(row["status"])
        state = row["state"] if isinstance(row["state"], str) else None
        awaiting = state in ("submitted", "returned")
        lines[indicator.id] = IndicatorLine(
            indicator_id=indicator.id,
            code=indicator.code,
            label=indicator.label,
            unit=indicator.unit,
            decimals=indicator.decimals,
            direction=indicator.direction.value,
            service=services[indicator.service_id].name if indicator.service_id in services else None,
            period_key=str(row["period_key"]),
            value=_float(row["shown_value"]),
            target=_float(row["target"]),
            band_low=_float(row["band_low"]),
            band_high=_float(row["band_high"]),
            status=status,
            status_label=str(row["status_label"]),
            achievement=_float(row["achievement"]),
            previous_value=_float(row["previous_value"]),
            trend_previous=row["trend_previous"] if isinstance(row["trend_previous"], str) else None,
            last_year_value=_float(row["last_year_value"]),
            trend_last_year=row["trend_last_year"] if isinstance(row["trend_last_year"], str) else None,
            comment=comments.get((indicator.id, str(row["period_key"]))),
            weight=float(indicator.weight),
            state=state,
            state_label=STATE_LABELS.get(state or "", ""),
            provisional_status=str(row["provisional_status"]) if awaiting else None,
            provisional_label=str(row["provisional_label"]) if awaiting else None,
        )
    blocks: dict[int, ObjectiveBlock] = {}
    objective_rows = result.objectives.to_dict("index")
    for objective in objectives:
        row = objective_rows[objective.id]
        status = str(row["status"])
        blocks[objective.id] = ObjectiveBlock(
            objective_id=objective.id,
            code=objective.code,
            title=objective.title,
            service=services[objective.service_id].name if objective.service_id in services else None,
            score=_float(row["score"]),
            status=status,
            status_label=AGGREGATE_LABELS[status],
            reported=int(row["reported"]),
            counted=int(row["counted"]),
        )
    loose: dict[str, list[IndicatorLine]] = {}
    for indicator in indicators:
        block = blocks.get(indicator.objective_id) if indicator.objective_id else None
        if block is not None:
            block.indicators.append(lines[indicator.id])
        else:
            loose.setdefault(indicator.perspective.value, []).append(lines[indicator.id])
    roots: dict[str, list[ObjectiveBlock]] = {}
    for objective in sorted(objectives, key=lambda o: o.code):
        block = blocks[objective.id]
        parent = blocks.get(objective.parent_id) if objective.parent_id else None
        if parent is not None:
            parent.children.append(block)
        else:
            roots.setdefault(objective.perspective.value, []).append(block)
    perspectives = []
    perspective_rows = result.perspectives.to_dict("index")
    for perspective in Perspective:
        if perspective.value not in perspective_rows:
            continue
        row = perspective_rows[perspective.value]
        status = str(row["status"])
        perspectives.append(
            PerspectiveBlock(
                perspective=perspective,
                label=LABELS_FR[perspective],
                score=_float(row["score"]),
                status=status,
                status_label=AGGREGATE_LABELS[status],
                objectives=roots.get(perspective.value, []),
                loose=loose.get(perspective.value, []),
            )
        )
    overall = result.overall
    status = str(overall["status"])
    return ScorecardView(
        period=result.period,
        rule=ROLLUP_RULE,
        score=_float(overall["score"]),
        status=status,
        status_label=AGGREGATE_LABELS[status],
        reported=int(overall["reported"]),
        counted=int(overall["counted"]),
        total=int(overall["indicators"]),
        perspectives=perspectives,
        filters=filters,
        raw=result,
        awaiting=sum(line.awaiting for line in lines.values()),
    )


def scorecard_json(view: ScorecardView) -> dict[str, Any]:
    """The scorecard as plain JSON (CLI and API)."""

    def block(b: ObjectiveBlock) -> dict[str, Any]:
        return {
            "code": b.code,
            "title": b.title,
            "service": b.service,
            "score": b.score,
            "status": b.status,
            "status_label": b.status_label,
            "reported": b.reported,
            "counted": b.counted,
            "indicators": [line.__dict__ for line in b.indicators],
            "children": [block(c) for c in b.children],
        }

    return {
        "period": view.period.key,
        "rule": view.rule,
        "score": view.score,
        "status": view.status,
        "status_label": view.status_label,
        "reported": view.reported,
        "counted": view.counted,
        "indicators": view.total,
        "filters": view.filters,
        "perspectives": [
            {
                "perspective": p.perspective.value,
                "label": p.label,
                "score": p.score,
                "status": p.status,
                "status_label": p.status_label,
                "objectives": [block(b) for b in p.objectives],
                "indicators_without_objective": [line.__dict__ for line in p.loose],
            }
            for p in view.perspectives
        ],
        # the values shown but not counted: submitted (à valider) or returned to the service
        "not_validated": [
            {
                "indicator_id": line.indicator_id,
                "code": line.code,
                "label": line.label,
                "service": line.service,
                "period_key": line.period_key,
                "value": line.value,
                "unit": line.unit,
                "decimals": line.decimals,
                "state": line.state,
                "state_label": line.state_label,
            }
            for line in view.lines()
            if line.state in ("submitted", "returned", "draft")
        ],
    }


TREND_TEXT = TREND_LABELS
