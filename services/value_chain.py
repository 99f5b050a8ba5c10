"""The value chain, edited by the direction and the administrator: services and partners,
activities (yearly volumes, territories served), needs (sizing, qualitative evidence) and the
coverage links between activities and needs.

Every change goes through the ORM, so the audit trail records it field by field. Rows with a
version are edited at the version their form was read at (:func:`services.editing.apply_edit`);
rows without one (territories served, coverage links) move the version of the page's row
(:func:`services.editing.lock_version`), so a form read before someone else's save is stale.
Everything is checked before anything is written; a refusal is a :class:`SteeringError` naming
the form field concerned, in French.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from models import (
    Activity,
    ActivityDelivery,
    ActivityKind,
    ActivityNeedCoverage,
    ActivityVolume,
    CostAllocation,
    CostDriverQuantity,
    EvidenceKind,
    Indicator,
    Need,
    NeedObservation,
    PartnerType,
    PopulationGroup,
    ScenarioActivityResult,
    Service,
    ServiceKind,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
    objective_activities,
)
from models.enums import LABELS_FR
from scorecard.formula import FormulaError, parse_formula
from services.editing import apply_edit, lock_version
from services.needs import resize_needs
from services.nomenclatures import function_label, is_known_function
from services.numbers import format_number
from services.policy import Action, Principal, can
from services.steering import SteeringError

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CODE_RULE = "lettres, chiffres, point, tiret ou souligné, 64 caractères au plus"
#: Shares of an activity's output (territories served, explicit coverage shares) add up to 1 at
#: most; this much over is rounding of percentages typed with two decimals.
SHARE_TOLERANCE = 1e-6
#: ``staff_etp`` is ``Numeric(8, 2)``.
MAX_ETP = 100_000
#: Territories an activity may say it serves (the levels of a located offer).
SERVED_KINDS = (TerritoryKind.COMMUNE, TerritoryKind.QUARTIER, TerritoryKind.IRIS, TerritoryKind.QPV)


def _text(value: str | None) -> str | None:
    return " ".join((value or "").split()) or None


def _long_text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _code_from(name: str, taken: set[str], *, prefix: str = "", upper: bool = True) -> str:
    """A free code made from a name: ``Épicerie sociale`` -> ``EPICERIE_SOCIALE``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = prefix + (re.sub(r"[^A-Za-z0-9]+", "_", ascii_name).strip("_")[:40] or "X")
    base = base.upper() if upper else base.lower()
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


def _check_code(
    session: Session, model: Any, organisation_id: int, code: str, name: str, current: Any, **kw: Any
) -> str:
    taken = set(session.scalars(select(model.code).where(model.organisation_id == organisation_id)))
    code = code.strip()
    if not code:
        if current is not None:
            return str(current.code)
        return _code_from(name, taken, **kw)
    if not CODE.match(code):
        raise SteeringError(f"Code invalide : {CODE_RULE}.", "code")
    if code in taken and (current is None or code != current.code):
        raise SteeringError(f"Le code « {code} » est déjà pris dans votre organisation.", "code")
    return code


def _check_m57(code: str | None) -> str | None:
    code = (code or "").strip() or None
    if code is not None and not is_known_function("M57", code):
        raise SteeringError(f"Fonction M57 « {code} » inconnue de la nomenclature.", "m57_function")
    return code


def _require(principal: Principal, action: Action, obj: Any, what: str) -> None:
    if not can(principal, action, obj):
        raise SteeringError(f"Vos droits ne permettent pas de {what}.")


# -- services and partners --------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceInput:
    name: str
    kind: ServiceKind
    partner_type: PartnerType | None = None
    code: str = ""
    m57_function: str | None = None
    is_support: bool = False
    description: str | None = None


