"""Offer-need coherence of an organisation: load, compute (``scorecard.coherence``), mask, present.

An activity's cost is its full cost from the latest costing (``services.costing``: the same
computation that feeds the scorecard and the optimizer); without a cost model, its direct cost as
recorded (unit cost x yearly volume + fixed cost). A partner's activity of unknown cost has none. Shown, exported and API figures obey statistical
confidentiality (``scorecard.confidentiality``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Activity,
    ActivityDelivery,
    ActivityNeedCoverage,
    Direction,
    Frequency,
    Indicator,
    IndicatorType,
    Measurement,
    MeasurementState,
    Need,
    Objective,
    Perspective,
    PopulationGroup,
    Service,
    Territory,
    objective_needs,
)
from scorecard import periods as P
from scorecard.coherence import Coherence, compute_coherence, orphans
from scorecard.confidentiality import DEFAULT_THRESHOLD, RULE
from services import cache
from services.costing import current_costs
from services.secrecy import Disclosure, build_disclosure, prorata_groups
from services.steering import ensure_periods

COVERAGE_SOURCE = "Pilotis, cohérence offre-besoins"


@dataclass
class NeedLine:
    need_id: int
    code: str
    label: str
    group: str
    territory: str
    unit: str
    priority: int
    size: float | None
    offered: float | None
    covered: float | None
    coverage_rate: float | None
    unmet: float | None
    over_supply: float | None
    cost_per_person: float | None
    gap_index: float | None
    activities: int
    flags: list[str]
    masked: bool


@dataclass
class MatrixCell:
    size: float | None
    covered: float | None
    rate: float | None
    masked: bool
    max_priority: int | None


@dataclass
class CoherenceView:
    needs: list[NeedLine]
    groups: list[str]
    territories: list[str]
    cells: dict[tuple[str, str], MatrixCell]
    orphans: dict[str, list[str]]
    rule: str
    threshold: int
    least_covered: NeedLine | None = None
    activity_shares: pd.DataFrame = field(default_factory=pd.DataFrame)
    disclosure: Disclosure | None = None


def _opt(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def activity_cost(activity: Activity) -> float | None:
    """Direct yearly cost: unit cost x volume + fixed cost (None when the unit cost is unknown)."""
    if activity.unit_cost is None:
        return None
    return float(activity.unit_cost) * float(activity.volume or 0) + float(activity.fixed_cost or 0)


def load_frames(session: Session, organisation_id: int) -> dict[str, Any]:
    needs = session.execute(
        select(Need, PopulationGroup.name, Territory.name)
        .join(PopulationGroup, PopulationGroup.id == Need.population_group_id)
        .join(Territory, Territory.id == Need.territory_id)
        .where(Need.organisation_id == organisation_id)
        .order_by(Need.code)
    ).all()
    need_frame = pd.DataFrame(
        {
            "size": [n.size if n.size is not None else np.nan for n, _, _ in needs],
            "priority": [n.priority for n, _, _ in needs],
            "priority_weight": [n.priority_weight for n, _, _ in needs],
            "group": [g for _, g, _ in needs],
            "territory": [t for _, _, t in needs],
            "territory_id": [n.territory_id for n, _, _ in needs],
        },
        index=pd.Index([n.id for n, _, _ in needs], name="need_id"),
    )
    activities = session.scalars(
        select(Activity).where(Activity.organisation_id == organisation_id, Activity.archived_at.is_(None))
    ).all()  # an archived activity is not in today's offer
    costed = current_costs(session, organisation_id)

    def cost(activity: Activity) -> float:
        full = costed.get(activity.id, {}).get("full_cost", 0.0)
        if full > 0:
            return full
        recorded = activity_cost(activity)
        return recorded if recorded is not None else np.nan

    activity_frame = pd.DataFrame(
        {"volume": [float(a.volume or 0) for a in activities],
         "cost": [cost(a) for a in activities]},
        index=pd.Index([a.id for a in activities], name="activity_id"),
    )  # fmt: skip
    coverage = pd.DataFrame(
        session.execute(
            select(
                ActivityNeedCoverage.activity_id,
                ActivityNeedCoverage.need_id,
                ActivityNeedCoverage.coefficient,
                ActivityNeedCoverage.share,
            )
            .join(Activity, Activity.id == ActivityNeedCoverage.activity_id)
            .where(Activity.organisation_id == organisation_id, Activity.archived_at.is_(None))
        ).all(),
        columns=["activity_id", "need_id", "coefficient", "share"],
    ).astype({"share": float})
    deliveries, parents = located_offer(session, organisation_id)
    objectives = session.scalars(select(Objective).where(Objective.organisation_id == organisation_id)).all()
    links = pd.DataFrame(
        session.execute(
            select(objective_needs.c.objective_id, objective_needs.c.need_id).where(
                objective_needs.c.objective_id.in_([o.id for o in objectives])
            )
        ).all(),
        columns=["objective_id", "need_id"],
    )
    objective_ids = session.scalars(
        select(Indicator.objective_id).where(Indicator.organisation_id == organisation_id)
    )
    indicator_objectives = pd.Series([np.nan if o is None else float(o) for o in objective_ids], dtype=float)
    return {
        "need_rows": needs, "needs": need_frame, "activity_rows": activities, "activities": activity_frame,
        "coverage": coverage, "deliveries": deliveries, "parents": parents, "objective_rows": objectives, "objective_needs": links,
        "objectives": pd.DataFrame(
            {"parent_id": [float(o.parent_id) if o.parent_id else np.nan for o in objectives]},
            index=pd.Index([o.id for o in objectives], name="objective_id"),
        ),
        "indicator_objectives": indicator_objectives,
    }  # fmt: skip


def located_offer(session: Session, organisation_id: int) -> tuple[pd.DataFrame, dict[int, int | None]]:
    """Where the organisation's activities are delivered (``activity_id``, ``territory_id``,
    ``share``; an activity without rows is delivered everywhere) and its territory tree (id ->
    parent id), the inputs of the located coverage model (``scorecard.coverage``)."""
    deliveries = pd.DataFrame(
        session.execute(
            select(ActivityDelivery.activity_id, ActivityDelivery.territory_id, ActivityDelivery.share)
            .join(Activity, Activity.id == ActivityDelivery.activity_id)
            .where(Activity.organisation_id == organisation_id, Activity.archived_at.is_(None))
            .order_by(ActivityDelivery.activity_id, ActivityDelivery.territory_id)
        ).all(),
        columns=["activity_id", "territory_id", "share"],
    ).astype({"share": float})
    parents = {
        int(i): (int(p) if p is not None else None)
        for i, p in session.execute(
            select(Territory.id, Territory.parent_id).where(Territory.organisation_id == organisation_id)
        )
    }
    return deliveries, parents


def coherence_of(frames: dict[str, Any]) -> Coherence:
    """:func:`scorecard.coherence.compute_coherence` of frames loaded by :func:`load_frames`."""
    return compute_coherence(
        frames["needs"], frames["activities"], frames["coverage"], frames["deliveries"], frames["parents"]
    )


def build_coherence(
    session: Session, organisation_id: int, *, threshold: int = DEFAULT_THRESHOLD
) -> CoherenceView:
    """The organisation's coherence, masked by its disclosure: computed once per session and, for
    a page's read session, kept while the database is unchanged (:mod:`services.cache`); each
    caller gets its own copy."""
    return cache.remember(
        session,
        ("coherence", organisation_id, threshold),
        lambda: _build_coherence(session, organisation_id, threshold),
        copy=copy.deepcopy,
    )


def _build_coherence(session: Session, organisation_id: int, threshold: int) -> CoherenceView:
    frames = load_frames(session, organisation_id)
    result = coherence_of(frames)
    rows = result.needs
    disclosure = disclosure_of(session, organisation_id, frames, threshold=threshold)
    lines: list[NeedLine] = []
    for need, group, territory in frames["need_rows"]:
        row = rows.loc[need.id]
        size = _opt(row["size"])
        # the size and what derives from it, masked as the organisation's one disclosure says
        masked = disclosure.need_figures(need.id)
        flags = []
        if bool(row["size_unknown"]):
            flags.append("effectif inconnu (secret ou non chiffré)")
        if bool(row["high_priority_low_coverage"]) and not masked:
            flags.append("prioritaire et peu couvert")
        if int(row["activities"]) == 0:
            flags.append("aucune activité")
        if _opt(row["over_supply"]) and not masked:
            flags.append("offre supérieure au besoin")

        def shown(value: Any, masked: bool = masked) -> float | None:
            return None if masked else _opt(value)

        lines.append(
            NeedLine(
                need_id=need.id, code=need.code, label=need.label, group=group, territory=territory, unit=need.unit,
                priority=need.priority, size=shown(size), offered=shown(row["offered"]), covered=shown(row["covered"]),
                coverage_rate=shown(row["coverage_rate"]), unmet=shown(row["unmet"]),
                over_supply=shown(row["over_supply"]), cost_per_person=shown(row["cost_per_person"]),
                gap_index=_opt(row["gap_index"]) if not masked else None, activities=int(row["activities"]),
                flags=flags, masked=masked,
            )
        )  # fmt: skip
    matrix = result.matrix
    groups = sorted({g for g, _ in matrix.index}) if len(matrix) else []
    territories = sorted({t for _, t in matrix.index}) if len(matrix) else []
    cells = {}
    for key, cell in matrix.iterrows():
        group, territory = cast(tuple[str, str], key)
        hidden = disclosure.cell(group, territory)
        cells[(group, territory)] = MatrixCell(
            size=None if hidden else float(cell["size"]), covered=None if hidden else float(cell["covered"]),
            rate=None if hidden else float(cell["coverage_rate"]), masked=hidden, max_priority=int(cell["max_priority"]),
        )  # fmt: skip
    found = orphans(frames["needs"], frames["activities"], frames["coverage"], frames["objective_needs"],
                    frames["objectives"], frames["indicator_objectives"])  # fmt: skip
    need_labels = {n.id: n.label for n, _, _ in frames["need_rows"]}
    activity_labels = {a.id: a.name for a in frames["activity_rows"]}
    objective_labels = {o.id: f"{o.code} — {o.title}" for o in frames["objective_rows"]}
    names = {"needs_without_activity": need_labels, "needs_without_objective": need_labels,
             "activities_without_need": activity_labels, "objectives_without_indicator": objective_labels}  # fmt: skip
    candidates = [line for line in lines if line.coverage_rate is not None and line.priority >= 4]
    least = min(candidates, key=lambda line: (line.coverage_rate, -line.priority)) if candidates else None
    return CoherenceView(
        needs=lines, groups=groups, territories=territories, cells=cells,
        orphans={k: [names[k][i] for i in v] for k, v in found.items()}, rule=RULE.format(threshold=threshold),
        threshold=threshold, least_covered=least, activity_shares=result.activity_shares, disclosure=disclosure,
    )  # fmt: skip


def disclosure_of(
    session: Session, organisation_id: int, frames: dict[str, Any], *, threshold: int = DEFAULT_THRESHOLD
) -> Disclosure:
    """The organisation's one disclosure (:mod:`services.secrecy`) for the frames of :func:`load_frames`."""
    needs = frames["needs"]
    return build_disclosure(
        session,
        organisation_id,
        sizes={int(i): _opt(s) for i, s in needs["size"].items()},
        groups={
            int(i): (str(g), str(t))
            for i, g, t in zip(needs.index, needs["group"], needs["territory"], strict=True)
        },
        prorata=prorata_groups(frames),
        threshold=threshold,
    )


