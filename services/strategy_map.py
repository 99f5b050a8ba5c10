"""The strategy map of a period, and the "contributes to" links the direction draws on it.

Statuses and scores are the scorecard's (:func:`services.scorecard.build_scorecard`, for the
period and for the one before it, whose scores give each objective's trend); when the period
before is closed and its review frozen, the trend is read against the review's frozen scores
(what the review saw, and no second scorecard to compute) for a reader who sees the whole
organisation — a service manager's narrower scope has scores of its own, computed; the geometry is
:func:`scorecard.strategy_layout.layout_strategy_map`'s. The map shows what the scorecard shows
the reader: a service manager sees their objectives and the ones above them, and can open only
the sheets the policy lets them open.

A link joins two objectives of the organisation in different perspectives (within one
perspective the cascade says it already), neither closed, once per pair and never both ways.
Links are rows of :class:`models.ObjectiveLink`, written and deleted through the ORM, so the
audit trail records who drew or removed which link.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Objective,
    ObjectiveLink,
    ObjectiveStatus,
    Organisation,
    Period,
    PeriodState,
    Perspective,
    Review,
    Service,
    User,
)
from models.enums import LABELS_FR
from scorecard import periods as P
from scorecard.strategy_layout import Layout, MapObjective, MapPerspective, layout_strategy_map, score_trend
from services.policy import Action, Principal, can, visible_service_ids
from services.scorecard import ObjectiveBlock, ScorecardError, ScorecardView, build_scorecard
from services.steering import SteeringError

#: Top to bottom: the public-sector map puts the users (the mission's beneficiaries) on top.
BAND_ORDER = (Perspective.USERS, Perspective.FINANCE, Perspective.PROCESSES, Perspective.LEARNING)


@dataclass(frozen=True)
class MapEntry:
    """One objective of the map with what the page needs beyond the geometry."""

    objective: MapObjective
    perspective_label: str
    #: May the reader open the objective's sheet?
    openable: bool
    closed: bool
    parent_code: str | None
    previous_score: float | None
    contributes_to: tuple[str, ...] = ()
    contributed_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkRow:
    id: int
    version: int
    source_code: str
    source_title: str
    source_perspective: str
    target_code: str
    target_title: str
    target_perspective: str


@dataclass
class StrategyMap:
    period: P.PeriodSpan
    previous_key: str | None
    mission: str | None
    scorecard: ScorecardView
    layout: Layout
    entries: dict[int, MapEntry]
    links: list[LinkRow]
    #: The objectives a link may join (open ones), for the direction's form: (id, label).
    linkable: list[tuple[int, str]] = field(default_factory=list)

    def by_perspective(self) -> list[tuple[MapPerspective, list[MapEntry]]]:
        """The text alternative: each band's objectives in the map's order."""
        return [
            (band.perspective, [self.entries[box.objective.id] for box in band.boxes])
            for band in self.layout.bands
        ]


def _walk(blocks: list[ObjectiveBlock]) -> list[ObjectiveBlock]:
    out: list[ObjectiveBlock] = []
    stack = list(reversed(blocks))
    while stack:
        block = stack.pop()
        out.append(block)
        stack.extend(reversed(block.children))
    return out


def _scores(view: ScorecardView) -> dict[int, float | None]:
    return {b.objective_id: b.score for p in view.perspectives for b in _walk(p.objectives)}


def _frozen_scores(session: Session, principal: Principal, period_key: str) -> dict[int, float | None] | None:
    """The objectives' scores frozen in the review of ``period_key`` (None: no frozen review, or a
    reader whose scope is narrower than the review's, the whole organisation)."""
    org_id = principal.organisation_id
    services = session.scalars(select(Service.id).where(Service.organisation_id == org_id)).all()
    if len(visible_service_ids(principal, services)) != len(services):
        return None
    snapshot = session.scalar(
        select(Review.snapshot)
        .join(Period, Period.id == Review.period_id)
        .where(Review.organisation_id == org_id, Period.key == period_key, Period.state == PeriodState.CLOSED)
    )
    if not snapshot:
        return None
    by_code: dict[str, float | None] = {}

    def walk(block: dict[str, object]) -> None:
        score = block.get("score")
        by_code[str(block.get("code"))] = float(score) if isinstance(score, (int, float)) else None
        for child in block.get("children") or []:  # type: ignore[attr-defined]
            walk(child)

    for perspective in snapshot.get("perspectives", []):
        for block in perspective.get("objectives", []):
            walk(block)
    ids = dict(
        session.execute(select(Objective.code, Objective.id).where(Objective.organisation_id == org_id)).all()
    )
    return {ids[code]: score for code, score in by_code.items() if code in ids}


