"""The organisation's model as the workbook sees it: every row, keyed by codes, valued by header.

The export writes these values; the import compares the workbook's with them, so that only what
differs is written (an unchanged workbook writes nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import (
    Activity,
    ActivityKind,
    Indicator,
    Need,
    Objective,
    Period,
    PopulationGroup,
    Service,
    Target,
    Territory,
    User,
)
from services.org_model import sheets as S

Key = tuple[Any, ...]


@dataclass
class Current:
    """A row of Pilotis: the object (None for a link row without one), and its values by header."""

    obj: Any
    values: dict[str, Any]


@dataclass
class Lookups:
    """Codes ↔ ids of the organisation, for references between sheets."""

    services: dict[str, Service] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)
    needs: dict[str, Need] = field(default_factory=dict)
    publics: dict[str, PopulationGroup] = field(default_factory=dict)
    objectives: dict[str, Objective] = field(default_factory=dict)
    indicators: dict[str, Indicator] = field(default_factory=dict)
    periods: dict[str, Period] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)  # by lower-case email
    territories: dict[str, list[Territory]] = field(default_factory=dict)  # by code
    territory_code: dict[int, str] = field(default_factory=dict)  # id → code as written

    def territory(self, written: str) -> Territory | str:
        """The territory a cell names (``11069``, or ``iris:110690101`` when a code is shared), or
        why none."""
        kind, _, code = written.rpartition(":")
        found = [
            t for t in self.territories.get(code.strip(), []) if not kind or t.kind.value == kind.strip()
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            return f"territoire « {written} » inconnu dans votre organisation"
        kinds = ", ".join(f"{t.kind.value}:{t.code}" for t in found)
        return f"code « {written} » ambigu : écrivez l'un de {kinds}"


def load_lookups(session: Session, organisation_id: int) -> Lookups:
    org = organisation_id
    look = Lookups()
    look.services = {
        s.code: s for s in session.scalars(select(Service).where(Service.organisation_id == org))
    }
    look.activities = {
        a.code: a
        for a in session.scalars(
            select(Activity)
            .where(Activity.organisation_id == org)
            .options(
                selectinload(Activity.volumes),
                selectinload(Activity.deliveries),
                selectinload(Activity.coverages),
            )
        )
    }
    look.needs = {n.code: n for n in session.scalars(select(Need).where(Need.organisation_id == org))}
    look.publics = {
        p.code: p
        for p in session.scalars(select(PopulationGroup).where(PopulationGroup.organisation_id == org))
    }
    look.objectives = {
        o.code: o
        for o in session.scalars(
            select(Objective)
            .where(Objective.organisation_id == org)
            .options(selectinload(Objective.needs), selectinload(Objective.activities))
        )
    }
    look.indicators = {
        i.code: i
        for i in session.scalars(
            select(Indicator).where(Indicator.organisation_id == org).options(selectinload(Indicator.targets))
        )
    }
    look.periods = {p.key: p for p in session.scalars(select(Period).where(Period.organisation_id == org))}
    look.users = {
        u.email.lower(): u for u in session.scalars(select(User).where(User.organisation_id == org))
    }
    territories = session.scalars(select(Territory).where(Territory.organisation_id == org)).all()
    for t in territories:
        look.territories.setdefault(t.code, []).append(t)
    shared = Counter(t.code for t in territories)
    look.territory_code = {
        t.id: (f"{t.kind.value}:{t.code}" if shared[t.code] > 1 else t.code) for t in territories
    }
    return look


def current_state(session: Session, look: Lookups) -> dict[str, dict[Key, Current]]:
    """Every sheet's rows as Pilotis holds them, keyed as in the workbook, sorted by key."""
    services_by_id = {s.id: s.code for s in look.services.values()}
    activities_by_id = {a.id: a.code for a in look.activities.values()}
    needs_by_id = {n.id: n.code for n in look.needs.values()}
    publics_by_id = {p.id: p.code for p in look.publics.values()}
    objectives_by_id = {o.id: o.code for o in look.objectives.values()}
    periods_by_id = {p.id: p.key for p in look.periods.values()}
    users_by_id = {u.id: u.email for u in look.users.values()}
    territory = look.territory_code
    names = {t.id: t.name for ts in look.territories.values() for t in ts}
    state: dict[str, dict[Key, Current]] = {sheet.name: {} for sheet in S.SHEETS}

    for p in look.publics.values():
        state[S.PUBLICS.name][(p.code,)] = Current(
            p, {"Code": p.code, "Nom": p.name, "Code public parent": publics_by_id.get(p.parent_id or 0)}
        )
    for s in look.services.values():
        state[S.SERVICES.name][(s.code,)] = Current(
            s,
            {
                "Code": s.code,
                "Nom": s.name,
                "Type": s.kind,
                "Type de partenaire": s.partner_type,
                "Fonction support": s.is_support,
                "Fonction M57": s.m57_function,
                "Description": s.description,
            },
        )
    for a in look.activities.values():
        state[S.ACTIVITIES.name][(a.code,)] = Current(
            a,
            {
                "Code": a.code,
                "Nom": a.name,
                "Code service": services_by_id.get(a.service_id),
                "Unité de production": a.output_unit,
                "Coût unitaire (€)": a.unit_cost,
                "Coût fixe (€)": a.fixed_cost,
                "Capacité": a.capacity,
                "Volume annuel": a.volume,
                "Bénéficiaires": a.beneficiaries,
                "Volume minimum légal": a.min_volume,
                "ETP": float(a.staff_etp),
                "Fonction M57": a.m57_function,
                "Obligatoire": a.kind is ActivityKind.MANDATORY,
                "Code territoire": territory.get(a.territory_id or 0),
                "Archivée": a.archived_at is not None,
                "Description": a.description,
            },
        )
        for v in a.volumes:
            state[S.VOLUMES.name][(a.code, v.year)] = Current(
                v,
                {
                    "Code activité": a.code,
                    "Année": v.year,
                    "Volume prévu": v.planned_volume,
                    "Volume réalisé": v.actual_volume,
                    "Source": v.source,
                    "Supprimer": False,
                },
            )
        for d in a.deliveries:
            code = territory.get(d.territory_id, str(d.territory_id))
            state[S.DELIVERIES.name][(a.code, code)] = Current(
                d,
                {
                    "Code activité": a.code,
                    "Code territoire": code,
                    "Territoire": names.get(d.territory_id),
                    "Part (%)": d.share,
                    "Supprimer": False,
                },
            )
        for c in a.coverages:
            need = needs_by_id.get(c.need_id, str(c.need_id))
            state[S.COVERAGES.name][(a.code, need)] = Current(
                c,
                {
                    "Code activité": a.code,
                    "Code besoin": need,
                    "Coefficient": c.coefficient,
                    "Part (%)": c.share,
                    "Note": c.note,
                    "Supprimer": False,
                },
            )
    for n in look.needs.values():
        state[S.NEEDS.name][(n.code,)] = Current(
            n,
            {
                "Code": n.code,
                "Intitulé": n.label,
                "Code public": publics_by_id.get(n.population_group_id),
                "Code territoire": territory.get(n.territory_id),
                "Unité": n.unit,
                "Effectif": n.size,
                "Formule de dimensionnement": n.sizing_formula,
                "Source": n.source,
                "Millésime": n.vintage,
                "Effectif au": n.size_as_of,
                "Preuves": n.evidence_note,
                "Priorité": n.priority,
                "Description": n.description,
            },
        )
    for o in look.objectives.values():
        state[S.OBJECTIVES.name][(o.code,)] = Current(
            o,
            {
                "Code": o.code,
                "Intitulé": o.title,
                "Code parent": objectives_by_id.get(o.parent_id or 0),
                "Perspective": o.perspective,
                "Code service": services_by_id.get(o.service_id or 0),
                "Responsable (courriel)": users_by_id.get(o.owner_id or 0),
                "Échéance": o.deadline,
                "Poids": o.weight,
                "Besoins visés": tuple(sorted(n.code for n in o.needs)),
                "Activités mobilisées": tuple(sorted(a.code for a in o.activities)),
                "Statut": o.status.value,
                "Description": o.description,
            },
        )
    for i in look.indicators.values():
        state[S.INDICATORS.name][(i.code,)] = Current(
            i,
            {
                "Code": i.code,
                "Intitulé": i.label,
                "Type": i.type,
                "Unité": i.unit,
                "Sens": i.direction,
                "Fréquence": i.frequency,
                "Perspective": i.perspective,
                "Formule": i.formula,
                "Décimales": i.decimals,
                "Poids": i.weight,
                "Source": i.source,
                "Millésime": i.vintage,
                "Valeur de référence": i.baseline_value,
                "Période de référence": i.baseline_period_key,
                "Code service": services_by_id.get(i.service_id or 0),
                "Responsable (courriel)": users_by_id.get(i.owner_id or 0),
                "Code objectif": objectives_by_id.get(i.objective_id or 0),
                "Code activité": activities_by_id.get(i.activity_id or 0),
                "Code besoin": needs_by_id.get(i.need_id or 0),
                "Description": i.description,
            },
        )
        for t in i.targets:
            key = periods_by_id.get(t.period_id, str(t.period_id))
            state[S.TARGETS.name][(i.code, key)] = Current(t, target_values(i.code, key, t))
    return {name: dict(sorted(rows.items(), key=lambda kv: _sortable(kv[0]))) for name, rows in state.items()}


def target_values(indicator_code: str, period_key: str, t: Target) -> dict[str, Any]:
    relative = t.threshold_mode.value == "relative"
    scale = 100.0 if relative else 1.0
    return {
        "Code indicateur": indicator_code,
        "Période": period_key,
        "Cible": t.value,
        "Borne basse": t.band_low,
        "Borne haute": t.band_high,
        "Seuils": t.threshold_mode,
        "Seuil orange": round(t.amber_tolerance * scale, 10),
        "Seuil rouge": round(t.red_tolerance * scale, 10),
        "Supprimer": False,
    }


def _sortable(key: Key) -> tuple[str, ...]:
    return tuple(f"{part:>12}" if isinstance(part, int) else str(part) for part in key)
