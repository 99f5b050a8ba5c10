"""Population projections by age group, and the needs they imply (pure).

Method (« prolongement de la tendance intercensitaire »)
--------------------------------------------------------
For each age group held at two census vintages ``y0 < y1`` (the earliest and the latest held,
e.g. 2015 and 2021 of the INSEE communal base that gives ``P15_`` and ``P21_`` columns), the mean
annual growth rate observed between them is

    r = (P(y1) / P(y0)) ** (1 / (y1 - y0)) - 1

and is assumed to go on unchanged:

    P(h) = P(y1) × (1 + r) ** (h - y1)      for a horizon h ≥ y1.

Units: persons (weighted census estimates, not integers); ``r`` is a fraction per year.

Hypotheses, stated on every page that shows a projection (:data:`METHOD`, :data:`LIMITS`): the
trend of each age group between the two censuses continues; each group is extrapolated on its
own (the groups need not add up to the projected total); nothing is assumed about future housing,
migration or mortality other than what the trend already holds. It is not a cohort-component
projection (INSEE's Omphale model): the ageing of the baby-boom generations into the 75+ after
the latest census is not foreseen, so the 75+ are more likely under- than over-estimated from
2026 on.

Edge cases: a group held at one vintage only, or whose earlier or latest value is unknown, is
not projected (``reason`` says why); a group whose earlier or latest value is 0 has no geometric
rate and is not projected; a secret input (at source or masked by the organisation's
disclosure) makes the whole projection masked, never computed from the other values; a horizon
before the latest vintage is not projected (the past is the census's). A horizon further from
the latest vintage than the observed span is flagged ``fragile``.

Method for the older persons (« méthode des parts », when a projection of the wider territory is
held: the départements' projected persons aged 60-74 and 75+, year by year): the territory's
share of the wider territory's group is assumed to stay as at the latest census ``y1``:

    P(h) = P(y1) × R(h) / R(y1)

where ``R`` is the wider territory's projection. It carries what the projection foresees
(the baby-boom generations ageing, mortality, migrations), at the wider territory's pace. It is
preferred to the trend for the groups it covers; ``annual_rate`` is then the mean annual rate of
``R`` between ``y1`` and the furthest horizon. A horizon outside the projection's years is not
projected.

A group held at one census only (the 80+ when the communal base gives 75-89 and 90+) follows
the trend of the nearest group containing it that is projected (:data:`CONTAINERS`): its share
of that group is assumed to stay as at the latest census.

Needs implied (:func:`implied_need`): a need sized from an age group grows as that group
(``size(h) = size × P(h) / P(y1)``); at today's offer (``covered`` persons) its coverage rate at
the horizon is ``covered / size(h)`` and its unmet part ``max(0, size(h) − covered)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from scorecard.territorial_indicators import Observation

METHOD = (
    "Projection par prolongement de la tendance intercensitaire : pour chaque tranche d'âge, le taux "
    "de variation annuel moyen observé entre les deux recensements détenus est supposé se maintenir "
    "jusqu'à l'horizon (population à l'horizon = population au dernier recensement × (1 + taux annuel) "
    "puissance le nombre d'années)."
)
SHARE_METHOD = (
    "Pour les 60-74 ans et les 75 ans et plus, quand la projection départementale des personnes âgées "
    "est détenue : méthode des parts. La part du territoire dans la tranche d'âge du département est "
    "supposée rester celle du dernier recensement ; le territoire évolue donc comme la projection du "
    "département, qui tient compte du vieillissement des générations, de la mortalité et des migrations."
)
SHARE_LIMITS = (
    "La méthode des parts suppose que le territoire vieillit au rythme de son département : une ville "
    "qui vieillit plus vite ou moins vite que le département sera sous- ou surestimée."
)
CONTAINED = (
    "Une tranche d'âge connue à un seul recensement suit l'évolution de la tranche qui la contient "
    "(les 80 ans et plus celle des 75 ans et plus)."
)
TREND_LIMITS = (
    "La tendance n'est pas une projection démographique par cohortes (modèle Omphale de l'INSEE) : "
    "chaque tranche d'âge est prolongée seule, sans hypothèse de mortalité, de migrations ni de "
    "construction de logements ; le vieillissement des générations nombreuses de l'après-guerre, qui "
    "entrent dans les 75 ans et plus après le dernier recensement, n'est pas anticipé, si bien que les "
    "75 ans et plus sont plutôt sous-estimés. Une projection plus lointaine que l'écart entre les deux "
    "recensements est signalée « fragile »."
)
CAVEAT = "Ces chiffres sont des ordres de grandeur pour préparer les décisions, pas des prévisions."
LIMITS = f"{CONTAINED} {TREND_LIMITS} {CAVEAT}"

#: Census age groups that are projected, in the order shown: (variable, French label).
AGE_GROUPS: list[tuple[str, str]] = [
    ("population", "Population totale"),
    ("pop_0_2", "Enfants de 0 à 2 ans"),
    ("pop_3_5", "Enfants de 3 à 5 ans"),
    ("pop_0_14", "Moins de 15 ans"),
    ("pop_0_19", "Moins de 20 ans"),
    ("pop_15_24", "15 à 24 ans"),
    ("pop_15_29", "15 à 29 ans"),
    ("pop_20_64", "20 à 64 ans"),
    ("pop_60_74", "60 à 74 ans"),
    ("pop_65p", "65 ans et plus"),
    ("pop_75p", "75 ans et plus"),
    ("pop_75_89", "75 à 89 ans"),
    ("pop_80p", "80 ans et plus"),
    ("pop_90p", "90 ans et plus"),
]
AGE_LABELS = dict(AGE_GROUPS)
#: Groups that follow the trend of a group containing them when held at one census only (the
#: INSEE communal base has 75-89 and 90+ but no 80+, 0-14 but no 0-2): nearest container first.
CONTAINERS: dict[str, tuple[str, ...]] = {
    "pop_0_2": ("pop_0_14", "pop_0_19", "population"),
    "pop_3_5": ("pop_0_14", "pop_0_19", "population"),
    "pop_0_14": ("pop_0_19", "population"),
    "pop_0_19": ("population",),
    "pop_15_24": ("pop_15_29", "population"),
    "pop_15_29": ("population",),
    "pop_20_64": ("population",),
    "pop_60_74": ("population",),
    "pop_65p": ("population",),
    "pop_75p": ("pop_65p", "population"),
    "pop_75_89": ("pop_75p", "pop_65p", "population"),
    "pop_80p": ("pop_75p", "pop_75_89", "pop_65p", "population"),
    "pop_90p": ("pop_80p", "pop_75p", "pop_65p", "population"),
}


def annual_growth(first_year: int, first_value: float, last_year: int, last_value: float) -> float | None:
    """Mean annual growth rate between two counts: ``(last / first) ** (1 / years) − 1``.

    None when either count is not positive (no geometric rate). Raises ``ValueError`` when
    ``last_year`` is not after ``first_year``.
    """
    if last_year <= first_year:
        raise ValueError(f"{last_year} is not after {first_year}")
    if not (first_value > 0 and last_value > 0) or not math.isfinite(first_value + last_value):
        return None
    return float((last_value / first_value) ** (1 / (last_year - first_year)) - 1)


def extrapolate(base_value: float, rate: float, years: int) -> float:
    """``base_value × (1 + rate) ** years``."""
    return float(base_value * (1 + rate) ** years)


@dataclass(frozen=True)
class Projection:
    """One age group of one territory projected to the horizons.

    ``values``: horizon -> projected persons (None: not projected); ``growth``: horizon ->
    ``P(h) / P(base_year)``; ``fragile``: the horizons beyond the observed span.
    """

    variable: str
    label: str
    base_year: int | None
    base_value: float | None
    first_year: int | None
    first_value: float | None
    annual_rate: float | None
    values: dict[int, float | None] = field(default_factory=dict)
    growth: dict[int, float | None] = field(default_factory=dict)
    fragile: frozenset[int] = frozenset()
    masked: bool = False
    reason: str = ""
    #: the group's trend is that of this containing group (held at one census only)
    borrowed_from: str = ""
    #: "tendance" (the two censuses) or "parts" (the wider territory's projection)
    method: str = "tendance"

    @property
    def projected(self) -> bool:
        return self.annual_rate is not None and not self.masked


def project_trend(
    variable: str, label: str, history: Mapping[int, Observation], horizons: Sequence[int]
) -> Projection:
    """The age group ``variable`` (vintage -> observation) projected to ``horizons`` (module rule)."""
    years = sorted(history)
    if not years:
        return Projection(variable, label, None, None, None, None, None, reason="aucun recensement détenu")
    last_year = years[-1]
    last = history[last_year]
    if len(years) < 2:
        return Projection(
            variable,
            label,
            last_year,
            None if last.secret else last.value,
            None,
            None,
            None,
            masked=last.secret,
            reason=f"un seul recensement détenu ({last_year}) : pas de tendance",
        )
    first_year = years[0]
    first = history[first_year]
    if first.secret or last.secret:
        return Projection(
            variable, label, last_year, None, first_year, None, None, masked=True, reason="secret statistique"
        )
    if first.value is None or last.value is None:
        return Projection(
            variable,
            label,
            last_year,
            last.value,
            first_year,
            first.value,
            None,
            reason="valeur inconnue à l'un des recensements",
        )
    rate = annual_growth(first_year, float(first.value), last_year, float(last.value))
    if rate is None:
        return Projection(
            variable,
            label,
            last_year,
            last.value,
            first_year,
            first.value,
            None,
            reason="effectif nul à l'un des recensements : pas de taux",
        )
    base = float(last.value)
    values: dict[int, float | None] = {}
    growth: dict[int, float | None] = {}
    span = last_year - first_year
    for horizon in horizons:
        if horizon < last_year:
            values[horizon], growth[horizon] = None, None
            continue
        values[horizon] = extrapolate(base, rate, horizon - last_year)
        growth[horizon] = (1 + rate) ** (horizon - last_year)
    fragile = frozenset(h for h in horizons if h - last_year > span)
    return Projection(
        variable, label, last_year, base, first_year, float(first.value), rate, values, growth, fragile
    )


def project_share(
    variable: str,
    label: str,
    history: Mapping[int, Observation],
    reference: Mapping[int, float],
    horizons: Sequence[int],
) -> Projection:
    """The group ``variable`` of a territory (vintage -> observation) projected by its share of a
    wider territory's projection ``reference`` (year -> persons), module rule."""
    years = sorted(history)
    if not years:
        return Projection(variable, label, None, None, None, None, None, reason="aucun recensement détenu")
    base_year = years[-1]
    base = history[base_year]
    if base.secret:
        return Projection(variable, label, base_year, None, None, None, None, masked=True, method="parts")
    anchor = reference.get(base_year)
    if base.value is None or not anchor or anchor <= 0:
        return Projection(
            variable,
            label,
            base_year,
            base.value,
            None,
            None,
            None,
            reason=f"projection départementale sans l'année {base_year}",
            method="parts",
        )
    growth: dict[int, float | None] = {}
    for horizon in horizons:
        held = reference.get(horizon)
        growth[horizon] = None if horizon < base_year or held is None else held / anchor
    values = {h: None if g is None else float(base.value) * g for h, g in growth.items()}
    reached = [h for h, g in growth.items() if g is not None and h > base_year]
    rate = None
    if reached:
        last = max(reached)
        rate = annual_growth(base_year, anchor, last, float(reference[last]))
    elif any(g is not None for g in growth.values()):
        rate = 0.0
    return Projection(
        variable,
        label,
        base_year,
        float(base.value),
        None,
        None,
        rate,
        values,
        growth,
        method="parts",
        reason="" if rate is not None else "horizons hors de la projection départementale",
    )