def _check_service(
    session: Session, principal: Principal, data: ServiceInput, current: Service | None
) -> dict[str, Any]:
    name = _text(data.name)
    if name is None:
        raise SteeringError("Le nom est obligatoire.", "name")
    if len(name) > 255:
        raise SteeringError("Nom : 255 caractères au plus.", "name")
    if data.kind is ServiceKind.PARTNER and data.partner_type is None:
        raise SteeringError(
            "Un partenaire a un type (CAF, Département, association…) : choisissez-le.", "partner_type"
        )
    if data.kind is ServiceKind.OWN and data.partner_type is not None:
        raise SteeringError(
            "Un service de l'organisation n'a pas de type de partenaire : choisissez « — ».", "partner_type"
        )
    if data.kind is ServiceKind.PARTNER and data.is_support:
        raise SteeringError(
            "Une fonction support est un service de l'organisation, pas un partenaire.", "is_support"
        )
    return {
        "code": _check_code(session, Service, principal.organisation_id, data.code, name, current),
        "name": name,
        "kind": data.kind,
        "partner_type": data.partner_type,
        "m57_function": _check_m57(data.m57_function),
        "is_support": bool(data.is_support),
        "description": _long_text(data.description),
    }


def create_service(session: Session, principal: Principal, data: ServiceInput) -> Service:
    _require(principal, Action.CREATE, Service(organisation_id=principal.organisation_id), "créer un service")
    service = Service(
        organisation_id=principal.organisation_id, **_check_service(session, principal, data, None)
    )
    session.add(service)
    session.flush()
    return service


def update_service(
    session: Session, principal: Principal, service: Service, data: ServiceInput, version: int
) -> bool:
    _require(principal, Action.EDIT, service, "modifier ce service")
    return apply_edit(session, service, version, _check_service(session, principal, data, service))


# -- activities -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActivityInput:
    service_id: int | None
    name: str
    output_unit: str
    code: str = ""
    description: str | None = None
    kind: ActivityKind = ActivityKind.OPTIONAL
    unit_cost: Decimal | None = None
    fixed_cost: Decimal = Decimal("0")
    capacity: float | None = None
    volume: float | None = None
    beneficiaries: int | None = None
    min_volume: float = 0.0
    staff_etp: Decimal = Decimal("0")
    m57_function: str | None = None


def _check_activity(
    session: Session, principal: Principal, data: ActivityInput, current: Activity | None
) -> dict[str, Any]:
    org = principal.organisation_id
    service = session.get(Service, data.service_id) if data.service_id is not None else None
    if service is None or service.organisation_id != org:
        raise SteeringError("Choisissez le service qui mène l'activité.", "service_id")
    name = _text(data.name)
    if name is None:
        raise SteeringError("Le nom est obligatoire.", "name")
    unit = _text(data.output_unit)
    if unit is None:
        raise SteeringError(
            "L'unité de production est obligatoire (repas livré, dossier instruit, heure d'aide…).",
            "output_unit",
        )
    if len(unit) > 64:
        raise SteeringError("Unité de production : 64 caractères au plus.", "output_unit")
    for value, label, field in (
        (data.unit_cost, "Le coût unitaire", "unit_cost"),
        (data.fixed_cost, "Le coût fixe", "fixed_cost"),
        (data.capacity, "La capacité", "capacity"),
        (data.volume, "Le volume annuel", "volume"),
        (data.beneficiaries, "Le nombre de bénéficiaires", "beneficiaries"),
        (data.min_volume, "Le volume minimum légal", "min_volume"),
        (data.staff_etp, "L'effectif (ETP)", "staff_etp"),
    ):
        if value is not None and value < 0:
            raise SteeringError(f"{label} ne peut pas être négatif.", field)
    if data.staff_etp >= MAX_ETP:
        raise SteeringError(f"L'effectif reste sous {format_number(MAX_ETP)} ETP.", "staff_etp")
    if data.capacity is not None and data.min_volume > data.capacity:
        raise SteeringError(
            f"Le volume minimum légal ({format_number(data.min_volume, None)}) dépasse la capacité "
            f"({format_number(data.capacity, None)}).",
            "min_volume",
        )
    return {
        "service_id": service.id,
        "code": _check_code(session, Activity, org, data.code, name, current, prefix="A_"),
        "name": name,
        "description": _long_text(data.description),
        "output_unit": unit,
        "kind": data.kind,
        "unit_cost": data.unit_cost,
        "fixed_cost": data.fixed_cost,
        "capacity": data.capacity,
        "volume": data.volume,
        "beneficiaries": data.beneficiaries,
        "min_volume": float(data.min_volume),
        "staff_etp": data.staff_etp,
        "m57_function": _check_m57(data.m57_function),
    }


