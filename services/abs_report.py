"""The ABS report: the full diagnostic (CASF art. R123-1) or a thematic analysis, built from the rows.

Every figure comes from the database: published statistics (``TerritoryStatistic``, with their
source and vintage), the needs register, the offer and its coherence with the needs
(:func:`services.coherence.build_coherence`), the objectives and the open review actions. A figure
the rows do not allow is "non disponible", never guessed. Statistical confidentiality
(``scorecard.confidentiality``) applies throughout: a secret cell stays secret, a count below the
threshold is masked, and so is what derives from it.

The analysis texts (one per section) are written by the direction and versioned
(:func:`save_text`); the figures stay generated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    Activity,
    ActivityNeedCoverage,
    Need,
    NeedObservation,
    Objective,
    ObjectiveLevel,
    ObjectiveStatus,
    Organisation,
    PartnerType,
    PopulationGroup,
    ReportText,
    Review,
    ReviewAction,
    Service,
    ServiceKind,
    Survey,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
    User,
    objective_needs,
)
from models.enums import LABELS_FR
from scorecard.confidentiality import DEFAULT_THRESHOLD, RULE
from scorecard.errors import UserError
from scorecard.projections import annual_growth
from scorecard.territorial_indicators import BY_CODE as STANDARD
from scorecard.territorial_indicators import CNAF as CNAF_SOURCE
from scorecard.territorial_indicators import INDICATORS as STANDARD_INDICATORS
from scorecard.territorial_indicators import Observation, TerritorialIndicator, evaluate
from services.coherence import (
    CoherenceView,
    MatrixCell,
    NeedLine,
    build_coherence,
    disclosure_of,
    load_frames,
)
from services.editing import StaleEdit, apply_edit, last_change
from services.observatory import Outlook, _Held, build_outlook, horizons_from, main_territory
from services.policy import Action, Principal, can
from services.secrecy import COUNT_UNITS, Disclosure, is_small, stat_key, sum_key
from services.survey_results import consultation_weights, results, text_answers, theme_counts
from services.surveys import KIND_LABELS as SURVEY_KINDS

KINDS = {"full": "Diagnostic complet", "theme": "Analyse thématique"}
#: The sections that carry an analysis text, in the order of the report.
SECTIONS: list[tuple[str, str]] = [
    ("synthese", "Synthèse"),
    ("portrait", "Portrait socio-démographique du territoire"),
    ("projections", "Projections de population et besoins à venir"),
    ("participation", "Participation des habitants et des usagers"),
    ("qualitatif", "Paroles d'acteurs : matériau qualitatif"),
    ("partenaires", "Partenaires associés au diagnostic"),
    ("besoins", "Besoins sociaux et priorités"),
    ("coherence", "Cohérence de l'offre et des besoins"),
    ("objectifs", "Objectifs et plan d'action"),
]
SECTION_TITLES = dict(SECTIONS)
ANNEX_TITLE = "Annexes : tableaux des chiffres"
MAX_TEXT = 20_000
NOT_AVAILABLE = "non disponible"
PARTNER_TYPES = {
    PartnerType.CAF: "Caisse d'allocations familiales",
    PartnerType.DEPARTEMENT: "Département",
    PartnerType.ASSOCIATION: "Association",
    PartnerType.STATE: "État",
    PartnerType.OTHER: "Autre partenaire",
}
#: Partner kinds a territory has one of: an observation naming the kind names the partner.
SINGLE_PARTNERS = frozenset(
    {
        PartnerType.CAF,
        PartnerType.DEPARTEMENT,
        PartnerType.CPAM,
        PartnerType.MDPH,
        PartnerType.CARSAT,
        PartnerType.FRANCE_TRAVAIL,
        PartnerType.MISSION_LOCALE,
    }
)
LEVEL_LABELS = {ObjectiveLevel.STRATEGIC: "stratégique", ObjectiveLevel.OPERATIONAL: "opérationnel"}
#: Variables published by IRIS that add up to the commune (CAF counts).
SUMMABLE = frozenset(
    {
        "caf_allocataires",
        "caf_personnes_couvertes",
        "caf_monoparents",
        "caf_couples_3_enfants",
        "caf_jeunes_non_etudiants",
        "caf_aide_logement",
        "caf_aah",
        "caf_prime_activite",
        "caf_rsa_socle",
    }
)


class ReportError(UserError):
    """A report that cannot be built or a text that cannot be saved, in French."""


# -- the figures of the portrait -----------------------------------------------------------------
AGE = "Population et vieillissement"
FAMILIES = "Familles et ménages (INSEE, recensement)"
INCOME = "Revenus et pauvreté (INSEE Filosofi)"
CAF = "Allocataires des CAF (CNAF)"
OLD = ("personnes_agees",)
POOR = ("personnes_en_difficulte",)
YOUNG_CHILDREN = ("petite_enfance", "familles")


@dataclass(frozen=True)
class IndicatorSpec:
    """A standard indicator of :mod:`scorecard.territorial_indicators` as the portrait shows it:
    its definition (label, inputs, formula, unit, source) is the core's, the same as the
    observatory's; the report adds the publics it concerns (for the thematic analyses)."""

    indicator: TerritorialIndicator
    publics: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.indicator.code

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.indicator.inputs

    @property
    def family(self) -> str:
        i = self.indicator
        if i.theme == "revenus":
            return INCOME
        if i.theme == "caf" or i.source.startswith(CNAF_SOURCE):
            return CAF
        if i.theme == "familles":
            return FAMILIES
        return AGE

    @property
    def definition(self) -> str:
        return self.indicator.formula if self.indicator.is_ratio else ""


