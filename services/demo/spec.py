"""What the demo holds: the catalogue's definitions, and the demo's own figures.

Publics, services, activities, needs and indicators are the starter catalogue's
(:mod:`services.catalogue`, ``services/data/catalogue``): a real organisation ticks the same
entries, so the demo and a new organisation share one source of truth. This module adds only
what is the demo's: which entries it holds, its volumes and money, its yearly volumes, where its
activities are delivered, its accounts, objectives, targets and measurement series.

Volumes and money are stated for the reference commune (Carcassonne, 46,119 inhabitants in
2021) and scaled to the population of the commune chosen; orders of magnitude follow DOMAIN.md
(meals at 9-12.8 EUR, home help at 24-32 EUR/hour, ~280 domiciliations for 30,000 inhabitants,
optional aid at 1-8 % of the budget, administration about a quarter of spending).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.enums import (
    Direction,
    Frequency,
    IndicatorType,
    PartnerType,
    Perspective,
    Role,
)
from services.catalogue import StandardActivity, StandardIndicator, standard_catalogue
from services.demo.series import SeriesShape

REFERENCE_POPULATION = 46_119
CATALOGUE = standard_catalogue()

#: The publics of DOMAIN.md (the catalogue's): (code, name, parent code).
POPULATION_GROUPS: list[tuple[str, str, str | None]] = [
    (p.code, p.name, p.parent) for p in CATALOGUE.publics.values()
]

#: Share of a service's expenses by nature (012 personnel, 011 charges, 65 aides): the demo's budget.
DEFAULT_NATURES: tuple[tuple[str, str, float], ...] = (
    ("012", "Charges de personnel", 0.62),
    ("011", "Charges à caractère général", 0.30),
    ("65", "Autres charges de gestion courante (aides)", 0.08),
)
NATURES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "ADMIN": (("012", "Charges de personnel", 0.72), ("011", "Charges à caractère général", 0.28)),
    "SOLIDARITE": (
        ("012", "Charges de personnel", 0.52),
        ("011", "Charges à caractère général", 0.18),
        ("65", "Autres charges de gestion courante (aides)", 0.30),
    ),
    "PETITE_ENFANCE": (("012", "Charges de personnel", 0.78), ("011", "Charges à caractère général", 0.22)),
}


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    name: str
    m57_function: str | None
    partner_type: PartnerType | None = None
    is_support: bool = False
    description: str = ""
    #: Share of the service's expenses by nature (012 personnel, 011 charges, 65 aides).
    natures: tuple[tuple[str, str, float], ...] = DEFAULT_NATURES


def _service(code: str) -> ServiceSpec:
    s = CATALOGUE.services[code]
    return ServiceSpec(
        s.code,
        s.name,
        s.m57_function,
        s.partner_type,
        s.is_support,
        s.description or "",
        NATURES.get(code, DEFAULT_NATURES),
    )


SERVICES: list[ServiceSpec] = [
    _service(code)
    for code in (
        "ADMIN",
        "SENIORS",
        "SOLIDARITE",
        "PETITE_ENFANCE",
        "AUTONOMIE",
        "CAF",
        "DEPARTEMENT",
        "ASSO_ALIMENTAIRE",
    )
]


@dataclass(frozen=True)
class Figures:
    """The demo's figures of one activity, for the reference commune."""

    unit_cost: float | None
    volume: float
    beneficiaries: int
    capacity: float | None
    staff_etp: float
    fixed_cost: float
    #: Yearly change of the planned volume (from 2024, the plan at ``volume``) and the usual ratio
    #: of the actual volume to the plan (demand above or below it), varied a little each year.
    growth: float = 0.0
    realised: float = 1.0
    #: Where the output is delivered: in the ``poorest`` IRIS of the commune (highest poverty
    #: rate, Filosofi), with shares pro rata of those rates, and ``elsewhere`` (a share spread over
    #: the whole commune). 0 IRIS: everywhere (no delivery rows), as a commune without IRIS has.
    poorest: int = 0
    elsewhere: float = 0.0


