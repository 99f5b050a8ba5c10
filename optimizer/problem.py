"""A budget arbitration problem (pure data): services, activities, needs, coverages, limits.

Notation (docs/optimizer.md)
----------------------------
- activity ``a``: ``unit_cost`` u_a (EUR per unit of output), ``fixed_cost`` f_a (EUR, paid when the
  activity runs; 0 = no "runs" variable), ``current_volume`` v_a, ``min_volume`` m_a (mandatory
  output), ``capacity`` K_a (``None`` = unbounded), ``staff_per_unit`` e_a (ETP per unit);
- need ``n``: ``size`` S_n (persons), ``priority`` p_n (weight > 0), optional population group and
  territory, optional minimum coverage rate r_n (hard, or soft with a penalty per person short);
- service ``s``: ``current_budget`` B_s (EUR; when absent, the current cost of its activities
  ``sum_a u_a v_a + f_a [v_a > 0]``), allowed change ``[min_change, max_change]`` as fractions
  (-0.10 / +0.15; ``None`` = no bound on that side), ``legal_floor`` L_s (EUR, mandatory missions);
- coverage ``(a, n, k_an, e_an)``: persons of need n covered by one unit of activity a, and an
  optional explicit share e_an of a's output given to n;
- deliveries ``(a, t, d_at)``: the share of a's output delivered in territory t (none: everywhere),
  and the territory tree (``territories``: code, parent). The counted share ``s_an`` of each
  coverage follows the one coverage model (:mod:`scorecard.coverage`): each unit of output is
  counted once, among the needs it reaches where it is delivered, pro rata of their sizes unless
  explicit shares are set. The optimizer's coverage is ``c_n <= sum_a k_an s_an x_a``;
- ``envelope`` E (EUR), ``staff_limit`` H (ETP, ``None`` = none), the objective ("persons":
  priority-weighted persons covered; "rates": priority-weighted coverage rates), optional
  diminishing returns (steps ``(rate_upper_bound, weight)``, weights non-increasing so the value
  stays concave), whole posts per service, equity floors per population group or territory.

A problem travels as a dict (JSON, :data:`PROBLEM_SCHEMA`) or as tables (one DataFrame per sheet
of an Excel workbook, French sheet and column names: :data:`TABLE_COLUMNS`). Both readers check
every field and report every error at once in :class:`ProblemError`, each message in French and
located: ``activités[3].unit_cost : doit être un nombre positif`` (0-based index, as a JSON path)
or ``feuille « activites », ligne 5, colonne « cout_unitaire » : …`` (Excel row numbers).
"""

from __future__ import annotations

import itertools
import math
import operator
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from optimizer.fr import format_percent
from scorecard.coverage import ancestry_matrix, counted_shares, covered_persons, offered_persons
from scorecard.errors import Located, UserError, summarise

if TYPE_CHECKING:
    import pandas as pd

ObjectiveKind = Literal["persons", "rates"]
FloorScope = Literal["group", "territory"]
Step = tuple[float, float]

FORMAT = "pilotis.probleme"
VERSION = 1


class ProblemError(UserError):
    """A problem that cannot be solved as written; ``messages`` are French and located."""

    #: The headline over the list of problems.
    headline = "problème invalide"

    def __init__(self, messages: list[str]) -> None:
        problems = [Located.plain(m) for m in messages]
        super().__init__(
            summarise(problems, f"{self.headline} ({len(problems)} erreur(s))"), problems=problems
        )


@dataclass(frozen=True)
class ServiceSpec:
    """A service whose budget is the sum of its activities' costs."""

    code: str
    name: str = ""
    current_budget: float | None = None
    min_change: float | None = None
    max_change: float | None = None
    legal_floor: float = 0.0


@dataclass(frozen=True)
class ActivitySpec:
    """An activity of a service, whose volume (units of output) the optimizer chooses."""

    code: str
    service: str
    unit_cost: float
    name: str = ""
    fixed_cost: float = 0.0
    current_volume: float = 0.0
    min_volume: float = 0.0
    capacity: float | None = None
    staff_per_unit: float = 0.0
    territory: str | None = None

    @property
    def current_cost(self) -> float:
        """Cost of the current volume, EUR: ``u v + f [v > 0]``."""
        return self.unit_cost * self.current_volume + (self.fixed_cost if self.current_volume > 0 else 0.0)


@dataclass(frozen=True)
class NeedSpec:
    """A need: a number of persons, a priority, and optionally a minimum coverage rate."""

    code: str
    size: float
    priority: float = 1.0
    name: str = ""
    population_group: str | None = None
    territory: str | None = None
    min_coverage_rate: float | None = None
    min_coverage_soft: bool = False
    shortfall_penalty: float | None = None
    #: Persons covered at the current volumes (computed by Pilotis when it writes a file).
    current_covered: float | None = None


@dataclass(frozen=True)
class Coverage:
    """One unit of ``activity`` covers ``coefficient`` persons of ``need``.

    ``share``: the explicit share of the activity's output given to the need (``None``: the pro
    rata rule of :mod:`scorecard.coverage`). ``counted_share``: the share the model counts
    (``s_an``), computed by Pilotis when it writes a file, checked when one is read.
    """

    activity: str
    need: str
    coefficient: float
    share: float | None = None
    counted_share: float | None = None


@dataclass(frozen=True)
class Delivery:
    """``share`` of ``activity``'s output is delivered in ``territory`` (an activity without any
    delivery is delivered everywhere)."""

    activity: str
    territory: str
    share: float = 1.0


@dataclass(frozen=True)
class TerritorySpec:
    """A node of the territory tree: a delivery reaches the needs of its territory, of the
    territories it contains and of those that contain it."""

    code: str
    parent: str | None = None
    name: str = ""


@dataclass(frozen=True)
class EquityFloor:
    """Minimum coverage rate over the needs of a population group or a territory.

    The rate is ``sum covered / sum size`` over the needs of the target. A soft floor may be
    missed at ``penalty`` (objective units per person short; ``None``: 10 times the largest
    objective weight of a covered person).
    """

    scope: FloorScope
    target: str
    min_rate: float
    soft: bool = False
    penalty: float | None = None


@dataclass(frozen=True)
class ProblemArrays:
    """The numbers of a problem as arrays, in the order of its activities, needs and services.

    ``service``: service index of each activity; ``cov_activity``/``cov_need``: the coverages;
    ``cov_coefficient`` is the *effective* coefficient ``k_an s_an`` (persons per unit counted for
    the need: the coefficient given times the counted share ``cov_share``), the one of the
    ``cover[n]`` rows and of every evaluation; ``capacity`` is +inf where there is none. Built
    once per problem (cached).
    """

    unit_cost: npt.NDArray[np.float64]
    fixed_cost: npt.NDArray[np.float64]
    current_volume: npt.NDArray[np.float64]
    min_volume: npt.NDArray[np.float64]
    capacity: npt.NDArray[np.float64]
    staff_per_unit: npt.NDArray[np.float64]
    service: npt.NDArray[np.int64]
    size: npt.NDArray[np.float64]
    priority: npt.NDArray[np.float64]
    cov_activity: npt.NDArray[np.int64]
    cov_need: npt.NDArray[np.int64]
    cov_coefficient: npt.NDArray[np.float64]
    cov_share: npt.NDArray[np.float64]
    cov_given_coefficient: npt.NDArray[np.float64]