#: The portrait's indicators, in its order: (standard indicator code, publics); the held standard
#: indicators not listed follow (:func:`portrait_indicators`).
PORTRAIT: list[tuple[str, tuple[str, ...]]] = [
    ("population", ()),
    ("part_75p", OLD),
    ("indice_vieillissement", OLD),
    ("indice_jeunesse", ("jeunes", "personnes_agees")),
    ("rapport_60_74_75p", OLD),
    ("pop_75p", OLD),
    ("pop_80p", OLD),
    ("part_80p", OLD),
    ("pop_0_2", YOUNG_CHILDREN),
    ("pop_3_5", YOUNG_CHILDREN),
    ("part_0_14", YOUNG_CHILDREN),
    ("part_0_19", ("jeunes",)),
    ("pop_15_24", ("jeunes",)),
    ("part_familles_monoparentales", ("familles_monoparentales", "familles")),
    ("part_menages_1_personne", OLD + POOR),
    ("filo_menages", ()),
    ("filo_mediane_uc", ()),
    ("filo_taux_pauvrete_60", ()),
    ("filo_d1", POOR),
    ("filo_rapport_d9_d1", POOR),
    ("filo_part_prestations_sociales", POOR),
    ("filo_part_minima_sociaux", POOR),
    ("filo_part_prestations_logement", POOR),
    ("filo_part_prestations_familiales", ("familles",)),
    ("caf_allocataires", ()),
    ("part_couverte_caf", ()),
    ("caf_rsa_socle", ("personnes_en_difficulte", "minima_sociaux")),
    ("rsa_pour_100_menages", ("personnes_en_difficulte", "minima_sociaux")),
    ("caf_prime_activite", ("personnes_en_difficulte", "bas_revenus")),
    ("prime_activite_pour_100_menages", ("personnes_en_difficulte", "bas_revenus")),
    ("caf_aide_logement", ("personnes_en_difficulte", "bas_revenus")),
    ("part_aide_logement", ("personnes_en_difficulte", "bas_revenus")),
    ("caf_aah", ("personnes_handicapees",)),
    ("aah_pour_100_20_64", ("personnes_handicapees",)),
    ("caf_monoparents", ("familles_monoparentales", "familles")),
    ("part_monoparents_caf", ("familles_monoparentales", "familles")),
    ("caf_couples_3_enfants", ("familles_nombreuses", "familles")),
    ("caf_jeunes_non_etudiants", ("jeunes",)),
]
#: Shown even when nothing is held (the director sees what is missing); the others only when held.
ALWAYS = frozenset(
    {
        "population",
        "part_75p",
        "indice_vieillissement",
        "indice_jeunesse",
        "rapport_60_74_75p",
        "pop_75p",
        "pop_80p",
        "pop_0_2",
        "pop_3_5",
        "pop_15_24",
        "filo_menages",
        "filo_mediane_uc",
        "filo_taux_pauvrete_60",
        "filo_d1",
        "filo_rapport_d9_d1",
        "filo_part_prestations_sociales",
        "filo_part_minima_sociaux",
        "filo_part_prestations_logement",
        "filo_part_prestations_familiales",
        "caf_allocataires",
        "part_couverte_caf",
        "caf_rsa_socle",
        "caf_prime_activite",
        "caf_aide_logement",
        "caf_aah",
        "aah_pour_100_20_64",
        "caf_monoparents",
        "part_monoparents_caf",
        "caf_couples_3_enfants",
        "caf_jeunes_non_etudiants",
    }
)


def portrait_indicators() -> list[IndicatorSpec]:
    """Every standard indicator in the portrait's order (:data:`PORTRAIT` first)."""
    listed = [IndicatorSpec(STANDARD[code], publics) for code, publics in PORTRAIT]
    named = {code for code, _ in PORTRAIT}
    return listed + [IndicatorSpec(i) for i in STANDARD_INDICATORS if i.code not in named]


INDICATORS: list[IndicatorSpec] = portrait_indicators()
INDICATORS_BY_CODE = {spec.code: spec for spec in INDICATORS}

#: Columns of the IRIS table: (variable, label, unit).
IRIS_COLUMNS: list[tuple[str, str, str]] = [
    ("filo_taux_pauvrete_60", "Taux de pauvreté (%)", "%"),
    ("filo_mediane_uc", "Revenu médian par UC (€)", "€"),
    ("caf_allocataires", "Allocataires CAF", "allocataires"),
    ("caf_rsa_socle", "RSA socle", "allocataires"),
    ("caf_prime_activite", "Prime d'activité", "allocataires"),
    ("caf_aah", "AAH", "allocataires"),
    ("caf_monoparents", "Monoparents", "allocataires"),
]


@dataclass(frozen=True)
class StatValue:
    """A variable of one territory: its value (None when secret), source, vintage; for a sum over
    IRIS, how many IRIS were secret (the sum is then a lower bound)."""

    value: float | None
    secret: bool
    vintage: int
    source: str
    unit: str
    secret_parts: int = 0
    parts: int = 0
    #: the figure's cell in the organisation's disclosure (``services.secrecy``)
    key: object = None


@dataclass
class Comparison:
    level: str  # EPCI, Département, France
    territory: str | None  # None: Pilotis holds no such territory
    value: float | None
    vintage: str = ""
    note: str = ""

    @property
    def available(self) -> bool:
        return self.value is not None


@dataclass
class Figure:
    code: str
    label: str
    family: str
    unit: str
    decimals: int
    value: float | None
    source: str
    vintage: str
    masked: bool = False
    lower_bound: bool = False
    note: str = ""
    definition: str = ""
    comparisons: list[Comparison] = field(default_factory=list)
    #: ``source vintage`` of each statistic used
    origins: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.value is not None or self.masked


@dataclass
class IrisCell:
    value: float | None
    status: str  # ok | secret (producer) | masked (small count) | missing (not published)


@dataclass
class IrisRow:
    code: str
    name: str
    cells: list[IrisCell]


@dataclass
class IrisTable:
    columns: list[tuple[str, str, str]]
    rows: list[IrisRow]
    totals: list[float | None]
    secret_iris: int
    sources: list[str]
    #: totals masked by complementary suppression (shown « secret »)
    masked_totals: list[bool] = field(default_factory=list)


@dataclass
class Portrait:
    territory: str | None
    territory_code: str | None
    figures: list[Figure]
    levels: list[tuple[str, str | None]]  # (level, territory name or None)
    iris: IrisTable | None
    age_shares: list[tuple[str, float | None]]

    def families(self) -> list[tuple[str, list[Figure]]]:
        out: dict[str, list[Figure]] = {}
        for figure in self.figures:
            out.setdefault(figure.family, []).append(figure)
        return list(out.items())


@dataclass
class PartnerLine:
    name: str
    partner_type: str
    activities: list[str]
    beneficiaries: int | None
    needs: list[str]
    #: their notes and interviews recorded on needs (qualitative evidence naming them)
    contributions: list[str] = field(default_factory=list)