def create_activity(session: Session, principal: Principal, data: ActivityInput) -> Activity:
    _require(
        principal, Action.CREATE, Activity(organisation_id=principal.organisation_id), "créer une activité"
    )
    activity = Activity(
        organisation_id=principal.organisation_id, **_check_activity(session, principal, data, None)
    )
    session.add(activity)
    session.flush()
    return activity


def update_activity(
    session: Session, principal: Principal, activity: Activity, data: ActivityInput, version: int
) -> bool:
    _require(principal, Action.EDIT, activity, "modifier cette activité")
    return apply_edit(session, activity, version, _check_activity(session, principal, data, activity))


@dataclass(frozen=True)
class VolumeInput:
    """One year of an activity's output. ``version`` None: a new year; ``delete``: take it away."""

    year: int
    planned: float | None
    actual: float | None
    version: int | None = None
    delete: bool = False


def save_volumes(
    session: Session, principal: Principal, activity: Activity, rows: Sequence[VolumeInput]
) -> int:
    """Write the yearly volumes of the form (every row checked first); how many rows changed."""
    _require(principal, Action.EDIT, activity, "modifier cette activité")
    existing = {v.year: v for v in activity.volumes}
    seen: set[int] = set()
    for row in rows:
        if not 1990 <= row.year <= 2200:
            raise SteeringError(f"Année {row.year} invraisemblable : de 1990 à 2200.", "volumes")
        if row.year in seen:
            raise SteeringError(f"L'année {row.year} figure deux fois.", "volumes")
        seen.add(row.year)
        for value, label in ((row.planned, "prévu"), (row.actual, "réalisé")):
            if value is not None and value < 0:
                raise SteeringError(f"{row.year} : le volume {label} ne peut pas être négatif.", "volumes")
        current = existing.get(row.year)
        if row.version is None and current is not None:
            raise SteeringError(
                f"L'année {row.year} a déjà ses volumes : modifiez sa ligne plutôt que d'en ajouter une.",
                "volumes",
            )
    changed = 0
    for row in rows:
        current = existing.get(row.year)
        if current is None:
            if row.delete or (row.planned is None and row.actual is None):
                continue
            activity.volumes.append(
                ActivityVolume(
                    year=row.year, planned_volume=row.planned, actual_volume=row.actual, source="saisie"
                )
            )
            changed += 1
            continue
        expected = -1 if row.version is None else row.version  # None was refused above
        if row.delete:
            lock_version(session, current, expected, ["planned_volume", "actual_volume"])
            _remove(session, activity.volumes, current)
            changed += 1
            continue
        values: dict[str, Any] = {"planned_volume": row.planned, "actual_volume": row.actual}
        if row.actual != current.actual_volume:
            values["source"] = "saisie"
        changed += apply_edit(session, current, expected, values)
    session.flush()
    return changed


@dataclass(frozen=True)
class DeliveryInput:
    territory_id: int
    share: float