def build_strategy_map(
    session: Session, principal: Principal, period_key: str, *, width: float = 1180.0
) -> StrategyMap:
    """The strategy map of ``period_key`` as the principal may see it.

    Raises :class:`services.scorecard.ScorecardError` (French message) for a period that cannot
    be read.
    """
    view = build_scorecard(session, principal, period_key)
    org_id = principal.organisation_id
    previous_key: str | None
    try:
        previous_key = P.previous_period(view.period).key
    except ValueError:  # no period before the first one the calendar knows
        previous_key = None
    before: dict[int, float | None] = {}
    if previous_key is not None:
        frozen = _frozen_scores(session, principal, previous_key)
        if frozen is not None:
            before = frozen
        else:
            try:
                before = _scores(build_scorecard(session, principal, previous_key))
            except ScorecardError:
                previous_key = None
    organisation = session.get(Organisation, org_id)
    blocks = {b.objective_id: b for p in view.perspectives for b in _walk(p.objectives)}
    rows = session.execute(
        select(Objective, User.full_name)
        .outerjoin(User, User.id == Objective.owner_id)
        .where(Objective.organisation_id == org_id)
    ).all()
    found = {o.id: (o, owner) for o, owner in rows}
    codes = {o.id: o.code for o, _ in rows}
    objectives: list[MapObjective] = []
    for objective_id, block in blocks.items():
        objective, owner = found[objective_id]
        objectives.append(
            MapObjective(
                id=objective_id,
                code=block.code,
                title=block.title,
                perspective=objective.perspective.value,
                parent_id=objective.parent_id if objective.parent_id in blocks else None,
                status=block.status,
                status_label=block.status_label,
                score=block.score,
                trend=score_trend(block.score, before.get(objective_id)),
                owner=owner,
            )
        )
    shown = set(blocks)
    link_rows = session.scalars(select(ObjectiveLink).where(ObjectiveLink.organisation_id == org_id)).all()
    visible_links = [link for link in link_rows if link.source_id in shown and link.target_id in shown]
    scores = {p.perspective.value: p for p in view.perspectives}
    perspectives = [
        MapPerspective(
            key=p.value,
            label=LABELS_FR[p],
            status=scores[p.value].status if p.value in scores else "missing",
            status_label=scores[p.value].status_label if p.value in scores else "Non renseigné",
            score=scores[p.value].score if p.value in scores else None,
        )
        for p in BAND_ORDER
    ]
    layout = layout_strategy_map(
        perspectives,
        objectives,
        [(link.source_id, link.target_id) for link in visible_links],
        mission=organisation.mission if organisation else None,
        width=width,
    )
    contributes: dict[int, list[str]] = {}
    contributed: dict[int, list[str]] = {}
    for link in visible_links:
        contributes.setdefault(link.source_id, []).append(codes[link.target_id])
        contributed.setdefault(link.target_id, []).append(codes[link.source_id])
    entries: dict[int, MapEntry] = {}
    for o in objectives:
        row = found[o.id][0]
        entries[o.id] = MapEntry(
            objective=o,
            perspective_label=LABELS_FR[row.perspective],
            openable=can(principal, Action.VIEW, row),
            closed=row.status is ObjectiveStatus.CLOSED,
            parent_code=codes.get(row.parent_id) if row.parent_id is not None else None,
            previous_score=before.get(o.id),
            contributes_to=tuple(sorted(contributes.get(o.id, []))),
            contributed_by=tuple(sorted(contributed.get(o.id, []))),
        )
    perspective_of = {o.id: LABELS_FR[o.perspective] for o, _ in rows}
    titles = {o.id: o.title for o, _ in rows}
    links = sorted(
        (
            LinkRow(
                id=link.id,
                version=link.version,
                source_code=codes[link.source_id],
                source_title=titles[link.source_id],
                source_perspective=perspective_of[link.source_id],
                target_code=codes[link.target_id],
                target_title=titles[link.target_id],
                target_perspective=perspective_of[link.target_id],
            )
            for link in visible_links
        ),
        key=lambda row: (row.source_code, row.target_code),
    )
    linkable = sorted(
        (
            (o.id, f"{o.code} — {o.title} ({LABELS_FR[o.perspective]})")
            for o, _ in rows
            if o.status is not ObjectiveStatus.CLOSED
        ),
        key=lambda item: item[1],
    )
    return StrategyMap(
        period=view.period,
        previous_key=previous_key,
        mission=organisation.mission if organisation else None,
        scorecard=view,
        layout=layout,
        entries=entries,
        links=links,
        linkable=linkable,
    )