@dataclass(frozen=True)
class ActivitySpec:
    code: str
    service: str
    name: str
    output_unit: str
    unit_cost: float | None
    volume: float
    beneficiaries: int
    capacity: float | None
    staff_etp: float
    fixed_cost: float
    m57_function: str | None
    mandatory: bool = False
    #: (need code, coefficient): persons of the need answered by one unit of output.
    covers: tuple[tuple[str, float], ...] = ()
    poorest: int = 0
    elsewhere: float = 0.0
    growth: float = 0.0
    realised: float = 1.0
    description: str | None = None
    #: need code -> the catalogue's note on the coefficient
    cover_notes: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, standard: StandardActivity, f: Figures) -> ActivitySpec:
        return cls(
            standard.code,
            standard.service,
            standard.name,
            standard.output_unit,
            f.unit_cost,
            f.volume,
            f.beneficiaries,
            f.capacity,
            f.staff_etp,
            f.fixed_cost,
            standard.m57_function,
            standard.mandatory,
            tuple((c.need, c.coefficient) for c in standard.covers),
            f.poorest,
            f.elsewhere,
            f.growth,
            f.realised,
            standard.description,
            {c.need: c.note for c in standard.covers},
        )


#: The demo's activities and their figures: (unit cost, volume, beneficiaries, capacity, ETP, fixed cost).
FIGURES: dict[str, Figures] = {
    "A_PORTAGE": Figures(11.20, 34_000, 200, 40_000, 4.5, 25_000, growth=0.03, realised=1.05),
    "A_SAAD": Figures(27.50, 22_000, 210, 26_000, 16.0, 40_000, growth=0.02, realised=0.96),
    "A_ISOLEMENT": Figures(18.00, 5_000, 420, 7_000, 1.5, 8_000, growth=0.08, realised=0.92),
    "A_DOMICILIATION": Figures(180.00, 380, 380, 500, 1.2, 5_000, growth=0.05, realised=1.06),
    "A_ASL": Figures(95.00, 900, 860, 1_200, 1.6, 0, realised=1.02),
    "A_RSA": Figures(
        650.00, 450, 450, 520, 5.0, 10_000, growth=0.03, realised=0.97, poorest=6, elsewhere=0.15
    ),
    "A_EPICERIE": Figures(15.00, 9_000, 310, 11_000, 2.0, 18_000, growth=0.06, realised=1.08, poorest=2),
    "A_AIDES_FAC": Figures(110.00, 600, 450, 800, 0.8, 0, growth=0.04, realised=1.10),
    "A_CRECHE": Figures(11.00, 55_000, 95, 62_000, 12.0, 30_000, realised=0.95),
    "A_RPE": Figures(24.00, 2_500, 600, 3_000, 1.0, 0, growth=0.02),
    "A_HANDICAP": Figures(140.00, 350, 330, 450, 1.5, 0, growth=0.03, realised=0.98),
    "A_HEBERGEMENT": Figures(35.00, 3_000, 140, 3_650, 1.0, 12_000, growth=0.05, realised=1.12),
    "A_PARENTALITE": Figures(400.00, 220, 220, 260, 1.5, 0, growth=0.04, realised=0.90),
    "P_CAF_FAMILLES": Figures(None, 300, 300, None, 0, 0),
    "P_DEP_APA": Figures(None, 900, 900, None, 0, 0, growth=0.03, realised=1.01),
    "P_DEP_RSA": Figures(None, 1_400, 1_400, None, 0, 0, growth=-0.02, realised=0.98),
    "P_ASSO_COLIS": Figures(None, 12_000, 700, None, 0, 0, growth=0.05, realised=1.04),
}
ACTIVITIES: list[ActivitySpec] = [ActivitySpec.of(CATALOGUE.activities[c], f) for c, f in FIGURES.items()]
#: The years of the demo's yearly volumes (planned, and actual once the year is over).
VOLUME_YEARS = (2023, 2024, 2025, 2026)


@dataclass(frozen=True)
class ManualSize:
    """A need the demo sizes by hand: its figure for the reference commune and its evidence."""

    size: float
    source: str
    vintage: int
    note: str
    scaled: bool = True


