"""The policy, role by role, on rows of the organisation, of another service, of another one."""

from __future__ import annotations

import pytest

from models import CostLine, Indicator, Need, Organisation, Role, Service, User
from services.policy import Action, Principal, can

ORG, OTHER_ORG, OWN_SERVICE, OTHER_SERVICE = 1, 2, 10, 20


def who(role: Role, services: frozenset[int] = frozenset()) -> Principal:
    return Principal(user_id=99, organisation_id=ORG, role=role, service_ids=services)


MANAGER = who(Role.SERVICE_MANAGER, frozenset({OWN_SERVICE}))
own_indicator = Indicator(id=1, organisation_id=ORG, service_id=OWN_SERVICE)
other_indicator = Indicator(id=2, organisation_id=ORG, service_id=OTHER_SERVICE)
foreign_indicator = Indicator(id=3, organisation_id=OTHER_ORG, service_id=OWN_SERVICE)


def test_nobody_reaches_another_organisations_rows():
    for role in Role:
        principal = MANAGER if role is Role.SERVICE_MANAGER else who(role)
        for action in Action:
            assert not can(principal, action, foreign_indicator)
        assert not can(principal, Action.VIEW, Organisation(id=OTHER_ORG))
        assert can(principal, Action.VIEW, Organisation(id=ORG))


def test_a_manager_sees_and_edits_only_their_services_rows():
    assert can(MANAGER, Action.VIEW, own_indicator) and can(MANAGER, Action.EDIT, own_indicator)
    assert not can(MANAGER, Action.VIEW, other_indicator)
    assert not can(MANAGER, Action.EDIT, other_indicator)
    assert can(MANAGER, Action.VIEW, Need(organisation_id=ORG))  # the shared diagnostic
    assert not can(MANAGER, Action.EDIT, Service(id=OWN_SERVICE, organisation_id=ORG))


@pytest.mark.parametrize("role", list(Role))
def test_a_reader_changes_nothing_and_everyone_reads(role):
    principal = MANAGER if role is Role.SERVICE_MANAGER else who(role)
    assert can(principal, Action.VIEW, own_indicator)
    if role is Role.READER:
        for action in (Action.EDIT, Action.CREATE, Action.IMPORT, Action.VALIDATE, Action.SET_PRIORITY):
            assert not can(principal, action, own_indicator)
            assert not can(principal, action)


def test_who_edits_what():
    line = CostLine(organisation_id=ORG)
    assert can(who(Role.FINANCE), Action.EDIT, line) and not can(who(Role.DIRECTION), Action.EDIT, line)
    assert can(who(Role.ADMIN), Action.MANAGE_USERS, User(organisation_id=ORG))
    assert not can(who(Role.DIRECTION), Action.MANAGE_USERS)
    assert can(who(Role.ELECTED), Action.SET_PRIORITY, Need(organisation_id=ORG))
    assert not can(who(Role.ELECTED), Action.EDIT, Need(organisation_id=ORG))
    assert can(who(Role.DIRECTION), Action.VALIDATE) and not can(MANAGER, Action.VALIDATE)
    assert {r for r in Role if can(who(r), Action.VIEW_AUDIT)} == {Role.ADMIN, Role.DIRECTION}
    assert not can(None, Action.VIEW)


def test_a_surveys_paper_answers_and_free_text_are_its_services_managers_and_the_directions():
    from models import Survey

    own = Survey(organisation_id=ORG, service_id=OWN_SERVICE)
    other = Survey(organisation_id=ORG, service_id=OTHER_SERVICE)
    nobody = Survey(organisation_id=ORG, service_id=None)
    assert can(MANAGER, Action.ENTER_VALUES, own)
    assert not can(MANAGER, Action.ENTER_VALUES, other)
    assert not can(MANAGER, Action.ENTER_VALUES, nobody)
    assert all(can(MANAGER, Action.VIEW, s) for s in (own, other, nobody))  # results are shared
    for survey in (own, other, nobody):
        assert can(who(Role.DIRECTION), Action.ENTER_VALUES, survey)
        assert can(who(Role.DIRECTION), Action.EDIT, survey)
        assert not can(MANAGER, Action.EDIT, survey)
        for role in (Role.FINANCE, Role.ELECTED, Role.READER, Role.ADMIN):
            assert not can(who(role), Action.ENTER_VALUES, survey)