def need_offer(session: Session, need: Need, view: CoherenceView) -> list[dict[str, Any]]:
    """The activities that answer a need: persons offered, their share of the activity, its cost
    (from the coherence already computed in ``view``)."""
    rows = session.execute(
        select(ActivityNeedCoverage, Activity, Service.name)
        .join(Activity, Activity.id == ActivityNeedCoverage.activity_id)
        .join(Service, Service.id == Activity.service_id)
        .where(ActivityNeedCoverage.need_id == need.id)
    ).all()
    shares = view.activity_shares
    shares = shares[shares["need_id"] == need.id].set_index("activity_id")
    # a masked need's share, persons and imputed cost would give its size back (with the
    # activity's volume and its full cost on /couts): masked with it
    hidden = view.disclosure is not None and view.disclosure.need_figures(need.id)
    out = []
    for link, activity, service in rows:
        share = cast(pd.Series, shares.loc[activity.id]) if activity.id in shares.index else None
        out.append({
            "activity": activity, "service": service, "coefficient": link.coefficient,
            "persons": None if hidden else float(share["persons"]) if share is not None else 0.0,
            "cost_share": None if hidden else float(share["cost_share"]) if share is not None else 0.0,
            "attributed_cost": None if hidden else _opt(share["attributed_cost"]) if share is not None else None,
            "partner": activity.unit_cost is None, "masked": hidden,
        })  # fmt: skip
    return sorted(out, key=lambda r: (r["activity"].name if hidden else "", -(r["persons"] or 0)))