@dataclass
class SurveyOption:
    """An answer of a closed question: count, share and 95 % interval, or masked (small count)."""

    label: str
    count: int | None
    share: float | None
    low: float | None
    high: float | None
    masked: bool


@dataclass
class SurveyQuestionLine:
    number: int
    text: str
    kind: str
    answered: int | None
    options: list[SurveyOption]
    #: scale and number questions: (mean, low, high)
    mean: tuple[float, float, float] | None = None
    masked: bool = False


@dataclass
class ConsultationLine:
    label: str
    respondents: int
    score: float
    low: float
    high: float


@dataclass
class SurveySummary:
    """A closed survey as the report shows it, under its confidentiality threshold."""

    title: str
    kind: str
    responses: int | None  # None: fewer respondents than the threshold (nothing shown)
    first_day: date | None
    last_day: date | None
    threshold: int
    questions: list[SurveyQuestionLine]
    #: themes tagged on the free answers: (theme, count or None when below the threshold)
    themes: list[tuple[str, int | None]]
    free_answers: int | None
    consultation: list[ConsultationLine]

    @property
    def masked(self) -> bool:
        return self.responses is None


@dataclass
class ObservationRow:
    """Qualitative evidence recorded on a need: a focus group, an interview, a partner's note."""

    day: date
    kind: str
    source: str  # who was heard (participants), never a resident's name
    summary: str
    need: str
    group: str


@dataclass
class NeedRow:
    line: NeedLine
    source: str | None
    vintage: int | None
    priority_set_by: str | None
    priority_set_at: datetime | None


@dataclass
class GroupCoverage:
    group: str
    size: float | None
    covered: float | None
    rate: float | None
    masked: bool


@dataclass
class CoherenceSummary:
    groups: list[str]
    territories: list[str]
    cells: dict[tuple[str, str], MatrixCell]
    group_coverage: list[GroupCoverage]
    least_covered: NeedLine | None
    gaps: list[NeedLine]
    orphans: dict[str, list[str]]


@dataclass
class ObjectiveRow:
    depth: int
    code: str
    title: str
    level: str
    service: str | None
    owner: str | None
    deadline: date | None
    needs: list[str]


@dataclass
class ActionRow:
    text: str
    objective: str | None
    owner: str | None
    due_date: date | None
    review: str


@dataclass
class TextBlock:
    section: str
    text: str
    version: int  # 0: never written
    updated_by: str | None = None
    updated_at: datetime | None = None


@dataclass
class AbsReport:
    organisation_id: int
    organisation_name: str
    year: int
    kind: str
    theme: str | None
    theme_label: str | None
    rule: str
    threshold: int
    portrait: Portrait
    outlook: Outlook | None
    surveys: list[SurveySummary]
    observations: list[ObservationRow]
    partners: list[PartnerLine]
    needs: list[NeedRow]
    coherence: CoherenceSummary
    objectives: list[ObjectiveRow]
    actions: list[ActionRow]
    texts: dict[str, TextBlock]
    sources: list[str]

    @property
    def title(self) -> str:
        if self.kind == "theme":
            return f"Analyse thématique {self.year} — {self.theme_label}"
        return f"Analyse des besoins sociaux {self.year} — diagnostic complet"

    @property
    def sections(self) -> list[tuple[str, str]]:
        return SECTIONS

    def section_title(self, section: str) -> str:
        return SECTION_TITLES.get(section, section)

    def text(self, section: str) -> TextBlock:
        return self.texts.get(section) or TextBlock(section=section, text="", version=0)


# -- loading statistics --------------------------------------------------------------------------
def _latest(rows: Iterable[TerritoryStatistic]) -> dict[str, TerritoryStatistic]:
    """The latest vintage of each variable (one source per variable and vintage)."""
    found: dict[str, TerritoryStatistic] = {}
    for row in rows:
        held = found.get(row.variable)
        if held is None or row.vintage > held.vintage:
            found[row.variable] = row
    return found


def _as_value(row: TerritoryStatistic) -> StatValue:
    return StatValue(
        value=None if row.is_secret else row.value,
        secret=row.is_secret,
        vintage=row.vintage,
        source=row.source,
        unit=row.unit,
        key=stat_key(row.id),
    )


class _Statistics:
    """The organisation's statistics, by territory."""

    def __init__(self, session: Session, organisation_id: int) -> None:
        self.territories = {
            t.id: t
            for t in session.scalars(select(Territory).where(Territory.organisation_id == organisation_id))
        }
        self.rows: dict[int, list[TerritoryStatistic]] = {}
        for row in session.scalars(
            select(TerritoryStatistic).where(TerritoryStatistic.organisation_id == organisation_id)
        ):
            self.rows.setdefault(row.territory_id, []).append(row)

    def children(self, territory_id: int, kind: TerritoryKind) -> list[Territory]:
        return sorted(
            (t for t in self.territories.values() if t.parent_id == territory_id and t.kind is kind),
            key=lambda t: t.code,
        )

    def ancestor(self, territory: Territory, kind: TerritoryKind) -> Territory | None:
        seen: set[int] = set()
        current = territory.parent_id
        while current is not None and current not in seen:
            seen.add(current)
            node = self.territories.get(current)
            if node is None:
                return None
            if node.kind is kind:
                return node
            current = node.parent_id
        return None

    def values(self, territory: Territory, *, sum_iris: bool) -> dict[str, StatValue]:
        """The latest value of each variable of ``territory``; with ``sum_iris``, CAF counts that
        the territory lacks are summed over its IRIS (a secret IRIS makes the sum a lower bound)."""
        out = {variable: _as_value(row) for variable, row in _latest(self.rows.get(territory.id, [])).items()}
        if not sum_iris:
            return out
        iris = self.children(territory.id, TerritoryKind.IRIS)
        for variable in SUMMABLE - set(out):
            picked = [r for t in iris if (r := _latest(self.rows.get(t.id, [])).get(variable)) is not None]
            if not picked:
                continue
            vintage = max(r.vintage for r in picked)
            same = [r for r in picked if r.vintage == vintage]
            out[variable] = StatValue(
                value=sum(float(r.value or 0) for r in same if not r.is_secret),
                secret=False,
                vintage=vintage,
                source=same[0].source,
                unit=same[0].unit,
                secret_parts=sum(1 for r in same if r.is_secret),
                parts=len(same),
                key=sum_key(territory.id, variable, vintage),
            )
        return out