def save_deliveries(
    session: Session,
    principal: Principal,
    activity: Activity,
    version: int,
    rows: Sequence[DeliveryInput] | None,
) -> bool:
    """Where the activity is delivered: ``None`` everywhere, else the territories with their share
    of its output (each in ]0, 1], together at most 1: the rest is delivered nowhere counted)."""
    _require(principal, Action.EDIT, activity, "modifier cette activité")
    wanted: dict[int, float] = {}
    for row in rows or ():
        territory = session.get(Territory, row.territory_id)
        if territory is None or territory.organisation_id != principal.organisation_id:
            raise SteeringError(
                f"Territoire n° {row.territory_id} inconnu dans votre organisation.", "deliveries"
            )
        if territory.kind not in SERVED_KINDS:
            raise SteeringError(
                f"{territory.name} : une activité est desservie par commune, quartier ou IRIS "
                "(« tout le territoire » pour l'ensemble).",
                "deliveries",
            )
        if territory.id in wanted:
            raise SteeringError(f"{territory.name} figure deux fois.", "deliveries")
        if not 0 < row.share <= 1:
            raise SteeringError(
                f"{territory.name} : la part est comprise entre 0 (exclu) et 100\u00a0%.", "deliveries"
            )
        wanted[territory.id] = float(row.share)
    if rows is not None and not wanted:
        raise SteeringError(
            "Indiquez au moins un territoire et sa part, ou choisissez « tout le territoire ».", "deliveries"
        )
    total = sum(wanted.values())
    if total > 1 + SHARE_TOLERANCE:
        raise SteeringError(
            f"Les parts font {_percent(total)} : une activité ne livre pas plus de 100\u00a0% de sa "
            "production. Réduisez-les.",
            "deliveries",
        )
    current = {d.territory_id: d for d in activity.deliveries}
    if set(current) == set(wanted) and all(abs(current[t].share - s) < 1e-12 for t, s in wanted.items()):
        if activity.version != version:
            lock_version(session, activity, version, ["name"])  # raises: a stale form, even unchanged
        return False
    lock_version(session, activity, version, ["name"])
    for territory_id, delivery in current.items():
        if territory_id not in wanted:
            _remove(session, activity.deliveries, delivery)
        elif abs(delivery.share - wanted[territory_id]) >= 1e-12:
            delivery.share = wanted[territory_id]
    for territory_id, share in wanted.items():
        if territory_id not in current:
            activity.deliveries.append(ActivityDelivery(territory_id=territory_id, share=share))
    session.flush()
    return True


def _remove(session: Session, collection: list[Any], row: Any) -> None:
    """Delete a child row explicitly: the journal sees ``session.delete``, not a delete-orphan
    cascade found during the flush."""
    collection.remove(row)
    session.delete(row)


def _percent(share: float) -> str:
    return f"{share * 100:.2f}".replace(".", ",").removesuffix(",00") + "\u00a0%"


def has_history(session: Session, activity: Activity) -> list[str]:
    """What would be lost by deleting the activity (volumes, indicators, costs…), in French."""
    ident = activity.id
    checks = (
        (select(ActivityVolume.id).where(ActivityVolume.activity_id == ident), "des volumes annuels"),
        (select(Indicator.id).where(Indicator.activity_id == ident), "des indicateurs"),
        (select(CostAllocation.activity_id).where(CostAllocation.activity_id == ident), "des coûts imputés"),
        (
            select(CostDriverQuantity.activity_id).where(CostDriverQuantity.activity_id == ident),
            "des inducteurs de coût",
        ),
        (
            select(ScenarioActivityResult.activity_id).where(ScenarioActivityResult.activity_id == ident),
            "des scénarios budgétaires",
        ),
        (
            select(objective_activities.c.activity_id).where(objective_activities.c.activity_id == ident),
            "des objectifs",
        ),
    )
    return [label for query, label in checks if session.scalar(select(exists(query)))]


def archive_activity(
    session: Session, principal: Principal, activity: Activity, version: int, *, now: datetime
) -> str:
    """Retire the activity: archived (``"archived"``) when it has history, else deleted (``"deleted"``)."""
    _require(principal, Action.EDIT, activity, "retirer cette activité")
    if activity.archived_at is not None:
        raise SteeringError("Cette activité est déjà archivée.")
    if has_history(session, activity):
        apply_edit(session, activity, version, {"archived_at": now})
        return "archived"
    lock_version(session, activity, version, ["name"])
    session.delete(activity)
    session.flush()
    return "deleted"


def restore_activity(session: Session, principal: Principal, activity: Activity, version: int) -> bool:
    _require(principal, Action.EDIT, activity, "rétablir cette activité")
    return apply_edit(session, activity, version, {"archived_at": None})


