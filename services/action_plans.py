"""Action plans (fiches action): create, edit and follow up the actions that serve objectives.

An action serves one objective of the organisation (not a closed one) and is carried by one
service: the objective's unless another is named. The policy decides who writes it
(:func:`services.policy.can`: the direction, and the managers of the action's service). Edits
carry the version the form was read at (:func:`services.editing.apply_edit`: a stale edit is
refused with the current values) and go through the ORM, so the journal records each field.
Every refusal is a French :class:`ActionPlanError` naming the form field; nothing is written.

Lateness is computed against ``today`` (the caller's clock): an action still planned or in
progress after its due date is late, and so is a milestone still planned after its date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from models import (
    ACTION_STATUSES,
    MILESTONE_STATES,
    ActionMilestone,
    ActionPlan,
    ActionUpdate,
    Activity,
    Indicator,
    Need,
    Objective,
    ObjectiveStatus,
    Organisation,
    Review,
    ReviewAction,
    Role,
    Service,
    User,
)
from services import notifications
from services.editing import apply_edit
from services.numbers import NumberError, check_amount
from services.policy import Action, Principal, can, visible_service_ids
from services.steering import SteeringError

STATUS_LABELS = {
    "planned": "Prévue",
    "in_progress": "En cours",
    "done": "Réalisée",
    "suspended": "Suspendue",
    "dropped": "Abandonnée",
}
MILESTONE_LABELS = {"planned": "Prévu", "done": "Atteint", "dropped": "Abandonné"}
#: Statuses of an action still to be carried out (late after its due date).
OPEN_STATUSES = frozenset({"planned", "in_progress", "suspended"})
#: A milestone is "due soon" this many days before its date.
DUE_SOON = timedelta(days=7)

# French names of the fields, for a stale edit's message.
FIELD_NAMES = {
    "title": "Intitulé",
    "status": "Statut",
    "progress": "Avancement",
    "due_date": "Échéance",
    "owner_id": "Pilote",
    "state": "État",
}


class ActionPlanError(SteeringError):
    """A refused action plan edit; ``field`` names the form field concerned (or None)."""


@dataclass(frozen=True)
class ActionInput:
    """What the action form holds (ids as chosen, amounts already read the French way)."""

    objective_id: int | None
    title: str
    code: str = ""
    description: str | None = None
    service_id: int | None = None
    owner_id: int | None = None
    elected_id: int | None = None
    partners: str | None = None
    budget: Decimal | None = None
    start_date: date | None = None
    due_date: date | None = None
    status: str = "planned"
    progress: int = 0
    activity_ids: Sequence[int] = ()
    indicator_ids: Sequence[int] = ()
    need_ids: Sequence[int] = ()
    review_action_id: int | None = None


# -- checks -------------------------------------------------------------------------------------
def _same_org(session: Session, model: Any, ids: Iterable[int], org: int, label: str, name: str) -> list[Any]:
    rows = []
    for ident in dict.fromkeys(ids):
        row = session.get(model, ident)
        if row is None or row.organisation_id != org:
            raise ActionPlanError(f"{label} n° {ident} inconnu(e) dans votre organisation.", name)
        rows.append(row)
    return rows


def _person(session: Session, org: int, user_id: int | None, name: str, what: str) -> User | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or user.organisation_id != org:
        raise ActionPlanError(f"{what} inconnu·e dans votre organisation.", name)
    if not user.is_active:
        raise ActionPlanError(
            f"Le compte de {user.full_name} est désactivé : choisissez une autre personne.", name
        )
    return user


def next_code(session: Session, organisation_id: int) -> str:
    """The next free « FA-001 »-style code of the organisation."""
    codes = session.scalars(
        select(ActionPlan.code).where(
            ActionPlan.organisation_id == organisation_id, ActionPlan.code.like("FA-%")
        )
    ).all()
    numbers = [int(c[3:]) for c in codes if c[3:].isdigit()]
    return f"FA-{max(numbers, default=0) + 1:03d}"


def _check(
    session: Session, principal: Principal, data: ActionInput, current: ActionPlan | None
) -> dict[str, Any]:
    org = principal.organisation_id
    title = data.title.strip()
    if not title:
        raise ActionPlanError("L'intitulé de l'action est obligatoire.", "title")
    if len(title) > 300:
        raise ActionPlanError("L'intitulé tient en 300 caractères au plus.", "title")
    code = data.code.strip() or (current.code if current else next_code(session, org))
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", code):
        raise ActionPlanError(
            "Code invalide : lettres, chiffres, point, tiret ou souligné (64 caractères au plus).", "code"
        )
    clash = session.scalar(
        select(ActionPlan.id).where(ActionPlan.organisation_id == org, ActionPlan.code == code)
    )
    if clash is not None and (current is None or clash != current.id):
        raise ActionPlanError(f"Le code « {code} » est déjà pris par une autre action.", "code")
    if data.objective_id is None:
        raise ActionPlanError("Choisissez l'objectif que l'action sert.", "objective_id")
    objective = session.get(Objective, data.objective_id)
    if objective is None or objective.organisation_id != org:
        raise ActionPlanError("Objectif inconnu dans votre organisation.", "objective_id")
    moved = current is None or current.objective_id != objective.id
    if moved and objective.status is ObjectiveStatus.CLOSED:
        raise ActionPlanError(
            f"L'objectif « {objective.code} » est clôturé : rouvrez-le ou choisissez un objectif ouvert.",
            "objective_id",
        )
    service_id = data.service_id if data.service_id is not None else objective.service_id
    if service_id is not None:
        service = session.get(Service, service_id)
        if service is None or service.organisation_id != org:
            raise ActionPlanError("Service inconnu dans votre organisation.", "service_id")
    if not can(principal, Action.EDIT, ActionPlan(organisation_id=org, service_id=service_id)):
        if principal.role is Role.SERVICE_MANAGER:
            raise ActionPlanError(
                "Ce service n'est pas dans votre périmètre : une action est portée par l'un de vos services.",
                "service_id",
            )
        raise ActionPlanError("Seuls la direction et les responsables du service portent les fiches action.")
    _person(session, org, data.owner_id, "owner_id", "Pilote")
    elected = _person(session, org, data.elected_id, "elected_id", "Élu·e référent·e")
    if elected is not None and elected.role is not Role.ELECTED:
        raise ActionPlanError(
            f"{elected.full_name} n'est pas élu·e : l'élu·e référent·e est un compte au rôle « Élu·e ».",
            "elected_id",
        )
    if data.start_date and data.due_date and data.due_date < data.start_date:
        raise ActionPlanError(
            f"L'échéance ({data.due_date:%d/%m/%Y}) précède le début ({data.start_date:%d/%m/%Y}).",
            "due_date",
        )
    if data.status not in ACTION_STATUSES:
        raise ActionPlanError(f"Statut inconnu : « {data.status} ».", "status")
    if not 0 <= data.progress <= 100:
        raise ActionPlanError("L'avancement est un pourcentage entre 0 et 100.", "progress")
    if data.status == "done" and data.progress != 100:
        raise ActionPlanError(
            f"Une action réalisée est avancée à 100 % (ici {data.progress} %) : indiquez 100 % ou gardez-la « en cours ».",
            "progress",
        )
    if data.status == "planned" and data.progress > 0:
        raise ActionPlanError(
            f"Une action avancée à {data.progress} % a commencé : choisissez le statut « En cours ».",
            "status",
        )
    budget = None
    if data.budget is not None:
        try:
            budget = check_amount(data.budget)
        except NumberError as exc:
            raise ActionPlanError(f"Budget : {exc}.", "budget") from None
        if budget < 0:
            raise ActionPlanError("Le budget d'une action ne peut pas être négatif.", "budget")
    partners = (data.partners or "").strip() or None
    if partners and len(partners) > 500:
        raise ActionPlanError("Les partenaires tiennent en 500 caractères au plus.", "partners")
    if data.review_action_id is not None:
        decision = session.get(ReviewAction, data.review_action_id)
        review = session.get(Review, decision.review_id) if decision else None
        if review is None or review.organisation_id != org:
            raise ActionPlanError("Décision de revue inconnue dans votre organisation.")
    closing = data.status in ("done", "dropped")
    return {
        "code": code,
        "title": title,
        "description": (data.description or "").strip() or None,
        "objective_id": objective.id,
        "service_id": service_id,
        "owner_id": data.owner_id,
        "elected_id": data.elected_id,
        "partners": partners,
        "budget": budget,
        "start_date": data.start_date,
        "due_date": data.due_date,
        "status": data.status,
        "progress": data.progress,
        "closing": closing,
    }


def _links(
    session: Session, org: int, data: ActionInput
) -> tuple[list[Activity], list[Indicator], list[Need]]:
    return (
        _same_org(session, Activity, data.activity_ids, org, "Activité", "activity_ids"),
        _same_org(session, Indicator, data.indicator_ids, org, "Indicateur", "indicator_ids"),
        _same_org(session, Need, data.need_ids, org, "Besoin", "need_ids"),
    )


# -- writes -------------------------------------------------------------------------------------
def create_action(session: Session, principal: Principal, data: ActionInput, *, now: datetime) -> ActionPlan:
    """A new action (flushed, not committed)."""
    values = _check(session, principal, data, None)
    closing = values.pop("closing")
    activities, indicators, needs = _links(session, principal.organisation_id, data)
    action = ActionPlan(
        organisation_id=principal.organisation_id,
        review_action_id=data.review_action_id,
        closed_at=now if closing else None,
        **values,
    )
    action.activities, action.indicators, action.needs = activities, indicators, needs
    session.add(action)
    session.flush()
    return action


def update_action(
    session: Session,
    principal: Principal,
    action: ActionPlan,
    data: ActionInput,
    version: int,
    *,
    now: datetime,
) -> bool:
    """Edit ``action`` read at ``version``; returns whether anything changed."""
    if not can(principal, Action.EDIT, action):
        raise ActionPlanError("Vos droits ne permettent pas de modifier cette action.")
    values = _check(session, principal, data, action)
    closing = values.pop("closing")
    if closing and action.closed_at is None:
        values["closed_at"] = now
    elif not closing:
        values["closed_at"] = None
    changed = apply_edit(session, action, version, values, shown=["title", "status", "progress", "due_date"])
    activities, indicators, needs = _links(session, principal.organisation_id, data)
    for name, rows in (("activities", activities), ("indicators", indicators), ("needs", needs)):
        if {r.id for r in getattr(action, name)} != {r.id for r in rows}:
            setattr(action, name, rows)
            changed = True
    session.flush()
    return changed


def _editable(principal: Principal, action: ActionPlan) -> None:
    if not can(principal, Action.EDIT, action):
        raise ActionPlanError("Seuls la direction et les responsables du service suivent cette action.")


def add_milestone(
    session: Session, principal: Principal, action: ActionPlan, title: str, due_date: date | None
) -> ActionMilestone:
    """A new milestone of ``action`` (planned)."""
    _editable(principal, action)
    title = (title or "").strip()
    if not title:
        raise ActionPlanError("Nommez le jalon (ce qui doit être fait).", "title")
    if len(title) > 300:
        raise ActionPlanError("L'intitulé du jalon tient en 300 caractères au plus.", "title")
    if due_date is None:
        raise ActionPlanError("Donnez la date du jalon.", "due_date")
    if action.start_date and due_date < action.start_date:
        raise ActionPlanError(
            f"Le jalon du {due_date:%d/%m/%Y} tombe avant le début de l'action ({action.start_date:%d/%m/%Y}).",
            "due_date",
        )
    if action.due_date and due_date > action.due_date:
        raise ActionPlanError(
            f"Le jalon du {due_date:%d/%m/%Y} tombe après l'échéance de l'action ({action.due_date:%d/%m/%Y}) : "
            "reportez d'abord l'échéance de l'action.",
            "due_date",
        )
    if action.status in ("done", "dropped"):
        raise ActionPlanError(
            f"L'action est {STATUS_LABELS[action.status].lower()} : rouvrez-la avant d'y ajouter un jalon."
        )
    milestone = ActionMilestone(
        organisation_id=action.organisation_id, title=title, due_date=due_date, state="planned"
    )
    action.milestones.append(milestone)  # the relationship sets action_id; the list keeps one copy
    session.flush()
    return milestone


def set_milestone_state(
    session: Session,
    principal: Principal,
    milestone: ActionMilestone,
    state: str,
    version: int,
    *,
    today: date,
) -> bool:
    """Mark a milestone reached (today), dropped or planned again."""
    _editable(principal, milestone.action)
    if state not in MILESTONE_STATES:
        raise ActionPlanError(f"État de jalon inconnu : « {state} ».", "state")
    changes: dict[str, Any] = {"state": state, "done_on": today if state == "done" else None}
    if state == "done" and milestone.state == "done":
        changes["done_on"] = milestone.done_on
    return apply_edit(session, milestone, version, changes, shown=["title", "state"])


def record_update(
    session: Session,
    principal: Principal,
    action: ActionPlan,
    *,
    progress: int | None,
    status: str | None,
    comment: str,
    version: int,
    review_id: int | None,
    now: datetime,
) -> ActionUpdate:
    """A follow-up: the comment (at a review or between two), and the new progress and status."""
    _editable(principal, action)
    comment = (comment or "").strip()
    if not comment:
        raise ActionPlanError("Écrivez le commentaire de suivi (ce qui a avancé, ce qui bloque).", "comment")
    if review_id is not None:
        review = session.get(Review, review_id)
        if review is None or review.organisation_id != action.organisation_id:
            raise ActionPlanError("Revue inconnue dans votre organisation.", "review_id")
    new_progress = action.progress if progress is None else progress
    new_status = status or action.status
    if new_status == "planned" and new_progress > 0:
        new_status = "in_progress"
    data = ActionInput(
        objective_id=action.objective_id,
        title=action.title,
        code=action.code,
        description=action.description,
        service_id=action.service_id,
        owner_id=action.owner_id,
        elected_id=action.elected_id,
        partners=action.partners,
        budget=action.budget,
        start_date=action.start_date,
        due_date=action.due_date,
        status=new_status,
        progress=new_progress,
        activity_ids=[a.id for a in action.activities],
        indicator_ids=[i.id for i in action.indicators],
        need_ids=[n.id for n in action.needs],
    )
    update_action(session, principal, action, data, version, now=now)
    entry = ActionUpdate(
        organisation_id=action.organisation_id,
        action_id=action.id,
        review_id=review_id,
        author_id=principal.user_id,
        progress=new_progress,
        status=new_status,
        comment=comment,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


# -- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MilestoneLine:
    id: int
    version: int
    title: str
    due_date: date
    state: str
    state_label: str
    done_on: date | None
    late: bool
    due_soon: bool


@dataclass(frozen=True)
class ActionLine:
    """One action as the lists, the sheet and the home pages show it."""

    id: int
    version: int
    code: str
    title: str
    objective_id: int
    objective_code: str
    objective_title: str
    service: str | None
    owner_id: int | None
    owner: str | None
    elected: str | None
    start_date: date | None
    due_date: date | None
    status: str
    status_label: str
    progress: int
    late: bool
    milestones: list[MilestoneLine] = field(default_factory=list)

    @property
    def late_milestones(self) -> list[MilestoneLine]:
        return [m for m in self.milestones if m.late]

    @property
    def next_milestone(self) -> MilestoneLine | None:
        return next((m for m in self.milestones if m.state == "planned"), None)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def flagged(self) -> bool:
        """Late, or a milestone late: what the home page and the reminders point at."""
        return self.late or bool(self.late_milestones)


def milestone_line(m: ActionMilestone, today: date) -> MilestoneLine:
    return MilestoneLine(
        id=m.id,
        version=m.version,
        title=m.title,
        due_date=m.due_date,
        state=m.state,
        state_label=MILESTONE_LABELS[m.state],
        done_on=m.done_on,
        late=m.state == "planned" and m.due_date < today,
        due_soon=m.state == "planned" and today <= m.due_date <= today + DUE_SOON,
    )


def action_line(action: ActionPlan, names: dict[int, str], today: date) -> ActionLine:
    objective = action.objective
    return ActionLine(
        id=action.id,
        version=action.version,
        code=action.code,
        title=action.title,
        objective_id=objective.id,
        objective_code=objective.code,
        objective_title=objective.title,
        service=action.service.name if action.service else None,
        owner_id=action.owner_id,
        owner=names.get(action.owner_id) if action.owner_id else None,
        elected=names.get(action.elected_id) if action.elected_id else None,
        start_date=action.start_date,
        due_date=action.due_date,
        status=action.status,
        status_label=STATUS_LABELS[action.status],
        progress=action.progress,
        late=action.status in OPEN_STATUSES and action.due_date is not None and action.due_date < today,
        milestones=[milestone_line(m, today) for m in action.milestones],
    )


@dataclass(frozen=True)
class ActionFilter:
    objective_id: int | None = None
    owner_id: int | None = None
    service_id: int | None = None
    status: str | None = None  # a status, "open" (still to carry out) or "late"


def _names(session: Session, organisation_id: int) -> dict[int, str]:
    return dict(
        session.execute(select(User.id, User.full_name).where(User.organisation_id == organisation_id)).all()
    )


def list_actions(
    session: Session, principal: Principal, *, today: date, criteria: ActionFilter | None = None
) -> list[ActionLine]:
    """The actions the principal may read, filtered, late ones first then by due date."""
    criteria = criteria or ActionFilter()
    org = principal.organisation_id
    query = (
        select(ActionPlan)
        .where(ActionPlan.organisation_id == org)
        .options(
            selectinload(ActionPlan.milestones),
            selectinload(ActionPlan.objective),
            selectinload(ActionPlan.service),
        )
    )
    if principal.role is Role.SERVICE_MANAGER:
        services = session.scalars(select(Service.id).where(Service.organisation_id == org)).all()
        query = query.where(ActionPlan.service_id.in_(visible_service_ids(principal, services)))
    if criteria.objective_id is not None:
        query = query.where(ActionPlan.objective_id == criteria.objective_id)
    if criteria.owner_id is not None:
        query = query.where(ActionPlan.owner_id == criteria.owner_id)
    if criteria.service_id is not None:
        query = query.where(ActionPlan.service_id == criteria.service_id)
    if criteria.status in ACTION_STATUSES:
        query = query.where(ActionPlan.status == criteria.status)
    elif criteria.status in ("open", "late"):
        query = query.where(ActionPlan.status.in_(OPEN_STATUSES))
    names = _names(session, org)
    lines = [action_line(a, names, today) for a in session.scalars(query)]
    if criteria.status == "late":
        lines = [line for line in lines if line.flagged]
    return sorted(lines, key=lambda a: (not a.flagged, not a.is_open, a.due_date or date.max, a.code))


def open_actions_by_objective(session: Session, organisation_id: int) -> dict[int, int]:
    """How many actions still to carry out each objective has."""
    rows = session.execute(
        select(ActionPlan.objective_id, func.count())
        .where(ActionPlan.organisation_id == organisation_id, ActionPlan.status.in_(OPEN_STATUSES))
        .group_by(ActionPlan.objective_id)
    )
    return {objective_id: int(count) for objective_id, count in rows}


# -- the timeline (a Gantt-like chart, server-rendered SVG) -------------------------------------
@dataclass(frozen=True)
class TimelineBar:
    line: ActionLine
    x: float  # percent of the width
    width: float
    marks: list[tuple[float, MilestoneLine]]


@dataclass(frozen=True)
class Timeline:
    start: date
    end: date
    today_x: float | None
    months: list[tuple[float, str]]
    bars: list[TimelineBar]


MONTHS_FR = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def timeline(lines: Sequence[ActionLine], today: date) -> Timeline | None:
    """Bars from each dated action's start to its due date, milestones as marks, today as a line."""
    dated = [a for a in lines if a.start_date or a.due_date]
    if not dated:
        return None
    days = [d for a in dated for d in (a.start_date, a.due_date) if d] + [
        m.due_date for a in dated for m in a.milestones
    ]
    start = min(days).replace(day=1)
    last = max(days)
    end = (last.replace(day=1) + timedelta(days=32)).replace(day=1)
    span = max((end - start).days, 1)

    def x(day: date) -> float:
        return round(100 * (day - start).days / span, 2)

    months: list[tuple[float, str]] = []
    cursor = start
    step = max(1, round(span / 30 / 12))  # at most about 12 labels
    n = 0
    while cursor < end:
        if n % step == 0:
            label = MONTHS_FR[cursor.month - 1] + (
                f" {cursor.year}" if cursor.month == 1 or not months else ""
            )
            months.append((x(cursor), label))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
        n += 1
    bars = []
    for a in dated:
        first = a.start_date or a.due_date or start
        final = a.due_date or a.start_date or first
        bars.append(
            TimelineBar(
                line=a,
                x=x(first),
                width=max(x(final) - x(first), 0.8),
                marks=[(x(m.due_date), m) for m in a.milestones],
            )
        )
    return Timeline(start, end, x(today) if start <= today <= end else None, months, bars)