#: The catalogue's needs the demo holds (a need by IRIS gives one need per IRIS of the commune).
NEEDS: list[str] = [
    "PA80",
    "PETITE_ENFANCE",
    "AAH",
    "MONOPARENTS",
    "PRIME_ACTIVITE",
    "AIDE_LOGEMENT",
    "JEUNES",
    "FAMILLES_NOMBREUSES",
    "RSA_IRIS",
    "SDF",
]
MANUAL_SIZES: dict[str, ManualSize] = {
    "SDF": ManualSize(
        380,
        "CCAS, registre des domiciliations",
        2025,
        "Pas de statistique publique à cette échelle : file active de domiciliation du CCAS "
        "au 31/12/2025 et signalements des maraudes (à confirmer avec le SIAO).",
    ),
}


@dataclass(frozen=True)
class UserSpec:
    login: str
    full_name: str
    role: Role
    services: tuple[str, ...] = ()


USERS: list[UserSpec] = [
    UserSpec("admin", "Alex Martin", Role.ADMIN),
    UserSpec("direction", "Claire Dubois", Role.DIRECTION),
    UserSpec("responsable.seniors", "Karim Benali", Role.SERVICE_MANAGER, ("SENIORS",)),
    UserSpec("responsable.solidarite", "Sophie Garcia", Role.SERVICE_MANAGER, ("SOLIDARITE",)),
    UserSpec("finances", "Luc Moreau", Role.FINANCE),
    UserSpec("elu", "Nadia Roux", Role.ELECTED),
    UserSpec("partenaire", "Julien Caf", Role.READER),
]

#: The demo accounts' password (printed by ``pilotis demo --serve``; demo databases only).
DEMO_PASSWORD = "demo-pilotis-2026"  # noqa: S105 - demo databases only, printed on purpose


@dataclass(frozen=True)
class ObjectiveSpec:
    code: str
    title: str
    perspective: Perspective
    parent: str | None = None
    service: str | None = None
    owner: str = "direction"
    deadline: str | None = None
    weight: float = 1.0
    needs: tuple[str, ...] = ()
    activities: tuple[str, ...] = ()


P_USERS, P_FIN, P_PROC, P_LEARN = (
    Perspective.USERS,
    Perspective.FINANCE,
    Perspective.PROCESSES,
    Perspective.LEARNING,
)

OBJECTIVES: list[ObjectiveSpec] = [
    ObjectiveSpec(
        "OS1",
        "Permettre aux personnes âgées de vivre à domicile dans de bonnes conditions",
        P_USERS,
        weight=2.0,
        needs=("PA80",),
    ),
    ObjectiveSpec(
        "OS2",
        "Lutter contre la pauvreté et le non-recours dans les quartiers prioritaires",
        P_USERS,
        weight=2.0,
        needs=("RSA_IRIS", "MONOPARENTS"),
    ),
    ObjectiveSpec("OS3", "Maîtriser le coût des services et diversifier leurs financements", P_FIN),
    ObjectiveSpec("OS4", "Simplifier et accélérer l'accès aux droits", P_PROC),
    ObjectiveSpec("OS5", "Développer les compétences des équipes et la qualité des données", P_LEARN),
    ObjectiveSpec(
        "OO1.1",
        "Étendre le portage de repas aux personnes de 80 ans et plus isolées",
        P_USERS,
        "OS1",
        "SENIORS",
        "responsable.seniors",
        "2026-12-31",
        needs=("PA80",),
        activities=("A_PORTAGE",),
    ),
    ObjectiveSpec(
        "OO1.2",
        "Garantir la continuité et la qualité de l'aide à domicile",
        P_USERS,
        "OS1",
        "SENIORS",
        "responsable.seniors",
        "2026-12-31",
        needs=("PA80",),
        activities=("A_SAAD", "A_ISOLEMENT"),
    ),
    ObjectiveSpec(
        "OO2.1",
        "Accompagner davantage d'allocataires du RSA dans les quartiers prioritaires",
        P_USERS,
        "OS2",
        "SOLIDARITE",
        "responsable.solidarite",
        "2027-06-30",
        weight=1.5,
        needs=("RSA_IRIS",),
        activities=("A_RSA",),
    ),
    ObjectiveSpec(
        "OO2.2",
        "Structurer l'aide alimentaire avec les partenaires",
        P_USERS,
        "OS2",
        "SOLIDARITE",
        "responsable.solidarite",
        "2026-12-31",
        needs=("RSA_IRIS", "PRIME_ACTIVITE"),
        activities=("A_EPICERIE", "A_AIDES_FAC"),
    ),
    ObjectiveSpec(
        "OO2.3",
        "Faciliter l'accueil des enfants des familles monoparentales",
        P_USERS,
        "OS2",
        "PETITE_ENFANCE",
        "direction",
        "2027-08-31",
        needs=("MONOPARENTS", "PETITE_ENFANCE"),
        activities=("A_CRECHE", "A_PARENTALITE"),
    ),
    ObjectiveSpec(
        "OO3.1",
        "Contenir le coût de revient des prestations aux seniors",
        P_FIN,
        "OS3",
        "SENIORS",
        "responsable.seniors",
        "2026-12-31",
        activities=("A_PORTAGE", "A_SAAD"),
    ),
    ObjectiveSpec(
        "OO3.2",
        "Exécuter le budget au plus près de la prévision",
        P_FIN,
        "OS3",
        "ADMIN",
        "finances",
        "2026-12-31",
    ),
    ObjectiveSpec(
        "OO4.1",
        "Instruire les dossiers d'aide sociale légale en moins de 30 jours",
        P_PROC,
        "OS4",
        "SOLIDARITE",
        "responsable.solidarite",
        "2026-12-31",
        activities=("A_ASL",),
    ),
    ObjectiveSpec(
        "OO4.2",
        "Domicilier et recevoir sans délai",
        P_PROC,
        "OS4",
        "SOLIDARITE",
        "responsable.solidarite",
        "2026-12-31",
        needs=("SDF",),
        activities=("A_DOMICILIATION", "A_RSA"),
    ),
    ObjectiveSpec(
        "OO4.3",
        "Mettre en œuvre le plan d'actions de l'ABS avec les partenaires",
        P_PROC,
        "OS4",
        "ADMIN",
        "direction",
        "2027-12-31",
    ),
    ObjectiveSpec(
        "OO5.1",
        "Former les agents et fidéliser les équipes",
        P_LEARN,
        "OS5",
        "ADMIN",
        "direction",
        "2027-12-31",
    ),
    ObjectiveSpec(
        "OO5.2", "Fiabiliser les données de pilotage", P_LEARN, "OS5", "ADMIN", "direction", "2026-12-31"
    ),
]