def project_groups(
    history: Mapping[str, Mapping[int, Observation]],
    horizons: Sequence[int],
    reference: Mapping[str, Mapping[int, float]] | None = None,
) -> list[Projection]:
    """Every age group of :data:`AGE_GROUPS` held in ``history`` (variable -> vintage ->
    observation), projected to ``horizons``, in the order of :data:`AGE_GROUPS`.

    ``reference`` (variable -> year -> persons of the wider territory's projection): the groups
    it holds are projected by their share of it (:func:`project_share`), the others by their
    trend. A group held at one census only takes the growth of the nearest group of
    :data:`CONTAINERS` that is projected (hypothesis: its share of that group stays as at the
    latest census); ``borrowed_from`` names that group.
    """
    wider = reference or {}
    own = {
        variable: (
            project_share(variable, label, history[variable], wider[variable], horizons)
            if wider.get(variable)
            else project_trend(variable, label, history[variable], horizons)
        )
        for variable, label in AGE_GROUPS
        if history.get(variable)
    }
    out = []
    for variable, projection in own.items():
        container = next(
            (own[c] for c in CONTAINERS.get(variable, ()) if c in own and own[c].projected), None
        )
        if projection.projected or projection.masked or container is None or projection.base_value is None:
            out.append(projection)
            continue
        if container.annual_rate is None or container.base_year != projection.base_year:
            out.append(projection)
            continue
        base = projection.base_value
        out.append(
            replace(
                projection,
                first_year=container.first_year,
                first_value=None,
                annual_rate=container.annual_rate,
                values={h: None if g is None else base * g for h, g in container.growth.items()},
                growth=dict(container.growth),
                fragile=container.fragile,
                reason="",
                borrowed_from=container.variable,
                method=container.method,
            )
        )
    return out


