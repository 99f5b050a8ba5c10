"""Defining objectives and indicators: the cascade, moves and closures with history, formulas
and their checks, target trajectories."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from models import (
    AuditEntry,
    Direction,
    Frequency,
    IndicatorType,
    Objective,
    ObjectiveStatus,
    Perspective,
    Service,
    Target,
    ThresholdMode,
    User,
)
from models.base import utcnow
from services.policy import Principal
from services.steering import (
    IndicatorInput,
    ObjectiveInput,
    SteeringError,
    ThresholdInput,
    close_objective,
    create_indicator,
    create_objective,
    objective_tree,
    set_trajectory,
    update_indicator,
    update_objective,
)


@pytest.fixture
def ctx(db_session, demo):
    def principal(login):
        user = db_session.scalar(select(User).where(User.email == f"{login}@carcassonne.pilotis.example"))
        return Principal.of(user)

    def service(code):
        return db_session.scalar(
            select(Service).where(Service.organisation_id == demo.organisation_id, Service.code == code)
        )

    def objective(code):
        return db_session.scalar(
            select(Objective).where(Objective.organisation_id == demo.organisation_id, Objective.code == code)
        )

    return {
        "s": db_session,
        "direction": principal("direction"),
        "manager": principal("responsable.seniors"),
        "service": service,
        "objective": objective,
    }


def objective_input(**kw):
    base = dict(
        code="OO9",
        title="Nouvel objectif",
        description=None,
        perspective=Perspective.USERS,
        parent_id=None,
        service_id=None,
        owner_id=None,
        deadline=date(2027, 6, 30),
        weight=1.0,
        need_ids=[],
        activity_ids=[],
    )
    base.update(kw)
    return ObjectiveInput(**base)


def test_the_cascade_and_its_rules(ctx):
    s, direction = ctx["s"], ctx["direction"]
    os1 = ctx["objective"]("OS1")
    child = create_objective(
        s, direction, objective_input(parent_id=os1.id, service_id=ctx["service"]("SENIORS").id)
    )
    assert child.level.value == "operational"
    tree = objective_tree(s, direction)
    assert [n.objective.code for n in tree] == ["OS1", "OS2", "OS3", "OS4", "OS5"]
    assert "OO9" in [c.objective.code for c in tree[0].children]
    with pytest.raises(SteeringError, match="confié à un service"):
        create_objective(s, direction, objective_input(code="OO10", parent_id=os1.id))
    with pytest.raises(SteeringError, match="déjà pris"):
        create_objective(s, direction, objective_input(code="OS1"))
    with pytest.raises(SteeringError, match="sous lui-même"):
        update_objective(
            s, direction, os1, objective_input(code="OS1", title=os1.title, parent_id=child.id), os1.version
        )


def test_moving_and_closing_keep_their_history(ctx):
    s, direction = ctx["s"], ctx["direction"]
    oo11, os2 = ctx["objective"]("OO1.1"), ctx["objective"]("OS2")
    update_objective(
        s,
        direction,
        oo11,
        objective_input(code="OO1.1", title=oo11.title, parent_id=os2.id, service_id=oo11.service_id),
        oo11.version,
    )
    with pytest.raises(SteeringError, match="sous-objectifs encore ouverts"):
        close_objective(s, direction, os2, now=utcnow())
    close_objective(s, direction, oo11, now=utcnow())
    assert oo11.status is ObjectiveStatus.CLOSED and oo11.closed_at is not None
    fields = {
        e.field
        for e in s.scalars(
            select(AuditEntry).where(AuditEntry.table_name == "objectives", AuditEntry.row_id == str(oo11.id))
        )
    }
    assert {"parent_id", "status", "closed_at"} <= fields
    assert "OO1.1" not in [c.objective.code for n in objective_tree(s, direction) for c in n.children]
    close_objective(s, direction, oo11, now=utcnow(), reopen=True)
    assert oo11.status is ObjectiveStatus.ACTIVE


def test_a_manager_only_cascades_within_their_services(ctx):
    s, manager = ctx["s"], ctx["manager"]
    with pytest.raises(SteeringError):
        create_objective(
            s,
            manager,
            objective_input(parent_id=ctx["objective"]("OS2").id, service_id=ctx["service"]("SOLIDARITE").id),
        )


def indicator_input(**kw):
    base = dict(
        code="nouvel_indicateur",
        label="Nouvel indicateur",
        description=None,
        type=IndicatorType.EFFICIENCY,
        unit="EUR/personnes",
        direction=Direction.LOWER_IS_BETTER,
        frequency=Frequency.MONTHLY,
        perspective=Perspective.FINANCE,
        formula=None,
        decimals=2,
        weight=1.0,
        source=None,
        vintage=None,
        baseline_value=None,
        baseline_period_key=None,
        service_id=None,
        owner_id=None,
        objective_id=None,
        activity_id=None,
        need_id=None,
    )
    base.update(kw)
    return IndicatorInput(**base)


@pytest.mark.parametrize(
    ("formula", "unit", "message"),
    [
        ("cout_portage / inconnu", "EUR/personnes", "code inconnu : inconnu"),
        ("cout_portage + repas_livres", "EUR", "unités incompatibles"),
        ("cout_portage / repas_livres", "EUR/personnes", "la formule donne « EUR/repas »"),
        ("__import__('os')", "EUR", "non autorisée"),
        ("nouvel_indicateur * 2", "EUR", "son propre code"),
    ],
)
def test_computed_indicators_are_checked(ctx, formula, unit, message):
    with pytest.raises(SteeringError, match=message):
        create_indicator(ctx["s"], ctx["direction"], indicator_input(formula=formula, unit=unit))


def test_a_cycle_between_formulas_is_refused(ctx):
    s, direction = ctx["s"], ctx["direction"]
    first = create_indicator(
        s, direction, indicator_input(code="a_calc", unit="EUR", formula="cout_portage * 2")
    )
    create_indicator(s, direction, indicator_input(code="b_calc", unit="EUR", formula="a_calc + cout_saad"))
    with pytest.raises(SteeringError, match="circulaires"):
        update_indicator(
            s,
            direction,
            first,
            indicator_input(code="a_calc", unit="EUR", formula="b_calc * 2"),
            first.version,
        )
    with pytest.raises(SteeringError, match="utilisé par les formules de : b_calc"):
        update_indicator(
            s,
            direction,
            first,
            indicator_input(code="a_renomme", unit="EUR", formula="cout_portage * 2"),
            first.version,
        )


def test_a_trajectory_writes_one_target_per_period(ctx):
    s, direction = ctx["s"], ctx["direction"]
    indicator = create_indicator(
        s,
        direction,
        indicator_input(
            code="taux_x", unit="%", direction=Direction.HIGHER_IS_BETTER, frequency=Frequency.QUARTERLY
        ),
    )
    count = set_trajectory(
        s,
        direction,
        indicator,
        start_key="2027-T1",
        end_key="2027-T4",
        start_value=40,
        end_value=70,
        shape="linear",
        band=None,
        thresholds=ThresholdInput(ThresholdMode.ABSOLUTE, 2, 5),
    )
    assert count == 4
    values = [
        t.value
        for t in sorted(
            s.scalars(select(Target).where(Target.indicator_id == indicator.id)), key=lambda t: t.period.key
        )
    ]
    assert values == [40, 50, 60, 70]
    with pytest.raises(SteeringError, match="trimestres"):
        set_trajectory(
            s,
            direction,
            indicator,
            start_key="2027-01",
            end_key="2027-12",
            start_value=1,
            end_value=2,
            shape="linear",
            band=None,
            thresholds=ThresholdInput(ThresholdMode.RELATIVE, 0.05, 0.1),
        )
    with pytest.raises(SteeringError, match="orange ≤ seuil rouge"):
        set_trajectory(
            s,
            direction,
            indicator,
            start_key="2027-T1",
            end_key="2027-T2",
            start_value=1,
            end_value=2,
            shape="linear",
            band=None,
            thresholds=ThresholdInput(ThresholdMode.RELATIVE, 0.2, 0.1),
        )
