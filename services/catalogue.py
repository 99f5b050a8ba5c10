"""The starter catalogue: standard publics, services, activities, needs and indicators.

A new organisation ticks what applies instead of typing its value chain; the demo is built from
the same definitions, so there is one source of truth for both. The catalogue is data, in
``services/data/catalogue/*.toml`` (one file per kind, commented in French), read once and
checked as a whole at load: an unknown field, a missing one, an unknown public, service, need,
M57 function, statistics variable or indicator, a formula that does not parse or a cycle of
formulas is a :class:`CatalogueError` naming the file, the entry and the field.

:func:`apply_catalogue` creates the chosen entries in an organisation — services, activities,
needs (sized by their formula where the organisation holds the statistics, else unsized with a
note), coverage links and indicators — through the ORM, so the audit journal records every row.
It is idempotent (an entry whose code the organisation already has is left as it is) and all or
nothing (everything is checked before the first write, and the writes share one savepoint).
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from models import (
    Activity,
    ActivityKind,
    ActivityNeedCoverage,
    Direction,
    Frequency,
    Indicator,
    IndicatorType,
    Need,
    NeedEvidence,
    Organisation,
    OrganisationKind,
    PartnerType,
    Perspective,
    PopulationGroup,
    Service,
    ServiceKind,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
)
from models.enums import LABELS_FR
from scorecard.errors import UserError
from scorecard.formula import FormulaError, evaluation_order, parse_formula
from services.costing import COST_METRICS
from services.needs import resize_needs, size_note
from services.nomenclatures import is_known_function
from services.numbers import format_number
from services.policy import Action, Principal, can
from services.statistics_catalog import CAF_IRIS, CENSUS_AGE_GROUPS, FILOSOFI_COMMUNE, FILOSOFI_IRIS

CATALOGUE_DIR = Path(__file__).resolve().parent / "data" / "catalogue"
#: Statistics variables a sizing formula may read: those the reference files and the imports give.
STATISTICS_VARIABLES = frozenset(
    {v.variable for v in (*CAF_IRIS, *FILOSOFI_IRIS, *FILOSOFI_COMMUNE)}
    | {"population" if v == "pop_rp2021" else v for v, _, _, _ in CENSUS_AGE_GROUPS}
)
#: The organisation's own territory, by kind of organisation.
OWN_TERRITORY = {
    OrganisationKind.CCAS: TerritoryKind.COMMUNE,
    OrganisationKind.COMMUNE: TerritoryKind.COMMUNE,
    OrganisationKind.CIAS: TerritoryKind.EPCI,
    OrganisationKind.EPCI: TerritoryKind.EPCI,
    OrganisationKind.DEPARTEMENT: TerritoryKind.DEPARTEMENT,
}
MAX_PROBLEMS = 12
#: What follows the prefix of a need by IRIS: an IRIS code (9 characters) or a commune's (5; 2A004).
PLACE_CODE = re.compile(r"^[0-9][0-9AB][0-9]{3}(?:[0-9]{4})?$")


class CatalogueError(UserError):
    """A catalogue file that cannot be used, or a refused application; the message is in French."""


# -- the definitions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StandardPublic:
    code: str
    name: str
    parent: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class StandardService:
    code: str
    name: str
    m57_function: str | None = None
    partner_type: PartnerType | None = None
    is_support: bool = False
    description: str | None = None

    @property
    def kind(self) -> ServiceKind:
        return ServiceKind.PARTNER if self.partner_type else ServiceKind.OWN


@dataclass(frozen=True)
class StandardCoverage:
    """One unit of the activity's output covers ``coefficient`` units of the need."""

    need: str
    coefficient: float
    note: str | None = None


@dataclass(frozen=True)
class StandardActivity:
    code: str
    name: str
    service: str
    output_unit: str
    m57_function: str | None = None
    mandatory: bool = False
    description: str | None = None
    covers: tuple[StandardCoverage, ...] = ()


@dataclass(frozen=True)
class PriorityRule:
    """The priority of a need by IRIS from a statistic of the IRIS: the first level whose
    threshold the value reaches, else the need's own priority."""

    variable: str
    levels: tuple[tuple[float, int], ...]

    def priority(self, value: float | None, default: int) -> int:
        if value is None:
            return default
        return next((level for threshold, level in self.levels if value >= threshold), default)


@dataclass(frozen=True)
class StandardNeed:
    code: str
    label: str
    public: str
    unit: str
    priority: int = 3
    formula: str | None = None
    #: ``"organisation"``: one need on the organisation's territory; ``"iris"``: one by IRIS.
    per: str = "organisation"
    code_prefix: str | None = None
    priority_rule: PriorityRule | None = None
    note: str | None = None
    description: str | None = None

    @property
    def variables(self) -> frozenset[str]:
        return parse_formula(self.formula).codes if self.formula else frozenset()

    def owns(self, code: str) -> bool:
        """Whether an organisation's need code is one of this need's (``RSA_351860101``)."""
        if self.per == "organisation" or self.code_prefix is None:
            return code == self.code
        return code.startswith(self.code_prefix) and bool(PLACE_CODE.match(code[len(self.code_prefix) :]))

    def code_for(self, territory_code: str) -> str:
        return f"{self.code_prefix}{territory_code}" if self.per == "iris" else self.code

    def label_for(self, territory_name: str) -> str:
        return self.label.replace("{territoire}", territory_name)