def test_rows_of_no_service_are_out_of_a_managers_reach():
    """A manager's scope is their services' rows; a row with no service is not one of them
    (widening the scope to such rows must fail here)."""
    from models import Objective

    loose_indicator = Indicator(id=4, organisation_id=ORG, service_id=None)
    loose_objective = Objective(organisation_id=ORG, service_id=None)
    for row in (loose_indicator, loose_objective):
        for action in (Action.VIEW, Action.EXPORT, Action.EDIT, Action.ENTER_VALUES):
            assert not can(MANAGER, action, row), (row, action)
        assert can(who(Role.DIRECTION), Action.VIEW, row)
    assert can(MANAGER, Action.VIEW, Objective(organisation_id=ORG, service_id=OWN_SERVICE))


def test_partners_read_the_shared_diagnostic_not_the_internal_documents():
    from models import BudgetDocument, CostCentre, ImportMapping, ReportText, Scenario, TerritoryStatistic

    partner = who(Role.READER)
    for row in (Need(organisation_id=ORG), TerritoryStatistic(organisation_id=ORG), own_indicator):
        assert can(partner, Action.VIEW, row) and can(partner, Action.EXPORT, row)
    internal = (
        Scenario(organisation_id=ORG, shared_with_partners=False),
        CostLine(organisation_id=ORG),
        CostCentre(organisation_id=ORG),
        BudgetDocument(organisation_id=ORG),
        ImportMapping(organisation_id=ORG),
        ReportText(organisation_id=ORG),
    )
    for row in internal:
        assert not can(partner, Action.VIEW, row), row
        assert not can(partner, Action.EXPORT, row), row
        for role in (Role.DIRECTION, Role.FINANCE, Role.ELECTED, Role.ADMIN):
            assert can(who(role), Action.VIEW, row), (role, row)
    shared = Scenario(organisation_id=ORG, shared_with_partners=True)
    assert can(partner, Action.VIEW, shared) and can(partner, Action.EXPORT, shared)
    assert not can(partner, Action.EDIT, shared)
    assert not can(partner, Action.VIEW, Scenario(organisation_id=OTHER_ORG, shared_with_partners=True))


def test_only_the_direction_shares_a_scenario_with_the_partners():
    from models import Scenario

    scenario = Scenario(organisation_id=ORG)
    assert {
        r for r in Role if can(MANAGER if r is Role.SERVICE_MANAGER else who(r), Action.SHARE, scenario)
    } == {Role.DIRECTION}
    assert not can(who(Role.DIRECTION), Action.SHARE, Need(organisation_id=ORG))
    assert not can(who(Role.DIRECTION), Action.SHARE, Scenario(organisation_id=OTHER_ORG))


def test_a_manager_reads_neither_the_cost_model_nor_the_scenarios():
    from models import BudgetDocument, CostCentre, Scenario

    for row in (
        Scenario(organisation_id=ORG, shared_with_partners=True),
        CostLine(organisation_id=ORG),
        CostCentre(organisation_id=ORG),
        BudgetDocument(organisation_id=ORG),
    ):
        assert not can(MANAGER, Action.VIEW, row) and not can(MANAGER, Action.EXPORT, row), row
        assert can(who(Role.FINANCE), Action.VIEW, row)


def test_the_elus_set_the_priority_of_needs_not_the_direction():
    need = Need(organisation_id=ORG)
    assert {
        r for r in Role if can(MANAGER if r is Role.SERVICE_MANAGER else who(r), Action.SET_PRIORITY, need)
    } == {Role.ELECTED}
    assert {r for r in Role if can(who(r), Action.SET_PRIORITY)} == {Role.ELECTED}