def _none_as(values: list[float | None], absent: float) -> npt.NDArray[np.float64]:
    """``values`` as floats, ``absent`` where a value is None."""
    none = np.fromiter(map(operator.is_, values, itertools.repeat(None)), dtype=np.bool_, count=len(values))
    if none.all():  # no capacity, no explicit share: the common case, without reading a value
        return np.full(len(values), absent, dtype=np.float64)
    out = np.fromiter(values, dtype=np.float64, count=len(values))  # None reads as NaN
    out[none] = absent
    return out


@dataclass(frozen=True)
class Problem:
    """The budget arbitration of a scenario: everything the optimizer needs, nothing else."""

    activities: tuple[ActivitySpec, ...]
    needs: tuple[NeedSpec, ...]
    services: tuple[ServiceSpec, ...]
    coverages: tuple[Coverage, ...]
    envelope: float
    staff_limit: float | None = None
    objective: ObjectiveKind = "persons"
    diminishing_returns: tuple[Step, ...] | None = None
    integer_posts: bool = False
    equity_floors: tuple[EquityFloor, ...] = ()
    name: str = ""
    year: int | None = None
    deliveries: tuple[Delivery, ...] = ()
    territories: tuple[TerritorySpec, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def current_budgets(self) -> dict[str, float]:
        """Each service's current budget, EUR: given, or the current cost of its activities."""
        cached = self._cache.get("current_budgets")
        if cached is None:
            arrays = self.arrays()
            x = arrays.current_volume
            cost = arrays.unit_cost * x + arrays.fixed_cost * (x > 0)
            sums = np.bincount(arrays.service, weights=cost, minlength=len(self.services))
            computed = {s.code: float(sums[i]) for i, s in enumerate(self.services)}
            cached = {
                s.code: (s.current_budget if s.current_budget is not None else computed[s.code])
                for s in self.services
            }
            self._cache["current_budgets"] = cached
        return dict(cast(dict[str, float], cached))

    def activity_codes(self) -> list[str]:
        """The activities' codes, in order (cached: the model, the solution and the explanation
        all index by them). Do not modify the list."""
        cached = self._cache.get("activity_codes")
        if cached is None:
            cached = self._cache["activity_codes"] = [a.code for a in self.activities]
        return cast(list[str], cached)

    def arrays(self) -> ProblemArrays:
        """The problem's numbers as arrays (cached); unknown codes raise :class:`ProblemError`."""
        cached = self._cache.get("arrays")
        if cached is not None:
            return cast(ProblemArrays, cached)
        acts, needs = self.activities, self.needs
        n_a, n_n = len(acts), len(needs)
        s_index = {s.code: i for i, s in enumerate(self.services)}
        a_index = dict(zip(self.activity_codes(), range(n_a), strict=True))
        n_index = {n.code: i for i, n in enumerate(needs)}
        act_service = list(map(attrgetter("service"), acts))
        cov_act = list(map(attrgetter("activity"), self.coverages))
        cov_need = list(map(attrgetter("need"), self.coverages))
        known = (
            s_index.keys() >= set(act_service)
            and a_index.keys() >= set(cov_act)
            and n_index.keys() >= set(cov_need)
            and a_index.keys() >= {d.activity for d in self.deliveries}
        )
        if not known:
            bad = [
                f"activité « {a.code} » : service « {a.service} » inconnu"
                for a in acts
                if a.service not in s_index
            ]
            bad += [
                f"couverture « {c.activity} » → « {c.need} » : code inconnu"
                for c in self.coverages
                if c.activity not in a_index or c.need not in n_index
            ]
            bad += [
                f"livraison « {d.activity} » → « {d.territory} » : activité inconnue"
                for d in self.deliveries
                if d.activity not in a_index
            ]
            raise ProblemError(bad)

        def floats(values: Iterable[float], count: int) -> npt.NDArray[np.float64]:
            return np.fromiter(values, dtype=np.float64, count=count)

        def column(items: Iterable[object], name: str, count: int) -> npt.NDArray[np.float64]:
            return floats(map(attrgetter(name), items), count)

        n_c = len(self.coverages)
        arrays = ProblemArrays(
            unit_cost=column(acts, "unit_cost", n_a),
            fixed_cost=column(acts, "fixed_cost", n_a),
            current_volume=column(acts, "current_volume", n_a),
            min_volume=column(acts, "min_volume", n_a),
            capacity=_none_as(list(map(attrgetter("capacity"), acts)), math.inf),
            staff_per_unit=column(acts, "staff_per_unit", n_a),
            service=np.fromiter(map(s_index.__getitem__, act_service), dtype=np.int64, count=n_a),
            size=column(needs, "size", n_n),
            priority=column(needs, "priority", n_n),
            cov_activity=np.fromiter(map(a_index.__getitem__, cov_act), dtype=np.int64, count=n_c),
            cov_need=np.fromiter(map(n_index.__getitem__, cov_need), dtype=np.int64, count=n_c),
            cov_coefficient=np.zeros(n_c),
            cov_share=np.zeros(n_c),
            cov_given_coefficient=column(self.coverages, "coefficient", n_c),
        )
        share = self._counted_shares(arrays.cov_activity, arrays.cov_need, a_index)
        arrays = replace(arrays, cov_share=share, cov_coefficient=arrays.cov_given_coefficient * share)
        self._cache["arrays"] = arrays
        return arrays

    def territory_parents(self) -> dict[str, str | None]:
        """The territory tree (code -> parent code), with the needs' and deliveries' territories
        that the ``territories`` list does not hold as roots."""
        parents: dict[str, str | None] = {t.code: t.parent for t in self.territories}
        for code in [n.territory for n in self.needs] + [d.territory for d in self.deliveries]:
            if code is not None:
                parents.setdefault(code, None)
        return parents

    def _counted_shares(
        self, cov_activity: npt.NDArray[np.int64], cov_need: npt.NDArray[np.int64], a_index: Mapping[str, int]
    ) -> npt.NDArray[np.float64]:
        """``s_an`` of every coverage by the one coverage model (:func:`scorecard.coverage.counted_shares`)."""
        index, ancestry = ancestry_matrix(self.territory_parents())
        need_t = np.fromiter(
            (-1 if n.territory is None else index[n.territory] for n in self.needs),
            dtype=np.int64,
            count=len(self.needs),
        )
        explicit = _none_as(list(map(attrgetter("share"), self.coverages)), math.nan)
        return counted_shares(
            cov_activity,
            cov_need,
            explicit,
            np.fromiter((n.size for n in self.needs), dtype=np.float64, count=len(self.needs)),
            need_t,
            np.array([a_index[d.activity] for d in self.deliveries], dtype=np.int64),
            np.array([index[d.territory] for d in self.deliveries], dtype=np.int64),
            np.array([d.share for d in self.deliveries], dtype=np.float64),
            ancestry,
        )

    def current_coverage(self) -> dict[str, float]:
        """Persons covered of each need at the current volumes, ``min(S_n, sum_a k_an s_an v_a)``."""
        arrays = self.arrays()
        offered = offered_persons(
            len(self.needs),
            arrays.cov_activity,
            arrays.cov_need,
            arrays.cov_coefficient,
            arrays.current_volume,
        )
        covered = covered_persons(arrays.size, offered)
        return {n.code: float(v) for n, v in zip(self.needs, covered, strict=True)}

    def service_bounds(self) -> dict[str, tuple[float, float | None, str]]:
        """Each service's allowed budget ``(lower, upper, lower_reason)``, EUR.

        ``lower = max(legal_floor, (1 + min_change) x current)``; ``upper = (1 + max_change) x
        current`` or ``None``; ``lower_reason`` is "floor" when the legal floor is the higher of
        the two (or the only one), "band" otherwise, "" when there is no lower bound.
        """
        cached = self._cache.get("service_bounds")
        if cached is not None:
            return dict(cast(dict[str, tuple[float, float | None, str]], cached))
        budgets = self.current_budgets()
        bounds: dict[str, tuple[float, float | None, str]] = {}
        for s in self.services:
            current = budgets[s.code]
            band_low = (1.0 + s.min_change) * current if s.min_change is not None else 0.0
            lower = max(s.legal_floor, band_low)
            reason = "" if lower <= 0 else ("floor" if s.legal_floor >= band_low else "band")
            upper = (1.0 + s.max_change) * current if s.max_change is not None else None
            bounds[s.code] = (lower, upper, reason)
        self._cache["service_bounds"] = bounds
        return dict(bounds)

    @property
    def has_fixed_costs(self) -> bool:
        return any(a.fixed_cost > 0 for a in self.activities)

    @property
    def is_mip(self) -> bool:
        """Whether the model has integer variables (fixed costs, or whole posts under a staff limit)."""
        return self.has_fixed_costs or (self.integer_posts and self.staff_limit is not None)


# --------------------------------------------------------------------------------------------
# Field descriptions shared by the dict reader, the table reader and the JSON Schema
# --------------------------------------------------------------------------------------------

Kind = Literal["code", "ref", "text", "number", "bool", "scope"]
Check = Literal["", ">=0", ">0", "rate", "change", ">=-1"]


@dataclass(frozen=True)
class _Field:
    name: str  # English identifier (JSON key, dataclass field)
    column: str  # French column name (Excel)
    kind: Kind
    required: bool = False
    nullable: bool = False  # None allowed (optional number or reference)
    check: Check = ""
    description: str = ""


SERVICE_FIELDS = (
    _Field("code", "code", "code", True, description="Code unique du service"),
    _Field("name", "nom", "text", description="Libellé"),
    _Field(
        "current_budget",
        "budget_actuel",
        "number",
        nullable=True,
        check=">=0",
        description="Budget actuel (€) ; absent : coût actuel de ses activités",
    ),
    _Field(
        "min_change",
        "variation_min",
        "number",
        nullable=True,
        check=">=-1",
        description="Variation minimale autorisée du budget (fraction, ex. -0.10) ; absent : aucune",
    ),
    _Field(
        "max_change",
        "variation_max",
        "number",
        nullable=True,
        check=">=-1",
        description="Variation maximale autorisée du budget (fraction, ex. 0.15) ; absent : aucune",
    ),
    _Field(
        "legal_floor",
        "plancher_legal",
        "number",
        check=">=0",
        description="Plancher légal (€) : missions obligatoires",
    ),
)

ACTIVITY_FIELDS = (
    _Field("code", "code", "code", True, description="Code unique de l'activité"),
    _Field("name", "nom", "text", description="Libellé"),
    _Field("service", "service", "ref", True, description="Code du service qui la porte"),
    _Field("unit_cost", "cout_unitaire", "number", True, check=">=0", description="Coût par unité (€)"),
    _Field(
        "fixed_cost",
        "cout_fixe",
        "number",
        check=">=0",
        description="Coût fixe si l'activité fonctionne (€) ; 0 : aucun",
    ),
    _Field("current_volume", "volume_actuel", "number", check=">=0", description="Volume actuel (unités)"),
    _Field("min_volume", "volume_min", "number", check=">=0", description="Volume obligatoire (unités)"),
    _Field(
        "capacity",
        "capacite",
        "number",
        nullable=True,
        check=">=0",
        description="Capacité maximale (unités) ; absent : illimitée",
    ),
    _Field("staff_per_unit", "etp_par_unite", "number", check=">=0", description="ETP par unité produite"),
    _Field("territory", "territoire", "ref", nullable=True, description="Territoire (facultatif)"),
)

NEED_FIELDS = (
    _Field("code", "code", "code", True, description="Code unique du besoin"),
    _Field("name", "nom", "text", description="Libellé"),
    _Field("size", "taille", "number", True, check=">0", description="Nombre de personnes concernées"),
    _Field("priority", "priorite", "number", check=">0", description="Poids de priorité (> 0)"),
    _Field("population_group", "groupe", "ref", nullable=True, description="Groupe de population"),
    _Field("territory", "territoire", "ref", nullable=True, description="Territoire"),
    _Field(
        "min_coverage_rate",
        "taux_min",
        "number",
        nullable=True,
        check="rate",
        description="Taux de couverture minimal (fraction entre 0 et 1)",
    ),
    _Field(
        "min_coverage_soft",
        "taux_min_souple",
        "bool",
        description="Taux minimal souple : peut être manqué avec une pénalité",
    ),
    _Field(
        "shortfall_penalty",
        "penalite",
        "number",
        nullable=True,
        check=">0",
        description="Pénalité par personne manquante (unités de l'objectif)",
    ),
    _Field(
        "current_covered",
        "couverts_aujourdhui",
        "number",
        nullable=True,
        check=">=0",
        description="Personnes couvertes aux volumes actuels (calculé par Pilotis ; vérifié à la lecture, "
        "laisser vide pour le recalculer)",
    ),
)

COVERAGE_FIELDS = (
    _Field("activity", "activite", "ref", True, description="Code de l'activité"),
    _Field("need", "besoin", "ref", True, description="Code du besoin"),
    _Field(
        "coefficient", "coefficient", "number", True, check=">0", description="Personnes couvertes par unité"
    ),
    _Field(
        "share",
        "part",
        "number",
        nullable=True,
        check="rate",
        description="Part explicite de la production de l'activité donnée à ce besoin (0 à 1) ; "
        "absent : prorata des effectifs des besoins atteints",
    ),
    _Field(
        "counted_share",
        "part_comptee",
        "number",
        nullable=True,
        check="rate",
        description="Part comptée pour ce besoin (calculée par Pilotis : lieux de livraison et règle de "
        "partage appliqués ; vérifiée à la lecture, laisser vide pour la recalculer)",
    ),
)

DELIVERY_FIELDS = (
    _Field("activity", "activite", "ref", True, description="Code de l'activité"),
    _Field("territory", "territoire", "ref", True, description="Territoire où elle est délivrée"),
    _Field(
        "share",
        "part",
        "number",
        True,
        check="rate",
        description="Part de sa production délivrée dans ce territoire (0 à 1) ; une activité sans "
        "livraison est délivrée partout",
    ),
)

TERRITORY_FIELDS = (
    _Field(
        "code", "code", "code", True, description="Territoire (tel que les besoins et livraisons le nomment)"
    ),
    _Field("parent", "parent", "ref", nullable=True, description="Territoire qui le contient"),
    _Field("name", "nom", "text", description="Libellé"),
)

EQUITY_FIELDS = (
    _Field("scope", "portee", "scope", True, description="« group » (groupe) ou « territory » (territoire)"),
    _Field("target", "cible", "ref", True, description="Code du groupe ou du territoire"),
    _Field("min_rate", "taux_min", "number", True, check="rate", description="Taux de couverture minimal"),
    _Field("soft", "souple", "bool", description="Souple : peut être manqué avec une pénalité"),
    _Field(
        "penalty",
        "penalite",
        "number",
        nullable=True,
        check=">0",
        description="Pénalité par personne manquante",
    ),
)

COLLECTIONS: dict[str, tuple[_Field, ...]] = {
    "services": SERVICE_FIELDS,
    "activities": ACTIVITY_FIELDS,
    "needs": NEED_FIELDS,
    "coverages": COVERAGE_FIELDS,
    "equity_floors": EQUITY_FIELDS,
    "deliveries": DELIVERY_FIELDS,
    "territories": TERRITORY_FIELDS,
}

#: French name of each collection in messages (dict paths) and its sheet in a workbook.
COLLECTION_LABELS = {
    "services": "services",
    "activities": "activités",
    "needs": "besoins",
    "coverages": "couvertures",
    "equity_floors": "équité",
    "deliveries": "livraisons",
    "territories": "territoires",
}
SHEETS = {
    "services": "services",
    "activities": "activites",
    "needs": "besoins",
    "coverages": "couverture",
    "equity_floors": "equite",
    "deliveries": "livraisons",
    "territories": "territoires",
}
PARAMETERS_SHEET = "parametres"

#: Column names of each sheet of the workbook form (see docs/optimizer.md).
TABLE_COLUMNS: dict[str, list[str]] = {
    PARAMETERS_SHEET: ["parametre", "valeur"],
    **{SHEETS[k]: [f.column for f in fields] for k, fields in COLLECTIONS.items()},
}

#: Rows of the "parametres" sheet: French name -> English field.
PARAMETER_ROWS = {
    "nom": "name",
    "annee": "year",
    "enveloppe": "envelope",
    "limite_etp": "staff_limit",
    "objectif": "objective",
    "postes_entiers": "integer_posts",
    "paliers_taux": "steps_rates",
    "paliers_poids": "steps_weights",
}
OBJECTIVE_WORDS = {"persons": "persons", "rates": "rates", "personnes": "persons", "taux": "rates"}
SCOPE_WORDS = {"group": "group", "territory": "territory", "groupe": "group", "territoire": "territory"}
TRUE_WORDS = {"oui", "vrai", "true", "yes", "1", "x"}
FALSE_WORDS = {"non", "faux", "false", "no", "0", ""}


# --------------------------------------------------------------------------------------------
# Dict form
# --------------------------------------------------------------------------------------------


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """The problem as a JSON-ready dict (the format of :data:`PROBLEM_SCHEMA`)."""

    def record(obj: object, fields: Iterable[_Field]) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields}

    return {
        "format": FORMAT,
        "version": VERSION,
        "name": problem.name,
        "year": problem.year,
        "envelope": problem.envelope,
        "staff_limit": problem.staff_limit,
        "objective": problem.objective,
        "diminishing_returns": (
            [[b, w] for b, w in problem.diminishing_returns] if problem.diminishing_returns else None
        ),
        "integer_posts": problem.integer_posts,
        "services": [record(s, SERVICE_FIELDS) for s in problem.services],
        "activities": [record(a, ACTIVITY_FIELDS) for a in problem.activities],
        "needs": [record(n, NEED_FIELDS) for n in problem.needs],
        "coverages": [record(c, COVERAGE_FIELDS) for c in problem.coverages],
        "equity_floors": [record(e, EQUITY_FIELDS) for e in problem.equity_floors],
        "deliveries": [record(d, DELIVERY_FIELDS) for d in problem.deliveries],
        "territories": [record(t, TERRITORY_FIELDS) for t in problem.territories],
    }