@dataclass(frozen=True)
class StandardIndicator:
    code: str
    label: str
    type: IndicatorType
    unit: str
    direction: Direction
    frequency: Frequency
    perspective: Perspective
    activity: str | None = None
    service: str | None = None
    need: str | None = None
    formula: str | None = None
    decimals: int = 0
    weight: float = 1.0
    source: str = "Saisie du service"
    cost_metric: str | None = None
    description: str | None = None

    @property
    def operands(self) -> frozenset[str]:
        return parse_formula(self.formula).codes if self.formula else frozenset()


@dataclass(frozen=True)
class Catalogue:
    publics: dict[str, StandardPublic]
    services: dict[str, StandardService]
    activities: dict[str, StandardActivity]
    needs: dict[str, StandardNeed]
    indicators: dict[str, StandardIndicator]

    def service_of(self, indicator: StandardIndicator) -> str:
        """The standard service that fills an indicator in: its own, else its activity's."""
        if indicator.service is not None:
            return indicator.service
        assert indicator.activity is not None  # noqa: S101 - checked at load
        return self.activities[indicator.activity].service

    def indicators_of(self, activity_code: str) -> list[StandardIndicator]:
        return [i for i in self.indicators.values() if i.activity == activity_code]

    def publics_of(self, activity: StandardActivity) -> list[tuple[StandardPublic, StandardCoverage]]:
        return [(self.publics[self.needs[c.need].public], c) for c in activity.covers]

    def counts(self) -> dict[str, int]:
        return {
            "publics": len(self.publics),
            "services": len(self.services),
            "activities": len(self.activities),
            "needs": len(self.needs),
            "indicators": len(self.indicators),
        }


