"""Closed vocabularies of the domain (DOMAIN.md). Stored as their English values."""

from __future__ import annotations

import enum


class OrganisationKind(enum.StrEnum):
    CCAS = "ccas"
    CIAS = "cias"
    COMMUNE = "commune"
    EPCI = "epci"
    DEPARTEMENT = "departement"


class TerritoryKind(enum.StrEnum):
    FRANCE = "france"
    REGION = "region"
    DEPARTEMENT = "departement"
    EPCI = "epci"
    COMMUNE = "commune"
    QUARTIER = "quartier"
    IRIS = "iris"
    QPV = "qpv"


class ServiceKind(enum.StrEnum):
    OWN = "own"
    PARTNER = "partner"


class PartnerType(enum.StrEnum):
    """The partners of a shared diagnostic (CAF, Département, CPAM, MDPH…)."""

    CAF = "caf"
    DEPARTEMENT = "departement"
    CPAM = "cpam"
    MDPH = "mdph"
    CARSAT = "carsat"
    FRANCE_TRAVAIL = "france_travail"
    MISSION_LOCALE = "mission_locale"
    SOCIAL_LANDLORD = "social_landlord"  # bailleur social
    ASSOCIATION = "association"
    STATE = "state"
    COMMUNE = "commune"
    OTHER = "other"


class EvidenceKind(enum.StrEnum):
    """Qualitative evidence of a need, beside the statistics."""

    FOCUS_GROUP = "focus_group"
    INTERVIEW = "interview"
    PARTNER_NOTE = "partner_note"
    FIELD_OBSERVATION = "field_observation"
    OTHER = "other"


class ActivityKind(enum.StrEnum):
    """Whether the law imposes the activity (domiciliation, legal aid files) or not."""

    MANDATORY = "mandatory"
    OPTIONAL = "optional"


class ObjectiveLevel(enum.StrEnum):
    STRATEGIC = "strategic"
    OPERATIONAL = "operational"


class ObjectiveStatus(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class Perspective(enum.StrEnum):
    """The four perspectives of the public-sector balanced scorecard."""

    USERS = "users"  # usagers et citoyens
    FINANCE = "finance"  # finances
    PROCESSES = "processes"  # processus internes
    LEARNING = "learning"  # apprentissage et organisation


class IndicatorType(enum.StrEnum):
    RESOURCE = "resource"
    OUTPUT = "output"
    OUTCOME = "outcome"
    QUALITY = "quality"
    EFFICIENCY = "efficiency"


class Direction(enum.StrEnum):
    HIGHER_IS_BETTER = "higher"
    LOWER_IS_BETTER = "lower"
    WITHIN_BAND = "band"


class Frequency(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class PeriodKind(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class PeriodState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ThresholdMode(enum.StrEnum):
    """Red/amber tolerances as a share of the target, or in the indicator's own unit."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"


class MeasurementState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    RETURNED = "returned"


class CostKind(enum.StrEnum):
    BUDGET = "budget"
    ACTUAL = "actual"


class Nomenclature(enum.StrEnum):
    M57 = "M57"
    M14 = "M14"
    M22 = "M22"


class ScenarioState(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    SOLVED = "solved"
    INFEASIBLE = "infeasible"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PROPOSED = "proposed"
    ADOPTED = "adopted"


class Role(enum.StrEnum):
    ADMIN = "admin"  # administrateur
    DIRECTION = "direction"
    SERVICE_MANAGER = "service_manager"  # responsable de service
    FINANCE = "finance"  # finances
    ELECTED = "elected"  # élu·e
    READER = "reader"  # partenaire / lecteur


#: Labels shown in the interface. Members are ``StrEnum``: two members with the same value
#: (``PartnerType.COMMUNE`` and ``OrganisationKind.COMMUNE``) are one key, so they share a label.
LABELS_FR: dict[enum.Enum, str] = {
    OrganisationKind.CCAS: "CCAS",
    OrganisationKind.CIAS: "CIAS",
    OrganisationKind.COMMUNE: "Commune",
    OrganisationKind.EPCI: "Intercommunalité",
    OrganisationKind.DEPARTEMENT: "Département",
    Perspective.USERS: "Usagers et citoyens",
    Perspective.FINANCE: "Finances",
    Perspective.PROCESSES: "Processus internes",
    Perspective.LEARNING: "Apprentissage et organisation",
    Role.ADMIN: "Administrateur",
    Role.DIRECTION: "Direction",
    Role.SERVICE_MANAGER: "Responsable de service",
    Role.FINANCE: "Finances",
    Role.ELECTED: "Élu·e",
    Role.READER: "Partenaire / lecteur",
    ServiceKind.OWN: "Service de l'organisation",
    ServiceKind.PARTNER: "Partenaire",
    PartnerType.CAF: "CAF",
    PartnerType.DEPARTEMENT: "Département",
    PartnerType.CPAM: "CPAM",
    PartnerType.MDPH: "MDPH",
    PartnerType.CARSAT: "Carsat",
    PartnerType.FRANCE_TRAVAIL: "France Travail",
    PartnerType.MISSION_LOCALE: "Mission locale",
    PartnerType.SOCIAL_LANDLORD: "Bailleur social",
    PartnerType.ASSOCIATION: "Association",
    PartnerType.STATE: "État",
    PartnerType.COMMUNE: "Commune",
    PartnerType.OTHER: "Autre",
    EvidenceKind.FOCUS_GROUP: "Groupe de parole",
    EvidenceKind.INTERVIEW: "Entretien",
    EvidenceKind.PARTNER_NOTE: "Note d'un partenaire",
    EvidenceKind.FIELD_OBSERVATION: "Observation de terrain",
    EvidenceKind.OTHER: "Autre",
    ActivityKind.MANDATORY: "Mission obligatoire",
    ActivityKind.OPTIONAL: "Mission facultative",
}