@dataclass(frozen=True)
class IndicatorSpec:
    code: str
    label: str
    type: IndicatorType
    unit: str
    direction: Direction
    frequency: Frequency
    objective: str
    service: str
    shape: SeriesShape | None = None
    #: Target at the origin and its yearly change; or a band for ``within a band``.
    target: float | None = None
    target_growth: float = 0.0
    band: tuple[float, float] | None = None
    #: Volumes and money scale with the commune's population; rates do not.
    scaled: bool = False
    decimals: int = 0
    activity: str | None = None
    need: str | None = None
    formula: str | None = None
    source: str = "Saisie du service"
    weight: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)
    #: Fed by the costing of ``activity`` (``unit_cost``, ``cost_per_beneficiary``…), not entered.
    cost_metric: str | None = None
    #: Fed by a survey (the share of positive answers, written when the survey closes), not entered.
    fed_by_survey: bool = False
    perspective: Perspective = Perspective.USERS
    description: str | None = None


def _indicator(
    code: str,
    objective: str,
    shape: SeriesShape | None = None,
    *,
    target: float | None = None,
    target_growth: float = 0.0,
    band: tuple[float, float] | None = None,
    scaled: bool = False,
    fed_by_survey: bool = False,
) -> IndicatorSpec:
    """The catalogue's indicator ``code`` with the demo's objective, series and targets."""
    std: StandardIndicator = CATALOGUE.indicators[code]
    return IndicatorSpec(
        code=std.code,
        label=std.label,
        type=std.type,
        unit=std.unit,
        direction=std.direction,
        frequency=std.frequency,
        objective=objective,
        service=CATALOGUE.service_of(std),
        shape=shape,
        target=target,
        target_growth=target_growth,
        band=band,
        scaled=scaled,
        decimals=std.decimals,
        activity=std.activity,
        need=std.need,
        formula=std.formula,
        source=std.source,
        weight=std.weight,
        cost_metric=std.cost_metric,
        fed_by_survey=fed_by_survey,
        perspective=std.perspective,
        description=std.description,
    )


S = SeriesShape

