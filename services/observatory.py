"""The needs observatory: every held statistic of a territory by theme, over the held vintages,
against the wider territories, masked as the organisation's one disclosure says.

Loads the statistics, hands plain numbers to :mod:`scorecard.territorial_indicators`, and
returns dataclasses for the page and the workbook. A territory lacking a count at some vintage
reads it as the sum of its published IRIS for that vintage (when every IRIS is held), a lower
bound when an IRIS is secret, said so in its sources, and masked when the organisation's
disclosure masks that sum (``services.secrecy.sum_key``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Organisation, Territory, TerritoryKind, TerritoryStatistic
from scorecard.confidentiality import DEFAULT_THRESHOLD
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
from services.abs_report import main_territory
from services.coherence import disclosure_of, load_frames
from services.exports import workbook_bytes
from services.numbers import format_number
from services.secrecy import COUNT_UNITS, Disclosure, stat_key, sum_key

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
class Observatory:
    territory: Territory | None
    choices: list[Territory]
    levels: list[tuple[str, Territory]]
    themes: list[ThemeView]
    threshold: int

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
    disclosure: Disclosure | None = None,
) -> Observatory:
    """The observatory of one of the organisation's territories (by default its own, as the ABS
    report's); ``territory_id`` of another organisation's territory is ignored."""
    if disclosure is None:
        disclosure = disclosure_of(
            session, organisation.id, load_frames(session, organisation.id), threshold=threshold
        )
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
    return Observatory(territory, choices, levels, themes, disclosure.threshold)


def _cell(point: Point | None, decimals: int) -> object:
    if point is None:
        return "non disponible"
    if point.masked:
        return "secret"
    return "non disponible" if point.value is None else round(point.value, decimals)


def observatory_workbook(view: Observatory) -> bytes:
    """Every figure of the page, one row per indicator, territory and vintage (secret cells say so)."""
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
    return workbook_bytes("Observatoire", headers, rows, [22, 48, 28, 14, 10, 14, 16, 60, 40])