def _evaluate(
    spec: IndicatorSpec, values: dict[str, StatValue], threshold: int, disclosure: Disclosure | None = None
) -> tuple[float | None, bool, list[StatValue]]:
    """(value, masked, inputs used) by the standard definition
    (:func:`scorecard.territorial_indicators.evaluate`); value None when an input is missing;
    masked when an input is secret, a count below the threshold, or masked by the organisation's
    disclosure (a share of a masked count is masked with it)."""
    inputs = [values.get(name) for name in spec.inputs]
    present = [v for v in inputs if v is not None]
    if len(present) < len(inputs):
        return None, False, present

    def hidden(v: StatValue) -> bool:
        if v.secret or v.value is None:
            return True
        if v.unit not in COUNT_UNITS:
            return False
        return is_small(v.value, threshold) or (disclosure is not None and disclosure.hides(v.key))

    result = evaluate(spec.indicator, [Observation(v.value, hidden(v)) for v in present])
    return result.value, result.masked, present


def _vintages(used: list[StatValue]) -> str:
    return ", ".join(str(v) for v in sorted({u.vintage for u in used}))


def _sources(used: list[StatValue]) -> str:
    return " ; ".join(sorted({u.source for u in used}))


def theme_family(groups: list[PopulationGroup], code: str) -> set[str]:
    """A public's code, its ancestors' and its descendants' (a theme on *familles* covers
    *familles monoparentales*; one on *familles monoparentales* keeps the *familles* context)."""
    by_id = {g.id: g for g in groups}
    target = next((g for g in groups if g.code == code), None)
    if target is None:
        return set()
    family = {target.code}
    parent = by_id.get(target.parent_id) if target.parent_id else None
    while parent is not None and parent.code not in family:
        family.add(parent.code)
        parent = by_id.get(parent.parent_id) if parent.parent_id else None
    changed = True
    while changed:
        changed = False
        for group in groups:
            parent_code = by_id[group.parent_id].code if group.parent_id in by_id else None
            if parent_code in family and group.code not in family and _descends(group, target, by_id):
                family.add(group.code)
                changed = True
    return family


def _descends(group: PopulationGroup, ancestor: PopulationGroup, by_id: dict[int, PopulationGroup]) -> bool:
    seen: set[int] = set()
    current: PopulationGroup | None = group
    while current is not None and current.id not in seen:
        if current.id == ancestor.id:
            return True
        seen.add(current.id)
        current = by_id.get(current.parent_id) if current.parent_id else None
    return False


def build_portrait(
    session: Session,
    organisation: Organisation,
    *,
    family: set[str] | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    disclosure: Disclosure | None = None,
) -> Portrait:
    """The socio-demographic portrait of the organisation's territory, with the wider territories'
    values where Pilotis holds them (EPCI, département, France), masked as the organisation's
    one disclosure says (``services.secrecy``)."""
    if disclosure is None:
        disclosure = disclosure_of(
            session, organisation.id, load_frames(session, organisation.id), threshold=threshold
        )
    stats = _Statistics(session, organisation.id)
    territory = main_territory(session, organisation)
    if territory is None:
        return Portrait(None, None, [], [], None, [])
    own = stats.values(territory, sum_iris=True)
    wider: list[tuple[str, Territory | None]] = [
        ("EPCI", stats.ancestor(territory, TerritoryKind.EPCI)),
        ("Département", stats.ancestor(territory, TerritoryKind.DEPARTEMENT)),
        ("France", next((t for t in stats.territories.values() if t.kind is TerritoryKind.FRANCE), None)),
    ]
    wider = [(level, t) for level, t in wider if t is None or t.id != territory.id]
    wider_values = {level: stats.values(t, sum_iris=False) if t else {} for level, t in wider}
    figures: list[Figure] = []
    for spec in INDICATORS:
        if family is not None and spec.publics and not family & set(spec.publics):
            continue
        value, masked, used = _evaluate(spec, own, threshold, disclosure)
        if spec.code not in ALWAYS and value is None and not masked:
            continue  # a standard indicator the report does not always list, not held
        secret_parts = max((u.secret_parts for u in used), default=0)
        figure = Figure(
            code=spec.code,
            label=spec.indicator.label,
            family=spec.family,
            unit=spec.indicator.unit,
            decimals=spec.indicator.decimals,
            value=value,
            source=_sources(used),
            vintage=_vintages(used),
            masked=masked,
            lower_bound=secret_parts > 0 and not spec.indicator.is_ratio,
            definition=spec.definition,
            origins=sorted({f"{u.source} {u.vintage}" for u in used}),
        )
        if secret_parts and not spec.indicator.is_ratio:
            figure.note = f"minorant : somme des IRIS publiés ({secret_parts} IRIS secret)"
        elif secret_parts:
            figure.note = f"calculé sur les IRIS publiés ({secret_parts} IRIS secret)"
        if masked:
            figure.note = "secret statistique"
        if value is None and not masked:
            figure.note = _missing_note(spec, stats, territory)
        for level, wider_territory in wider:
            if wider_territory is None:
                figure.comparisons.append(Comparison(level, None, None, note=NOT_AVAILABLE))
                continue
            other, other_masked, other_used = _evaluate(spec, wider_values[level], threshold, disclosure)
            figure.comparisons.append(
                Comparison(
                    level,
                    wider_territory.name,
                    other,
                    vintage=_vintages(other_used) if other is not None else "",
                    note="secret statistique"
                    if other_masked
                    else ("" if other is not None else NOT_AVAILABLE),
                )
            )
        figures.append(figure)
    growth = _growth(stats, territory, wider)
    if growth is not None:
        figures.insert(1, growth)
    population = own.get("population")
    age_shares: list[tuple[str, float | None]] = []
    if population is not None and population.value:
        for variable, label in (
            ("pop_0_19", "Moins de 20 ans"),
            ("pop_20_64", "20 à 64 ans"),
            ("pop_65p", "65 ans et plus"),
            ("pop_75p", "dont 75 ans et plus"),
            ("pop_80p", "dont 80 ans et plus"),
        ):
            held = own.get(variable)
            share = (
                None
                if held is None
                or held.value is None
                or 0 < held.value < threshold
                or disclosure.hides(held.key)
                else held.value / population.value * 100
            )
            age_shares.append((label, share))
    return Portrait(
        territory=territory.name,
        territory_code=territory.code,
        figures=figures,
        levels=[(level, t.name if t else None) for level, t in wider],
        iris=_iris_table(stats, territory, disclosure),
        age_shares=age_shares,
    )