def with_computed_coverage(problem: Problem) -> Problem:
    """The problem with what Pilotis computes written in: each coverage's counted share and each
    need's persons covered at the current volumes (what a file carries for readers and checkers)."""
    arrays = problem.arrays()
    today = problem.current_coverage()
    return replace(
        problem,
        coverages=tuple(
            replace(c, counted_share=float(s))
            for c, s in zip(problem.coverages, arrays.cov_share, strict=True)
        ),
        needs=tuple(replace(n, current_covered=today[n.code]) for n in problem.needs),
    )


def _dict_locator(collection: str | None, index: int | None, name: str | None) -> str:
    if collection is None:
        return name or "problème"
    where = (
        f"{COLLECTION_LABELS[collection]}[{index}]" if index is not None else COLLECTION_LABELS[collection]
    )
    return f"{where}.{name}" if name else where


def problem_from_dict(data: Mapping[str, Any], *, consume: bool = False) -> Problem:
    """Read and check a problem from its dict form; raise :class:`ProblemError` listing every error.

    Checks: types and signs of every field, unique codes, references to known services, needs,
    groups and territories, ``min_volume <= capacity``, ``min_change <= max_change``, steps of
    diminishing returns increasing to 1 with non-increasing weights, at least one activity and
    one need. Unknown keys are refused (a misspelt key would otherwise be silently ignored).

    ``consume``: ``data`` is a dict of the caller's that may be emptied as it is read (each
    collection's rows released once converted: the reader of a large file keeps its dicts and
    its records together otherwise).
    """
    errors: list[str] = []
    if not isinstance(data, Mapping):
        raise ProblemError(["problème : un objet JSON est attendu"])
    known = {"format", "version", "name", "year", "envelope", "staff_limit", "objective"}
    known |= {"diminishing_returns", "integer_posts", *COLLECTIONS}
    for key in data:
        if key not in known:
            errors.append(f"{key} : champ inconnu")
    if "format" in data and data["format"] != FORMAT:
        errors.append(f"format : « {FORMAT} » attendu")
    if "version" in data and data["version"] != VERSION:
        errors.append(f"version : version {VERSION} attendue")
    params = {
        k: data.get(k) for k in ("name", "year", "envelope", "staff_limit", "objective", "integer_posts")
    }
    steps_raw = data.get("diminishing_returns")
    steps: list[Any] | None
    if steps_raw is None:
        steps = None
    elif isinstance(steps_raw, list) and all(isinstance(s, list) and len(s) == 2 for s in steps_raw):
        steps = steps_raw
    else:
        errors.append("diminishing_returns : liste de paires [taux, poids] attendue")
        steps = None
    for key in ("services", "activities", "needs", "coverages"):
        if key not in data:
            errors.append(f"{COLLECTION_LABELS[key]} : champ obligatoire manquant")
    records: dict[str, list[Mapping[str, Any]]] = {}
    for collection in COLLECTIONS:
        raw = cast(dict[str, Any], data).pop(collection, []) if consume else data.get(collection, [])
        if not isinstance(raw, list):
            errors.append(f"{COLLECTION_LABELS[collection]} : liste attendue")
            raw = []
        rows: list[Mapping[str, Any]] = []
        allowed = {f.name for f in COLLECTIONS[collection]}
        for i, row in enumerate(raw):
            if not isinstance(row, Mapping):
                errors.append(f"{_dict_locator(collection, i, None)} : objet attendu")
                rows.append({})
                continue
            if not allowed.issuperset(row):
                for key in row:
                    if key not in allowed:
                        errors.append(f"{_dict_locator(collection, i, str(key))} : champ inconnu")
            rows.append(row)
        records[collection] = rows
        del raw, rows
    return _build(params, steps, records, _dict_locator, errors, lenient=False)


