"""The audit trail: every change to a domain row, field by field, in the change's transaction.

An ``after_flush`` listener (new rows have their ids by then, and attribute history still holds
the old values) inserts :class:`~models.AuditEntry` rows through the same connection. Who acts
comes from :data:`current_actor`, set by the web request or the command line. Bulk UPDATEs
bypass the ORM and so the trail: audited tables are changed through the ORM only.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Mapper, RelationshipProperty, Session, sessionmaker
from sqlalchemy.orm.attributes import History

from models import (
    AuditEntry,
    Base,
    JobRun,
    LoginFailure,
    Notification,
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
    SurveyStart,
    Task,
    User,
)
from models.base import utcnow
from models.enums import LABELS_FR
from services.numbers import MAX_SHOWN, format_number

PARIS = ZoneInfo("Europe/Paris")

#: The id of the person acting (None: the system, e.g. the demo or a job).
current_actor: ContextVar[int | None] = ContextVar("pilotis_current_actor", default=None)

#: Anonymous answers (and the codes that let them in) are respondents' data, not management acts.
NOT_AUDITED = (
    AuditEntry,
    JobRun,
    LoginFailure,
    Notification,
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
    SurveyStart,
    Task,  # background tasks: bookkeeping, their effects are journaled by what they do
)
#: Bookkeeping columns whose change is not news (sign-in counters change at every sign-in).
SKIPPED_FIELDS = frozenset(
    {"created_at", "updated_at", "version", "last_login_at", "failed_logins", "locked_until"}
)
#: Secrets: the change is recorded, never the value.
MASKED_FIELDS = frozenset({"password_hash", "session_token"})
MASK = "••••••"


@contextmanager
def acting_as(user_id: int | None) -> Iterator[None]:
    token = current_actor.set(user_id)
    try:
        yield
    finally:
        current_actor.reset(token)


def render(value: Any) -> str | None:
    """A value as the journal shows it."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _row_id(obj: Base) -> str:
    """The primary key as text (``12``, or ``3/7`` for a link row); set by the flush already."""
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return "/".join(str(part) for part in key)


def _column_changes(obj: Base, mapper: Mapper[Any]) -> Iterator[tuple[str, str | None, str | None]]:
    state = inspect(obj)
    for attr in mapper.column_attrs:
        key = attr.key
        if key in SKIPPED_FIELDS:
            continue
        history: History = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if render(old) == render(new):
            continue
        if key in MASKED_FIELDS:
            yield key, MASK if old is not None else None, MASK
        else:
            yield key, render(old), render(new)


def _collection_changes(obj: Base, mapper: Mapper[Any]) -> Iterator[tuple[str, str | None, str | None]]:
    """Many-to-many links (a user's services, an objective's needs) as lists of ids."""
    state = inspect(obj)
    for rel in mapper.relationships:
        if rel.secondary is None or rel.viewonly:
            continue
        history = state.attrs[rel.key].history
        if not (history.added or history.deleted):
            continue
        now = sorted(_ids(history.unchanged) + _ids(history.added))
        before = sorted(_ids(history.unchanged) + _ids(history.deleted))
        if now != before:
            yield rel.key, json.dumps(before), json.dumps(now)


def _ids(objects: Any) -> list[int]:
    return [o.id for o in objects if getattr(o, "id", None) is not None]