# -- reminders: an action's pilot is told when a milestone is due or late ------------------------
def milestone_reminders(session: Session, organisation: Organisation, *, now: datetime) -> int:
    """Notify each pilot of their milestones due within a week or late, and their late actions.

    One notification per pilot and run (the job runs once a day under a guard key). Returns how
    many notifications were written.
    """
    today = now.date()
    actions = session.scalars(
        select(ActionPlan)
        .where(
            ActionPlan.organisation_id == organisation.id,
            ActionPlan.status.in_(OPEN_STATUSES),
            ActionPlan.owner_id.is_not(None),
        )
        .options(selectinload(ActionPlan.milestones))
    ).all()
    by_owner: dict[int, list[str]] = {}
    for action in actions:
        lines = []
        if action.due_date is not None and action.due_date < today:
            lines.append(f"{action.code} « {action.title} » : échéance dépassée ({action.due_date:%d/%m/%Y})")
        for m in action.milestones:
            if m.state != "planned":
                continue
            if m.due_date < today:
                lines.append(
                    f"{action.code} : jalon « {m.title} » en retard (prévu le {m.due_date:%d/%m/%Y})"
                )
            elif m.due_date <= today + DUE_SOON:
                lines.append(f"{action.code} : jalon « {m.title} » prévu le {m.due_date:%d/%m/%Y}")
        if lines and action.owner_id is not None:
            by_owner.setdefault(action.owner_id, []).extend(lines)
    sent = 0
    for owner_id, lines in by_owner.items():
        owner = session.get(User, owner_id)
        if owner is None:
            continue
        late = sum("retard" in line or "dépassée" in line for line in lines)
        title = (
            f"Fiches action : {late} retard(s) à traiter" if late else "Fiches action : jalons de la semaine"
        )
        sent += notifications.notify(
            session,
            [owner],
            kind="reminder",
            title=title,
            body="\n".join(lines),
            link=f"/actions?pilote={owner_id}",
            now=now,
        )
    return sent