# --------------------------------------------------------------------------------------------
# Table form (one DataFrame per sheet)
# --------------------------------------------------------------------------------------------


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _format_steps(values: Iterable[float]) -> str:
    return " ; ".join(f"{v:g}".replace(".", ",") for v in values)


def problem_to_tables(problem: Problem) -> dict[str, pd.DataFrame]:
    """The problem as one DataFrame per sheet (French sheet and column names, :data:`TABLE_COLUMNS`).

    Rates stay fractions (-0.1 for -10 %); booleans are "oui"/"non"; absent values are empty.
    """
    import pandas as pd  # only the workbook route needs it: `pilotis optimize` starts without it

    steps = problem.diminishing_returns or ()
    parameters = [
        ("nom", problem.name),
        ("annee", problem.year),
        ("enveloppe", problem.envelope),
        ("limite_etp", problem.staff_limit),
        ("objectif", "personnes" if problem.objective == "persons" else "taux"),
        ("postes_entiers", "oui" if problem.integer_posts else "non"),
        ("paliers_taux", _format_steps(b for b, _ in steps) if steps else None),
        ("paliers_poids", _format_steps(w for _, w in steps) if steps else None),
    ]
    tables = {
        PARAMETERS_SHEET: pd.DataFrame(parameters, columns=TABLE_COLUMNS[PARAMETERS_SHEET], dtype=object)
    }
    items: dict[str, tuple[object, ...]] = {
        "services": problem.services,
        "activities": problem.activities,
        "needs": problem.needs,
        "coverages": problem.coverages,
        "equity_floors": problem.equity_floors,
        "deliveries": problem.deliveries,
        "territories": problem.territories,
    }
    for collection, fields in COLLECTIONS.items():
        rows = []
        for obj in items[collection]:
            row: list[object] = []
            for f in fields:
                value = getattr(obj, f.name)
                if f.kind == "bool":
                    value = "oui" if value else "non"
                elif f.kind == "scope":
                    value = "groupe" if value == "group" else "territoire"
                row.append(value)
            rows.append(row)
        tables[SHEETS[collection]] = pd.DataFrame(rows, columns=[f.column for f in fields], dtype=object)
    return tables