def publish_coverage_indicators(session: Session, organisation_id: int, *, year: int) -> int:
    """Feed the scorecard: one yearly "coverage rate" indicator per population group. Flushes.

    The rate is published (scorecard, API): it sums the needs whose figures are published only,
    so that it gives no masked need back (secret statistique, :mod:`services.secrecy`)."""
    view_frames = load_frames(session, organisation_id)
    result = coherence_of(view_frames).needs
    disclosure = disclosure_of(session, organisation_id, view_frames)
    shown = pd.Series([not disclosure.need_figures(int(i)) for i in result.index], index=result.index)
    known = result[result["size"].notna() & (result["size"] > 0) & shown]
    groups = {
        g.name: g
        for g in session.scalars(
            select(PopulationGroup).where(PopulationGroup.organisation_id == organisation_id)
        )
    }
    sums = known.groupby("group")[["covered", "size"]].sum()
    rates = sums["covered"] / sums["size"]
    span = P.year(year)
    period = ensure_periods(session, organisation_id, [span])[span.key]
    written = 0
    for group_name, rate in rates.items():
        group = groups[str(group_name)]
        code = f"couverture_{group.code}"[:64]
        indicator = session.scalar(
            select(Indicator).where(Indicator.organisation_id == organisation_id, Indicator.code == code)
        )
        if indicator is None:
            indicator = Indicator(
                organisation_id=organisation_id, code=code, label=f"Taux de couverture des besoins — {group.name}",
                type=IndicatorType.OUTCOME, unit="%", direction=Direction.HIGHER_IS_BETTER, frequency=Frequency.YEARLY,
                perspective=Perspective.USERS, decimals=1, source=COVERAGE_SOURCE,
            )  # fmt: skip
            session.add(indicator)
            session.flush()
        value = round(float(rate) * 100, 1)
        measurement = session.scalar(
            select(Measurement).where(Measurement.indicator_id == indicator.id, Measurement.period_id == period.id,
                                      Measurement.territory_id.is_(None))
        )  # fmt: skip
        if measurement is None:
            session.add(Measurement(organisation_id=organisation_id, indicator_id=indicator.id, period_id=period.id,
                                    value=value, state=MeasurementState.VALIDATED,
                                    comment="Calculé par Pilotis à partir des besoins et de l'offre."))  # fmt: skip
        elif measurement.value != value:
            measurement.value = value
        written += 1
    session.flush()
    return written
