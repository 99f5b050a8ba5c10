"""Who may do what: one function, :func:`can`, decides every access.

Pages, the API, exports and imports all ask it. Rules:

- nobody sees or touches another organisation's rows;
- the administrator manages accounts and reference data, reads everything and, with the direction,
  edits the value chain: services and partners, activities, needs and their coverage links;
- the direction reads everything and edits objectives, indicators, targets, needs and the offer,
  and validates measurements;
- a service manager reads and edits only the objectives, indicators, measurements, action plans
  and review lines of their own services (rows of no service are out of their reach), and reads the shared
  diagnostic (territory, statistics, needs, coherence, the ABS); the cost model and the budget
  scenarios are not theirs to read (their services' cost figures reach them as cost indicators);
- finance reads everything and edits costs and scenarios;
- an élu·e reads everything, sets the priority of needs (and applies a consultation's weights to
  them) and adopts a scenario;
- a partner / reader reads the shared diagnostic (statistics, needs, coherence, the published
  ABS figures, the scorecard) and changes nothing; never the internal documents (the budget
  scenarios, the cost model, the ABS's draft analysis texts), except a scenario the direction has
  shared with the partners;
- a server administrator (``is_superadmin``) creates organisations and applies the starter
  catalogue to one being set up; without an organisation of their own they see no organisation's rows;
- the administrator and the direction apply the starter catalogue to their organisation.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from models import (
    ActionPlan,
    CostLine,
    Indicator,
    Measurement,
    Objective,
    Role,
    Scenario,
    Service,
    Survey,
    User,
)


class Action(enum.StrEnum):
    VIEW = "view"
    EDIT = "edit"
    CREATE = "create"
    VALIDATE = "validate"
    SET_PRIORITY = "set_priority"
    EXPORT = "export"
    IMPORT = "import"
    ENTER_VALUES = "enter_values"
    MANAGE_USERS = "manage_users"
    ADMINISTER = "administer"  # scheduled jobs, outbox
    VIEW_AUDIT = "view_audit"
    ADOPT = "adopt"  # a budget scenario becomes the year's budget: the elected members' decision
    VIEW_ANSWERS = "view_answers"  # residents' own words and answer sheets: staff and élus, not partners
    CREATE_ORGANISATION = "create_organisation"  # the server administrator's set-up wizard
    APPLY_CATALOGUE = "apply_catalogue"  # create services, activities, needs, indicators from the catalogue
    SHARE = "share"  # a budget scenario shared with the partners (or no longer): the direction's


#: The organisation id of a server administrator who belongs to none (no row has it).
NO_ORGANISATION = 0


@dataclass(frozen=True)
class Principal:
    """The signed-in person as the policy sees them (no ORM object, no request)."""

    user_id: int
    organisation_id: int
    role: Role
    service_ids: frozenset[int]
    email: str = ""
    full_name: str = ""
    is_superadmin: bool = False
    #: Signed in with a temporary password: nothing else until it is changed.
    must_change_password: bool = False

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(
            user_id=user.id,
            organisation_id=user.organisation_id or NO_ORGANISATION,
            role=user.role,
            service_ids=frozenset(s.id for s in user.services),
            email=user.email,
            full_name=user.full_name,
            is_superadmin=user.is_superadmin,
            must_change_password=user.password_expires_at is not None,
        )


#: Kinds of rows, by what the roles may do with them (beyond reading).
SCOPED_TO_SERVICE = (Objective, Indicator, Measurement, ActionPlan)
EDITORS: dict[str, frozenset[Role]] = {
    "objective": frozenset({Role.DIRECTION, Role.SERVICE_MANAGER}),
    "objective_link": frozenset({Role.DIRECTION}),
    # fiches action: the direction, and a service manager for their services' actions
    "action_plan": frozenset(
        {Role.DIRECTION, Role.SERVICE_MANAGER}
    ),  # the strategy map's « contribue à » links
    "indicator": frozenset({Role.DIRECTION, Role.SERVICE_MANAGER}),
    "measurement": frozenset({Role.DIRECTION, Role.SERVICE_MANAGER}),
    "service": frozenset({Role.ADMIN, Role.DIRECTION}),
    "activity": frozenset({Role.ADMIN, Role.DIRECTION}),
    "need": frozenset({Role.ADMIN, Role.DIRECTION}),
    "territory": frozenset({Role.ADMIN}),
    "territory_statistic": frozenset({Role.ADMIN, Role.DIRECTION}),
    "cost_line": frozenset({Role.FINANCE}),
    "cost_centre": frozenset({Role.FINANCE}),
    "budget_document": frozenset({Role.FINANCE}),
    "import_mapping": frozenset({Role.FINANCE}),
    "scenario": frozenset({Role.FINANCE}),
    "user": frozenset({Role.ADMIN}),
    "review": frozenset({Role.DIRECTION}),
    "report_text": frozenset(
        {Role.DIRECTION}
    ),  # the ABS report's analysis; the figures are generated  # its decisions and action items; the snapshot never changes
    "organisation": frozenset({Role.ADMIN}),
    # surveys and consultations: built, published and closed by the direction; paper answers are
    # entered and free text tagged by whoever enters values (Action.ENTER_VALUES)
    "survey": frozenset({Role.DIRECTION}),
}


#: Internal documents, beyond the shared diagnostic: what the partners never read (a scenario the
#: direction shared excepted). The ABS's texts have no published state yet: for a partner each one
#: is a draft.
INTERNAL: frozenset[str] = frozenset(
    {"scenario", "cost_line", "cost_centre", "budget_document", "import_mapping", "report_text"}
)
#: The cost model and the scenarios span every service: not a service manager's to read.
BEYOND_A_SERVICE: frozenset[str] = frozenset(
    {"scenario", "cost_line", "cost_centre", "budget_document", "import_mapping"}
)


def _kind(obj: Any) -> str:
    name = type(obj).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def service_of(obj: Any) -> int | None:
    """The service a row belongs to, for the rows scoped to a service."""
    if isinstance(obj, Service):
        return obj.id
    if isinstance(obj, Measurement):
        return obj.indicator.service_id
    return getattr(obj, "service_id", None)


def _in_scope(principal: Principal, obj: Any) -> bool:
    """A service manager's reach: rows of their services (rows of no service are out of it)."""
    if principal.role is not Role.SERVICE_MANAGER or not isinstance(obj, SCOPED_TO_SERVICE):
        return True
    service_id = service_of(obj)
    return service_id is not None and service_id in principal.service_ids