def _snapshot(obj: Base, mapper: Mapper[Any]) -> str:
    values = {}
    for attr in mapper.column_attrs:
        if attr.key in SKIPPED_FIELDS:
            continue
        value = getattr(obj, attr.key)
        values[attr.key] = MASK if attr.key in MASKED_FIELDS and value else render(value)
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def _organisation_ids(session: Session, objects: list[Base]) -> dict[int, int | None]:
    """Each object's organisation: its own column, or that of the row it hangs from."""
    result: dict[int, int | None] = {}
    wanted: dict[type[Base], dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for obj in objects:
        if obj.__tablename__ == "organisations":
            result[id(obj)] = getattr(obj, "id", None)
            continue
        if hasattr(obj, "organisation_id"):
            result[id(obj)] = getattr(obj, "organisation_id", None)
            continue
        result[id(obj)] = None
        parent = _parent_link(inspect(obj).mapper)
        if parent is not None:
            column, target = parent
            fk_value = getattr(obj, column)
            if fk_value is not None:
                wanted[target][fk_value].append(id(obj))
    with session.no_autoflush:
        for target, by_id in wanted.items():
            rows = session.execute(
                select(target.id, target.organisation_id).where(target.id.in_(list(by_id)))  # type: ignore[attr-defined]
            )
            for parent_id, org_id in rows:
                for key in by_id[parent_id]:
                    result[key] = org_id
    return result


def _parent_link(mapper: Mapper[Any]) -> tuple[str, type[Base]] | None:
    for rel in mapper.relationships:
        if not isinstance(rel, RelationshipProperty) or rel.direction.name != "MANYTOONE":
            continue
        target = rel.mapper.class_
        if hasattr(target, "organisation_id"):
            local = next(iter(rel.local_columns))
            return mapper.get_property_by_column(local).key, target
    return None


def _after_flush(session: Session, _context: Any) -> None:
    actor = current_actor.get()
    now = utcnow()
    changes: list[tuple[Base, str, str | None, str | None, str | None]] = []
    for obj in session.new:
        if isinstance(obj, Base) and not isinstance(obj, NOT_AUDITED):
            changes.append((obj, "insert", None, None, _snapshot(obj, inspect(obj).mapper)))
    for obj in session.dirty:
        if not isinstance(obj, Base) or isinstance(obj, NOT_AUDITED) or not session.is_modified(obj):
            continue
        mapper = inspect(obj).mapper
        for field, old, new in [*_column_changes(obj, mapper), *_collection_changes(obj, mapper)]:
            changes.append((obj, "update", field, old, new))
    for obj in session.deleted:
        if isinstance(obj, Base) and not isinstance(obj, NOT_AUDITED):
            changes.append((obj, "delete", None, _snapshot(obj, inspect(obj).mapper), None))
    if not changes:
        return
    organisations = _organisation_ids(session, [c[0] for c in changes])
    rows = [
        {
            "organisation_id": organisations.get(id(obj)),
            "user_id": actor,
            "occurred_at": now,
            "action": action,
            "table_name": obj.__tablename__,
            "row_id": _row_id(obj),
            "field": field,
            "old_value": old,
            "new_value": new,
        }
        for obj, action, field, old, new in changes
    ]
    session.connection().execute(insert(AuditEntry), rows)


def install(factory: sessionmaker[Session]) -> None:
    """Record the audit trail of every session the factory makes (call once per factory).

    No ``event.contains`` guard: it keys on ``id()`` of the factory's class, which Python
    reuses once a factory is garbage-collected, and would then skip a new factory.
    """
    event.listen(factory, "after_flush", _after_flush)


# -- reading the journal -----------------------------------------------------------------
@dataclass(frozen=True)
class JournalLine:
    occurred_at: datetime
    user: str
    action: str
    table_name: str
    row_id: str
    field: str | None
    old_value: str | None
    new_value: str | None


TABLE_LABELS = {
    "organisations": "Organisation",
    "territories": "Territoire",
    "territory_statistics": "Statistique",
    "population_groups": "Public",
    "needs": "Besoin",
    "need_evidence": "Preuve d'un besoin",
    "services": "Service",
    "activities": "Activité",
    "activity_need_coverages": "Couverture d'un besoin",
    "activity_volumes": "Volume annuel d'une activité",
    "activity_deliveries": "Territoire desservi",
    "need_observations": "Preuve qualitative d'un besoin",
    "objectives": "Objectif",
    "objective_links": "Lien entre objectifs",
    "action_plans": "Fiche action",
    "action_milestones": "Jalon d'une action",
    "action_updates": "Suivi d'une action",
    "indicators": "Indicateur",
    "targets": "Cible",
    "periods": "Période",
    "measurements": "Mesure",
    "cost_lines": "Ligne budgétaire",
    "cost_allocations": "Ventilation",
    "scenarios": "Scénario",
    "reviews": "Revue",
    "users": "Compte",
    "accounting_functions": "Fonction comptable",
}
ACTION_LABELS = {"insert": "création", "update": "modification", "delete": "suppression"}


@dataclass(frozen=True)
class JournalFilter:
    organisation_id: int
    table_name: str | None = None
    row_id: str | None = None
    user_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


def journal(
    session: Session, criteria: JournalFilter, *, limit: int | None = 200, offset: int = 0
) -> list[JournalLine]:
    """The organisation's journal, newest first, filtered."""
    query = (
        select(AuditEntry, User.full_name, User.email)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(AuditEntry.organisation_id == criteria.organisation_id)
        .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    )
    if criteria.table_name:
        query = query.where(AuditEntry.table_name == criteria.table_name)
    if criteria.row_id:
        query = query.where(AuditEntry.row_id == criteria.row_id)
    if criteria.user_id:
        query = query.where(AuditEntry.user_id == criteria.user_id)
    if criteria.start:
        query = query.where(AuditEntry.occurred_at >= criteria.start)
    if criteria.end:
        query = query.where(AuditEntry.occurred_at < criteria.end)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [
        JournalLine(
            occurred_at=entry.occurred_at,
            user=f"{name} ({email})" if name else "système",
            action=entry.action,
            table_name=entry.table_name,
            row_id=entry.row_id,
            field=entry.field,
            old_value=entry.old_value,
            new_value=entry.new_value,
        )
        for entry, name, email in session.execute(query)
    ]


# -- presenting the journal: French labels and readable values (the stored rows stay as they are)
#: Column names as the pages call them; a column not listed reads as its name with spaces.
FIELD_LABELS = {
    "value": "Valeur",
    "comment": "Commentaire",
    "state": "État",
    "label": "Libellé",
    "name": "Nom",
    "code": "Code",
    "title": "Titre",
    "unit": "Unité",
    "direction": "Sens",
    "frequency": "Fréquence",
    "type": "Type",
    "perspective": "Perspective",
    "formula": "Formule",
    "decimals": "Décimales",
    "weight": "Poids",
    "source": "Source",
    "vintage": "Millésime",
    "size": "Effectif",
    "priority": "Priorité",
    "priority_weight": "Poids de priorité",
    "role": "Rôle",
    "email": "Adresse électronique",
    "full_name": "Nom complet",
    "is_active": "Actif",
    "is_secret": "Secret statistique",
    "variable": "Variable",
    "territory_id": "Territoire",
    "indicator_id": "Indicateur",
    "period_id": "Période",
    "service_id": "Service",
    "objective_id": "Objectif",
    "activity_id": "Activité",
    "need_id": "Besoin",
    "owner_id": "Responsable",
    "organisation_id": "Organisation",
    "entered_by_id": "Saisie par",
    "entered_at": "Saisie le",
    "submitted_at": "Soumise le",
    "validated_by_id": "Validée par",
    "validated_at": "Validée le",
    "band_low": "Bas de la bande",
    "band_high": "Haut de la bande",
    "amber_tolerance": "Tolérance orange",
    "red_tolerance": "Tolérance rouge",
    "threshold_mode": "Mode des seuils",
    "amount": "Montant",
    "planned_amount": "Montant prévu",
    "actual_amount": "Montant réalisé",
    "year": "Année",
    "deadline": "Échéance",
    "status": "Statut",
    "level": "Niveau",
    "kind": "Nature",
    "unit_cost": "Coût unitaire",
    "capacity": "Capacité",
    "password_hash": "Mot de passe",
    "session_token": "Jeton de session",
    "services": "Services",
    "needs": "Besoins",
    "activities": "Activités",
    "costing_method": "Méthode de calcul des coûts",
    "baseline_value": "Valeur de référence",
    "start_date": "Début",
    "end_date": "Fin",
    "closed_at": "Close le",
    "share": "Part",
    "population": "Population",
    "key": "Clé",
    "due_date": "Échéance",
    "progress": "Avancement (%)",
    "budget": "Budget",
    "partners": "Partenaires",
    "elected_id": "Élu·e référent·e",
    "done_on": "Réalisé le",
    "description": "Description",
    "indicators": "Indicateurs",
}
_ENUM_TEXT = {
    **{str(member.value): label for member, label in LABELS_FR.items()},
    "draft": "brouillon",
    "submitted": "soumise",
    "validated": "validée",
    "returned": "renvoyée",
    "open": "ouverte",
    "closed": "close",
    "direct": "directe",
    "step-down": "en cascade",
    "reciprocal": "réciproque",
    "higher_is_better": "plus haut = mieux",
    "lower_is_better": "plus bas = mieux",
    "within_band": "dans une bande",
    "monthly": "mensuelle",
    "quarterly": "trimestrielle",
    "yearly": "annuelle",
    "relative": "relatifs",
    "absolute": "absolus",
    "planned": "prévue",
    "in_progress": "en cours",
    "done": "réalisée",
    "suspended": "suspendue",
    "dropped": "abandonnée",
}
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def field_label(field: str | None) -> str:
    """``planned_amount`` -> « Montant prévu »; None (a whole row) -> « — »."""
    if not field:
        return "—"
    return FIELD_LABELS.get(field, field.replace("_", " ").capitalize())


def readable(text: str | None) -> str:
    """A stored value as a person reads it: French numbers, dates, labels of codes, oui/non;
    a whole row (the JSON of a creation or a deletion) as « Champ : valeur ; … »."""
    if text is None:
        return "—"
    if text.startswith("{") and text.endswith("}"):
        try:
            values = json.loads(text)
        except ValueError:
            return text
        if isinstance(values, dict):
            shown = [
                f"{field_label(k)} : {readable(None if v is None else str(v))}"
                for k, v in values.items()
                if v is not None and v != ""
            ]
            return " ; ".join(shown) or "—"
    if text.startswith("[") and text.endswith("]"):
        try:
            ids = json.loads(text)
        except ValueError:
            return text
        return ", ".join(f"n° {i}" for i in ids) if ids else "aucun"
    if text in ("True", "False", "true", "false"):
        return "oui" if text.lower() == "true" else "non"
    if text in _ENUM_TEXT:
        return _ENUM_TEXT[text]
    if _ISO_DATETIME.match(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
    if match := _ISO_DATE.match(text):
        return f"{match.group(3)}/{match.group(2)}/{match.group(1)}"
    if _NUMBER.match(text):
        number = float(text)
        decimals = None if number != int(number) or abs(number) >= MAX_SHOWN else 0
        return format_number(number, decimals)
    return text