def _table_locator(collection: str | None, index: int | None, name: str | None) -> str:
    if collection is None:
        french = {v: k for k, v in PARAMETER_ROWS.items()}
        row = french.get(name or "", name or "")
        return f"feuille « {PARAMETERS_SHEET} », ligne « {row} »"
    sheet = SHEETS[collection]
    where = f"feuille « {sheet} »"
    if index is not None:
        where += f", ligne {index + 2}"  # header on row 1
    if name:
        column = next((f.column for f in COLLECTIONS[collection] if f.name == name), name)
        where += f", colonne « {column} »"
    return where


def _parse_steps_text(raw: object) -> list[float] | None:
    if _blank(raw):
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return [float(raw)]
    try:
        return [float(p.strip().replace(",", ".")) for p in str(raw).split(";") if p.strip()]
    except ValueError:
        return None


def problem_from_tables(tables: Mapping[str, pd.DataFrame]) -> Problem:
    """Read and check a problem from its sheets; errors are located by sheet, row and column.

    Missing sheets "equite" (no equity floor) and "parametres" columns are errors only when needed;
    blank rows are skipped; codes typed as numbers in Excel are read as text ("101").
    """
    errors: list[str] = []
    for sheet in (PARAMETERS_SHEET, *(SHEETS[c] for c in ("services", "activities", "needs", "coverages"))):
        if sheet not in tables:
            errors.append(f"feuille « {sheet} » absente")
    params: dict[str, Any] = {}
    steps: list[Any] | None = None
    if PARAMETERS_SHEET in tables:
        frame = tables[PARAMETERS_SHEET]
        missing = [c for c in TABLE_COLUMNS[PARAMETERS_SHEET] if c not in frame.columns]
        if missing:
            errors.append(f"feuille « {PARAMETERS_SHEET} » : colonnes absentes : {', '.join(missing)}")
        else:
            for i, (key, value) in enumerate(zip(frame["parametre"], frame["valeur"], strict=True)):
                if _blank(key):
                    continue
                name = PARAMETER_ROWS.get(str(key).strip())
                if name is None:
                    errors.append(
                        f"feuille « {PARAMETERS_SHEET} », ligne {i + 2} : paramètre inconnu « {key} »"
                    )
                    continue
                params[name] = None if _blank(value) else value
        if isinstance(params.get("objective"), str):
            params["objective"] = OBJECTIVE_WORDS.get(
                params["objective"].strip().lower(), params["objective"]
            )
        rates = params.pop("steps_rates", None)
        weights = params.pop("steps_weights", None)
        if rates is not None or weights is not None:
            parsed_rates, parsed_weights = _parse_steps_text(rates), _parse_steps_text(weights)
            if parsed_rates is None or parsed_weights is None or len(parsed_rates) != len(parsed_weights):
                errors.append(
                    f"feuille « {PARAMETERS_SHEET} », lignes « paliers_taux » et « paliers_poids » : "
                    "deux listes de même longueur attendues, séparées par « ; » (ex. 0,5 ; 0,8 ; 1)"
                )
            else:
                steps = [[b, w] for b, w in zip(parsed_rates, parsed_weights, strict=True)]
        year = params.get("year")
        if isinstance(year, float) and year.is_integer():
            params["year"] = int(year)
    records: dict[str, list[Mapping[str, Any]]] = {}
    for collection, fields in COLLECTIONS.items():
        sheet = SHEETS[collection]
        if sheet not in tables:
            records[collection] = []
            continue
        frame = tables[sheet]
        columns = [str(c).strip() for c in frame.columns]
        missing = [f.column for f in fields if f.required and f.column not in columns]
        unknown = [
            c for c in columns if c and c not in {f.column for f in fields} and not c.startswith("Unnamed")
        ]
        if missing:
            errors.append(f"feuille « {sheet} » : colonnes absentes : {', '.join(missing)}")
        if unknown:
            errors.append(f"feuille « {sheet} » : colonnes inconnues : {', '.join(unknown)}")
        by_column = {f.column: f for f in fields}
        rows: list[Mapping[str, Any]] = []
        for values in frame.itertuples(index=False, name=None):
            row: dict[str, Any] = {}
            for column, value in zip(columns, values, strict=True):
                f = by_column.get(column)
                if f is None or _blank(value):
                    continue
                if f.kind == "bool" and isinstance(value, str):
                    word = value.strip().lower()
                    value = True if word in TRUE_WORDS else False if word in FALSE_WORDS else value
                elif f.kind == "bool" and isinstance(value, int | float) and value in (0, 1):
                    value = bool(value)
                elif f.kind == "scope" and isinstance(value, str):
                    value = SCOPE_WORDS.get(value.strip().lower(), value)
                row[f.name] = value
            # a row blank in every column is skipped but keeps its place (row numbers stay Excel's)
            rows.append(row if row else {"__blank__": True})
        records[collection] = rows
    return _build(params, steps, records, _table_locator, errors, lenient=True)


