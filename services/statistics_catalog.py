"""The published variables Pilotis knows, by source, and how their columns are named.

INSEE puts the vintage in column names (``DISP_TP6019``, ``NBMEN19``: 2019); the CNAF does not
(its vintage comes from the file name or the command line). One catalogue serves the importer
and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    column: str  # as published; ``{yy}`` stands for the vintage's last two digits
    variable: str  # Pilotis's name
    label: str
    unit: str


CAF_SOURCE = "CNAF"
FILOSOFI_SOURCE = "INSEE Filosofi"
CENSUS_SOURCE = "INSEE RP"

CAF_IRIS = [
    Variable("A", "caf_allocataires", "Allocataires", "allocataires"),
    Variable("PERCOU", "caf_personnes_couvertes", "Personnes couvertes", "personnes"),
    Variable("AM", "caf_monoparents", "Allocataires monoparents", "allocataires"),
    Variable("AC3ENF", "caf_couples_3_enfants", "Couples avec 3 enfants ou plus", "allocataires"),
    Variable(
        "A_NETUD_24",
        "caf_jeunes_non_etudiants",
        "Allocataires de moins de 25 ans non étudiants",
        "allocataires",
    ),
    Variable("AAL", "caf_aide_logement", "Allocataires d'une aide au logement", "allocataires"),
    Variable("AAAH", "caf_aah", "Allocataires de l'AAH", "allocataires"),
    Variable("APPA", "caf_prime_activite", "Allocataires de la prime d'activité", "allocataires"),
    Variable("ARSAS", "caf_rsa_socle", "Allocataires du RSA socle", "allocataires"),
]

FILOSOFI_IRIS = [
    Variable("DISP_TP60{yy}", "filo_taux_pauvrete_60", "Taux de pauvreté au seuil de 60 %", "%"),
    Variable("DISP_MED{yy}", "filo_mediane_uc", "Revenu disponible médian par unité de consommation", "EUR"),
    Variable("DISP_D1{yy}", "filo_d1", "1er décile du revenu disponible par UC", "EUR"),
    Variable("DISP_PPMINI{yy}", "filo_part_minima_sociaux", "Part des minima sociaux dans le revenu", "%"),
]

FILOSOFI_COMMUNE = [
    Variable("NBMEN{yy}", "filo_menages", "Ménages fiscaux", "ménages"),
    Variable("NBPERS{yy}", "filo_personnes", "Personnes des ménages fiscaux", "personnes"),
    Variable("Q2{yy}", "filo_mediane_uc", "Revenu disponible médian par unité de consommation", "EUR"),
    Variable("D1{yy}", "filo_d1", "1er décile du revenu disponible par UC", "EUR"),
    Variable("D9{yy}", "filo_d9", "9e décile du revenu disponible par UC", "EUR"),
    Variable("RD", "filo_rapport_d9_d1", "Rapport interdécile D9/D1", "ratio"),
    Variable(
        "PPSOC{yy}", "filo_part_prestations_sociales", "Part des prestations sociales dans le revenu", "%"
    ),
    Variable("PPMINI{yy}", "filo_part_minima_sociaux", "Part des minima sociaux dans le revenu", "%"),
    Variable(
        "PPLOGT{yy}", "filo_part_prestations_logement", "Part des prestations logement dans le revenu", "%"
    ),
    Variable(
        "PPFAM{yy}", "filo_part_prestations_familiales", "Part des prestations familiales dans le revenu", "%"
    ),
]

#: Census age groups: (variable, label, lowest age, highest age or None for "and over").
CENSUS_AGE_GROUPS: list[tuple[str, str, int, int | None]] = [
    ("pop_rp2021", "Population municipale", 0, None),
    ("pop_0_2", "Enfants de 0 à 2 ans", 0, 2),
    ("pop_3_5", "Enfants de 3 à 5 ans", 3, 5),
    ("pop_0_19", "Population de 0 à 19 ans", 0, 19),
    ("pop_15_24", "Population de 15 à 24 ans", 15, 24),
    ("pop_20_64", "Population de 20 à 64 ans", 20, 64),
    ("pop_60_74", "Population de 60 à 74 ans", 60, 74),
    ("pop_65p", "Population de 65 ans et plus", 65, None),
    ("pop_75p", "Population de 75 ans et plus", 75, None),
    ("pop_80p", "Population de 80 ans et plus", 80, None),
]

#: The census bases as INSEE publishes them (« base infracommunale » by IRIS and the communal
#: « évolution et structure de la population » and « couples, familles, ménages » bases): a
#: column is ``<P|C><yy>_<suffix>`` (``P21_POP80P``: persons aged 80 or more in 2021; ``C`` marks
#: the complementary exploitation of the families' files), and one file may hold several vintages
#: (the communal base gives 2021 and 2015). Counts are weighted estimates, not integers.
#: (prefix, suffix, variable, label, unit)
CENSUS_COLUMNS: list[tuple[str, str, str, str, str]] = [
    ("P", "POP", "population", "Population municipale", "personnes"),
    ("P", "POP0002", "pop_0_2", "Enfants de 0 à 2 ans", "personnes"),
    ("P", "POP0305", "pop_3_5", "Enfants de 3 à 5 ans", "personnes"),
    ("P", "POP0014", "pop_0_14", "Population de 0 à 14 ans", "personnes"),
    ("P", "POP0019", "pop_0_19", "Population de 0 à 19 ans", "personnes"),
    ("P", "POP1529", "pop_15_29", "Population de 15 à 29 ans", "personnes"),
    ("P", "POP2064", "pop_20_64", "Population de 20 à 64 ans", "personnes"),
    ("P", "POP6074", "pop_60_74", "Population de 60 à 74 ans", "personnes"),
    ("P", "POP6579", "pop_65_79", "Population de 65 à 79 ans", "personnes"),
    ("P", "POP65P", "pop_65p", "Population de 65 ans et plus", "personnes"),
    ("P", "POP75P", "pop_75p", "Population de 75 ans et plus", "personnes"),
    ("P", "POP7589", "pop_75_89", "Population de 75 à 89 ans", "personnes"),
    ("P", "POP80P", "pop_80p", "Population de 80 ans et plus", "personnes"),
    ("P", "POP90P", "pop_90p", "Population de 90 ans et plus", "personnes"),
    ("C", "MEN", "rp_menages", "Ménages", "ménages"),
    ("C", "MENPSEUL", "rp_menages_1_personne", "Ménages d'une personne", "ménages"),
    ("C", "FAM", "rp_familles", "Familles", "familles"),
    ("C", "FAMMONO", "rp_familles_monoparentales", "Familles monoparentales", "familles"),
]
#: Groups a file gives only as the sum of its columns (the communal base has 75-89 and 90+, no 75+):
#: (variable, label, suffixes added), used when the variable's own column is absent.
CENSUS_SUMS: list[tuple[str, str, tuple[str, ...]]] = [
    ("pop_75p", "Population de 75 ans et plus", ("POP7589", "POP90P")),
]