# -- needs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NeedInput:
    label: str
    population_group_id: int | None
    territory_id: int | None
    unit: str
    #: ``"formula"``: sized from the statistics by ``sizing_formula``; ``"manual"``: ``size`` as of
    #: ``size_as_of``, with its ``source``.
    sizing: str
    sizing_formula: str | None = None
    size: float | None = None
    size_as_of: date | None = None
    source: str | None = None
    evidence_note: str | None = None
    code: str = ""
    description: str | None = None
    public_description: str | None = None
    #: A standard public not yet held (``personnes_agees``): created with the need.
    new_group: tuple[str, str] | None = None


def held_variables(session: Session, organisation_id: int) -> set[str]:
    """The statistics' variables the organisation holds: what a sizing formula may read."""
    return set(
        session.scalars(
            select(TerritoryStatistic.variable)
            .where(TerritoryStatistic.organisation_id == organisation_id)
            .distinct()
        )
    )


def _check_need(
    session: Session, principal: Principal, data: NeedInput, current: Need | None, *, today: date
) -> dict[str, Any]:
    org = principal.organisation_id
    label = _text(data.label)
    if label is None:
        raise SteeringError("L'intitulé est obligatoire.", "label")
    group = session.get(PopulationGroup, data.population_group_id) if data.population_group_id else None
    if data.new_group is None and (group is None or group.organisation_id != org):
        raise SteeringError("Choisissez le public concerné.", "population_group_id")
    territory = session.get(Territory, data.territory_id) if data.territory_id is not None else None
    if territory is None or territory.organisation_id != org:
        raise SteeringError("Choisissez le territoire du besoin.", "territory_id")
    unit = _text(data.unit)
    if unit is None:
        raise SteeringError("L'unité est obligatoire (personnes, ménages, allocataires…).", "unit")
    if len(unit) > 32:
        raise SteeringError("Unité : 32 caractères au plus.", "unit")
    values: dict[str, Any] = {
        "code": _check_code(session, Need, org, data.code, label, current),
        "label": label,
        "description": _long_text(data.description),
        "public_description": _long_text(data.public_description),
        "population_group_id": group.id if group is not None else None,
        "territory_id": territory.id,
        "unit": unit,
    }
    if data.sizing == "formula":
        formula = (data.sizing_formula or "").strip()
        if not formula:
            raise SteeringError(
                "Écrivez la formule qui dimensionne le besoin (ex. pop_80p * 0,4), ou choisissez un "
                "effectif saisi.",
                "sizing_formula",
            )
        try:
            parsed = parse_formula(formula)
        except FormulaError as exc:
            raise SteeringError(f"Formule refusée : {exc}.", "sizing_formula") from None
        unknown = sorted(set(parsed.codes) - held_variables(session, org))
        if unknown:
            raise SteeringError(
                f"Variable(s) statistique(s) que l'organisation ne détient pas : {', '.join(unknown)}. "
                "Importez la statistique ou corrigez la formule.",
                "sizing_formula",
            )
        values["sizing_formula"] = formula
        if current is None or current.sizing_formula != formula:
            values |= {"size": None, "size_as_of": None, "vintage": None}
    elif data.sizing == "manual":
        if data.size is None:
            raise SteeringError("Saisissez l'effectif du besoin.", "size")
        if data.size < 0:
            raise SteeringError("L'effectif ne peut pas être négatif.", "size")
        if data.size_as_of is None:
            raise SteeringError("Indiquez la date de l'effectif saisi.", "size_as_of")
        if data.size_as_of > today:
            raise SteeringError(
                f"La date de l'effectif ({data.size_as_of:%d/%m/%Y}) est dans le futur.", "size_as_of"
            )
        source = _text(data.source)
        if source is None:
            raise SteeringError(
                "Un effectif saisi a sa source (comptage du CCAS, chiffre d'un partenaire, enquête…).",
                "source",
            )
        if len(source) > 128:
            raise SteeringError("Source : 128 caractères au plus.", "source")
        values |= {
            "sizing_formula": None,
            "size": float(data.size),
            "size_as_of": data.size_as_of,
            "source": source,
            "evidence_note": _long_text(data.evidence_note),
            "vintage": None,
        }
    else:
        raise SteeringError("Choisissez comment le besoin est dimensionné.", "sizing")
    return values