# --------------------------------------------------------------------------------------------
# The common reader
# --------------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """A finite number, or None (not a number, infinite, or an integer too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # a 400-digit integer
        return None
    return number if math.isfinite(number) else None


_READ: Mapping[str, Any] = {"__blank__": True}  # a source row already read (released)


class _Rows:
    """The rows of a collection as read: each row's record (or, when invalid, the dict of the
    values read) and its index in the source (row numbers of a sheet skip its blank rows)."""

    __slots__ = ("index", "rows")

    def __init__(self) -> None:
        self.index: array[int] = array("q")
        self.rows: list[Any] = []

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        return zip(self.index, self.rows, strict=True)


def _build(
    params: Mapping[str, Any],
    steps: list[Any] | None,
    records: Mapping[str, list[Mapping[str, Any]]],
    locate: Callable[[str | None, int | None, str | None], str],
    errors: list[str],
    *,
    lenient: bool,
) -> Problem:
    """Type-check every field, then the references between records; raise if anything is wrong."""

    def error(collection: str | None, index: int | None, name: str | None, message: str) -> None:
        errors.append(f"{locate(collection, index, name)} : {message}")

    # -- parameters
    envelope = _number(params.get("envelope"))
    if envelope is None or envelope < 0:
        error(None, None, "envelope", "doit être un nombre positif (l'enveloppe en euros)")
    staff_limit: float | None = None
    if params.get("staff_limit") is not None:
        staff_limit = _number(params.get("staff_limit"))
        if staff_limit is None or staff_limit < 0:
            error(None, None, "staff_limit", "doit être un nombre positif d'ETP ou être absent")
    objective = params.get("objective") or "persons"
    if objective not in ("persons", "rates"):
        error(None, None, "objective", "doit valoir « persons » (personnes) ou « rates » (taux)")
        objective = "persons"
    integer_posts = params.get("integer_posts") or False
    if isinstance(integer_posts, str) and lenient:
        word = integer_posts.strip().lower()
        integer_posts = True if word in TRUE_WORDS else False if word in FALSE_WORDS else integer_posts
    if not isinstance(integer_posts, bool):
        error(None, None, "integer_posts", "doit être vrai ou faux")
        integer_posts = False
    name = params.get("name") or ""
    if not isinstance(name, str):
        name = str(name) if lenient else ""
        if not lenient:
            error(None, None, "name", "doit être un texte")
    year = params.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        error(None, None, "year", "doit être une année entière")
        year = None
    diminishing: tuple[Step, ...] | None = None
    if steps:
        parsed: list[Step] = []
        for i, pair in enumerate(steps):
            b, w = _number(pair[0]), _number(pair[1])
            if b is None or w is None:
                error(None, None, f"diminishing_returns[{i}]", "deux nombres attendus [taux, poids]")
                continue
            parsed.append((b, w))
        if len(parsed) == len(steps):
            bounds = [b for b, _ in parsed]
            weights = [w for _, w in parsed]
            if any(b <= 0 or b > 1 for b in bounds) or any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds)):
                error(
                    None,
                    None,
                    "diminishing_returns",
                    "les taux des paliers doivent croître strictement, entre 0 et 1",
                )
            elif not math.isclose(bounds[-1], 1.0):
                error(
                    None,
                    None,
                    "diminishing_returns",
                    "le dernier palier doit aller jusqu'à un taux de 1 (100 %)",
                )
            if any(w <= 0 for w in weights):
                error(
                    None,
                    None,
                    "diminishing_returns",
                    "les poids des paliers doivent être strictement positifs",
                )
            elif any(w2 > w1 for w1, w2 in itertools.pairwise(weights)):
                error(
                    None,
                    None,
                    "diminishing_returns",
                    "les poids des paliers ne peuvent pas croître (rendements décroissants : modèle concave)",
                )
            diminishing = tuple(parsed)

    # -- records
    # A valid row becomes its record (ActivitySpec…) at once; an invalid one stays the dict of
    # the values read, so that the checks across records below still report what they can.
    # The source rows are released as they are read (a 145,000-activity file holds its dicts
    # and its records together otherwise), and codes are shared: a coverage's activity is the
    # very string of the activity's code.
    shared: dict[str, str] = {}
    classes: dict[str, type[Any]] = {
        "services": ServiceSpec,
        "activities": ActivitySpec,
        "needs": NeedSpec,
        "coverages": Coverage,
        "equity_floors": EquityFloor,
        "deliveries": Delivery,
        "territories": TerritorySpec,
    }

    def parse(collection: str) -> _Rows:
        source = records.get(collection, [])
        out = _Rows()
        fields = COLLECTIONS[collection]
        make = classes[collection]
        for i in range(len(source)):
            row = source[i]
            source[i] = _READ  # released: its values now belong to the record
            if row.get("__blank__"):
                continue
            values: dict[str, Any] = {}
            ok = True
            for f in fields:
                raw = row.get(f.name)
                if raw is None or (lenient and _blank(raw)):
                    if f.required:
                        error(collection, i, f.name, "valeur obligatoire manquante")
                        ok = False
                    continue
                if f.kind in ("code", "ref", "text"):
                    if lenient and isinstance(raw, int | float) and not isinstance(raw, bool):
                        raw = str(int(raw)) if float(raw).is_integer() else str(raw)
                    if not isinstance(raw, str) or (f.kind != "text" and not raw.strip()):
                        error(
                            collection,
                            i,
                            f.name,
                            "doit être un texte non vide" if f.kind != "text" else "doit être un texte",
                        )
                        ok = False
                        continue
                    text = raw.strip()
                    values[f.name] = text if f.kind == "text" else shared.setdefault(text, text)
                elif f.kind == "bool":
                    if not isinstance(raw, bool):
                        error(collection, i, f.name, "doit être vrai ou faux (oui / non)")
                        ok = False
                        continue
                    values[f.name] = raw
                elif f.kind == "scope":
                    if raw not in ("group", "territory"):
                        error(
                            collection,
                            i,
                            f.name,
                            "doit valoir « group » (groupe) ou « territory » (territoire)",
                        )
                        ok = False
                        continue
                    values[f.name] = raw
                else:
                    number = _number(raw)
                    problem = ""
                    if number is None:
                        problem = "doit être un nombre"
                    elif f.check == ">=0" and number < 0:
                        problem = "doit être un nombre positif"
                    elif f.check == ">0" and number <= 0:
                        problem = "doit être un nombre strictement positif"
                    elif f.check == "rate" and not 0 <= number <= 1:
                        problem = "doit être un taux entre 0 et 1"
                    elif f.check == ">=-1" and number < -1:
                        problem = "une baisse ne peut dépasser -1 (-100 %)"
                    if problem:
                        error(collection, i, f.name, problem)
                        ok = False
                        continue
                    values[f.name] = number
            out.index.append(i)
            out.rows.append(make(**values) if ok else values)
        source.clear()
        return out

    def get(row: Any, name: str) -> Any:
        """A field of a record, or of the dict of an invalid row (None when absent)."""
        return row.get(name) if type(row) is dict else getattr(row, name)

    def unique(collection: str, rows: _Rows) -> dict[str, tuple[int, Any]]:
        seen: dict[str, tuple[int, Any]] = {}
        for i, row in zip(rows.index, rows.rows, strict=True):
            code = get(row, "code")
            if code is None:
                continue
            if code in seen:
                error(
                    collection,
                    i,
                    "code",
                    f"code « {code} » en double (déjà utilisé en {locate(collection, seen[code][0], None)})",
                )
            else:
                seen[code] = (i, row)
        return seen

    service_rows, activity_rows, need_rows = parse("services"), parse("activities"), parse("needs")
    coverage_rows, equity_rows = parse("coverages"), parse("equity_floors")
    delivery_rows, territory_rows = parse("deliveries"), parse("territories")
    shared.clear()
    services_by_code = unique("services", service_rows)
    activities_by_code = unique("activities", activity_rows)
    needs_by_code = unique("needs", need_rows)

    for i, row in service_rows:
        low, high = get(row, "min_change"), get(row, "max_change")
        if low is not None and high is not None and low > high:
            error(
                "services",
                i,
                "min_change",
                f"la variation minimale ({low:g}) dépasse la maximale ({high:g})",
            )
    for i, row in activity_rows:
        service = get(row, "service")
        if service is not None and service not in services_by_code:
            error("activities", i, "service", f"service « {service} » inconnu")
        cap, low = get(row, "capacity"), get(row, "min_volume")
        if cap is not None and low is not None and low > cap:
            error(
                "activities",
                i,
                "min_volume",
                f"le volume obligatoire ({low:g}) dépasse la capacité ({cap:g})",
            )
    pairs: dict[tuple[str, str], int] = {}
    for i, row in coverage_rows:
        a, n = get(row, "activity"), get(row, "need")
        if a is not None and a not in activities_by_code:
            error("coverages", i, "activity", f"activité « {a} » inconnue")
        if n is not None and n not in needs_by_code:
            error("coverages", i, "need", f"besoin « {n} » inconnu")
        if a is not None and n is not None:
            if (a, n) in pairs:
                error(
                    "coverages",
                    i,
                    None,
                    f"couverture « {a} » → « {n} » en double (déjà en {locate('coverages', pairs[(a, n)], None)})",
                )
            pairs[(a, n)] = i
    del pairs
    territory_codes = unique("territories", territory_rows)
    for i, row in territory_rows:
        parent = get(row, "parent")
        if parent is not None and parent not in territory_codes:
            error("territories", i, "parent", f"territoire « {parent} » inconnu")
    for i, row in territory_rows:  # a cycle would make the tree infinite
        seen, parent = {get(row, "code")}, get(row, "parent")
        while parent is not None and parent in territory_codes and parent not in seen:
            seen.add(parent)
            parent = get(territory_codes[parent][1], "parent")
        if parent is not None and parent in seen:
            error("territories", i, "parent", "boucle dans l'arborescence des territoires")
    if territory_codes:
        for i, row in need_rows:
            where = get(row, "territory")
            if where is not None and where not in territory_codes:
                error("needs", i, "territory", f"territoire « {where} » absent des territoires")
    need_territories = {get(r, "territory") for r in need_rows.rows if get(r, "territory")}
    delivered: dict[tuple[str, str], int] = {}
    delivered_share: dict[str, float] = {}
    for i, row in delivery_rows:
        a, t = get(row, "activity"), get(row, "territory")
        if a is not None and a not in activities_by_code:
            error("deliveries", i, "activity", f"activité « {a} » inconnue")
        if t is not None and t not in territory_codes and t not in need_territories:
            error(
                "deliveries",
                i,
                "territory",
                f"territoire « {t} » inconnu (ni territoire listé ni territoire d'un besoin)",
            )
        if a is not None and t is not None:
            if (a, t) in delivered:
                error(
                    "deliveries",
                    i,
                    None,
                    f"livraison « {a} » → « {t} » en double "
                    f"(déjà en {locate('deliveries', delivered[(a, t)], None)})",
                )
            delivered[(a, t)] = i
        if a is not None and get(row, "share") is not None:
            delivered_share[a] = delivered_share.get(a, 0.0) + get(row, "share")
    for a, total in sorted(delivered_share.items()):
        if total > 1 + 1e-6:  # shares written to 6 decimals may add up to 1.000001
            error(
                "deliveries",
                None,
                None,
                f"les parts livrées de l'activité « {a} » dépassent 100 % ({format_percent(total, 4)})",
            )
    groups = {get(r, "population_group") for r in need_rows.rows if get(r, "population_group")}
    territories = need_territories
    for i, row in equity_rows:
        scope, target = get(row, "scope"), get(row, "target")
        if scope is None or target is None:
            continue
        known = groups if scope == "group" else territories
        if target not in known:
            what = "groupe de population" if scope == "group" else "territoire"
            error("equity_floors", i, "target", f"{what} « {target} » porté par aucun besoin")
    if not activity_rows.rows:
        errors.append(f"{locate('activities', None, None)} : aucune activité")
    if not need_rows.rows:
        errors.append(f"{locate('needs', None, None)} : aucun besoin")
    if errors:
        raise ProblemError(errors)
    del services_by_code, activities_by_code, needs_by_code, territory_codes

    problem = Problem(
        activities=tuple(activity_rows.rows),
        needs=tuple(need_rows.rows),
        services=tuple(service_rows.rows),
        coverages=tuple(coverage_rows.rows),
        envelope=cast(float, envelope),
        staff_limit=staff_limit,
        objective=cast(ObjectiveKind, objective),
        diminishing_returns=diminishing,
        integer_posts=integer_posts,
        equity_floors=tuple(equity_rows.rows),
        name=name,
        year=year,
        deliveries=tuple(delivery_rows.rows),
        territories=tuple(territory_rows.rows),
    )
    activity_rows.rows.clear()
    coverage_rows.rows.clear()
    # what Pilotis computed when it wrote the file must still follow from the data
    arrays = problem.arrays()
    for i, coverage, share in zip(coverage_rows.index, problem.coverages, arrays.cov_share, strict=True):
        given = coverage.counted_share
        if given is not None and not math.isclose(given, share, rel_tol=1e-6, abs_tol=1e-9):
            error(
                "coverages",
                i,
                "counted_share",
                f"{given:.6g} ne suit plus des données ({share:.6g} par la règle de partage) : c'est une "
                "valeur calculée, laissez-la vide pour la recalculer ou corrigez parts et livraisons",
            )
    today = problem.current_coverage()
    for i, need in need_rows:
        given, computed = need.current_covered, today.get(need.code)
        if (
            given is not None
            and computed is not None
            and not math.isclose(given, computed, rel_tol=1e-6, abs_tol=1e-6)
        ):
            error(
                "needs",
                i,
                "current_covered",
                f"{given:.6g} ne suit plus des données ({computed:.6g} aux volumes actuels) : c'est une valeur "
                "calculée, laissez-la vide pour la recalculer",
            )
    if errors:
        raise ProblemError(errors)
    return problem