def _missing_note(spec: IndicatorSpec, stats: _Statistics, territory: Territory) -> str:
    if spec.code == "filo_taux_pauvrete_60":
        rates = [
            float(row.value)
            for t in stats.children(territory.id, TerritoryKind.IRIS)
            if (row := _latest(stats.rows.get(t.id, [])).get("filo_taux_pauvrete_60")) is not None
            and row.value is not None
        ]
        if rates:
            low, high = f"{min(rates):.1f}".replace(".", ","), f"{max(rates):.1f}".replace(".", ",")
            return (
                f"non disponible à l'échelle de la commune dans les données détenues ; de {low} % à {high} % "
                f"selon les {len(rates)} IRIS publiés (voir l'annexe par IRIS)"
            )
    return f"{NOT_AVAILABLE} : aucune donnée détenue ({', '.join(spec.inputs)})"


def _growth(
    stats: _Statistics, territory: Territory, wider: list[tuple[str, Territory | None]]
) -> Figure | None:
    """Yearly population growth between the two latest census vintages, when two are held."""

    def rate(t: Territory) -> tuple[float, int, int, str] | None:
        rows = sorted(
            (r for r in stats.rows.get(t.id, []) if r.variable == "population" and not r.is_secret),
            key=lambda r: r.vintage,
        )
        if len(rows) < 2 or not rows[-2].value or rows[-1].vintage == rows[-2].vintage:
            return None
        # the projections' definition of the mean annual rate (scorecard.projections)
        growth = annual_growth(
            rows[-2].vintage, float(rows[-2].value), rows[-1].vintage, float(rows[-1].value or 0)
        )
        if growth is None:
            return None
        return growth * 100, rows[-2].vintage, rows[-1].vintage, rows[-1].source

    own = rate(territory)
    if own is None:
        return None
    value, first, last, source = own
    figure = Figure(
        code="croissance",
        label="Taux de croissance annuel moyen de la population",
        family=AGE,
        unit="%",
        decimals=2,
        value=value,
        source=source,
        vintage=f"{first}, {last}",
        definition=f"(population {last} / population {first})^(1/{last - first}) − 1",
    )
    for level, t in wider:
        other = rate(t) if t else None
        figure.comparisons.append(
            Comparison(
                level,
                t.name if t else None,
                other[0] if other else None,
                vintage=f"{other[1]}, {other[2]}" if other else "",
                note="" if other else NOT_AVAILABLE,
            )
        )
    return figure


def _iris_table(stats: _Statistics, territory: Territory, disclosure: Disclosure) -> IrisTable | None:
    iris = stats.children(territory.id, TerritoryKind.IRIS)
    if not iris:
        return None
    latest = {t.id: _latest(stats.rows.get(t.id, [])) for t in iris}
    counts = pd.DataFrame(
        {
            variable: [
                float(row.value)
                if (row := latest[t.id].get(variable)) is not None and row.value is not None
                else math.nan
                for t in iris
            ]
            for variable, _, unit in IRIS_COLUMNS
            if unit in COUNT_UNITS
        },
        index=[t.id for t in iris],
    )
    rows: list[IrisRow] = []
    for t in iris:
        cells = []
        for variable, _, unit in IRIS_COLUMNS:
            row = latest[t.id].get(variable)
            if row is None:
                cells.append(IrisCell(None, "missing"))
            elif row.is_secret:
                cells.append(IrisCell(None, "secret"))
            elif unit in COUNT_UNITS and disclosure.stat(row.id):
                cells.append(IrisCell(None, "masked"))
            else:
                cells.append(IrisCell(row.value, "ok"))
        rows.append(IrisRow(t.code, t.name, cells))
    totals: list[float | None] = []
    masked_totals: list[bool] = []
    for variable, _, unit in IRIS_COLUMNS:
        vintages = {r.vintage for t in iris if (r := latest[t.id].get(variable)) is not None}
        hidden = unit in COUNT_UNITS and any(disclosure.total(territory.id, variable, v) for v in vintages)
        masked_totals.append(hidden)
        totals.append(
            float(counts[variable].sum())
            if unit in COUNT_UNITS and counts[variable].notna().any() and not hidden
            else None
        )
    secret = sum(1 for t in iris if any(r.is_secret for r in latest[t.id].values()))
    shown = {variable for variable, _, _ in IRIS_COLUMNS}
    sources = sorted({f"{r.source} {r.vintage}" for t in iris for v, r in latest[t.id].items() if v in shown})
    return IrisTable(
        columns=IRIS_COLUMNS,
        rows=rows,
        totals=totals,
        secret_iris=secret,
        sources=sources,
        masked_totals=masked_totals,
    )


# -- the other sections -----------------------------------------------------------------------------
def _user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(wanted))).all())


def _grouped(labels: set[str]) -> list[str]:
    """Need labels, those of one kind by quartier (« Allocataires du RSA — Le Palais ») as one:
    « Allocataires du RSA (21 territoires) »."""
    by_kind: dict[str, list[str]] = {}
    for label in sorted(labels):
        by_kind.setdefault(label.split(" — ", 1)[0], []).append(label)
    return sorted(
        items[0] if len(items) == 1 else f"{kind} ({len(items)} territoires)"
        for kind, items in by_kind.items()
    )


def _names(service: Service, source: str) -> bool:
    """Whether an observation's « who was heard » names the partner: its name (without a
    parenthesis), or its kind when it is an institution of which a territory has one (CAF,
    Département, CPAM, MDPH, Carsat, France Travail, Mission locale)."""
    heard = source.casefold()
    name = service.name.split(" (", 1)[0].strip().casefold()
    if name and name in heard:
        return True
    kind = service.partner_type
    return kind in SINGLE_PARTNERS and LABELS_FR.get(kind, "").casefold() in heard