def _readable(principal: Principal, obj: Any) -> bool:
    """May the principal read (or export) this row of their organisation?"""
    kind = _kind(obj)
    if principal.role is Role.READER and kind in INTERNAL:
        return isinstance(obj, Scenario) and bool(obj.shared_with_partners)
    if principal.role is Role.SERVICE_MANAGER and kind in BEYOND_A_SERVICE:
        return False
    return _in_scope(principal, obj)


def can(principal: Principal | None, action: Action, obj: Any = None) -> bool:
    """May ``principal`` do ``action`` (on ``obj``, an ORM row, or on its kind when None)?"""
    if principal is None:
        return False
    if action is Action.CREATE_ORGANISATION:
        return principal.is_superadmin
    if action is Action.APPLY_CATALOGUE and principal.is_superadmin:
        return True  # setting an organisation up; services.catalogue refuses one already started
    if obj is not None:
        organisation_id = obj.id if _kind(obj) == "organisation" else getattr(obj, "organisation_id", None)
        if organisation_id != principal.organisation_id:
            return False
    role = principal.role
    if _kind(obj) == "task":  # a background task (its progress, its file): the person who asked
        return action in (Action.VIEW, Action.EXPORT, Action.EDIT) and obj.user_id == principal.user_id
    if action in (Action.VIEW, Action.EXPORT):
        return obj is None or _readable(principal, obj)
    if action in (Action.MANAGE_USERS, Action.ADMINISTER):
        return role is Role.ADMIN
    if action is Action.ENTER_VALUES:  # indicator values: their service's managers, and the direction
        if isinstance(obj, Survey) and role is Role.SERVICE_MANAGER:
            # a survey's paper answers and free text: the managers of the service it is about
            return obj.service_id is not None and obj.service_id in principal.service_ids
        return role in (Role.DIRECTION, Role.SERVICE_MANAGER) and _in_scope(principal, obj)
    if action is Action.VIEW_ANSWERS:
        return role is not Role.READER
    if action is Action.VIEW_AUDIT:
        return role in (Role.ADMIN, Role.DIRECTION)
    if action is Action.VALIDATE:
        return role is Role.DIRECTION
    if action is Action.APPLY_CATALOGUE:
        return role in (Role.ADMIN, Role.DIRECTION)
    if action is Action.SET_PRIORITY:  # the README's roles: the élus set the priority of needs
        return role is Role.ELECTED
    if action is Action.ADOPT:
        return role is Role.ELECTED
    if action is Action.SHARE:  # a scenario shown to the partners: the direction's decision
        return role is Role.DIRECTION and (obj is None or isinstance(obj, Scenario))
    if role is Role.READER:
        return False
    if action in (Action.EDIT, Action.CREATE, Action.IMPORT):
        if obj is None:
            return any(role in roles for roles in EDITORS.values())
        editors = EDITORS.get(_kind(obj), frozenset())
        return role in editors and _in_scope(principal, obj)
    return False


def reads(principal: Principal | None, area: str) -> bool:
    """May the principal open an area's pages at all (the navigation shows it)?

    ``costs``: the cost model; ``scenarios``: the list of scenarios, were it only of the shared
    ones. Anything else: every signed-in person."""
    if principal is None:
        return False
    org = principal.organisation_id
    if area == "costs":
        return can(principal, Action.VIEW, CostLine(organisation_id=org))
    if area == "scenarios":
        return can(principal, Action.VIEW, Scenario(organisation_id=org, shared_with_partners=True))
    return True


def visible_service_ids(principal: Principal, all_ids: Iterable[int]) -> set[int]:
    """The services whose objectives, indicators and measurements the principal may see."""
    ids = set(all_ids)
    if principal.role is Role.SERVICE_MANAGER:
        return ids & set(principal.service_ids)
    return ids