def check_problem(problem: Problem) -> None:
    """Check a problem built in code (not read from a file) as the readers do; raise ProblemError."""
    problem_from_dict(problem_to_dict(problem))


# --------------------------------------------------------------------------------------------
# JSON Schema (draft 2020-12), generated from the same field descriptions
# --------------------------------------------------------------------------------------------


def _field_schema(f: _Field) -> dict[str, Any]:
    schema: dict[str, Any]
    if f.kind in ("code", "ref"):
        schema = {"type": "string", "minLength": 1}
    elif f.kind == "text":
        schema = {"type": "string"}
    elif f.kind == "bool":
        schema = {"type": "boolean"}
    elif f.kind == "scope":
        schema = {"enum": ["group", "territory"]}
    else:
        schema = {"type": "number"}
        if f.check == ">=0":
            schema["minimum"] = 0
        elif f.check == ">0":
            schema["exclusiveMinimum"] = 0
        elif f.check == "rate":
            schema.update(minimum=0, maximum=1)
        elif f.check == ">=-1":
            schema["minimum"] = -1
    if f.nullable:
        if "type" in schema:
            schema["type"] = [schema["type"], "null"]
        else:
            schema["enum"] = [*schema["enum"], None]
    schema["description"] = f.description
    return schema


def _record_schema(fields: tuple[_Field, ...], title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "additionalProperties": False,
        "required": [f.name for f in fields if f.required],
        "properties": {f.name: _field_schema(f) for f in fields},
    }


