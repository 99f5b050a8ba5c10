"""What the demo holds, declared as data: publics, services, activities, objectives, indicators.

Volumes and money are stated for the reference commune (Carcassonne, 46,119 inhabitants in
2021) and scaled to the population of the commune chosen; orders of magnitude follow DOMAIN.md
(meals at 9-12.8 EUR, home help at 24-32 EUR/hour, ~280 domiciliations for 30,000 inhabitants,
optional aid at 1-8 % of the budget, administration about a quarter of spending).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.enums import (
    ActivityKind,
    Direction,
    Frequency,
    IndicatorType,
    PartnerType,
    Perspective,
    Role,
)
from services.demo.series import SeriesShape

REFERENCE_POPULATION = 46_119

#: The publics of DOMAIN.md: (code, name, parent code).
POPULATION_GROUPS: list[tuple[str, str, str | None]] = [
    ("familles", "Familles", None),
    ("familles_monoparentales", "Familles monoparentales", "familles"),
    ("familles_nombreuses", "Familles nombreuses", "familles"),
    ("jeunes", "Jeunes", None),
    ("petite_enfance", "Petite enfance", None),
    ("personnes_agees", "Personnes âgées", None),
    ("personnes_handicapees", "Personnes handicapées", None),
    ("personnes_en_difficulte", "Personnes en difficulté", None),
    ("bas_revenus", "Ménages à bas revenus", "personnes_en_difficulte"),
    ("minima_sociaux", "Bénéficiaires de minima sociaux", "personnes_en_difficulte"),
    ("demandeurs_emploi", "Demandeurs d'emploi", "personnes_en_difficulte"),
    ("sans_domicile_stable", "Personnes sans domicile stable", "personnes_en_difficulte"),
]


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    name: str
    m57_function: str
    partner_type: PartnerType | None = None
    is_support: bool = False
    description: str = ""
    #: Share of the service's expenses by nature (012 personnel, 011 charges, 65 aides).
    natures: tuple[tuple[str, str, float], ...] = (
        ("012", "Charges de personnel", 0.62),
        ("011", "Charges à caractère général", 0.30),
        ("65", "Autres charges de gestion courante (aides)", 0.08),
    )


SERVICES: list[ServiceSpec] = [
    ServiceSpec(
        "ADMIN",
        "Direction et administration générale",
        "420",
        is_support=True,
        description="Direction, ressources humaines, finances, accueil : fonction support.",
        natures=(
            ("012", "Charges de personnel", 0.72),
            ("011", "Charges à caractère général", 0.28),
        ),
    ),
    ServiceSpec(
        "SENIORS",
        "Pôle seniors et maintien à domicile",
        "423",
        description="Portage de repas, service d'aide à domicile, lutte contre l'isolement.",
    ),
    ServiceSpec(
        "SOLIDARITE",
        "Pôle solidarité et insertion",
        "424",
        description="Accueil social, aide sociale légale, domiciliation, RSA, aides facultatives.",
        natures=(
            ("012", "Charges de personnel", 0.52),
            ("011", "Charges à caractère général", 0.18),
            ("65", "Autres charges de gestion courante (aides)", 0.30),
        ),
    ),
    ServiceSpec(
        "PETITE_ENFANCE",
        "Pôle petite enfance",
        "422",
        description="Multi-accueil et relais petite enfance.",
        natures=(
            ("012", "Charges de personnel", 0.78),
            ("011", "Charges à caractère général", 0.22),
        ),
    ),
    ServiceSpec(
        "AUTONOMIE",
        "Pôle autonomie, handicap et logement",
        "425",
        description="Accompagnement des personnes handicapées, hébergement d'urgence, parentalité.",
    ),
    ServiceSpec(
        "CAF",
        "Caisse d'allocations familiales (partenaire)",
        "421",
        partner_type=PartnerType.CAF,
        description="Travail social de la CAF auprès des familles.",
    ),
    ServiceSpec(
        "DEPARTEMENT",
        "Conseil départemental (partenaire)",
        "43",
        partner_type=PartnerType.DEPARTEMENT,
        description="APA à domicile, référents RSA départementaux.",
    ),
    ServiceSpec(
        "ASSO_ALIMENTAIRE",
        "Association d'aide alimentaire (partenaire)",
        "424",
        partner_type=PartnerType.ASSOCIATION,
        description="Distribution de colis alimentaires par une association partenaire.",
    ),
]


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
    m57_function: str
    mandatory: bool = False
    #: (need code, coefficient): persons of the need answered by one unit of output.
    covers: tuple[tuple[str, float], ...] = ()


ACTIVITIES: list[ActivitySpec] = [
    ActivitySpec("A_PORTAGE", "SENIORS", "Portage de repas à domicile", "repas livré",
                 11.20, 34_000, 200, 40_000, 4.5, 25_000, "4238",
                 covers=(("PA80", 1 / 250),)),
    ActivitySpec("A_SAAD", "SENIORS", "Aide à domicile (SAAD)", "heure d'aide",
                 27.50, 22_000, 210, 26_000, 16.0, 40_000, "4238",
                 covers=(("PA80", 1 / 110), ("AAH", 1 / 400))),
    ActivitySpec("A_ISOLEMENT", "SENIORS", "Lutte contre l'isolement des aînés", "participation",
                 18.00, 5_000, 420, 7_000, 1.5, 8_000, "4232",
                 covers=(("PA80", 1 / 25),)),
    ActivitySpec("A_DOMICILIATION", "SOLIDARITE", "Domiciliation", "domiciliation active (an)",
                 180.00, 380, 380, 500, 1.2, 5_000, "424", mandatory=True,
                 covers=(("SDF", 1.0),)),
    ActivitySpec("A_ASL", "SOLIDARITE", "Instruction des dossiers d'aide sociale légale",
                 "dossier instruit", 95.00, 900, 860, 1_200, 1.6, 0, "424", mandatory=True,
                 covers=(("PA80", 0.3), ("AAH", 0.2))),
    ActivitySpec("A_RSA", "SOLIDARITE", "Accompagnement des allocataires du RSA",
                 "personne accompagnée (an)", 650.00, 450, 450, 520, 5.0, 10_000, "424",
                 covers=(("RSA_IRIS", 1.0),)),
    ActivitySpec("A_EPICERIE", "SOLIDARITE", "Épicerie sociale", "panier",
                 15.00, 9_000, 310, 11_000, 2.0, 18_000, "424",
                 covers=(("RSA_IRIS", 1 / 30), ("MONOPARENTS", 1 / 30))),
    ActivitySpec("A_AIDES_FAC", "SOLIDARITE", "Aides facultatives (secours, énergie)",
                 "aide accordée", 110.00, 600, 450, 800, 0.8, 0, "424",
                 covers=(("RSA_IRIS", 0.3), ("MONOPARENTS", 0.3), ("PRIME_ACTIVITE", 0.2))),
    ActivitySpec("A_CRECHE", "PETITE_ENFANCE", "Multi-accueil", "heure d'accueil",
                 11.00, 55_000, 95, 62_000, 12.0, 30_000, "4222",
                 covers=(("PETITE_ENFANCE", 1 / 1_600), ("MONOPARENTS", 1 / 4_000))),
    ActivitySpec("A_RPE", "PETITE_ENFANCE", "Relais petite enfance", "contact",
                 24.00, 2_500, 600, 3_000, 1.0, 0, "4228",
                 covers=(("PETITE_ENFANCE", 0.05),)),
    ActivitySpec("A_HANDICAP", "AUTONOMIE", "Accompagnement des personnes handicapées",
                 "dossier accompagné", 140.00, 350, 330, 450, 1.5, 0, "425",
                 covers=(("AAH", 1.0),)),
    ActivitySpec("A_HEBERGEMENT", "AUTONOMIE", "Hébergement d'urgence et accès au logement",
                 "nuitée", 35.00, 3_000, 140, 3_650, 1.0, 12_000, "428",
                 covers=(("SDF", 1 / 30), ("AIDE_LOGEMENT", 1 / 200))),
    ActivitySpec("A_PARENTALITE", "AUTONOMIE", "Soutien à la parentalité", "famille accompagnée",
                 400.00, 220, 220, 260, 1.5, 0, "4212",
                 covers=(("MONOPARENTS", 1.0), ("FAMILLES_NOMBREUSES", 0.5))),
    ActivitySpec("P_CAF_FAMILLES", "CAF", "Travail social CAF auprès des familles",
                 "famille accompagnée", None, 300, 300, None, 0, 0, "421",
                 covers=(("MONOPARENTS", 1.0),)),
    ActivitySpec("P_DEP_APA", "DEPARTEMENT", "APA à domicile", "bénéficiaire",
                 None, 900, 900, None, 0, 0, "431",
                 covers=(("PA80", 1.0),)),
    ActivitySpec("P_DEP_RSA", "DEPARTEMENT", "Référents RSA départementaux",
                 "personne accompagnée (an)", None, 1_400, 1_400, None, 0, 0, "441",
                 covers=(("RSA_IRIS", 1.0),)),
    ActivitySpec("P_ASSO_COLIS", "ASSO_ALIMENTAIRE", "Distribution de colis alimentaires",
                 "colis", None, 12_000, 700, None, 0, 0, "424",
                 covers=(("RSA_IRIS", 1 / 40), ("PRIME_ACTIVITE", 1 / 60))),
]


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
DEMO_PASSWORD = "demo-pilotis-2026"


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
    ObjectiveSpec("OS1", "Permettre aux personnes âgées de vivre à domicile dans de bonnes conditions",
                  P_USERS, weight=2.0, needs=("PA80",)),
    ObjectiveSpec("OS2", "Lutter contre la pauvreté et le non-recours dans les quartiers prioritaires",
                  P_USERS, weight=2.0, needs=("RSA_IRIS", "MONOPARENTS")),
    ObjectiveSpec("OS3", "Maîtriser le coût des services et diversifier leurs financements", P_FIN),
    ObjectiveSpec("OS4", "Simplifier et accélérer l'accès aux droits", P_PROC),
    ObjectiveSpec("OS5", "Développer les compétences des équipes et la qualité des données", P_LEARN),
    ObjectiveSpec("OO1.1", "Étendre le portage de repas aux personnes de 80 ans et plus isolées",
                  P_USERS, "OS1", "SENIORS", "responsable.seniors", "2026-12-31",
                  needs=("PA80",), activities=("A_PORTAGE",)),
    ObjectiveSpec("OO1.2", "Garantir la continuité et la qualité de l'aide à domicile",
                  P_USERS, "OS1", "SENIORS", "responsable.seniors", "2026-12-31",
                  needs=("PA80",), activities=("A_SAAD", "A_ISOLEMENT")),
    ObjectiveSpec("OO2.1", "Accompagner davantage d'allocataires du RSA dans les quartiers prioritaires",
                  P_USERS, "OS2", "SOLIDARITE", "responsable.solidarite", "2027-06-30",
                  weight=1.5, needs=("RSA_IRIS",), activities=("A_RSA",)),
    ObjectiveSpec("OO2.2", "Structurer l'aide alimentaire avec les partenaires",
                  P_USERS, "OS2", "SOLIDARITE", "responsable.solidarite", "2026-12-31",
                  needs=("RSA_IRIS", "PRIME_ACTIVITE"), activities=("A_EPICERIE", "A_AIDES_FAC")),
    ObjectiveSpec("OO2.3", "Faciliter l'accueil des enfants des familles monoparentales",
                  P_USERS, "OS2", "PETITE_ENFANCE", "direction", "2027-08-31",
                  needs=("MONOPARENTS", "PETITE_ENFANCE"), activities=("A_CRECHE", "A_PARENTALITE")),
    ObjectiveSpec("OO3.1", "Contenir le coût de revient des prestations aux seniors",
                  P_FIN, "OS3", "SENIORS", "responsable.seniors", "2026-12-31",
                  activities=("A_PORTAGE", "A_SAAD")),
    ObjectiveSpec("OO3.2", "Exécuter le budget au plus près de la prévision",
                  P_FIN, "OS3", "ADMIN", "finances", "2026-12-31"),
    ObjectiveSpec("OO4.1", "Instruire les dossiers d'aide sociale légale en moins de 30 jours",
                  P_PROC, "OS4", "SOLIDARITE", "responsable.solidarite", "2026-12-31",
                  activities=("A_ASL",)),
    ObjectiveSpec("OO4.2", "Domicilier et recevoir sans délai",
                  P_PROC, "OS4", "SOLIDARITE", "responsable.solidarite", "2026-12-31",
                  needs=("SDF",), activities=("A_DOMICILIATION", "A_RSA")),
    ObjectiveSpec("OO4.3", "Mettre en œuvre le plan d'actions de l'ABS avec les partenaires",
                  P_PROC, "OS4", "ADMIN", "direction", "2027-12-31"),
    ObjectiveSpec("OO5.1", "Former les agents et fidéliser les équipes",
                  P_LEARN, "OS5", "ADMIN", "direction", "2027-12-31"),
    ObjectiveSpec("OO5.2", "Fiabiliser les données de pilotage",
                  P_LEARN, "OS5", "ADMIN", "direction", "2026-12-31"),
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


M, Q, Y = Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.YEARLY
HI, LO, BAND = Direction.HIGHER_IS_BETTER, Direction.LOWER_IS_BETTER, Direction.WITHIN_BAND
OUT, OUTC, QUAL, RES, EFF = (
    IndicatorType.OUTPUT,
    IndicatorType.OUTCOME,
    IndicatorType.QUALITY,
    IndicatorType.RESOURCE,
    IndicatorType.EFFICIENCY,
)
S = SeriesShape

INDICATORS: list[IndicatorSpec] = [
    # Usagers et citoyens
    IndicatorSpec("repas_livres", "Repas livrés à domicile", OUT, "repas", HI, M, "OO1.1", "SENIORS",
                  S(2_750, 0.04, 0.05, 1, 0.04), 2_900, 0.05, scaled=True, activity="A_PORTAGE"),
    IndicatorSpec("beneficiaires_portage", "Bénéficiaires du portage de repas", OUT, "personnes",
                  HI, M, "OO1.1", "SENIORS", S(188, 0.03, 0.03, 1, 0.03), 200, 0.05, scaled=True,
                  activity="A_PORTAGE", need="PA80"),
    IndicatorSpec("taux_couverture_portage", "Part des 80 ans et plus bénéficiant du portage",
                  OUTC, "%", HI, Q, "OO1.1", "SENIORS", S(5.2, 0.03, 0.0, 1, 0.03, 0, 100), 5.5,
                  0.05, decimals=1, need="PA80", weight=2.0),
    IndicatorSpec("heures_aide_domicile", "Heures d'aide à domicile réalisées", OUT, "heures", HI, M,
                  "OO1.2", "SENIORS", S(1_830, 0.02, 0.06, 12, 0.04), 1_900, 0.02, scaled=True,
                  activity="A_SAAD"),
    IndicatorSpec("beneficiaires_saad", "Personnes aidées à domicile (SAAD)", OUT, "personnes", HI, M,
                  "OO1.2", "SENIORS", S(208, 0.01, 0.02, 1, 0.03), 215, 0.02, scaled=True,
                  activity="A_SAAD", need="PA80"),
    IndicatorSpec("satisfaction_saad", "Usagers du SAAD satisfaits ou très satisfaits", QUAL, "%", HI,
                  Q, "OO1.2", "SENIORS", S(86, 0.0, 0.0, 1, 0.025, 0, 100), 90, decimals=1,
                  activity="A_SAAD", weight=1.5),
    IndicatorSpec("aines_isoles_contactes", "Aînés isolés contactés (veille, lien social)", OUT,
                  "personnes", HI, Q, "OO1.2", "SENIORS", S(410, 0.05, 0.15, 7, 0.05), 450, 0.05,
                  scaled=True, activity="A_ISOLEMENT", need="PA80"),
    IndicatorSpec("accompagnements_rsa", "Allocataires du RSA accompagnés", OUT, "personnes", HI, M,
                  "OO2.1", "SOLIDARITE", S(440, 0.03, 0.02, 9, 0.03), 470, 0.04, scaled=True,
                  activity="A_RSA", need="RSA_IRIS"),
    IndicatorSpec("taux_contrat_engagement", "Accompagnés RSA ayant signé un contrat d'engagement",
                  OUTC, "%", HI, Q, "OO2.1", "SOLIDARITE", S(76, 0.02, 0.0, 1, 0.03, 0, 100), 85,
                  decimals=1, activity="A_RSA"),
    IndicatorSpec("sorties_emploi_rsa", "Sorties vers l'emploi ou la formation", OUTC, "personnes",
                  HI, Q, "OO2.1", "SOLIDARITE", S(36, 0.04, 0.1, 4, 0.12), 40, 0.05, scaled=True,
                  activity="A_RSA", weight=1.5),
    IndicatorSpec("paniers_epicerie", "Paniers distribués par l'épicerie sociale", OUT, "paniers",
                  HI, M, "OO2.2", "SOLIDARITE", S(740, 0.05, 0.1, 1, 0.05), 760, 0.04, scaled=True,
                  activity="A_EPICERIE"),
    IndicatorSpec("foyers_aide_alimentaire", "Foyers bénéficiaires de l'aide alimentaire", OUT,
                  "foyers", HI, M, "OO2.2", "SOLIDARITE", S(300, 0.06, 0.08, 1, 0.04), 310, 0.05,
                  scaled=True, activity="A_EPICERIE", need="PRIME_ACTIVITE"),
    IndicatorSpec("aides_facultatives_accordees", "Aides facultatives accordées", OUT, "aides", HI,
                  M, "OO2.2", "SOLIDARITE", S(50, 0.03, 0.2, 1, 0.1), 50, scaled=True,
                  activity="A_AIDES_FAC"),
    IndicatorSpec("familles_monoparentales_accompagnees", "Familles monoparentales accompagnées",
                  OUT, "familles", HI, Q, "OO2.3", "AUTONOMIE", S(52, 0.06, 0.05, 10, 0.06), 60,
                  0.05, scaled=True, activity="A_PARENTALITE", need="MONOPARENTS"),
    IndicatorSpec("heures_accueil_creche", "Heures d'accueil en multi-accueil", OUT, "heures", HI, M,
                  "OO2.3", "PETITE_ENFANCE", S(4_600, 0.01, 0.35, 3, 0.03), 4_700, 0.01, scaled=True,
                  activity="A_CRECHE"),
    IndicatorSpec("taux_occupation_creche", "Taux d'occupation financier du multi-accueil", EFF, "%",
                  BAND, M, "OO2.3", "PETITE_ENFANCE", S(79, 0.0, 0.12, 3, 0.03, 0, 100),
                  band=(72.0, 88.0), decimals=1, activity="A_CRECHE"),
    IndicatorSpec("part_places_monoparentales", "Places d'accueil attribuées aux familles monoparentales",
                  OUTC, "%", HI, Q, "OO2.3", "PETITE_ENFANCE", S(17, 0.04, 0.0, 1, 0.05, 0, 100), 20,
                  decimals=1, need="MONOPARENTS", weight=1.5),
    IndicatorSpec("domiciliations_actives", "Domiciliations actives", OUT, "personnes", HI, M,
                  "OO4.2", "SOLIDARITE", S(375, 0.04, 0.03, 1, 0.02), 380, 0.04, scaled=True,
                  activity="A_DOMICILIATION", need="SDF"),
    IndicatorSpec("nuitees_hebergement", "Nuitées d'hébergement d'urgence", OUT, "nuitées", HI, M,
                  "OO2.2", "AUTONOMIE", S(250, 0.03, 0.25, 1, 0.08), 250, scaled=True,
                  activity="A_HEBERGEMENT", need="SDF"),
    IndicatorSpec("dossiers_handicap", "Personnes handicapées accompagnées (dossiers MDPH)", OUT,
                  "dossiers", HI, Q, "OO2.2", "AUTONOMIE", S(86, 0.02, 0.05, 10, 0.06), 90, 0.03,
                  scaled=True, activity="A_HANDICAP", need="AAH"),
    IndicatorSpec("taux_non_recours", "Taux de non-recours estimé aux aides légales", OUTC, "%", LO, Y,
                  "OO2.1", "SOLIDARITE", S(32, -0.04, 0.0, 1, 0.02, 0, 100), 28, -0.05, decimals=1,
                  source="Enquête ABS et CAF", weight=2.0),
    # Finances
    IndicatorSpec("cout_portage", "Coût du portage de repas", RES, "EUR", LO, M, "OO3.1", "SENIORS",
                  S(30_400, 0.055, 0.05, 1, 0.03), 31_500, 0.04, scaled=True, activity="A_PORTAGE",
                  source="Comptabilité analytique"),
    IndicatorSpec("cout_repas", "Coût de revient d'un repas livré", EFF, "EUR/repas", LO, M, "OO3.1",
                  "SENIORS", None, 11.2, 0.02, decimals=2, activity="A_PORTAGE",
                  formula="cout_portage / repas_livres", weight=1.5),
    IndicatorSpec("cout_saad", "Coût du service d'aide à domicile", RES, "EUR", LO, M, "OO3.1",
                  "SENIORS", S(51_500, 0.04, 0.06, 12, 0.03), 51_000, 0.03, scaled=True,
                  activity="A_SAAD", source="Comptabilité analytique"),
    IndicatorSpec("cout_heure_saad", "Coût de revient de l'heure d'aide à domicile", EFF,
                  "EUR/heure", LO, M, "OO3.1", "SENIORS", None, 27.5, 0.02, decimals=2,
                  activity="A_SAAD", formula="cout_saad / heures_aide_domicile", weight=1.5),
    IndicatorSpec("taux_execution_budget", "Taux d'exécution du budget de fonctionnement", EFF, "%",
                  BAND, Q, "OO3.2", "ADMIN", S(97.5, 0.0, 0.0, 1, 0.02, 0, 200), band=(95.0, 101.0),
                  decimals=1, source="Comptabilité"),
    IndicatorSpec("recettes_caf", "Financements de la CAF perçus", RES, "EUR", HI, Q, "OO3.2", "ADMIN",
                  S(96_000, 0.02, 0.1, 12, 0.05), 100_000, 0.02, scaled=True, source="Comptabilité"),
    IndicatorSpec("part_participation_usagers", "Part des participations des usagers dans les recettes",
                  RES, "%", BAND, Q, "OO3.2", "ADMIN", S(21, 0.0, 0.0, 1, 0.04, 0, 100),
                  band=(18.0, 25.0), decimals=1, source="Comptabilité"),
    IndicatorSpec("montant_aides_facultatives", "Montant des aides facultatives versées", RES, "EUR",
                  BAND, M, "OO2.2", "SOLIDARITE", S(5_400, 0.03, 0.2, 1, 0.1), band=(4_500.0, 6_500.0),
                  scaled=True, activity="A_AIDES_FAC", source="Comptabilité"),
    IndicatorSpec("cout_moyen_aide", "Montant moyen d'une aide facultative", EFF, "EUR/aide", LO, M,
                  "OO2.2", "SOLIDARITE", None, 115, decimals=2, activity="A_AIDES_FAC",
                  formula="montant_aides_facultatives / aides_facultatives_accordees"),
    IndicatorSpec("depense_par_habitant", "Dépense d'action sociale par habitant", EFF, "EUR/hab",
                  BAND, Y, "OO3.2", "ADMIN", S(96, 0.025, 0.0, 1, 0.01), band=(85.0, 105.0),
                  decimals=1, source="Compte administratif"),
    # Processus internes
    IndicatorSpec("delai_instruction_asl", "Délai moyen d'instruction de l'aide sociale légale",
                  QUAL, "jours", LO, M, "OO4.1", "SOLIDARITE", S(36, -0.06, 0.08, 8, 0.06), 30, -0.03,
                  decimals=1, activity="A_ASL", weight=2.0),
    IndicatorSpec("dossiers_asl_instruits", "Dossiers d'aide sociale légale instruits", OUT, "dossiers",
                  HI, M, "OO4.1", "SOLIDARITE", S(74, 0.02, 0.1, 10, 0.07), 75, 0.02, scaled=True,
                  activity="A_ASL"),
    IndicatorSpec("delai_domiciliation", "Délai d'attribution d'une domiciliation", QUAL, "jours", LO,
                  M, "OO4.2", "SOLIDARITE", S(6.5, -0.05, 0.0, 1, 0.1), 5, decimals=1,
                  activity="A_DOMICILIATION"),
    IndicatorSpec("delai_premier_rdv_rsa", "Délai avant le premier rendez-vous RSA", QUAL, "jours", LO,
                  M, "OO4.2", "SOLIDARITE", S(22, -0.08, 0.1, 9, 0.07), 15, decimals=1,
                  activity="A_RSA"),
    IndicatorSpec("delai_reponse_aides", "Délai de réponse aux demandes d'aide facultative", QUAL,
                  "jours", LO, M, "OO4.1", "SOLIDARITE", S(9, -0.03, 0.1, 12, 0.08), 8, decimals=1,
                  activity="A_AIDES_FAC"),
    IndicatorSpec("actions_partenaires", "Actions menées avec les partenaires", OUT, "actions", HI, Q,
                  "OO4.3", "ADMIN", S(13, 0.1, 0.1, 10, 0.12), 15, 0.05),
    IndicatorSpec("taux_realisation_plan", "Taux de réalisation du plan d'actions de l'ABS", OUTC, "%",
                  HI, Q, "OO4.3", "ADMIN", S(35, 0.3, 0.0, 1, 0.04, 0, 100), 40, 0.3, decimals=1,
                  weight=2.0),
    # Apprentissage et organisation
    IndicatorSpec("etp_total", "Effectif en équivalents temps plein", RES, "ETP", BAND, Q, "OO5.1",
                  "ADMIN", S(70, 0.005, 0.0, 1, 0.01), band=(66.0, 74.0), scaled=True, decimals=1,
                  source="Ressources humaines"),
    IndicatorSpec("heures_formation_agent", "Heures de formation par agent", RES, "heures/agent", HI,
                  Q, "OO5.1", "ADMIN", S(4.2, 0.08, 0.2, 11, 0.1), 5, 0.05, decimals=1,
                  source="Ressources humaines"),
    IndicatorSpec("taux_absenteisme", "Taux d'absentéisme", RES, "%", LO, M, "OO5.1", "ADMIN",
                  S(8.6, -0.02, 0.15, 1, 0.08, 0, 100), 7.5, decimals=1, source="Ressources humaines"),
    IndicatorSpec("agents_formes_accueil", "Agents formés à l'accueil social inconditionnel", RES, "%",
                  HI, Y, "OO5.1", "ADMIN", S(40, 0.2, 0.0, 1, 0.03, 0, 100), 50, 0.2, decimals=1,
                  source="Ressources humaines"),
    IndicatorSpec("taux_rotation", "Taux de rotation du personnel", RES, "%", LO, Y, "OO5.1", "ADMIN",
                  S(11, -0.03, 0.0, 1, 0.05, 0, 100), 10, decimals=1, source="Ressources humaines"),
    IndicatorSpec("saisies_a_temps", "Indicateurs renseignés dans les délais", QUAL, "%", HI, M,
                  "OO5.2", "ADMIN", S(78, 0.06, 0.0, 1, 0.04, 0, 100), 90, decimals=1,
                  source="Pilotis"),
    IndicatorSpec("age_statistiques", "Ancienneté moyenne des statistiques territoriales", QUAL,
                  "années", LO, Y, "OO5.2", "ADMIN", S(4.0, 0.0, 0.0, 1, 0.05), 3, decimals=1,
                  source="Pilotis"),
]
