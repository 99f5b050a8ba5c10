"""The needs observatory: every held statistic of a territory by theme, over the held vintages,
against the wider territories, masked as the organisation's one disclosure says.

Loads the statistics, hands plain numbers to :mod:`scorecard.territorial_indicators`, and
returns dataclasses for the page and the workbook. A territory lacking a count at some vintage
reads it as the sum of its published IRIS for that vintage (when every IRIS is held), a lower
bound when an IRIS is secret, said so in its sources, and masked when the organisation's
disclosure masks that sum (``services.secrecy.sum_key``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Need, Organisation, Territory, TerritoryKind, TerritoryStatistic
from scorecard.confidentiality import DEFAULT_THRESHOLD
from scorecard.projections import (
    AGE_LABELS,
    CAVEAT,
    CONTAINED,
    METHOD,
    SHARE_LIMITS,
    SHARE_METHOD,
    TREND_LIMITS,
    ImpliedNeed,
    Projection,
    implied_need,
    project_groups,
)
from scorecard.territorial_indicators import (
    INDICATORS,
    THEMES,
    Observation,
    Result,
    TerritorialIndicator,
    change,
    series,
    theme_of_variable,
)
from services.coherence import NeedLine, build_coherence
from services.exports import workbook_bytes
from services.needs import sizing_formula
from services.numbers import format_number
from services.secrecy import COUNT_UNITS, Disclosure, stat_key, sum_key

#: The horizon issue 19 names (« in 2030, at today's offer, coverage of the 80+ falls to … »).
HORIZON = 2030


def horizons_from(year: int) -> list[int]:
    """The projection horizons of a page or report of ``year``: that year and 2030 (after 2030:
    the year and three years on, the ABS's distance to the middle of the mandate)."""
    return [year, HORIZON] if year < HORIZON else [year, year + 3]


#: The départements' projections of older persons (``scripts/build_projections.py``).
PROJECTIONS_FILE = Path(__file__).parent / "data" / "projections" / "personnes_agees_departements.csv"
PROJECTIONS_SOURCE = "Projections départementales des personnes âgées (PERSAGEES, 2018-2050)"


@cache
def _projections_table() -> dict[str, dict[str, dict[int, float]]]:
    with PROJECTIONS_FILE.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    out: dict[str, dict[str, dict[int, float]]] = defaultdict(dict)
    for row in rows:
        out[row["departement"]][row["variable"]] = {
            int(k): float(v) for k, v in row.items() if k.isdigit() and v not in ("", None)
        }
    return dict(out)


def departement_projection(code: str) -> dict[str, dict[int, float]]:
    """The département's projected persons aged 60-74 and 75+ by year (variable -> year ->
    persons), empty for a code the file does not hold."""
    return _projections_table().get(code, {})


#: Count units of the observatory: the disclosure's, and the census's families.
COUNTS = COUNT_UNITS | {"familles"}
#: The wider levels compared, nearest first.
WIDER = [
    (TerritoryKind.COMMUNE, "Commune"),  # an IRIS's or a quartier's
    (TerritoryKind.EPCI, "EPCI"),
    (TerritoryKind.DEPARTEMENT, "Département"),
    (TerritoryKind.REGION, "Région"),
    (TerritoryKind.FRANCE, "France"),
]
KIND_LABELS = {
    TerritoryKind.IRIS: "IRIS",
    TerritoryKind.COMMUNE: "Commune",
    TerritoryKind.QUARTIER: "Quartier",
    TerritoryKind.QPV: "QPV",
    **dict(WIDER),
}


@dataclass(frozen=True)
class Point:
    vintage: int
    value: float | None
    masked: bool


@dataclass(frozen=True)
class Comparison:
    level: str
    territory: str
    point: Point | None  # the latest, None when nothing is held


@dataclass
class IndicatorView:
    indicator: TerritorialIndicator
    points: list[Point]
    comparisons: list[Comparison]
    sources: str

    @property
    def latest(self) -> Point | None:
        return self.points[-1] if self.points else None

    @property
    def trend(self) -> str:
        """« +1,2 entre 2015 et 2021 », or "" with fewer than two shown vintages."""
        moved = change([(p.vintage, Result(p.value, p.masked)) for p in self.points])
        if moved is None:
            return ""
        first, last, delta = moved
        sign = "+" if delta > 0 else ("−" if delta < 0 else "")
        unit = " points" if self.indicator.unit == "%" else ""
        return f"{sign}{format_number(abs(delta), self.indicator.decimals)}{unit} entre {first} et {last}"


@dataclass
class ThemeView:
    code: str
    title: str
    indicators: list[IndicatorView] = field(default_factory=list)


@dataclass
class NeedOutlook:
    """A need sized from a census age group, at each horizon, at today's offer."""

    code: str
    label: str
    group: str
    territory: str
    unit: str
    variable: str
    size: float | None
    covered: float | None
    coverage_rate: float | None
    masked: bool
    future: dict[int, ImpliedNeed]
    #: the need's territory lacks two censuses: it follows its commune's trend
    borrowed: str = ""


@dataclass
class Outlook:
    """Population projections of a territory by age group and the needs they imply
    (:mod:`scorecard.projections`: method, hypotheses and limits)."""

    territory: str | None
    horizons: list[int]
    projections: list[Projection]
    needs: list[NeedOutlook]
    sources: list[str]
    #: the département whose projection the older groups follow, if any
    reference: str = ""

    @property
    def available(self) -> bool:
        return any(p.projected for p in self.projections)

    @property
    def method(self) -> str:
        methods = {p.method for p in self.projections if p.projected}
        parts = [METHOD] if "tendance" in methods or not methods else []
        if "parts" in methods:
            parts.append(SHARE_METHOD.replace("du département", f"du département ({self.reference})", 1))
        return " ".join(parts)

    @property
    def limits(self) -> str:
        methods = {p.method for p in self.projections if p.projected}
        parts = [CONTAINED]
        if "parts" in methods:
            parts.append(SHARE_LIMITS)
        if "tendance" in methods or not methods:
            parts.append(TREND_LIMITS)
        return " ".join([*parts, CAVEAT])

    @property
    def unprojected(self) -> list[Projection]:
        return [p for p in self.projections if not p.projected and not p.masked]

    @staticmethod
    def label(variable: str) -> str:
        """« des 75 ans et plus », « de la population totale »."""
        if variable == "population":
            return "de la population totale"
        return f"des {AGE_LABELS.get(variable, variable).lower()}"

    @property
    def shown(self) -> list[Projection]:
        return [p for p in self.projections if p.projected or p.masked]


@dataclass
class Observatory:
    territory: Territory | None
    choices: list[Territory]
    levels: list[tuple[str, Territory]]
    themes: list[ThemeView]
    threshold: int
    outlook: Outlook | None = None

    @property
    def empty(self) -> bool:
        return not any(t.indicators for t in self.themes)


class _Held:
    """The organisation's statistics by territory, variable and vintage, with their secrecy."""

    def __init__(self, session: Session, organisation_id: int, disclosure: Disclosure) -> None:
        self.disclosure = disclosure
        self.territories = {
            t.id: t
            for t in session.scalars(select(Territory).where(Territory.organisation_id == organisation_id))
        }
        self.rows: dict[int, dict[str, dict[int, TerritoryStatistic]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        for row in session.scalars(
            select(TerritoryStatistic).where(TerritoryStatistic.organisation_id == organisation_id)
        ):
            held = self.rows[row.territory_id][row.variable].get(row.vintage)
            if held is None or row.source < held.source:  # one source per variable and vintage
                self.rows[row.territory_id][row.variable][row.vintage] = row
        self.children: dict[int, list[int]] = defaultdict(list)
        for t in self.territories.values():
            if t.parent_id is not None and t.kind is TerritoryKind.IRIS:
                self.children[t.parent_id].append(t.id)

    def _hidden(self, value: float | None, unit: str, key: Hashable) -> bool:
        if unit not in COUNTS:
            return False
        if value is not None and 0 < value < self.disclosure.threshold:
            return True
        return self.disclosure.hides(key)

    def history(self, territory_id: int) -> tuple[dict[str, dict[int, Observation]], dict[str, set[str]]]:
        """variable -> vintage -> observation for the territory (IRIS sums where it lacks a count),
        and the sources of each variable."""
        out: dict[str, dict[int, Observation]] = defaultdict(dict)
        sources: dict[str, set[str]] = defaultdict(set)
        for variable, by_vintage in self.rows.get(territory_id, {}).items():
            for vintage, row in by_vintage.items():
                secret = row.is_secret or self._hidden(row.value, row.unit, stat_key(row.id))
                out[variable][vintage] = Observation(None if secret else row.value, secret)
                sources[variable].add(f"{row.source} {vintage}")
        parts: dict[tuple[str, int], list[TerritoryStatistic]] = defaultdict(list)
        for child in self.children.get(territory_id, []):
            for variable, by_vintage in self.rows.get(child, {}).items():
                for vintage, row in by_vintage.items():
                    if row.unit in COUNTS and vintage not in out.get(variable, {}):
                        parts[(variable, vintage)].append(row)
        for (variable, vintage), rows in parts.items():
            if len(rows) < len(self.children[territory_id]):
                continue  # some IRIS not held: no sum
            secret_parts = sum(1 for r in rows if r.is_secret)
            if secret_parts == len(rows):
                out[variable][vintage] = Observation(None, True)
                continue
            total = sum(float(r.value or 0) for r in rows if not r.is_secret)
            # the sum of the published IRIS is the disclosure's own cell (services.secrecy)
            hidden = self._hidden(total, rows[0].unit, sum_key(territory_id, variable, vintage))
            out[variable][vintage] = Observation(None if hidden else total, hidden)
            note = f" : minorant, {secret_parts} IRIS secret" if secret_parts else ""
            sources[variable].add(f"{rows[0].source} {vintage} (somme des IRIS publiés{note})")
        return out, sources

    def ancestors(self, territory: Territory) -> list[tuple[str, Territory]]:
        found: dict[TerritoryKind, Territory] = {}
        seen: set[int] = set()
        current = territory.parent_id
        while current is not None and current not in seen:
            seen.add(current)
            node = self.territories.get(current)
            if node is None:
                break
            found.setdefault(node.kind, node)
            current = node.parent_id
        if TerritoryKind.FRANCE not in found and territory.kind is not TerritoryKind.FRANCE:
            france = next((t for t in self.territories.values() if t.kind is TerritoryKind.FRANCE), None)
            if france is not None:
                found[TerritoryKind.FRANCE] = france
        return [
            (label, found[kind]) for kind, label in WIDER if kind in found and found[kind].id != territory.id
        ]


def main_territory(session: Session, organisation: Organisation) -> Territory | None:
    """The organisation's own territory: its commune (by INSEE code), else its first commune or EPCI."""
    territories = session.scalars(
        select(Territory).where(Territory.organisation_id == organisation.id).order_by(Territory.code)
    ).all()
    for kind in (TerritoryKind.COMMUNE, TerritoryKind.EPCI, TerritoryKind.DEPARTEMENT):
        matching = [t for t in territories if t.kind is kind]
        if kind is TerritoryKind.COMMUNE and organisation.insee_code:
            own = [t for t in matching if t.code == organisation.insee_code]
            matching = own or matching
        if matching:
            return matching[0]
    return None


def _age_variable(formula: str | None) -> str | None:
    """The census age group a need's sizing formula reads alone (``pop_80p``), else None."""
    if not formula:
        return None
    parsed = sizing_formula(Need(sizing_formula=formula))
    if parsed is None or len(parsed.codes) != 1:
        return None
    (code,) = parsed.codes
    return code if code in AGE_LABELS else None


def build_outlook(
    session: Session,
    organisation_id: int,
    held: _Held,
    territory: Territory,
    horizons: list[int],
    need_lines: list[NeedLine],
) -> Outlook:
    """The territory's age groups projected to ``horizons`` and, for each need sized from one age
    group (its sizing formula reads it alone), its size, coverage and unmet part at the horizon at
    today's offer (the need's territory's trend, else its commune's)."""
    own, sources = held.history(territory.id)
    departement = (
        territory
        if territory.kind is TerritoryKind.DEPARTEMENT
        else next((t for _, t in held.ancestors(territory) if t.kind is TerritoryKind.DEPARTEMENT), None)
    )
    reference = departement_projection(departement.code) if departement is not None else {}
    projections = project_groups(own, horizons, reference)
    by_variable = {p.variable: p for p in projections}
    formulas = dict(
        session.execute(
            select(Need.id, Need.sizing_formula).where(Need.organisation_id == organisation_id)
        ).all()
    )
    territory_of = dict(
        session.execute(
            select(Need.id, Need.territory_id).where(Need.organisation_id == organisation_id)
        ).all()
    )
    local: dict[int, dict[str, Projection]] = {}
    needs: list[NeedOutlook] = []
    for line in need_lines:
        variable = _age_variable(formulas.get(line.need_id))
        if variable is None:
            continue
        place = territory_of.get(line.need_id)
        projection = by_variable.get(variable)
        borrowed = ""
        if place is not None and place != territory.id:
            if place not in local:
                local[place] = {
                    p.variable: p for p in project_groups(held.history(place)[0], horizons, reference)
                }
            projection = local[place].get(variable)
            if projection is None or not projection.projected:
                projection = by_variable.get(variable)
                borrowed = f"tendance de {territory.name}"
        masked = line.masked or projection is None or projection.masked
        future = {
            h: implied_need(
                None if masked else line.size,
                None if masked else line.covered,
                projection.growth.get(h) if projection is not None else None,
            )
            for h in horizons
        }
        needs.append(
            NeedOutlook(
                line.code,
                line.label,
                line.group,
                line.territory,
                line.unit,
                variable,
                None if line.masked else line.size,
                None if line.masked else line.covered,
                None if line.masked else line.coverage_rate,
                line.masked,
                future,
                borrowed,
            )
        )
    used = {s for p in projections if p.projected for s in sources.get(p.variable, set())}
    if any(p.projected and p.method == "parts" for p in projections):
        used.add(PROJECTIONS_SOURCE)
    name = departement.name if departement is not None and reference else ""
    return Outlook(territory.name, list(horizons), projections, needs, sorted(used), name)


def _points(indicator: TerritorialIndicator, history: dict[str, dict[int, Observation]]) -> list[Point]:
    return [Point(v, r.value, r.masked) for v, r in series(indicator, history)]


def _plain(variable: str, row_unit: str, label: str) -> TerritorialIndicator:
    """A held variable no standard indicator shows, as a plain value."""
    decimals = 0 if row_unit in COUNTS or row_unit == "EUR" else 1
    unit = "€" if row_unit == "EUR" else row_unit
    return TerritorialIndicator(
        variable,
        label,
        theme_of_variable(variable),
        unit,
        decimals,
        (variable,),
        label.lower(),
        "tel que publié",
    )


def build_observatory(
    session: Session,
    organisation: Organisation,
    *,
    territory_id: int | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    horizons: list[int] | None = None,
) -> Observatory:
    """The observatory of one of the organisation's territories (by default its own, as the ABS
    report's); ``territory_id`` of another organisation's territory is ignored. With
    ``horizons``, the territory's population projections and the needs they imply."""
    coherence = build_coherence(session, organisation.id, threshold=threshold)
    disclosure = coherence.disclosure
    if disclosure is None:  # pragma: no cover - build_coherence always decides one
        raise RuntimeError("coherence without disclosure")
    held = _Held(session, organisation.id, disclosure)
    territory = held.territories.get(territory_id) if territory_id is not None else None
    if territory is None:
        territory = main_territory(session, organisation)
    choices = sorted(
        (t for t in held.territories.values() if held.rows.get(t.id) or held.children.get(t.id)),
        key=lambda t: (list(TerritoryKind).index(t.kind), t.code),
    )
    themes = [ThemeView(code, title) for code, title in THEMES]
    if territory is None:
        return Observatory(None, choices, [], themes, disclosure.threshold)
    levels = held.ancestors(territory)
    own, sources = held.history(territory.id)
    wider = {t.id: held.history(t.id)[0] for _, t in levels}
    by_theme = {t.code: t for t in themes}
    shown_inputs: set[str] = set()
    indicators = list(INDICATORS)
    named = {i.code for i in INDICATORS}
    for variable in sorted(own):
        if variable not in named:
            row = next(iter(held.rows[territory.id][variable].values()), None)
            if row is None:  # an IRIS sum: the IRIS's label and unit
                child = next(c for c in held.children[territory.id] if variable in held.rows.get(c, {}))
                row = next(iter(held.rows[child][variable].values()))
            indicators.append(_plain(variable, row.unit, row.label))
    for indicator in indicators:
        points = _points(indicator, own)
        if not points:
            continue
        shown_inputs.update(indicator.inputs)
        comparisons = []
        for level, other in levels:
            other_points = _points(indicator, wider[other.id])
            comparisons.append(Comparison(level, other.name, other_points[-1] if other_points else None))
        used = sorted({s for name in indicator.inputs for s in sources.get(name, set())})
        by_theme[indicator.theme].indicators.append(
            IndicatorView(indicator, points, comparisons, " ; ".join(used))
        )
    outlook = (
        build_outlook(session, organisation.id, held, territory, horizons, coherence.needs)
        if horizons
        else None
    )
    return Observatory(territory, choices, levels, themes, disclosure.threshold, outlook)


def _cell(point: Point | None, decimals: int) -> object:
    if point is None:
        return "non disponible"
    if point.masked:
        return "secret"
    return "non disponible" if point.value is None else round(point.value, decimals)


def observatory_workbook(view: Observatory) -> bytes:
    """Every figure of the page, one row per indicator, territory and vintage (secret cells say so),
    then the projections, one row per age group and horizon."""
    headers = [
        "Thème",
        "Indicateur",
        "Territoire",
        "Niveau",
        "Millésime",
        "Valeur",
        "Unité",
        "Formule",
        "Source",
    ]
    rows: list[list[object]] = []
    name = view.territory.name if view.territory else ""
    kind = KIND_LABELS.get(view.territory.kind, "") if view.territory else ""
    for theme in view.themes:
        for item in theme.indicators:
            i = item.indicator
            for point in item.points:
                rows.append(
                    [
                        theme.title,
                        i.label,
                        name,
                        kind,
                        point.vintage,
                        _cell(point, i.decimals),
                        i.unit,
                        i.formula,
                        item.sources or i.source,
                    ]
                )
            for comparison in item.comparisons:
                p = comparison.point
                rows.append(
                    [
                        theme.title,
                        i.label,
                        comparison.territory,
                        comparison.level,
                        p.vintage if p else "",
                        _cell(p, i.decimals),
                        i.unit,
                        i.formula,
                        i.source,
                    ]
                )
    outlook = view.outlook
    if outlook is not None:
        for projection in outlook.projections:
            method = (
                "méthode des parts (département)"
                if projection.method == "parts"
                else "tendance intercensitaire"
            )
            if projection.borrowed_from:
                method += f", évolution {outlook.label(projection.borrowed_from)}"
            for horizon in outlook.horizons:
                if projection.masked:
                    value: object = "secret"
                elif projection.values.get(horizon) is None:
                    value = f"non projetée : {projection.reason}" if projection.reason else "non projetée"
                else:
                    value = round(float(projection.values[horizon] or 0))
                rows.append(
                    [
                        "Projections",
                        projection.label,
                        name,
                        kind,
                        horizon,
                        value,
                        "personnes",
                        f"projection ({method}) depuis {projection.base_year}",
                        " ; ".join(outlook.sources),
                    ]
                )
    return workbook_bytes("Observatoire", headers, rows, [22, 48, 28, 14, 10, 14, 16, 60, 40])