# -- reading and checking the files ---------------------------------------------------------------
_E = TypeVar("_E", bound=enum.Enum)


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{where} : {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            shown = self.lines[:MAX_PROBLEMS]
            more = len(self.lines) - len(shown)
            tail = f"\n… et {more} autre(s) problème(s)." if more else ""
            raise CatalogueError("Catalogue standard illisible :\n" + "\n".join(shown) + tail)


class _Entry:
    """One ``[[table]]`` of a file, read field by field; problems are collected, not raised."""

    def __init__(self, problems: _Problems, file: str, word: str, index: int, raw: Any) -> None:
        self.problems = problems
        self.raw: dict[str, Any] = raw if isinstance(raw, dict) else {}
        code = self.raw.get("code")
        self.where = f"{file}, {word} n° {index}" + (f" ({code})" if isinstance(code, str) else "")
        if not isinstance(raw, dict):
            self.problems.add(self.where, "ce n'est pas une table")

    def fail(self, key: str | None, message: str) -> None:
        self.problems.add(self.where + (f", champ « {key} »" if key else ""), message)

    def check_keys(self, allowed: Iterable[str]) -> None:
        unknown = sorted(set(self.raw) - set(allowed))
        for key in unknown:
            self.fail(key, f"champ inconnu (champs possibles : {', '.join(sorted(allowed))})")

    def text(self, key: str, *, required: bool = True, max_length: int = 300) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.fail(key, "obligatoire")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "un texte non vide est attendu")
            return None
        if len(value) > max_length:
            self.fail(key, f"{max_length} caractères au plus")
            return None
        return value.strip()

    def boolean(self, key: str) -> bool:
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            self.fail(key, "true ou false attendu")
            return False
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(key, f"un entier de {low} à {high} est attendu")
            return default
        return value

    def number(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            self.fail(key, "un nombre positif ou nul est attendu")
            return default
        return float(value)

    def choice(self, key: str, kind: type[_E], *, required: bool = True) -> _E | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.fail(key, "obligatoire")
            return None
        try:
            return kind(value)
        except ValueError:
            known = ", ".join(str(e.value) for e in kind)
            self.fail(key, f"« {value} » inconnu (valeurs possibles : {known})")
            return None

    def m57(self, key: str) -> str | None:
        code = self.text(key, required=False, max_length=10)
        if code is not None and not is_known_function("M57", code):
            self.fail(key, f"fonction M57 « {code} » inconnue de la nomenclature")
            return None
        return code


def _coefficient(entry: _Entry, value: Any, where: str) -> float | None:
    """A number, or a fraction written ``"1/250"`` (kept exact: ``float(Fraction)`` is ``1 / 250``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str) and "/" in value:
        top, _, bottom = value.partition("/")
        try:
            fraction: Fraction | None = Fraction(int(top.strip()), int(bottom.strip()))
        except (ValueError, ZeroDivisionError):
            fraction = None  # « 1/0 », « un/deux »: refused below with the other malformed values
        if fraction is not None and fraction >= 0:
            return fraction.numerator / fraction.denominator
    entry.fail(where, f"coefficient « {value} » illisible : un nombre positif ou une fraction « 1/250 »")
    return None


def _read_file(directory: Path, name: str, table: str, problems: _Problems) -> list[Any]:
    path = directory / name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.add(name, "fichier absent")
        return []
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.add(name, f"TOML illisible ({exc})")
        return []
    unknown = sorted(set(data) - {table})
    if unknown:
        problems.add(name, f"tables inconnues : {', '.join(unknown)} (seule « [[{table}]] » est attendue)")
    entries = data.get(table, [])
    if not isinstance(entries, list) or not entries:
        problems.add(name, f"aucune entrée « [[{table}]] »")
        return []
    return entries


def _unique(problems: _Problems, name: str, items: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if item.code in out:
            problems.add(name, f"code « {item.code} » en double")
        out[item.code] = item
    return out


def load_catalogue(directory: Path = CATALOGUE_DIR) -> Catalogue:
    """Read and check the five catalogue files of ``directory``; raise :class:`CatalogueError`."""
    problems = _Problems()
    publics = [_public(e) for e in _entries(directory, "publics.toml", "public", "public", problems)]
    services = [_service(e) for e in _entries(directory, "services.toml", "service", "service", problems)]
    activities = [
        _activity(e) for e in _entries(directory, "activities.toml", "activity", "activité", problems)
    ]
    needs = [_need(e) for e in _entries(directory, "needs.toml", "need", "besoin", problems)]
    indicators = [
        _indicator(e) for e in _entries(directory, "indicators.toml", "indicator", "indicateur", problems)
    ]
    problems.raise_if_any()  # references are checked on entries that read well
    catalogue = Catalogue(
        publics=_unique(problems, "publics.toml", publics),
        services=_unique(problems, "services.toml", services),
        activities=_unique(problems, "activities.toml", activities),
        needs=_unique(problems, "needs.toml", needs),
        indicators=_unique(problems, "indicators.toml", indicators),
    )
    _check_references(catalogue, problems)
    problems.raise_if_any()
    return catalogue


@cache
def standard_catalogue() -> Catalogue:
    """The catalogue shipped with Pilotis, read once."""
    return load_catalogue()


def _entries(directory: Path, name: str, table: str, word: str, problems: _Problems) -> list[_Entry]:
    entries = [
        _Entry(problems, name, word, n, raw)
        for n, raw in enumerate(_read_file(directory, name, table, problems), start=1)
    ]
    for entry in entries:
        code = entry.text("code", max_length=64)
        if code is not None and not code.replace("_", "").replace("-", "").isalnum():
            entry.fail("code", "lettres, chiffres, tiret ou souligné seulement")
    return entries


def _public(e: _Entry) -> StandardPublic:
    e.check_keys({"code", "name", "parent", "description"})
    return StandardPublic(
        code=e.text("code", max_length=64) or "",
        name=e.text("name", max_length=255) or "",
        parent=e.text("parent", required=False, max_length=64),
        description=e.text("description", required=False, max_length=2000),
    )


def _service(e: _Entry) -> StandardService:
    e.check_keys({"code", "name", "m57_function", "partner_type", "support", "description"})
    service = StandardService(
        code=e.text("code", max_length=64) or "",
        name=e.text("name", max_length=255) or "",
        m57_function=e.m57("m57_function"),
        partner_type=e.choice("partner_type", PartnerType, required=False),
        is_support=e.boolean("support"),
        description=e.text("description", required=False, max_length=2000),
    )
    if service.partner_type is not None and service.is_support:
        e.fail("support", "un partenaire n'est pas une fonction support")
    return service


def _activity(e: _Entry) -> StandardActivity:
    e.check_keys(
        {"code", "name", "service", "output_unit", "m57_function", "mandatory", "description", "covers"}
    )
    covers: list[StandardCoverage] = []
    raw_covers = e.raw.get("covers", [])
    if not isinstance(raw_covers, list):
        e.fail("covers", "une liste de { need = …, coefficient = … } est attendue")
        raw_covers = []
    for n, raw in enumerate(raw_covers, start=1):
        where = f"covers n° {n}"
        if not isinstance(raw, dict) or not isinstance(raw.get("need"), str):
            e.fail(where, '{ need = "CODE", coefficient = … } attendu')
            continue
        unknown = sorted(set(raw) - {"need", "coefficient", "note"})
        if unknown:
            e.fail(where, f"champ(s) inconnu(s) : {', '.join(unknown)}")
        coefficient = _coefficient(e, raw.get("coefficient"), where)
        note = raw.get("note")
        if coefficient is not None:
            covers.append(StandardCoverage(raw["need"], coefficient, note if isinstance(note, str) else None))
    return StandardActivity(
        code=e.text("code", max_length=64) or "",
        name=e.text("name", max_length=255) or "",
        service=e.text("service", max_length=64) or "",
        output_unit=e.text("output_unit", max_length=64) or "",
        m57_function=e.m57("m57_function"),
        mandatory=e.boolean("mandatory"),
        description=e.text("description", required=False, max_length=2000),
        covers=tuple(covers),
    )


def _need(e: _Entry) -> StandardNeed:
    e.check_keys(
        {
            "code",
            "label",
            "public",
            "unit",
            "priority",
            "formula",
            "per",
            "code_prefix",
            "priority_rule",
            "note",
            "description",
        }
    )
    formula = e.text("formula", required=False, max_length=500)
    if formula is not None:
        try:
            unknown = sorted(parse_formula(formula).codes - STATISTICS_VARIABLES)
        except FormulaError as exc:
            e.fail("formula", f"formule refusée : {exc}")
            formula = None
        else:
            if unknown:
                e.fail(
                    "formula",
                    f"variable(s) statistique(s) inconnue(s) : {', '.join(unknown)} (connues : "
                    f"{', '.join(sorted(STATISTICS_VARIABLES))})",
                )
                formula = None
    per = e.text("per", required=False, max_length=20) or "organisation"
    if per not in ("organisation", "iris"):
        e.fail("per", f"« {per} » inconnu : organisation ou iris")
        per = "organisation"
    prefix = e.text("code_prefix", required=False, max_length=20)
    label = e.text("label", max_length=255) or ""
    if per == "iris":
        if prefix is None:
            e.fail("code_prefix", "un besoin par IRIS a un préfixe de code (« RSA_ »)")
        if formula is None:
            e.fail("formula", "un besoin par IRIS se dimensionne par une formule")
        if "{territoire}" not in label:
            e.fail("label", "le label d'un besoin par IRIS contient {territoire}")
    elif prefix is not None:
        e.fail("code_prefix", 'seulement pour un besoin par IRIS (per = "iris")')
    rule = _priority_rule(e, per)
    return StandardNeed(
        code=e.text("code", max_length=64) or "",
        label=label,
        public=e.text("public", max_length=64) or "",
        unit=e.text("unit", max_length=32) or "",
        priority=e.integer("priority", 3, 1, 5),
        formula=formula,
        per=per,
        code_prefix=prefix,
        priority_rule=rule,
        note=e.text("note", required=False, max_length=2000),
        description=e.text("description", required=False, max_length=2000),
    )


def _priority_rule(e: _Entry, per: str) -> PriorityRule | None:
    raw = e.raw.get("priority_rule")
    if raw is None:
        return None
    if per != "iris":
        e.fail("priority_rule", "seulement pour un besoin par IRIS")
        return None
    variable = raw.get("variable") if isinstance(raw, dict) else None
    levels = raw.get("levels") if isinstance(raw, dict) else None
    if not isinstance(variable, str) or variable not in STATISTICS_VARIABLES:
        e.fail("priority_rule", f"variable « {variable} » inconnue des statistiques")
        return None
    ok = isinstance(levels, list) and all(
        isinstance(p, list)
        and len(p) == 2
        and isinstance(p[0], (int, float))
        and isinstance(p[1], int)
        and 1 <= p[1] <= 5
        for p in levels
    )
    if not ok or not levels:
        e.fail("priority_rule", "levels = [[seuil, priorité de 1 à 5], …] attendu")
        return None
    pairs = tuple((float(p[0]), int(p[1])) for p in levels)
    if list(pairs) != sorted(pairs, reverse=True):
        e.fail("priority_rule", "les seuils vont du plus haut au plus bas")
    return PriorityRule(variable, pairs)


def _indicator(e: _Entry) -> StandardIndicator:
    e.check_keys(
        {
            "code",
            "label",
            "type",
            "unit",
            "direction",
            "frequency",
            "perspective",
            "activity",
            "service",
            "need",
            "formula",
            "decimals",
            "weight",
            "source",
            "cost_metric",
            "description",
        }
    )
    code = e.text("code", max_length=64) or ""
    if code and code != code.lower():
        e.fail("code", "le code d'un indicateur s'écrit en minuscules (il sert dans les formules)")
    formula = e.text("formula", required=False, max_length=500)
    if formula is not None:
        try:
            parse_formula(formula)
        except FormulaError as exc:
            e.fail("formula", f"formule refusée : {exc}")
            formula = None
    cost_metric = e.text("cost_metric", required=False, max_length=32)
    if cost_metric is not None and cost_metric not in COST_METRICS:
        e.fail("cost_metric", f"« {cost_metric} » inconnu (valeurs possibles : {', '.join(COST_METRICS)})")
    return StandardIndicator(
        code=code,
        label=e.text("label", max_length=300) or "",
        type=e.choice("type", IndicatorType) or IndicatorType.OUTPUT,
        unit=e.text("unit", max_length=32) or "",
        direction=e.choice("direction", Direction) or Direction.HIGHER_IS_BETTER,
        frequency=e.choice("frequency", Frequency) or Frequency.MONTHLY,
        perspective=e.choice("perspective", Perspective) or Perspective.USERS,
        activity=e.text("activity", required=False, max_length=64),
        service=e.text("service", required=False, max_length=64),
        need=e.text("need", required=False, max_length=64),
        formula=formula,
        decimals=e.integer("decimals", 0, 0, 6),
        weight=e.number("weight", 1.0),
        source=e.text("source", required=False, max_length=128) or "Saisie du service",
        cost_metric=cost_metric,
        description=e.text("description", required=False, max_length=2000),
    )


def _check_references(c: Catalogue, problems: _Problems) -> None:
    for p in c.publics.values():
        if p.parent is not None and p.parent not in c.publics:
            problems.add(f"publics.toml ({p.code})", f"public parent « {p.parent} » inconnu")
    for a in c.activities.values():
        where = f"activities.toml ({a.code})"
        if a.service not in c.services:
            problems.add(where, f"service « {a.service} » inconnu de services.toml")
        elif a.m57_function is None and c.services[a.service].partner_type is None:
            problems.add(where, "une activité d'un service de l'organisation a sa fonction M57")
        seen: set[str] = set()
        for cover in a.covers:
            if cover.need not in c.needs:
                problems.add(where, f"besoin couvert « {cover.need} » inconnu de needs.toml")
            if cover.need in seen:
                problems.add(where, f"besoin « {cover.need} » couvert deux fois")
            seen.add(cover.need)
    for n in c.needs.values():
        if n.public not in c.publics:
            problems.add(f"needs.toml ({n.code})", f"public « {n.public} » inconnu de publics.toml")
    for n in c.needs.values():
        if any(other.per == "iris" and other.owns(n.code) for other in c.needs.values()):
            problems.add(f"needs.toml ({n.code})", "ce code se confondrait avec ceux d'un besoin par IRIS")
    formulas: dict[str, Any] = {}
    for i in c.indicators.values():
        where = f"indicators.toml ({i.code})"
        if i.activity is not None and i.activity not in c.activities:
            problems.add(where, f"activité « {i.activity} » inconnue de activities.toml")
        if i.service is not None and i.service not in c.services:
            problems.add(where, f"service « {i.service} » inconnu de services.toml")
        if i.activity is None and i.service is None:
            problems.add(where, "un indicateur sans activité nomme le service qui le renseigne (service = …)")
        if i.need is not None and i.need not in c.needs:
            problems.add(where, f"besoin « {i.need} » inconnu de needs.toml")
        if i.cost_metric is not None and i.activity is None:
            problems.add(where, "un indicateur de la comptabilité analytique mesure une activité")
        if i.formula is not None:
            unknown = sorted(i.operands - set(c.indicators))
            if unknown:
                problems.add(
                    where, f"la formule lit des indicateurs inconnus du catalogue : {', '.join(unknown)}"
                )
            else:
                formulas[i.code] = parse_formula(i.formula)
    try:
        evaluation_order(formulas, set(c.indicators) - set(formulas))
    except FormulaError as exc:
        problems.add("indicators.toml", str(exc))


# -- what an organisation holds ---------------------------------------------------------------------
def own_territory(session: Session, organisation: Organisation) -> Territory | None:
    """The organisation's territory (its commune, EPCI or département), None when it has none."""
    kind = OWN_TERRITORY[organisation.kind]
    return session.scalar(
        select(Territory).where(
            Territory.organisation_id == organisation.id,
            Territory.kind == kind,
            Territory.code == (organisation.insee_code or ""),
        )
    )


def finest_territories(session: Session, organisation: Organisation, root: Territory) -> list[Territory]:
    """The IRIS beneath ``root``, and its communes that have no IRIS: where a need by IRIS lives."""
    rows = session.scalars(select(Territory).where(Territory.organisation_id == organisation.id)).all()
    children: dict[int, list[Territory]] = defaultdict(list)
    for t in rows:
        if t.parent_id is not None:
            children[t.parent_id].append(t)
    out: list[Territory] = []
    stack = [root]
    while stack:
        current = stack.pop()
        if current.kind is TerritoryKind.IRIS:
            out.append(current)
            continue
        below = children[current.id]
        if current.kind is TerritoryKind.COMMUNE:
            below = [c for c in below if c.kind in (TerritoryKind.COMMUNE, TerritoryKind.IRIS)]
            if not below:
                out.append(current)
        stack.extend(below)
    return sorted(out, key=lambda t: t.code)


def held_variables(session: Session, organisation_id: int) -> set[str]:
    return set(
        session.scalars(
            select(TerritoryStatistic.variable)
            .where(TerritoryStatistic.organisation_id == organisation_id)
            .distinct()
        )
    )


@dataclass(frozen=True)
class Holding:
    """Which catalogue codes the organisation already has (needs by IRIS: any of theirs)."""

    services: frozenset[str]
    activities: frozenset[str]
    needs: frozenset[str]
    indicators: frozenset[str]
    variables: frozenset[str]


def holding(session: Session, organisation: Organisation, catalogue: Catalogue | None = None) -> Holding:
    cat = catalogue or standard_catalogue()
    org = organisation.id

    def codes(model: Any) -> set[str]:
        return set(session.scalars(select(model.code).where(model.organisation_id == org)))

    need_codes = codes(Need)
    needs = {n.code for n in cat.needs.values() if any(n.owns(c) for c in need_codes)}
    return Holding(
        services=frozenset(codes(Service) & set(cat.services)),
        activities=frozenset(codes(Activity) & set(cat.activities)),
        needs=frozenset(needs),
        indicators=frozenset(codes(Indicator) & set(cat.indicators)),
        variables=frozenset(held_variables(session, org)),
    )


def is_started(session: Session, organisation_id: int) -> bool:
    """Whether the organisation already has a value chain (services, activities, needs, indicators)."""
    return any(
        session.scalar(select(exists().where(model.organisation_id == organisation_id)))
        for model in (Service, Activity, Need, Indicator)
    )


# -- applying it ---------------------------------------------------------------------------------
@dataclass
class AppliedCatalogue:
    """What :func:`apply_catalogue` did, to tell the person."""

    created: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    present: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    links: int = 0
    #: entries added because a chosen one needs them (« service SENIORS, pour A_PORTAGE »)
    added: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or self.links > 0

    def lines(self) -> list[str]:
        """The report in French, one line per kind."""
        words = (
            ("publics", "public(s)"),
            ("services", "service(s) ou partenaire(s)"),
            ("activities", "activité(s)"),
            ("needs", "besoin(s)"),
            ("indicators", "indicateur(s)"),
        )
        out = [f"Créés : {len(self.created[k])} {w}" for k, w in words if self.created.get(k)]
        if self.links:
            out.append(f"Liens de couverture activité → besoin créés : {self.links}")
        kept = [f"{len(self.present[k])} {w}" for k, w in words if self.present.get(k)]
        if kept:
            out.append("Déjà présents, laissés tels quels : " + ", ".join(kept))
        if self.added:
            out.append("Ajoutés parce que nécessaires : " + " ; ".join(self.added))
        if not self.changed:
            out.insert(0, "Rien de nouveau : l'organisation avait déjà tout ce qui est coché.")
        return out + self.notes


def _closure(
    cat: Catalogue, activities: set[str], needs: set[str], indicators: set[str], report: AppliedCatalogue
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Chosen entries and those they need: an indicator's formula operands and activity, an
    activity's or indicator's service. Returned in catalogue order."""
    wanted_indicators = set(indicators)
    stack = list(indicators)
    while stack:
        for operand in sorted(cat.indicators[stack.pop()].operands):
            if operand not in wanted_indicators:
                wanted_indicators.add(operand)
                stack.append(operand)
                report.added.append(f"indicateur {operand} (lu par une formule)")
    wanted_activities = set(activities)
    for code in sorted(wanted_indicators):
        activity = cat.indicators[code].activity
        if activity is not None and activity not in wanted_activities:
            wanted_activities.add(activity)
            report.added.append(f"activité {activity} (mesurée par {code})")
    services: set[str] = set()
    for code in wanted_activities:
        services.add(cat.activities[code].service)
    for code in wanted_indicators:
        services.add(cat.service_of(cat.indicators[code]))

    def ordered(pool: Mapping[str, Any], chosen: set[str]) -> list[str]:
        return [c for c in pool if c in chosen]

    return (
        ordered(cat.services, services),
        ordered(cat.activities, wanted_activities),
        ordered(cat.needs, needs),
        ordered(cat.indicators, wanted_indicators),
    )


def apply_catalogue(
    session: Session,
    principal: Principal,
    organisation: Organisation,
    activity_codes: Iterable[str] = (),
    need_codes: Iterable[str] = (),
    indicator_codes: Iterable[str] = (),
    *,
    catalogue: Catalogue | None = None,
) -> AppliedCatalogue:
    """Create the chosen catalogue entries (and those they need) in ``organisation``. Flushes.

    Entries the organisation already has (same code) are left untouched; coverage links are made
    between the catalogue's activities and needs the organisation holds when one of the two is
    new. Raises :class:`CatalogueError`, before writing anything, on an unknown code, missing
    rights, or an organisation a server administrator may no longer set up.
    """
    cat = catalogue or standard_catalogue()
    if not can(principal, Action.APPLY_CATALOGUE, organisation):
        raise CatalogueError("Vos droits ne permettent pas d'appliquer le catalogue à cette organisation.")
    if principal.organisation_id != organisation.id and is_started(session, organisation.id):
        raise CatalogueError(
            f"« {organisation.name} » a déjà ses services, activités, besoins ou indicateurs : c'est à son "
            "administrateur ou à sa direction de compléter, depuis sa page « Catalogue »."
        )
    chosen = {
        "activities": _known(activity_codes, cat.activities, "Activité(s) inconnue(s)"),
        "needs": _known(need_codes, cat.needs, "Besoin(s) inconnu(s)"),
        "indicators": _known(indicator_codes, cat.indicators, "Indicateur(s) inconnu(s)"),
    }
    if not any(chosen.values()):
        raise CatalogueError("Cochez au moins une activité, un besoin ou un indicateur du catalogue.")
    report = AppliedCatalogue()
    services, activities, needs, indicators = _closure(
        cat, chosen["activities"], chosen["needs"], chosen["indicators"], report
    )
    root = own_territory(session, organisation)
    if needs and root is None:
        raise CatalogueError(
            "L'organisation n'a pas son territoire (commune, EPCI ou département) : les besoins ne "
            "peuvent pas y être placés. Créez l'organisation depuis l'assistant ou « pilotis org create »."
        )
    with session.begin_nested():
        _Applier(session, organisation, cat, root, report).run(services, activities, needs, indicators)
    return report


def _known(codes: Iterable[str], pool: Mapping[str, Any], words: str) -> set[str]:
    wanted = {c.strip() for c in codes if c and c.strip()}
    unknown = sorted(wanted - set(pool))
    if unknown:
        raise CatalogueError(
            f"{words} du catalogue : {', '.join(unknown)}. La liste : pilotis org catalogue --list."
        )
    return wanted


class _Applier:
    def __init__(
        self,
        session: Session,
        organisation: Organisation,
        cat: Catalogue,
        root: Territory | None,
        report: AppliedCatalogue,
    ) -> None:
        self.session = session
        self.org = organisation
        self.cat = cat
        self.root = root
        self.report = report
        self.new_activities: set[int] = set()
        self.new_needs: set[int] = set()

    def _rows(self, model: Any) -> dict[str, Any]:
        return {
            r.code: r for r in self.session.scalars(select(model).where(model.organisation_id == self.org.id))
        }

    def run(
        self, services: list[str], activities: list[str], needs: list[str], indicators: list[str]
    ) -> None:
        self.services = self._services(services)
        self.activities = self._activities(activities)
        self.groups = self._publics(needs)
        self.needs = self._needs(needs)
        self._coverage()
        self._indicators(indicators)
        self.session.flush()

    def _services(self, codes: list[str]) -> dict[str, Service]:
        rows = self._rows(Service)
        for code in codes:
            if code in rows:
                self.report.present["services"].append(code)
                continue
            s = self.cat.services[code]
            rows[code] = Service(
                organisation_id=self.org.id,
                code=s.code,
                name=s.name,
                kind=s.kind,
                partner_type=s.partner_type,
                is_support=s.is_support,
                m57_function=s.m57_function,
                description=s.description,
            )
            self.session.add(rows[code])
            self.report.created["services"].append(code)
        self.session.flush()
        return rows

    def _activities(self, codes: list[str]) -> dict[str, Activity]:
        rows = self._rows(Activity)
        for code in codes:
            if code in rows:
                self.report.present["activities"].append(code)
                continue
            a = self.cat.activities[code]
            rows[code] = Activity(
                organisation_id=self.org.id,
                service_id=self.services[a.service].id,
                territory_id=self.root.id if self.root is not None else None,
                code=a.code,
                name=a.name,
                description=a.description,
                output_unit=a.output_unit,
                m57_function=a.m57_function,
                kind=ActivityKind.MANDATORY if a.mandatory else ActivityKind.OPTIONAL,
            )
            self.session.add(rows[code])
            self.report.created["activities"].append(code)
        self.session.flush()
        self.new_activities = {rows[c].id for c in self.report.created["activities"]}
        return rows

    def _publics(self, needs: list[str]) -> dict[str, PopulationGroup]:
        rows = self._rows(PopulationGroup)
        wanted: list[str] = []
        for code in needs:
            public: str | None = self.cat.needs[code].public
            while public is not None and public not in wanted:
                wanted.append(public)
                public = self.cat.publics[public].parent
        for code in [c for c in self.cat.publics if c in wanted]:  # parents before children
            if code in rows:
                continue
            p = self.cat.publics[code]
            parent = rows.get(p.parent) if p.parent else None
            rows[code] = PopulationGroup(
                organisation_id=self.org.id,
                code=p.code,
                name=p.name,
                description=p.description,
                parent_id=parent.id if parent is not None else None,
            )
            self.session.add(rows[code])
            self.session.flush()
            self.report.created["publics"].append(code)
        return rows

    def _needs(self, codes: list[str]) -> dict[str, list[Need]]:
        """Catalogue need code -> the organisation's needs for it (several for a need by IRIS)."""
        rows = self._rows(Need)
        held = held_variables(self.session, self.org.id)
        out: dict[str, list[Need]] = {}
        for n in self.cat.needs.values():  # held ones too: coverage links reach them
            out[n.code] = [r for c, r in sorted(rows.items()) if n.owns(c)]
        sized = False
        for code in codes:
            n = self.cat.needs[code]
            created = self._need_by_iris(n, rows, out) if n.per == "iris" else self._need(n, rows, held, out)
            if created:
                self.report.created["needs"].append(code)
                sized = sized or n.formula is not None
            elif out[code]:
                self.report.present["needs"].append(code)
        self.session.flush()
        if sized:
            resize_needs(self.session, self.org.id)
        return out

    def _need(
        self, n: StandardNeed, rows: dict[str, Need], held: set[str], out: dict[str, list[Need]]
    ) -> bool:
        if n.code in rows:
            return False
        assert self.root is not None  # noqa: S101 - refused before any write
        missing = sorted(n.variables - held)
        formula = n.formula if n.formula is not None and not missing else None
        note = n.note
        if n.formula is not None and missing:
            note = (
                f"Formule standard : {n.formula}. La statistique {', '.join(missing)} n'est pas encore chargée : "
                "importez-la (Statistiques, import) puis dimensionnez le besoin par cette formule."
            )
            self.report.notes.append(
                f"{n.code} créé sans effectif : statistique {', '.join(missing)} absente."
            )
        elif formula is None:
            self.report.notes.append(f"{n.code} créé sans effectif : à chiffrer à la main ({n.unit}).")
        need = Need(
            organisation_id=self.org.id,
            code=n.code,
            label=n.label,
            description=n.description,
            population_group_id=self.groups[n.public].id,
            territory_id=self.root.id,
            unit=n.unit,
            sizing_formula=formula,
            evidence_note=note,
            priority=n.priority,
            priority_weight=float(n.priority),
        )
        self.session.add(need)
        self.session.flush()
        self.new_needs.add(need.id)
        rows[n.code] = need
        out[n.code] = [need]
        return True

    def _need_by_iris(self, n: StandardNeed, rows: dict[str, Need], out: dict[str, list[Need]]) -> bool:
        """One need per IRIS (or commune without IRIS) that holds the statistic; the priority
        follows the rule's statistic there, which becomes the need's context evidence."""
        assert self.root is not None  # noqa: S101 - refused before any write
        places = finest_territories(self.session, self.org, self.root)
        wanted = n.variables | ({n.priority_rule.variable} if n.priority_rule else set())
        stats: dict[tuple[int, str], TerritoryStatistic] = {}
        for stat in self.session.scalars(
            select(TerritoryStatistic).where(
                TerritoryStatistic.organisation_id == self.org.id,
                TerritoryStatistic.territory_id.in_([t.id for t in places]),
                TerritoryStatistic.variable.in_(wanted),
            )
        ):
            key = (stat.territory_id, stat.variable)
            if key not in stats or stats[key].vintage < stat.vintage:
                stats[key] = stat
        created = 0
        secret = 0
        made: list[Need] = []
        for place in places:
            if not all((place.id, v) in stats for v in n.variables):
                continue
            code = n.code_for(place.code)
            if code in rows:
                continue
            context = stats.get((place.id, n.priority_rule.variable)) if n.priority_rule else None
            rate = None if context is None or context.is_secret else context.value
            priority = n.priority_rule.priority(rate, n.priority) if n.priority_rule else n.priority
            need = Need(
                organisation_id=self.org.id,
                code=code,
                label=n.label_for(place.name),
                description=n.description,
                population_group_id=self.groups[n.public].id,
                territory_id=place.id,
                unit=n.unit,
                sizing_formula=n.formula,
                priority=priority,
                priority_weight=float(priority),
            )
            if context is not None:
                need.evidence.append(NeedEvidence(statistic_id=context.id, role="context"))
            secret += any(stats[(place.id, v)].is_secret for v in n.variables if (place.id, v) in stats)
            self.session.add(need)
            made.append(need)
            rows[code] = need
            out[n.code].append(need)
            created += 1
        self.session.flush()  # once for all the IRIS: a département has thousands
        self.new_needs.update(need.id for need in made)
        if created:
            self.report.notes.append(f"{n.code} : {created} besoin(s), un par IRIS (ou commune sans IRIS).")
        if not created and not out[n.code]:
            self.report.notes.append(
                f"{n.code} : aucun IRIS de l'organisation ne détient {', '.join(sorted(n.variables))} ; "
                "aucun besoin créé (importez la statistique puis cochez-le à nouveau)."
            )
        if secret:
            self.report.notes.append(
                f"{n.code} : {secret} IRIS sous secret statistique, besoin(s) créé(s) sans effectif. "
                + (size_note(None, 1) or "")
            )
        return created > 0

    def _coverage(self) -> None:
        existing: set[tuple[int, int]] = {
            (int(a), int(n))
            for a, n in self.session.execute(
                select(ActivityNeedCoverage.activity_id, ActivityNeedCoverage.need_id)
                .join(Activity, Activity.id == ActivityNeedCoverage.activity_id)
                .where(Activity.organisation_id == self.org.id)
            )
        }
        for a in self.cat.activities.values():
            activity = self.activities.get(a.code)
            if activity is None or activity.organisation_id != self.org.id:
                continue
            for cover in a.covers:
                for need in self.needs.get(cover.need, []):
                    if activity.id not in self.new_activities and need.id not in self.new_needs:
                        continue  # both were there: a link taken away stays away
                    if (activity.id, need.id) in existing:
                        continue
                    existing.add((activity.id, need.id))
                    self.session.add(
                        ActivityNeedCoverage(
                            activity_id=activity.id,
                            need_id=need.id,
                            coefficient=cover.coefficient,
                            note=cover.note,
                        )
                    )
                    self.report.links += 1
        self.session.flush()

    def _indicators(self, codes: list[str]) -> None:
        rows = self._rows(Indicator)
        for code in codes:
            if code in rows:
                self.report.present["indicators"].append(code)
                continue
            i = self.cat.indicators[code]
            activity = self.activities.get(i.activity) if i.activity else None
            service_id = (
                activity.service_id if activity is not None else self.services[self.cat.service_of(i)].id
            )
            need_id = None
            if i.need is not None and self.cat.needs[i.need].per == "organisation":
                found = self.needs.get(i.need, [])
                need_id = found[0].id if found else None
            self.session.add(
                Indicator(
                    organisation_id=self.org.id,
                    code=i.code,
                    label=i.label,
                    description=i.description,
                    type=i.type,
                    unit=i.unit,
                    direction=i.direction,
                    frequency=i.frequency,
                    perspective=i.perspective,
                    formula=i.formula,
                    decimals=i.decimals,
                    weight=i.weight,
                    source=i.source,
                    service_id=service_id,
                    activity_id=activity.id if activity is not None else None,
                    need_id=need_id,
                    cost_metric=i.cost_metric,
                )
            )
            self.report.created["indicators"].append(code)
        self.session.flush()


def kind_label(kind: Any) -> str:
    return LABELS_FR.get(kind, str(kind))


def coefficient_text(value: float) -> str:
    """A coverage coefficient as people read it: ``1/250`` rather than ``0,004``."""
    if 0 < value < 1:
        inverse = 1 / value
        if abs(inverse - round(inverse)) < 1e-6:
            return f"1/{format_number(round(inverse), None)}"
    return format_number(value, None)