PROBLEM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://pilotis.local/schemas/probleme-v1.json",
    "title": "Problème d'arbitrage budgétaire Pilotis",
    "description": (
        "Un scénario d'arbitrage : services, activités, besoins, couvertures, enveloppe et limites. "
        "Voir docs/optimizer.md pour la formulation."
    ),
    "type": "object",
    "additionalProperties": False,
    "required": ["envelope", "services", "activities", "needs", "coverages"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "name": {"type": "string", "description": "Nom du scénario"},
        "year": {"type": ["integer", "null"], "description": "Exercice budgétaire"},
        "envelope": {"type": "number", "minimum": 0, "description": "Enveloppe totale (€)"},
        "staff_limit": {"type": ["number", "null"], "minimum": 0, "description": "Limite d'effectifs (ETP)"},
        "objective": {
            "enum": ["persons", "rates"],
            "description": "persons : personnes couvertes pondérées ; rates : taux de couverture pondérés",
        },
        "diminishing_returns": {
            "type": ["array", "null"],
            "description": "Paliers [taux de couverture maximal du palier, poids], taux croissants jusqu'à 1, poids non croissants",
            "items": {
                "type": "array",
                "prefixItems": [
                    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    {"type": "number", "exclusiveMinimum": 0},
                ],
                "minItems": 2,
                "maxItems": 2,
            },
        },
        "integer_posts": {
            "type": "boolean",
            "description": "Postes entiers par service (variables entières)",
        },
        "services": {"type": "array", "items": {"$ref": "#/$defs/service"}},
        "activities": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/activity"}},
        "needs": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/need"}},
        "coverages": {"type": "array", "items": {"$ref": "#/$defs/coverage"}},
        "equity_floors": {"type": "array", "items": {"$ref": "#/$defs/equity_floor"}},
        "deliveries": {
            "type": "array",
            "description": "Où chaque activité est délivrée (une activité sans livraison l'est partout)",
            "items": {"$ref": "#/$defs/delivery"},
        },
        "territories": {
            "type": "array",
            "description": "Arborescence des territoires : une livraison atteint les besoins de son territoire, "
            "de ceux qu'il contient et de ceux qui le contiennent",
            "items": {"$ref": "#/$defs/territory"},
        },
    },
    "$defs": {
        "service": _record_schema(SERVICE_FIELDS, "Service"),
        "activity": _record_schema(ACTIVITY_FIELDS, "Activité"),
        "need": _record_schema(NEED_FIELDS, "Besoin"),
        "coverage": _record_schema(COVERAGE_FIELDS, "Couverture"),
        "equity_floor": _record_schema(EQUITY_FIELDS, "Plancher d'équité"),
        "delivery": _record_schema(DELIVERY_FIELDS, "Livraison"),
        "territory": _record_schema(TERRITORY_FIELDS, "Territoire"),
    },
}
