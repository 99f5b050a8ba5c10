"""The sheets of the organisation's model workbook: their columns, and how a cell is read.

Each sheet is keyed by codes (an activity's row names its service by the service's code), so a
workbook can be filled by hand or copied from an organisation's own spreadsheets. Columns are
found by their header (French), in any order; a column left out of the workbook leaves that
field as it is in Pilotis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from models.enums import (
    LABELS_FR,
    Direction,
    Frequency,
    IndicatorType,
    PartnerType,
    Perspective,
    ServiceKind,
    ThresholdMode,
)
from services.numbers import NumberError, parse_french_number
from services.workbooks import WorkbookError

#: A code of a service, an activity, a need, a public or an objective (the objectives' rule).
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The largest whole number a column holds (INTEGER: 32 bits on PostgreSQL).
MAX_INT = 2**31 - 1
YES, NO = "oui", "non"
TRUE_WORDS = frozenset({"oui", "o", "vrai", "x", "1", "yes"})
FALSE_WORDS = frozenset({"non", "n", "faux", "0", "no", ""})

#: The models' French labels (one place: models.enums.LABELS_FR), as the workbook writes them.
SERVICE_KINDS = {kind: LABELS_FR[kind] for kind in ServiceKind}
PARTNER_TYPES = {kind: LABELS_FR[kind] for kind in PartnerType}
PERSPECTIVES = {
    Perspective.USERS: "Usagers et citoyens",
    Perspective.FINANCE: "Finances",
    Perspective.PROCESSES: "Processus internes",
    Perspective.LEARNING: "Apprentissage et organisation",
}
INDICATOR_TYPES = {
    IndicatorType.RESOURCE: "Ressource",
    IndicatorType.OUTPUT: "Activité / réalisation",
    IndicatorType.OUTCOME: "Effet / impact",
    IndicatorType.QUALITY: "Qualité / satisfaction",
    IndicatorType.EFFICIENCY: "Efficience",
}
DIRECTIONS = {
    Direction.HIGHER_IS_BETTER: "Plus haut est mieux",
    Direction.LOWER_IS_BETTER: "Plus bas est mieux",
    Direction.WITHIN_BAND: "Dans une fourchette",
}
FREQUENCIES = {
    Frequency.MONTHLY: "Mensuelle",
    Frequency.QUARTERLY: "Trimestrielle",
    Frequency.YEARLY: "Annuelle",
}
THRESHOLD_MODES = {ThresholdMode.RELATIVE: "Relatifs (%)", ThresholdMode.ABSOLUTE: "Absolus"}
OBJECTIVE_STATUSES = {"active": "Actif", "closed": "Clos"}


class CellError(WorkbookError):
    """A cell that cannot be read; the message says why, in French (located by the importer)."""


@dataclass(frozen=True)
class Col:
    """A column: its header, how its cells are read, and whether a row must fill it."""

    header: str
    kind: str = "text"  # text, code, number, money, int, percent, date, bool, choice, list
    required: bool = False
    choices: dict[Any, str] = field(default_factory=dict)
    max_length: int = 255
    width: int = 18
    #: Shown in the « Lisez-moi » sheet.
    help: str = ""
    #: Read-only column: written for the reader, ignored on import.
    informative: bool = False

    def read(self, raw: Any) -> Any:
        """The cell's value as Pilotis stores it (None for an empty cell), or :class:`CellError`."""
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            if self.kind == "bool":
                return False
            if self.kind == "list":
                return ()
            return None
        if self.kind in ("text", "code"):
            if isinstance(raw, (datetime, date)):
                raise CellError("une date n'est pas attendue ici")
            text = _text(raw)
            if len(text) > self.max_length:
                raise CellError(f"texte trop long ({len(text)} caractères ; {self.max_length} au plus)")
            if self.kind == "code" and not CODE.match(text):
                raise CellError(
                    f"code « {text[:40]} » invalide : lettres, chiffres, point, tiret ou souligné, sans espace"
                )
            return text
        if self.kind in ("number", "money", "int", "percent"):
            if isinstance(raw, (datetime, date)):
                raise CellError("une date n'est pas un nombre")
            try:
                number = parse_french_number(raw)
            except NumberError as exc:
                raise CellError(str(exc)) from None
            if self.kind == "int":
                if number != int(number):
                    raise CellError(f"« {_text(raw)} » : un nombre entier est attendu")
                if abs(number) > MAX_INT:  # the database's INTEGER (PostgreSQL: 32 bits)
                    raise CellError(f"« {_text(raw)} » : nombre entier trop grand (2 147 483 647 au plus)")
                return int(number)
            if self.kind == "money":
                return Decimal(str(round(number, 2)))
            if self.kind == "percent":
                return round(number / 100, 10)
            return number
        if self.kind == "date":
            if isinstance(raw, datetime):
                return raw.date()
            if isinstance(raw, date):
                return raw
            try:
                return datetime.strptime(_text(raw), "%d/%m/%Y").date()  # noqa: DTZ007 - a calendar date
            except ValueError:
                raise CellError(f"« {_text(raw)} » n'est pas une date (JJ/MM/AAAA)") from None
        if self.kind == "bool":
            word = _text(raw).lower() if not isinstance(raw, bool) else (YES if raw else NO)
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise CellError(f"« {word[:20]} » : répondez « oui » ou « non »")
        if self.kind == "choice":
            wanted = _text(raw).casefold()
            for value, label in self.choices.items():
                stored = value.value if isinstance(value, Enum) else str(value)
                if wanted in (label.casefold(), stored.casefold()):
                    return value
            raise CellError(
                f"« {_text(raw)[:40]} » n'est pas dans la liste : {', '.join(self.choices.values())}"
            )
        if self.kind == "list":
            codes = [part.strip() for part in re.split(r"[,;\n]", _text(raw)) if part.strip()]
            for code in codes:
                if not CODE.match(code):
                    raise CellError(
                        f"code « {code[:40]} » invalide dans la liste (séparez les codes par des virgules)"
                    )
            return tuple(dict.fromkeys(codes))
        raise AssertionError(self.kind)  # pragma: no cover

    def write(self, value: Any) -> Any:
        """The value as the workbook shows it (the inverse of :meth:`read`)."""
        if value is None:
            return None
        if self.kind == "bool":
            return YES if value else NO
        if self.kind == "choice":
            return self.choices.get(value, str(value))
        if self.kind == "list":
            return ", ".join(value)
        if self.kind == "percent":
            return round(float(value) * 100, 8)
        if self.kind == "money":
            return float(value)
        return value