def _partners(
    session: Session,
    organisation_id: int,
    theme_need_ids: set[int] | None,
    observations: list[ObservationRow] | None = None,
) -> list[PartnerLine]:
    services = session.scalars(
        select(Service)
        .where(Service.organisation_id == organisation_id, Service.kind == ServiceKind.PARTNER)
        .order_by(Service.name)
    ).all()
    coverage = session.execute(
        select(Activity.service_id, Activity.name, Need.id, Need.label)
        .join(ActivityNeedCoverage, ActivityNeedCoverage.activity_id == Activity.id)
        .join(Need, Need.id == ActivityNeedCoverage.need_id)
        .where(Activity.organisation_id == organisation_id)
    ).all()
    out = []
    for service in services:
        needs = _grouped(
            {
                label
                for sid, _, nid, label in coverage
                if sid == service.id and (theme_need_ids is None or nid in theme_need_ids)
            }
        )
        if theme_need_ids is not None and not needs:
            continue
        activities = sorted(service.activities, key=lambda a: a.name)
        beneficiaries = [a.beneficiaries for a in activities if a.beneficiaries is not None]
        out.append(
            PartnerLine(
                name=service.name,
                partner_type=PARTNER_TYPES.get(service.partner_type, "Partenaire")
                if service.partner_type
                else "Partenaire",
                activities=[a.name for a in activities],
                beneficiaries=sum(beneficiaries) if beneficiaries else None,
                needs=needs,
                contributions=[
                    f"{o.kind} du {o.day:%d/%m/%Y} ({o.need}) : {o.summary}"
                    for o in observations or []
                    if _names(service, o.source)
                ],
            )
        )
    return out


def _survey_summary(session: Session, survey: Survey) -> SurveySummary:
    """A closed survey's results (:func:`services.survey_results.results`) under its threshold:
    nothing but the count below it, an answer chosen by fewer than the threshold masked with its
    share and interval, free answers counted by theme (never quoted: a sentence can identify)."""
    threshold = survey.threshold
    found = results(session, survey)
    kind = SURVEY_KINDS.get(survey.kind, survey.kind)
    if is_small(found.responses, threshold) or found.responses == 0:
        return SurveySummary(
            survey.title, kind, None, found.first_day, found.last_day, threshold, [], [], None, []
        )
    questions: list[SurveyQuestionLine] = []
    for q in found.questions:
        if q.question.kind == "text" or (not q.options and q.mean is None):
            continue
        small = is_small(q.answered, threshold)
        hidden = {o.code for o in q.options if small or is_small(o.count, threshold)}
        if q.question.kind != "multiple" and hidden and not small:
            # one answer per respondent: the masked counts add up to the answered minus the shown
            # ones, so (as scorecard.surveys's breakdown) one masked cell alone, or masked cells
            # summing under the threshold, take the smallest shown one with them
            while True:
                masked_sum = sum(o.count for o in q.options if o.code in hidden)
                shown = sorted(
                    (o for o in q.options if o.code not in hidden and o.count > 0), key=lambda o: o.count
                )
                if not shown or (len(hidden) > 1 and not is_small(masked_sum, threshold)):
                    break
                hidden.add(shown[0].code)
        options = [
            SurveyOption(o.label, None, None, None, None, True)
            if o.code in hidden
            else SurveyOption(o.label, o.count, o.share, o.low, o.high, False)
            for o in q.options
        ]
        mean = None if small or q.mean is None else q.mean
        questions.append(
            SurveyQuestionLine(
                q.number,
                q.question.text,
                q.question.kind,
                None if small else q.answered,
                options,
                mean,
                small,
            )
        )
    texts = text_answers(session, survey)
    themes = [(theme, None if is_small(n, threshold) else n) for theme, n in theme_counts(texts).items()]
    consultation = (
        [
            ConsultationLine(w.label, w.respondents, w.score, w.low, w.high)
            for w in sorted(consultation_weights(session, survey), key=lambda w: -w.score)
            if not is_small(w.respondents, threshold)
        ]
        if survey.kind == "consultation"
        else []
    )
    return SurveySummary(
        survey.title,
        kind,
        found.responses,
        found.first_day,
        found.last_day,
        threshold,
        questions,
        themes,
        None if is_small(len(texts), threshold) else len(texts),
        consultation,
    )


def _surveys(session: Session, organisation_id: int) -> list[SurveySummary]:
    """The organisation's closed surveys, latest closed first."""
    surveys = session.scalars(
        select(Survey)
        .where(Survey.organisation_id == organisation_id, Survey.state == "closed")
        .order_by(Survey.closed_at.desc(), Survey.id.desc())
    ).all()
    return [_survey_summary(session, survey) for survey in surveys]


def _observations(session: Session, organisation_id: int, need_ids: set[int]) -> list[ObservationRow]:
    rows = session.execute(
        select(NeedObservation, Need.label, PopulationGroup.name)
        .join(Need, Need.id == NeedObservation.need_id)
        .join(PopulationGroup, PopulationGroup.id == Need.population_group_id)
        .where(Need.organisation_id == organisation_id)
        .order_by(NeedObservation.observed_on.desc(), NeedObservation.id)
    ).all()
    return [
        ObservationRow(o.observed_on, LABELS_FR.get(o.kind, str(o.kind)), o.source, o.summary, label, group)
        for o, label, group in rows
        if o.need_id in need_ids
    ]


def _coherence(view: CoherenceView, group_names: set[str] | None, need_ids: set[int]) -> CoherenceSummary:
    lines = [n for n in view.needs if n.need_id in need_ids]
    groups = [g for g in view.groups if group_names is None or g in group_names]
    cells = {key: cell for key, cell in view.cells.items() if key[0] in groups}
    territories = [t for t in view.territories if any((g, t) in cells for g in groups)]
    coverage = []
    for group in groups:
        shown = [c for (g, _), c in cells.items() if g == group]
        visible = [c for c in shown if not c.masked and c.size is not None]
        size = sum(c.size or 0 for c in visible)
        covered = sum(c.covered or 0 for c in visible)
        coverage.append(
            GroupCoverage(
                group,
                size if visible else None,
                covered if visible else None,
                covered / size if visible and size else None,
                masked=len(visible) < len(shown),
            )
        )
    candidates = [n for n in lines if n.coverage_rate is not None and n.priority >= 4]
    least = min(candidates, key=lambda n: (n.coverage_rate or 0, -n.priority)) if candidates else None
    gaps = sorted((n for n in lines if n.gap_index is not None), key=lambda n: -(n.gap_index or 0))[:10]
    labels = {n.label for n in lines}
    orphans = {
        key: [item for item in items if group_names is None or (key.startswith("needs_") and item in labels)]
        for key, items in view.orphans.items()
    }
    return CoherenceSummary(groups, territories, cells, coverage, least, gaps, orphans)