def _new_group(session: Session, organisation_id: int, wanted: tuple[str, str]) -> PopulationGroup:
    code, name = wanted
    found = session.scalar(
        select(PopulationGroup).where(
            PopulationGroup.organisation_id == organisation_id, PopulationGroup.code == code
        )
    )
    if found is None:
        found = PopulationGroup(organisation_id=organisation_id, code=code, name=name)
        session.add(found)
        session.flush()
    return found


def _after_sizing(session: Session, need: Need) -> None:
    """A need sized by a formula is sized now; a hand-sized one keeps no statistic as its size."""
    if need.sizing_formula:
        resize_needs(session, need.organisation_id)
    else:
        for evidence in [e for e in need.evidence if e.role == "size"]:
            _remove(session, need.evidence, evidence)
        session.flush()


def create_need(session: Session, principal: Principal, data: NeedInput, *, today: date) -> Need:
    _require(principal, Action.CREATE, Need(organisation_id=principal.organisation_id), "créer un besoin")
    values = _check_need(session, principal, data, None, today=today)
    if data.new_group is not None:
        values["population_group_id"] = _new_group(session, principal.organisation_id, data.new_group).id
    need = Need(organisation_id=principal.organisation_id, **values)
    session.add(need)
    session.flush()
    _after_sizing(session, need)
    return need


def update_need(
    session: Session, principal: Principal, need: Need, data: NeedInput, version: int, *, today: date
) -> bool:
    _require(principal, Action.EDIT, need, "modifier ce besoin")
    values = _check_need(session, principal, data, need, today=today)
    if data.new_group is not None:
        if need.version != version:
            lock_version(session, need, version, ["label", "size"])  # raises before creating the public
        values["population_group_id"] = _new_group(session, principal.organisation_id, data.new_group).id
    changed = apply_edit(session, need, version, values)
    if changed:
        _after_sizing(session, need)
    return changed


# -- qualitative evidence ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ObservationInput:
    kind: EvidenceKind
    observed_on: date | None
    source: str
    summary: str


def _check_observation(data: ObservationInput, *, today: date) -> dict[str, Any]:
    if data.observed_on is None:
        raise SteeringError("Indiquez la date du recueil.", "observed_on")
    if data.observed_on > today:
        raise SteeringError(f"La date ({data.observed_on:%d/%m/%Y}) est dans le futur.", "observed_on")
    source = _text(data.source)
    if source is None:
        raise SteeringError(
            "Indiquez qui a été entendu ou qui a écrit (un partenaire, un groupe d'habitants).", "source"
        )
    if len(source) > 200:
        raise SteeringError("Source : 200 caractères au plus.", "source")
    summary = _long_text(data.summary)
    if summary is None:
        raise SteeringError("Résumez ce qui a été dit ou observé.", "summary")
    return {"kind": data.kind, "observed_on": data.observed_on, "source": source, "summary": summary}


def add_observation(
    session: Session, principal: Principal, need: Need, data: ObservationInput, *, today: date
) -> NeedObservation:
    _require(principal, Action.EDIT, need, "compléter ce besoin")
    observation = NeedObservation(
        need_id=need.id, created_by_id=principal.user_id or None, **_check_observation(data, today=today)
    )
    need.observations.append(observation)
    session.flush()
    return observation


def update_observation(
    session: Session,
    principal: Principal,
    observation: NeedObservation,
    data: ObservationInput,
    version: int,
    *,
    today: date,
) -> bool:
    _require(principal, Action.EDIT, observation.need, "modifier ce besoin")
    return apply_edit(session, observation, version, _check_observation(data, today=today))


def delete_observation(
    session: Session, principal: Principal, observation: NeedObservation, version: int
) -> None:
    _require(principal, Action.EDIT, observation.need, "modifier ce besoin")
    lock_version(session, observation, version, ["source", "summary"])
    _remove(session, observation.need.observations, observation)
    session.flush()