def _text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


@dataclass(frozen=True)
class Sheet:
    name: str
    key: tuple[str, ...]
    columns: tuple[Col, ...]
    purpose: str
    #: Whether a « Supprimer » column removes rows (detail rows only; see the README).
    deletable: bool = False

    def column(self, header: str) -> Col:
        return next(c for c in self.columns if c.header == header)

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


DELETE = Col(
    "Supprimer", "bool", width=11, help="« oui » retire la ligne de Pilotis ; vide ou « non » : gardée."
)

PUBLICS = Sheet(
    "Publics",
    ("Code",),
    (
        Col("Code", "code", required=True, width=20),
        Col("Nom", required=True, width=40),
        Col("Code public parent", "code", width=20, help="Un public plus large (familles pour monoparents)."),
    ),
    "Les publics de l'action sociale, auxquels se rattachent les besoins.",
)
SERVICES = Sheet(
    "Services",
    ("Code",),
    (
        Col("Code", "code", required=True, width=20),
        Col("Nom", required=True, width=40),
        Col(
            "Type", "choice", choices=SERVICE_KINDS, width=26, help="Service de l'organisation ou partenaire."
        ),
        Col(
            "Type de partenaire",
            "choice",
            choices=PARTNER_TYPES,
            width=20,
            help="Obligatoire pour un partenaire.",
        ),
        Col("Fonction support", "bool", width=12, help="« oui » : ses coûts sont répartis sur les autres."),
        Col("Fonction M57", max_length=10, width=12),
        Col("Description", max_length=4000, width=40),
    ),
    "Les services de l'organisation et ceux des partenaires.",
)
ACTIVITIES = Sheet(
    "Activités",
    ("Code",),
    (
        Col("Code", "code", required=True, width=20),
        Col("Nom", required=True, width=36),
        Col("Code service", "code", required=True, width=18),
        Col(
            "Unité de production",
            max_length=64,
            width=18,
            help="repas livré, dossier instruit, heure d'aide…",
        ),
        Col("Coût unitaire (€)", "money", width=14),
        Col("Coût fixe (€)", "money", width=14),
        Col("Capacité", "number", width=12),
        Col(
            "Volume annuel",
            "number",
            width=12,
            help="Le volume courant ; par année : feuille « Volumes annuels ».",
        ),
        Col("Bénéficiaires", "int", width=12),
        Col(
            "Volume minimum légal", "number", width=14, help="Imposé par la loi ou une convention (0 sinon)."
        ),
        Col("ETP", "number", width=8),
        Col("Fonction M57", max_length=10, width=12),
        Col("Obligatoire", "bool", width=11, help="« oui » : mission imposée par la loi."),
        Col("Code territoire", max_length=30, width=16, help="Territoire principal (facultatif)."),
        Col("Archivée", "bool", width=10, help="« oui » : retirée de l'offre, son historique reste."),
        Col("Description", max_length=4000, width=40),
    ),
    "Ce que font les services : unité de production, coûts, capacité, personnel.",
)
VOLUMES = Sheet(
    "Volumes annuels",
    ("Code activité", "Année"),
    (
        Col("Code activité", "code", required=True, width=20),
        Col("Année", "int", required=True, width=8),
        Col("Volume prévu", "number", width=14),
        Col("Volume réalisé", "number", width=14),
        Col("Source", max_length=64, width=16, help="saisie, import, ou indicateur:<code>."),
        DELETE,
    ),
    "Le volume prévu et réalisé de chaque activité, année par année.",
    deletable=True,
)
DELIVERIES = Sheet(
    "Territoires desservis",
    ("Code activité", "Code territoire"),
    (
        Col("Code activité", "code", required=True, width=20),
        Col(
            "Code territoire",
            required=True,
            max_length=30,
            width=16,
            help="Code INSEE de la commune ou de l'IRIS.",
        ),
        Col("Territoire", width=30, informative=True, help="Nom du territoire (lu seulement)."),
        Col("Part (%)", "percent", required=True, width=10, help="Les parts d'une activité font 100 %."),
        DELETE,
    ),
    "Où chaque activité est délivrée, avec la part de sa production ; sans ligne : partout.",
    deletable=True,
)
NEEDS = Sheet(
    "Besoins",
    ("Code",),
    (
        Col("Code", "code", required=True, width=20),
        Col("Intitulé", required=True, width=40),
        Col("Code public", "code", required=True, width=18),
        Col("Code territoire", required=True, max_length=30, width=16),
        Col("Unité", required=True, max_length=32, width=14, help="personnes, ménages, allocataires…"),
        Col("Effectif", "number", width=12, help="Calculé si une formule est donnée (ne pas saisir)."),
        Col(
            "Formule de dimensionnement",
            max_length=500,
            width=30,
            help="Sur les statistiques : pop_80p * 0,4.",
        ),
        Col("Source", max_length=128, width=20),
        Col("Millésime", "int", width=10),
        Col("Effectif au", "date", width=12, help="Date d'un effectif saisi (JJ/MM/AAAA)."),
        Col("Preuves", max_length=4000, width=30),
        Col("Priorité", "int", width=9, help="De 1 (faible) à 5 (très forte) : fixée par les élus."),
        Col("Description", max_length=4000, width=40),
    ),
    "Les besoins sociaux : un public sur un territoire, dimensionné, priorisé.",
)
COVERAGES = Sheet(
    "Couvertures",
    ("Code activité", "Code besoin"),
    (
        Col("Code activité", "code", required=True, width=20),
        Col("Code besoin", "code", required=True, width=20),
        Col(
            "Coefficient",
            "number",
            required=True,
            width=12,
            help="Besoin couvert par unité produite (0,004).",
        ),
        Col(
            "Part (%)",
            "percent",
            width=10,
            help="Part de la production donnée à ce besoin ; vide : au prorata.",
        ),
        Col("Note", max_length=4000, width=40),
        DELETE,
    ),
    "Quelle activité couvre quel besoin, et avec quel coefficient.",
    deletable=True,
)
OBJECTIVES = Sheet(
    "Objectifs",
    ("Code",),
    (
        Col("Code", "code", required=True, width=16),
        Col("Intitulé", required=True, max_length=300, width=40),
        Col("Code parent", "code", width=14, help="Vide : objectif stratégique."),
        Col("Perspective", "choice", choices=PERSPECTIVES, width=26),
        Col("Code service", "code", width=18, help="Obligatoire pour un objectif opérationnel."),
        Col("Responsable (courriel)", width=28),
        Col("Échéance", "date", width=12),
        Col("Poids", "number", width=8),
        Col("Besoins visés", "list", max_length=4000, width=24, help="Codes séparés par des virgules."),
        Col(
            "Activités mobilisées", "list", max_length=4000, width=24, help="Codes séparés par des virgules."
        ),
        Col("Statut", "choice", choices=OBJECTIVE_STATUSES, width=9, help="« Clos » clôture l'objectif."),
        Col("Description", max_length=4000, width=40),
    ),
    "L'arbre des objectifs, stratégiques et opérationnels.",
)
INDICATORS = Sheet(
    "Indicateurs",
    ("Code",),
    (
        Col("Code", "code", required=True, width=20, help="Minuscules, chiffres et _ (repas_livres)."),
        Col("Intitulé", required=True, max_length=300, width=40),
        Col("Type", "choice", choices=INDICATOR_TYPES, width=22),
        Col("Unité", max_length=32, width=12),
        Col("Sens", "choice", choices=DIRECTIONS, width=20),
        Col("Fréquence", "choice", choices=FREQUENCIES, width=14),
        Col("Perspective", "choice", choices=PERSPECTIVES, width=26),
        Col("Formule", max_length=500, width=26, help="Indicateur calculé : cout_portage / repas_livres."),
        Col("Décimales", "int", width=10),
        Col("Poids", "number", width=8),
        Col("Source", max_length=128, width=16),
        Col("Millésime", "int", width=10),
        Col("Valeur de référence", "number", width=14),
        Col("Période de référence", max_length=16, width=14),
        Col("Code service", "code", width=18),
        Col("Responsable (courriel)", width=28),
        Col("Code objectif", "code", width=14),
        Col("Code activité", "code", width=18),
        Col("Code besoin", "code", width=18),
        Col("Description", max_length=4000, width=40),
    ),
    "Les indicateurs du tableau de bord.",
)
TARGETS = Sheet(
    "Cibles",
    ("Code indicateur", "Période"),
    (
        Col("Code indicateur", "code", required=True, width=20),
        Col(
            "Période",
            required=True,
            max_length=16,
            width=10,
            help="2026-03, 2026-T1 ou 2026, selon la fréquence.",
        ),
        Col("Cible", "number", width=12),
        Col("Borne basse", "number", width=12, help="Indicateurs « dans une fourchette »."),
        Col("Borne haute", "number", width=12),
        Col("Seuils", "choice", choices=THRESHOLD_MODES, width=14),
        Col(
            "Seuil orange",
            "number",
            width=12,
            help="Relatifs : en % de la cible (5 = 5 %) ; absolus : dans l'unité.",
        ),
        Col("Seuil rouge", "number", width=12),
        DELETE,
    ),
    "Les cibles de chaque indicateur par période, avec leurs seuils orange et rouge.",
    deletable=True,
)

#: In the order they are read and written (what a row refers to comes before it).
SHEETS = (
    PUBLICS,
    SERVICES,
    ACTIVITIES,
    VOLUMES,
    DELIVERIES,
    NEEDS,
    COVERAGES,
    OBJECTIVES,
    INDICATORS,
    TARGETS,
)
README_SHEET = "Lisez-moi"
META_SHEET = "Pilotis"
FORMAT_VERSION = "1"