def _objectives(
    session: Session, organisation_id: int, theme_need_ids: set[int] | None
) -> tuple[list[ObjectiveRow], set[int]]:
    objectives = session.scalars(
        select(Objective)
        .where(Objective.organisation_id == organisation_id, Objective.status == ObjectiveStatus.ACTIVE)
        .order_by(Objective.code)
    ).all()
    links = session.execute(
        select(objective_needs.c.objective_id, Need.id, Need.code)
        .join(Need, Need.id == objective_needs.c.need_id)
        .where(Need.organisation_id == organisation_id)
    ).all()
    by_id = {o.id: o for o in objectives}
    keep = set(by_id)
    if theme_need_ids is not None:
        keep = {oid for oid, nid, _ in links if nid in theme_need_ids and oid in by_id}
        for oid in list(keep):  # the strategic parents, for context
            parent = by_id[oid].parent_id
            while parent is not None and parent in by_id and parent not in keep:
                keep.add(parent)
                parent = by_id[parent].parent_id
    services = dict(
        session.execute(
            select(Service.id, Service.name).where(Service.organisation_id == organisation_id)
        ).all()
    )
    owners = _user_names(session, (o.owner_id for o in objectives))
    rows: list[ObjectiveRow] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for objective in objectives:
            if objective.parent_id == parent_id and objective.id in keep:
                rows.append(
                    ObjectiveRow(
                        depth=depth,
                        code=objective.code,
                        title=objective.title,
                        level=LEVEL_LABELS.get(objective.level, str(objective.level)),
                        service=services.get(objective.service_id) if objective.service_id else None,
                        owner=owners.get(objective.owner_id) if objective.owner_id else None,
                        deadline=objective.deadline,
                        needs=sorted(code for oid, _, code in links if oid == objective.id),
                    )
                )
                walk(objective.id, depth + 1)

    walk(None, 0)
    placed = {r.code for r in rows}
    for objective in objectives:  # a kept objective whose parent is closed: at the top
        if objective.id in keep and objective.code not in placed:
            rows.append(
                ObjectiveRow(
                    0,
                    objective.code,
                    objective.title,
                    LEVEL_LABELS.get(objective.level, ""),
                    None,
                    owners.get(objective.owner_id) if objective.owner_id else None,
                    objective.deadline,
                    [],
                )
            )
    return rows, keep


def _actions(session: Session, organisation_id: int, objective_ids: set[int] | None) -> list[ActionRow]:
    rows = session.execute(
        select(ReviewAction, Review.title, Objective.code, Objective.title)
        .join(Review, Review.id == ReviewAction.review_id)
        .outerjoin(Objective, Objective.id == ReviewAction.objective_id)
        .where(Review.organisation_id == organisation_id, ReviewAction.status == "open")
        .order_by(ReviewAction.due_date, ReviewAction.id)
    ).all()
    if objective_ids is not None:
        rows = [r for r in rows if r[0].objective_id in objective_ids]
    owners = _user_names(session, (r[0].owner_id for r in rows))
    return [
        ActionRow(
            text=action.text,
            objective=f"{code} — {title}" if code else None,
            owner=owners.get(action.owner_id) if action.owner_id else None,
            due_date=action.due_date,
            review=review_title,
        )
        for action, review_title, code, title in rows
    ]


def load_texts(
    session: Session, organisation_id: int, year: int, kind: str, theme: str
) -> dict[str, TextBlock]:
    rows = session.scalars(
        select(ReportText).where(
            ReportText.organisation_id == organisation_id,
            ReportText.year == year,
            ReportText.kind == kind,
            ReportText.theme == theme,
        )
    ).all()
    names = _user_names(session, (r.updated_by_id for r in rows))
    return {
        r.section: TextBlock(
            section=r.section,
            text=r.text,
            version=r.version,
            updated_by=names.get(r.updated_by_id) if r.updated_by_id else None,
            updated_at=r.updated_at,
        )
        for r in rows
    }


def check_request(year: int, kind: str, theme: str | None) -> tuple[str, str]:
    """Validate the report's key; returns (kind, theme as stored: '' for the full diagnostic)."""
    if not 2000 <= year <= 2200:
        raise ReportError("L'année du rapport doit être comprise entre 2000 et 2200.")
    if kind not in KINDS:
        raise ReportError(
            "Type de rapport inconnu : « full » (diagnostic complet) ou « theme » (analyse thématique)."
        )
    if kind == "theme" and not theme:
        raise ReportError("Une analyse thématique porte sur un public : précisez son code.")
    if kind == "full" and theme:
        raise ReportError("Le diagnostic complet porte sur tous les publics : pas de thème.")
    return kind, theme or ""