# -- coverage links ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageInput:
    coefficient: float
    #: Explicit share of the activity's output given to the need (0-1); None: pro rata.
    share: float | None = None
    note: str | None = None


def set_coverage(
    session: Session,
    principal: Principal,
    activity: Activity,
    need: Need,
    data: CoverageInput,
    *,
    page: Activity | Need,
    version: int,
) -> bool:
    """Create or change the link ``activity -> need``, from the page of ``page`` read at ``version``.

    Both rows' versions move on, so a form of the link read on either page before is stale.
    """
    _check_link_rights(principal, activity, need)
    if data.coefficient < 0:
        raise SteeringError("Le coefficient ne peut pas être négatif.", "coefficient")
    if data.share is not None and not 0 <= data.share <= 1:
        raise SteeringError("La part est comprise entre 0 et 100\u00a0%.", "share")
    link = session.get(ActivityNeedCoverage, (activity.id, need.id))
    others = session.scalar(
        select(func.coalesce(func.sum(ActivityNeedCoverage.share), 0.0)).where(
            ActivityNeedCoverage.activity_id == activity.id,
            ActivityNeedCoverage.need_id != need.id,
            ActivityNeedCoverage.share.is_not(None),
        )
    )
    if data.share is not None and float(others or 0) + data.share > 1 + SHARE_TOLERANCE:
        raise SteeringError(
            f"Les parts explicites de « {activity.name} » feraient {_percent(float(others or 0) + data.share)} "
            f"(dont {_percent(float(others or 0))} pour ses autres besoins) : plus que toute sa "
            "production. Laissez la part vide (au prorata) ou réduisez-la.",
            "share",
        )
    note = _long_text(data.note)
    values = {"coefficient": float(data.coefficient), "share": data.share, "note": note}
    if link is not None and all(getattr(link, k) == v for k, v in values.items()):
        if page.version != version:
            lock_version(session, page, version, _page_fields(page))
        return False
    _lock_both(session, activity, need, page, version)
    if link is None:
        session.add(ActivityNeedCoverage(activity_id=activity.id, need_id=need.id, **values))
    else:
        for key, value in values.items():
            setattr(link, key, value)
    session.flush()
    return True


def remove_coverage(
    session: Session,
    principal: Principal,
    activity: Activity,
    need: Need,
    *,
    page: Activity | Need,
    version: int,
) -> bool:
    _check_link_rights(principal, activity, need)
    link = session.get(ActivityNeedCoverage, (activity.id, need.id))
    if link is None:
        return False
    _lock_both(session, activity, need, page, version)
    session.delete(link)
    session.flush()
    return True


def _check_link_rights(principal: Principal, activity: Activity, need: Need) -> None:
    if activity.organisation_id != need.organisation_id:
        raise SteeringError("Ce besoin et cette activité ne sont pas de la même organisation.")
    _require(principal, Action.EDIT, activity, "modifier les couvertures de cette activité")
    _require(principal, Action.EDIT, need, "modifier les couvertures de ce besoin")


def _page_fields(page: Activity | Need) -> list[str]:
    return ["name"] if isinstance(page, Activity) else ["label"]


def _lock_both(session: Session, activity: Activity, need: Need, page: Activity | Need, version: int) -> None:
    lock_version(session, page, version, _page_fields(page))
    other: Activity | Need = need if page is activity else activity
    lock_version(session, other, other.version, _page_fields(other))


# -- choices for the forms ----------------------------------------------------------------------------
def served_territories(session: Session, organisation_id: int) -> list[Territory]:
    """The territories an activity may serve: communes, then quartiers and IRIS, by name."""
    rows = session.scalars(
        select(Territory).where(
            Territory.organisation_id == organisation_id, Territory.kind.in_(SERVED_KINDS)
        )
    ).all()
    order = {kind: i for i, kind in enumerate(SERVED_KINDS)}
    return sorted(rows, key=lambda t: (order[t.kind], t.name, t.code))


def m57_label(code: str | None) -> str | None:
    return function_label("M57", code) if code else None


def kind_label(kind: Any) -> str:
    return LABELS_FR.get(kind, str(kind))
