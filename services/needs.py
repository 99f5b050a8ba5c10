"""The needs register: sizes computed from the statistics, their history over vintages, priorities.

A need sized from statistics carries a formula over statistic variables, parsed by the same
safe parser as computed indicators (``pop_80p``, ``caf_rsa_socle``, ``pop_80p * 0.4``). A
variable is read on the need's territory when published there, else summed over the territories
beneath it (a lower bound when some are secret). Each vintage's size uses, for every variable,
its latest vintage up to that one. A hand-entered need (no formula) keeps the size typed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Need, NeedEvidence, Territory, TerritoryStatistic, User
from scorecard.formula import Formula, FormulaError, evaluate, parse_formula
from services.editing import apply_edit
from services.policy import Action, Principal, can


@dataclass
class SizePoint:
    vintage: int
    size: float | None
    secret_parts: int
    sources: list[str] = field(default_factory=list)
    statistic_ids: list[int] = field(default_factory=list)


def sizing_formula(need: Need) -> Formula | None:
    if not need.sizing_formula:
        return None
    try:
        return parse_formula(need.sizing_formula)
    except FormulaError:
        return None


def _descendants(territories: list[Territory], root_id: int) -> set[int]:
    children = defaultdict(list)
    for t in territories:
        if t.parent_id is not None:
            children[t.parent_id].append(t.id)
    seen, stack = set(), [root_id]
    while stack:
        current = stack.pop()
        for child in children[current]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


class _Statistics:
    """The organisation's statistics, indexed once for many needs."""

    def __init__(self, session: Session, organisation_id: int) -> None:
        self.territories = session.scalars(
            select(Territory).where(Territory.organisation_id == organisation_id)
        ).all()
        self.rows: dict[tuple[int, str], list[TerritoryStatistic]] = defaultdict(list)
        for stat in session.scalars(
            select(TerritoryStatistic).where(TerritoryStatistic.organisation_id == organisation_id)
        ):
            self.rows[(stat.territory_id, stat.variable)].append(stat)
        self._below: dict[int, set[int]] = {}

    def below(self, territory_id: int) -> set[int]:
        if territory_id not in self._below:
            self._below[territory_id] = _descendants(list(self.territories), territory_id)
        return self._below[territory_id]

    def vintages(self, territory_id: int, variables: frozenset[str]) -> list[int]:
        scope = {territory_id} | self.below(territory_id)
        return sorted({s.vintage for t in scope for v in variables for s in self.rows.get((t, v), [])})

    def read(
        self, territory_id: int, variable: str, vintage: int
    ) -> tuple[float | None, int, list[TerritoryStatistic]]:
        """(value or None, secret parts, statistics used) for ``variable`` as of ``vintage``."""

        def latest(stats: list[TerritoryStatistic]) -> TerritoryStatistic | None:
            eligible = [s for s in stats if s.vintage <= vintage]
            return max(eligible, key=lambda s: s.vintage) if eligible else None

        own = latest(self.rows.get((territory_id, variable), []))
        if own is not None:
            return (None if own.is_secret else own.value), int(own.is_secret), [own]
        used = [
            s for t in self.below(territory_id) if (s := latest(self.rows.get((t, variable), []))) is not None
        ]
        if not used:
            return None, 0, []
        published = [s.value for s in used if not s.is_secret and s.value is not None]
        secret = sum(1 for s in used if s.is_secret)
        return (float(sum(published)) if published else None), secret, used


def size_history(session: Session, need: Need, statistics: _Statistics | None = None) -> list[SizePoint]:
    """The need's size at each vintage of the statistics its formula reads, oldest first."""
    formula = sizing_formula(need)
    if formula is None:
        return []
    stats = statistics or _Statistics(session, need.organisation_id)
    points = []
    for vintage in stats.vintages(need.territory_id, formula.codes):
        values: dict[str, float] = {}
        secret, used = 0, []
        missing = False
        for variable in formula.codes:
            value, secret_parts, rows = stats.read(need.territory_id, variable, vintage)
            secret += secret_parts
            used += rows
            if value is None:
                missing = True
            else:
                values[variable] = value
        size = None if missing else float(evaluate(formula, values))
        sources = sorted({f"{s.source} {s.vintage}" for s in used})
        points.append(SizePoint(vintage, size, secret, sources, [s.id for s in used]))
    return points


def size_note(size: float | None, secret_parts: int) -> str | None:
    """What a reader must know about a size read from statistics with secret cells."""
    if not secret_parts:
        return None
    if size is None:
        return "Effectif sous secret statistique : besoin à chiffrer par une autre source."
    return f"Somme des territoires publiés : borne basse, {secret_parts} sous secret statistique."


@dataclass
class ResizeReport:
    resized: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    unchanged: int = 0


def resize_needs(session: Session, organisation_id: int) -> ResizeReport:
    """Recompute the size of every need sized by a formula from the latest statistics. Flushes."""
    stats = _Statistics(session, organisation_id)
    report = ResizeReport()
    for need in session.scalars(
        select(Need).where(Need.organisation_id == organisation_id).order_by(Need.code)
    ):
        history = size_history(session, need, stats)
        if not history:
            continue
        latest = history[-1]
        changed = (need.size is None) != (latest.size is None) or (
            latest.size is not None and need.size is not None and abs(need.size - latest.size) > 1e-9
        )
        if changed:
            report.resized.append((need.code, need.size, latest.size))
            need.size = latest.size
        else:
            report.unchanged += 1
        if need.vintage != latest.vintage:
            need.vintage = latest.vintage
        source = ", ".join(latest.sources)[:128] or need.source
        if need.source != source:
            need.source = source
        note = size_note(latest.size, latest.secret_parts)
        if note != need.evidence_note:
            need.evidence_note = note
        wanted = set(latest.statistic_ids)
        current = {e.statistic_id for e in need.evidence if e.role == "size"}
        if wanted != current:
            need.evidence = [e for e in need.evidence if e.role != "size"] + [
                NeedEvidence(statistic_id=sid, role="size") for sid in sorted(wanted)
            ]
    session.flush()
    return report


def set_priority(
    session: Session,
    principal: Principal,
    need: Need,
    *,
    level: int,
    weight: float | None,
    now: datetime,
    version: int | None = None,
) -> None:
    """The élus' priority for a need (1 to 5) and its weight, with who set it and when.

    ``version`` is the need's version the form was read at: a save on an older one raises
    :class:`~services.editing.StaleEdit` (a 409 showing the current priority and weight), never
    overwrites the other élu's choice. ``None`` only for a workbook import, which checks itself.
    """
    if not can(principal, Action.SET_PRIORITY, need):
        raise PermissionError("Seuls les élus et la direction fixent la priorité des besoins.")
    if not 1 <= level <= 5:
        raise ValueError("La priorité va de 1 (faible) à 5 (très forte).")
    if weight is not None and weight < 0:
        raise ValueError("Le poids ne peut pas être négatif.")
    changes = {
        "priority": level,
        "priority_weight": float(level) if weight is None else weight,
        "priority_set_by_id": principal.user_id,
        "priority_set_at": now,
    }
    if version is None:
        for name, value in changes.items():
            setattr(need, name, value)
        session.flush()
        return
    apply_edit(session, need, version, changes, shown=["priority", "priority_weight"])


def priority_setter(session: Session, need: Need) -> str | None:
    if need.priority_set_by_id is None:
        return None
    user = session.get(User, need.priority_set_by_id)
    return user.full_name if user else None