def build_report(
    session: Session,
    organisation_id: int,
    *,
    year: int,
    kind: str = "full",
    theme: str | None = None,
    threshold: int = DEFAULT_THRESHOLD,
) -> AbsReport:
    """The report of ``year``: the full diagnostic, or the thematic analysis of one public
    (``theme``: a population group code, with its sub-groups)."""
    kind, stored_theme = check_request(year, kind, theme)
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise ReportError("Organisation introuvable.")
    groups = session.scalars(
        select(PopulationGroup).where(PopulationGroup.organisation_id == organisation_id)
    ).all()
    family: set[str] | None = None
    theme_label: str | None = None
    if kind == "theme":
        family = theme_family(list(groups), stored_theme)
        if not family:
            known = ", ".join(sorted(g.code for g in groups))
            raise ReportError(f"Public « {stored_theme} » inconnu. Publics de l'organisation : {known}.")
        theme_label = next(g.name for g in groups if g.code == stored_theme)
    view = build_coherence(session, organisation_id, threshold=threshold)
    need_rows = session.execute(
        select(Need, PopulationGroup.code)
        .join(PopulationGroup, PopulationGroup.id == Need.population_group_id)
        .where(Need.organisation_id == organisation_id)
    ).all()
    # a theme covers its public and the sub-publics (not the parent's other children)
    own_family = None if family is None else {c for c in family if _is_within(groups, c, stored_theme)}
    needs_by_id = {n.id: n for n, code in need_rows if own_family is None or code in own_family}
    theme_need_ids = None if family is None else set(needs_by_id)
    group_names = None if own_family is None else {g.name for g in groups if g.code in own_family}
    setters = _user_names(session, (n.priority_set_by_id for n in needs_by_id.values()))
    needs = [
        NeedRow(
            line=line,
            source=needs_by_id[line.need_id].source,
            vintage=needs_by_id[line.need_id].vintage,
            priority_set_by=setters.get(needs_by_id[line.need_id].priority_set_by_id or -1),
            priority_set_at=needs_by_id[line.need_id].priority_set_at,
        )
        for line in sorted(view.needs, key=lambda n: (-n.priority, n.group, n.code))
        if line.need_id in needs_by_id
    ]
    objectives, objective_ids = _objectives(session, organisation_id, theme_need_ids)
    portrait = build_portrait(
        session, organisation, family=family, threshold=threshold, disclosure=view.disclosure
    )
    sources = sorted({origin for f in portrait.figures for origin in f.origins})
    if portrait.iris:
        sources = sorted(set(sources) | set(portrait.iris.sources))
    territory = main_territory(session, organisation)
    outlook = None
    if territory is not None and view.disclosure is not None:
        held = _Held(session, organisation_id, view.disclosure)
        lines = [n for n in view.needs if n.need_id in needs_by_id]
        outlook = build_outlook(session, organisation_id, held, territory, horizons_from(year), lines)
        sources = sorted(set(sources) | set(outlook.sources))
    observations = _observations(session, organisation_id, set(needs_by_id))
    return AbsReport(
        organisation_id=organisation_id,
        organisation_name=organisation.name,
        year=year,
        kind=kind,
        theme=stored_theme or None,
        theme_label=theme_label,
        rule=RULE.format(threshold=threshold),
        threshold=threshold,
        portrait=portrait,
        outlook=outlook,
        surveys=_surveys(session, organisation_id),
        observations=observations,
        partners=_partners(session, organisation_id, theme_need_ids, observations),
        needs=needs,
        coherence=_coherence(view, group_names, set(needs_by_id)),
        objectives=objectives,
        actions=_actions(session, organisation_id, None if family is None else objective_ids),
        texts=load_texts(session, organisation_id, year, kind, stored_theme),
        sources=sources,
    )


def _is_within(groups: Iterable[PopulationGroup], code: str, ancestor_code: str) -> bool:
    groups = list(groups)
    by_id = {g.id: g for g in groups}
    group = next((g for g in groups if g.code == code), None)
    ancestor = next((g for g in groups if g.code == ancestor_code), None)
    return group is not None and ancestor is not None and _descends(group, ancestor, by_id)


# -- analysis texts ---------------------------------------------------------------------------------
def may_write_texts(principal: Principal | None, organisation_id: int) -> bool:
    """The direction writes the analysis of its own organisation (``report_text`` in the policy)."""
    return can(principal, Action.EDIT, ReportText(organisation_id=organisation_id))


def save_text(
    session: Session,
    principal: Principal,
    organisation_id: int,
    year: int,
    kind: str,
    theme: str | None,
    section: str,
    text: str,
    version: int,
) -> tuple[ReportText, bool]:
    """Save the analysis text of one section, read at ``version`` (0: not written yet). Flushes.

    Returns (row, changed). Raises :class:`PermissionError`, :class:`ReportError` (invalid) or
    :class:`~services.editing.StaleEdit` (someone saved it since it was read).
    """
    if not may_write_texts(principal, organisation_id):
        raise PermissionError("Seule la direction rédige l'analyse du rapport ABS.")
    kind, stored_theme = check_request(year, kind, theme)
    if section not in SECTION_TITLES:
        raise ReportError(f"Section « {section} » inconnue.")
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_TEXT:
        raise ReportError(f"Le texte dépasse {MAX_TEXT} caractères ({len(text)}).")
    if stored_theme and not session.scalar(
        select(PopulationGroup.id).where(
            PopulationGroup.organisation_id == organisation_id, PopulationGroup.code == stored_theme
        )
    ):
        raise ReportError(f"Public « {stored_theme} » inconnu.")
    key = {
        "organisation_id": organisation_id,
        "year": year,
        "kind": kind,
        "theme": stored_theme,
        "section": section,
    }
    row = _find_text(session, key)
    if row is None:
        if version != 0:
            raise ReportError("Ce texte n'existe plus : rechargez la page.")
        row = ReportText(**key, text=text, updated_by_id=principal.user_id)
        savepoint = session.begin_nested()
        try:
            session.add(row)
            session.flush()
        except IntegrityError:
            savepoint.rollback()
            existing = _find_text(session, key)
            if existing is None:  # pragma: no cover - the conflicting row vanished
                raise
            raise _stale_text(session, existing) from None
        savepoint.commit()
        return row, True
    if version == 0:  # written by someone else since the page was read
        raise _stale_text(session, row)
    if row.version == version and row.text == text:
        return row, False
    changed = apply_edit(session, row, version, {"text": text, "updated_by_id": principal.user_id})
    return row, changed


def _find_text(session: Session, key: dict[str, object]) -> ReportText | None:
    return session.scalar(
        select(ReportText).where(*(getattr(ReportText, name) == value for name, value in key.items()))
    )


def _stale_text(session: Session, row: ReportText) -> StaleEdit:
    session.refresh(row)
    who, when = last_change(session, ReportText.__tablename__, str(row.id))
    return StaleEdit(
        table_name=ReportText.__tablename__,
        row_id=str(row.id),
        current_version=row.version,
        current_values={"text": row.text},
        changed_by=who,
        changed_at=when,
    )


TEXT_LABELS = {"text": "Texte d'analyse"}