def add_link(
    session: Session, principal: Principal, source_id: int | None, target_id: int | None
) -> ObjectiveLink:
    """Record that objective ``source_id`` contributes to ``target_id`` (flushed, not committed).

    Raises :class:`services.steering.SteeringError` (French message, the form field concerned)
    when the link is refused; nothing is written then.
    """
    source = _objective(session, principal, source_id, "source_id", "de départ")
    target = _objective(session, principal, target_id, "target_id", "d'arrivée")
    if source.id == target.id:
        raise SteeringError(
            "Un objectif ne peut pas contribuer à lui-même : choisissez deux objectifs.", "target_id"
        )
    if source.perspective is target.perspective:
        raise SteeringError(
            f"« {source.code} » et « {target.code} » sont tous deux dans la perspective "
            f"« {LABELS_FR[source.perspective]} » : un lien « contribue à » relie deux perspectives "
            "différentes (dans une perspective, la cascade des objectifs le dit déjà).",
            "target_id",
        )
    for objective, field_name in ((source, "source_id"), (target, "target_id")):
        if objective.status is ObjectiveStatus.CLOSED:
            raise SteeringError(
                f"L'objectif « {objective.code} » est clôturé : rouvrez-le avant de le relier.", field_name
            )
    if source.parent_id == target.id or target.parent_id == source.id:
        raise SteeringError(
            f"« {source.code} » et « {target.code} » sont déjà reliés par la cascade (objectif parent).",
            "target_id",
        )
    existing = session.scalars(
        select(ObjectiveLink).where(
            ObjectiveLink.source_id.in_([source.id, target.id]),
            ObjectiveLink.target_id.in_([source.id, target.id]),
        )
    ).all()
    for link in existing:
        if link.source_id == source.id:
            raise SteeringError(
                f"Ce lien existe déjà : « {source.code} » contribue à « {target.code} ».", "target_id"
            )
        raise SteeringError(
            f"Le lien inverse existe déjà (« {target.code} » contribue à « {source.code} ») : "
            "supprimez-le d'abord si le sens est à revoir.",
            "target_id",
        )
    link = ObjectiveLink(organisation_id=principal.organisation_id, source_id=source.id, target_id=target.id)
    if not can(principal, Action.CREATE, link):
        raise SteeringError("Seule la direction trace les liens entre objectifs.")
    session.add(link)
    session.flush()
    return link


def remove_link(session: Session, principal: Principal, link: ObjectiveLink, version: int | None) -> None:
    """Delete ``link`` (flushed, not committed); refused when it changed since the page showed it."""
    if not can(principal, Action.EDIT, link):
        raise SteeringError("Seule la direction supprime les liens entre objectifs.")
    if version is not None and version != link.version:
        raise SteeringError("Ce lien a été modifié entre-temps : rechargez la page.")
    session.delete(link)
    session.flush()


def _objective(
    session: Session, principal: Principal, objective_id: int | None, field_name: str, which: str
) -> Objective:
    if objective_id is None:
        raise SteeringError(f"Choisissez l'objectif {which}.", field_name)
    objective = session.get(Objective, objective_id)
    if objective is None or objective.organisation_id != principal.organisation_id:
        raise SteeringError(f"Objectif {which} inconnu dans votre organisation.", field_name)
    return objective