@dataclass(frozen=True)
class ImpliedNeed:
    """A need at a horizon, at today's offer: its size, coverage rate and unmet part."""

    size: float | None
    coverage_rate: float | None
    unmet: float | None


def implied_need(size: float | None, covered: float | None, growth: float | None) -> ImpliedNeed:
    """The need of today's ``size`` (persons) when its age group grows by the factor ``growth``,
    against today's ``covered`` persons (None: no offer known).

    ``size(h) = size × growth``; ``coverage(h) = covered / size(h)`` (None when ``size(h)`` is
    0 or unknown, or ``covered`` is unknown); ``unmet(h) = max(0, size(h) − covered)``.
    """
    if size is None or growth is None or not math.isfinite(size * growth):
        return ImpliedNeed(None, None, None)
    future = size * growth
    if covered is None:
        return ImpliedNeed(future, None, None)
    rate = covered / future if future > 0 else None
    return ImpliedNeed(future, rate, max(0.0, future - covered))


__all__ = [
    "AGE_GROUPS",
    "AGE_LABELS",
    "CAVEAT",
    "CONTAINED",
    "LIMITS",
    "METHOD",
    "SHARE_LIMITS",
    "SHARE_METHOD",
    "TREND_LIMITS",
    "ImpliedNeed",
    "Projection",
    "annual_growth",
    "extrapolate",
    "implied_need",
    "project_groups",
    "project_share",
    "project_trend",
]