#: The demo's indicators: the catalogue's, with the objective each serves, its series and targets.
INDICATORS: list[IndicatorSpec] = [
    _indicator(
        "repas_livres", "OO1.1", S(2_750, 0.04, 0.05, 1, 0.04), target=2_900, target_growth=0.05, scaled=True
    ),
    _indicator(
        "beneficiaires_portage", "OO1.1", S(188, 0.03, 0.03), target=200, target_growth=0.05, scaled=True
    ),
    _indicator(
        "taux_couverture_portage", "OO1.1", S(5.2, 0.03, 0.0, 1, 0.03, 0, 100), target=5.5, target_growth=0.05
    ),
    _indicator(
        "heures_aide_domicile",
        "OO1.2",
        S(1_830, 0.02, 0.06, 12, 0.04),
        target=1_900,
        target_growth=0.02,
        scaled=True,
    ),
    _indicator(
        "beneficiaires_saad", "OO1.2", S(208, 0.01, 0.02), target=215, target_growth=0.02, scaled=True
    ),
    _indicator("satisfaction_saad", "OO1.2", S(86, 0.0, 0.0, 1, 0.025, 0, 100), target=90),
    _indicator("satisfaction_portage", "OO1.1", target=85, fed_by_survey=True),
    _indicator("difficulte_alimentation", "OO2.2", target=25, fed_by_survey=True),
    _indicator(
        "aines_isoles_contactes",
        "OO1.2",
        S(410, 0.05, 0.15, 7, 0.05),
        target=450,
        target_growth=0.05,
        scaled=True,
    ),
    _indicator(
        "accompagnements_rsa", "OO2.1", S(440, 0.03, 0.02, 9), target=470, target_growth=0.04, scaled=True
    ),
    _indicator("taux_contrat_engagement", "OO2.1", S(76, 0.02, 0.0, 1, 0.03, 0, 100), target=85),
    _indicator(
        "sorties_emploi_rsa", "OO2.1", S(36, 0.04, 0.1, 4, 0.12), target=40, target_growth=0.05, scaled=True
    ),
    _indicator(
        "paniers_epicerie", "OO2.2", S(740, 0.05, 0.1, 1, 0.05), target=760, target_growth=0.04, scaled=True
    ),
    _indicator(
        "foyers_aide_alimentaire",
        "OO2.2",
        S(300, 0.06, 0.08, 1, 0.04),
        target=310,
        target_growth=0.05,
        scaled=True,
    ),
    _indicator("aides_facultatives_accordees", "OO2.2", S(50, 0.03, 0.2, 1, 0.1), target=50, scaled=True),
    _indicator(
        "familles_monoparentales_accompagnees",
        "OO2.3",
        S(52, 0.06, 0.05, 10, 0.06),
        target=60,
        target_growth=0.05,
        scaled=True,
    ),
    _indicator(
        "heures_accueil_creche",
        "OO2.3",
        S(4_600, 0.01, 0.35, 3),
        target=4_700,
        target_growth=0.01,
        scaled=True,
    ),
    _indicator("taux_occupation_creche", "OO2.3", S(79, 0.0, 0.12, 3, 0.03, 0, 100), band=(72.0, 88.0)),
    _indicator("part_places_monoparentales", "OO2.3", S(17, 0.04, 0.0, 1, 0.05, 0, 100), target=20),
    _indicator(
        "domiciliations_actives",
        "OO4.2",
        S(375, 0.04, 0.03, 1, 0.02),
        target=380,
        target_growth=0.04,
        scaled=True,
    ),
    _indicator("nuitees_hebergement", "OO2.2", S(250, 0.03, 0.25, 1, 0.08), target=250, scaled=True),
    _indicator(
        "dossiers_handicap", "OO2.2", S(86, 0.02, 0.05, 10, 0.06), target=90, target_growth=0.03, scaled=True
    ),
    _indicator(
        "taux_non_recours", "OO2.1", S(32, -0.04, 0.0, 1, 0.02, 0, 100), target=28, target_growth=-0.05
    ),
    _indicator(
        "cout_portage", "OO3.1", S(30_400, 0.055, 0.05), target=31_500, target_growth=0.04, scaled=True
    ),
    _indicator("cout_repas", "OO3.1", target=11.2, target_growth=0.02),
    _indicator("cout_complet_repas", "OO3.1", target=16.5, target_growth=0.02),
    _indicator("cout_complet_hebergement", "OO2.2", target=1_200, target_growth=0.02),
    _indicator(
        "cout_saad", "OO3.1", S(51_500, 0.04, 0.06, 12), target=51_000, target_growth=0.03, scaled=True
    ),
    _indicator("cout_heure_saad", "OO3.1", target=27.5, target_growth=0.02),
    _indicator("taux_execution_budget", "OO3.2", S(97.5, 0.0, 0.0, 1, 0.02, 0, 200), band=(95.0, 101.0)),
    _indicator(
        "recettes_caf",
        "OO3.2",
        S(96_000, 0.02, 0.1, 12, 0.05),
        target=100_000,
        target_growth=0.02,
        scaled=True,
    ),
    _indicator("part_participation_usagers", "OO3.2", S(21, 0.0, 0.0, 1, 0.04, 0, 100), band=(18.0, 25.0)),
    _indicator(
        "montant_aides_facultatives", "OO2.2", S(5_400, 0.03, 0.2, 1, 0.1), band=(4_500, 6_500), scaled=True
    ),
    _indicator("cout_moyen_aide", "OO2.2", target=115),
    _indicator("depense_par_habitant", "OO3.2", S(96, 0.025, 0.0, 1, 0.01), band=(85.0, 105.0)),
    _indicator("delai_instruction_asl", "OO4.1", S(36, -0.06, 0.08, 8, 0.06), target=30, target_growth=-0.03),
    _indicator(
        "dossiers_asl_instruits",
        "OO4.1",
        S(74, 0.02, 0.1, 10, 0.07),
        target=75,
        target_growth=0.02,
        scaled=True,
    ),
    _indicator("delai_domiciliation", "OO4.2", S(6.5, -0.05, 0.0, 1, 0.1), target=5),
    _indicator("delai_premier_rdv_rsa", "OO4.2", S(22, -0.08, 0.1, 9, 0.07), target=15),
    _indicator("delai_reponse_aides", "OO4.1", S(9, -0.03, 0.1, 12, 0.08), target=8),
    _indicator("actions_partenaires", "OO4.3", S(13, 0.1, 0.1, 10, 0.12), target=15, target_growth=0.05),
    _indicator(
        "taux_realisation_plan", "OO4.3", S(35, 0.3, 0.0, 1, 0.04, 0, 100), target=40, target_growth=0.3
    ),
    _indicator("etp_total", "OO5.1", S(70, 0.005, 0.0, 1, 0.01), band=(66.0, 74.0), scaled=True),
    _indicator("heures_formation_agent", "OO5.1", S(4.2, 0.08, 0.2, 11, 0.1), target=5, target_growth=0.05),
    _indicator("taux_absenteisme", "OO5.1", S(8.6, -0.02, 0.15, 1, 0.08, 0, 100), target=7.5),
    _indicator(
        "agents_formes_accueil", "OO5.1", S(40, 0.2, 0.0, 1, 0.03, 0, 100), target=50, target_growth=0.2
    ),
    _indicator("taux_rotation", "OO5.1", S(11, -0.03, 0.0, 1, 0.05, 0, 100), target=10),
    _indicator("saisies_a_temps", "OO5.2", S(78, 0.06, 0.0, 1, 0.04, 0, 100), target=90),
    _indicator("age_statistiques", "OO5.2", S(4.0, 0.0, 0.0, 1, 0.05), target=3),
]


#: « Contribue à » links of the strategy map (source objective, target objective): the learning and
#: process objectives feed the ones residents see.
OBJECTIVE_LINKS: list[tuple[str, str]] = [
    ("OO5.1", "OO4.1"),  # former les agents -> instruire les dossiers d'aide sociale légale
    ("OO5.1", "OO1.2"),  # former les agents -> continuité et qualité de l'aide à domicile
    ("OO5.2", "OO4.3"),  # fiabiliser les données -> plan d'actions de l'ABS
    ("OO4.1", "OO2.1"),  # instruire les dossiers -> accompagner les allocataires du RSA
    ("OO4.2", "OS2"),  # domicilier sans délai -> pauvreté et non-recours
    ("OO4.3", "OO2.2"),  # plan d'actions de l'ABS -> aide alimentaire avec les partenaires
    ("OO3.1", "OO1.1"),  # coût de revient seniors -> portage de repas
]
