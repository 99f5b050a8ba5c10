"""Fiches action in the service layer: the rules of an action and its milestones, who may write
them, the timeline, the pilot's reminders, and the strategy map's trend read from a frozen review."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import Notification, Objective, Organisation, Review, Service, User
from models.base import utcnow
from services import action_plans as AP
from services.editing import StaleEdit
from services.policy import Principal

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=utcnow().tzinfo)
TODAY = NOW.date()


@pytest.fixture
def setting(db_session, demo):
    org = demo.organisation_id
    users = {
        u.email.split("@")[0]: u for u in db_session.scalars(select(User).where(User.organisation_id == org))
    }
    objectives = {
        o.code: o for o in db_session.scalars(select(Objective).where(Objective.organisation_id == org))
    }
    return {
        "session": db_session,
        "org": org,
        "direction": Principal.of(users["direction"]),
        "manager": Principal.of(users["responsable.seniors"]),
        "users": users,
        "objectives": objectives,
    }


def _input(s, **extra) -> AP.ActionInput:
    base = AP.ActionInput(
        objective_id=s["objectives"]["OO1.1"].id,
        title="Repérage des seniors isolés",
        owner_id=s["users"]["responsable.seniors"].id,
        start_date=date(2026, 9, 1),
        due_date=date(2027, 3, 31),
        status="in_progress",
        progress=10,
    )
    return replace(base, **extra)


def test_an_action_takes_its_objectives_service_and_the_next_code(setting):
    s = setting
    first = AP.create_action(s["session"], s["direction"], _input(s), now=NOW)
    second = AP.create_action(s["session"], s["direction"], _input(s, title="Deuxième"), now=NOW)
    assert first.service_id == s["objectives"]["OO1.1"].service_id
    number = int(first.code[3:])
    assert first.code.startswith("FA-") and second.code == f"FA-{number + 1:03d}"
    budget = AP.create_action(
        s["session"], s["direction"], _input(s, title="Avec budget", budget=Decimal("1500.5")), now=NOW
    )
    assert budget.budget == Decimal("1500.50")


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"title": "  "}, "title", "L'intitulé de l'action est obligatoire"),
        ({"objective_id": None}, "objective_id", "Choisissez l'objectif"),
        ({"objective_id": 999_999_999}, "objective_id", "Objectif inconnu"),
        ({"status": "done", "progress": 90}, "progress", "avancée à 100 %"),
        ({"status": "planned", "progress": 30}, "status", "a commencé"),
        ({"progress": 120}, "progress", "entre 0 et 100"),
        ({"due_date": date(2026, 8, 1)}, "due_date", "précède le début"),
        ({"budget": Decimal("-5")}, "budget", "ne peut pas être négatif"),
        ({"code": "FA 1 !"}, "code", "Code invalide"),
        ({"status": "bidon"}, "status", "Statut inconnu"),
    ],
)
def test_refusals_name_their_field_in_french(setting, extra, field, words):
    s = setting
    with pytest.raises(AP.ActionPlanError) as refused:
        AP.create_action(s["session"], s["direction"], _input(s, **extra), now=NOW)
    assert refused.value.field == field and words in str(refused.value)


def test_a_referent_must_be_an_elected_member_and_a_manager_stays_in_their_services(setting):
    s = setting
    with pytest.raises(AP.ActionPlanError, match="n'est pas élu·e"):
        AP.create_action(
            s["session"], s["direction"], _input(s, elected_id=s["users"]["finances"].id), now=NOW
        )
    other = s["objectives"]["OO2.1"]
    with pytest.raises(AP.ActionPlanError, match="pas dans votre périmètre"):
        AP.create_action(s["session"], s["manager"], _input(s, objective_id=other.id), now=NOW)
    mine = AP.create_action(s["session"], s["manager"], _input(s), now=NOW)
    theirs = AP.create_action(s["session"], s["direction"], _input(s, objective_id=other.id), now=NOW)
    with pytest.raises(AP.ActionPlanError):
        AP.update_action(
            s["session"], s["manager"], theirs, _input(s, objective_id=other.id), theirs.version, now=NOW
        )
    listed = {line.code for line in AP.list_actions(s["session"], s["manager"], today=TODAY)}
    assert mine.code in listed and theirs.code not in listed


def test_a_closed_objective_takes_no_new_action(setting):
    from models import ObjectiveStatus

    s = setting
    objective = s["objectives"]["OO1.1"]
    objective.status, objective.closed_at = ObjectiveStatus.CLOSED, NOW
    s["session"].flush()
    with pytest.raises(AP.ActionPlanError, match="est clôturé"):
        AP.create_action(s["session"], s["direction"], _input(s), now=NOW)


def test_edits_are_versioned_and_closing_dates_follow_the_status(setting):
    s = setting
    action = AP.create_action(s["session"], s["direction"], _input(s), now=NOW)
    read_at = action.version
    assert AP.update_action(
        s["session"], s["direction"], action, _input(s, status="done", progress=100), read_at, now=NOW
    )
    assert action.closed_at == NOW
    with pytest.raises(StaleEdit):
        AP.update_action(s["session"], s["direction"], action, _input(s, title="Trop tard"), read_at, now=NOW)
    AP.update_action(s["session"], s["direction"], action, _input(s, progress=60), action.version, now=NOW)
    assert action.closed_at is None and action.status == "in_progress"


def test_milestones_their_lateness_and_the_follow_up(setting):
    s = setting
    action = AP.create_action(s["session"], s["direction"], _input(s), now=NOW)
    with pytest.raises(AP.ActionPlanError, match="après l'échéance de l'action"):
        AP.add_milestone(s["session"], s["direction"], action, "Trop tard", date(2027, 6, 1))
    with pytest.raises(AP.ActionPlanError, match="avant le début"):
        AP.add_milestone(s["session"], s["direction"], action, "Trop tôt", date(2026, 1, 1))
    late = AP.add_milestone(s["session"], s["direction"], action, "Convention", TODAY - timedelta(days=10))
    soon = AP.add_milestone(s["session"], s["direction"], action, "Réunion", TODAY + timedelta(days=3))
    line = AP.action_line(action, {}, TODAY)
    assert [m.title for m in line.late_milestones] == ["Convention"] and line.flagged and not line.late
    assert [m.due_soon for m in line.milestones] == [False, True]
    AP.set_milestone_state(s["session"], s["direction"], late, "done", late.version, today=TODAY)
    assert late.done_on == TODAY and not AP.action_line(action, {}, TODAY).flagged
    with pytest.raises(StaleEdit):
        AP.set_milestone_state(s["session"], s["direction"], soon, "dropped", soon.version - 1, today=TODAY)
    entry = AP.record_update(
        s["session"],
        s["direction"],
        action,
        progress=55,
        status=None,
        comment="Convention signée.",
        version=action.version,
        review_id=None,
        now=NOW,
    )
    assert (
        entry.progress == 55 and action.progress == 55 and action.updates[0].comment == "Convention signée."
    )
    with pytest.raises(AP.ActionPlanError, match="commentaire de suivi"):
        AP.record_update(
            s["session"],
            s["direction"],
            action,
            progress=60,
            status=None,
            comment=" ",
            version=action.version,
            review_id=None,
            now=NOW,
        )


def test_the_timeline_places_bars_milestones_and_today(setting):
    s = setting
    action = AP.create_action(s["session"], s["direction"], _input(s), now=NOW)
    AP.add_milestone(s["session"], s["direction"], action, "Jalon", date(2026, 12, 15))
    chart = AP.timeline([AP.action_line(action, {}, TODAY)], TODAY)
    assert chart is not None and chart.start == date(2026, 9, 1) and chart.end == date(2027, 4, 1)
    bar = chart.bars[0]
    assert bar.x == 0.0 and 99 < bar.x + bar.width <= 100
    assert 0 < chart.today_x < bar.marks[0][0] < 100
    assert chart.months[0][1] == "sept. 2026"
    assert AP.timeline([], TODAY) is None


def test_the_pilot_is_told_of_late_and_coming_milestones_once_per_run(setting):
    s = setting
    action = AP.create_action(
        s["session"],
        s["direction"],
        _input(s, due_date=TODAY - timedelta(days=1), start_date=date(2026, 9, 1)),
        now=NOW,
    )
    AP.add_milestone(s["session"], s["direction"], action, "Jalon en retard", TODAY - timedelta(days=5))
    organisation = s["session"].get(Organisation, s["org"])
    pilot = s["users"]["responsable.seniors"].id
    before = (
        s["session"].scalar(
            select(Notification.id)
            .where(Notification.user_id == pilot)
            .order_by(Notification.id.desc())
            .limit(1)
        )
        or 0
    )
    assert AP.milestone_reminders(s["session"], organisation, now=NOW) >= 1
    note = s["session"].scalar(
        select(Notification)
        .where(Notification.user_id == pilot, Notification.id > before)
        .order_by(Notification.id.desc())
    )
    assert note.title.startswith("Fiches action :") and "retard" in note.title
    assert f"{action.code} « Repérage des seniors isolés » : échéance dépassée" in note.body
    assert "jalon « Jalon en retard » en retard" in note.body
    assert note.link == f"/actions?pilote={pilot}"


def test_the_strategy_map_reads_the_trend_from_the_frozen_review(setting, demo):
    from services.reviews import close_period
    from services.strategy_map import build_strategy_map

    s = setting
    session = s["session"]
    organisation = session.get(Organisation, s["org"])
    computed = build_strategy_map(session, s["direction"], "2025-T4")
    review = session.scalar(
        select(Review).where(
            Review.organisation_id == s["org"], Review.title == "Revue de la période 2025-T3"
        )
    ) or close_period(session, organisation, "2025-T3", now=NOW)
    # the frozen review says what the trend is read against: change one frozen score and see it
    snapshot = dict(review.snapshot)
    first = snapshot["perspectives"][0]["objectives"][0]
    code = first["code"]
    first = {**first, "score": 0.123}
    snapshot["perspectives"] = [
        {
            **snapshot["perspectives"][0],
            "objectives": [first, *snapshot["perspectives"][0]["objectives"][1:]],
        },
        *snapshot["perspectives"][1:],
    ]
    review.snapshot = snapshot
    session.flush()
    frozen = build_strategy_map(session, s["direction"], "2025-T4")
    objective_id = s["objectives"][code].id
    assert frozen.entries[objective_id].previous_score == pytest.approx(0.123)
    assert computed.entries[objective_id].previous_score != pytest.approx(0.123)
    # a service manager's scope is narrower than the review's: their trend is computed
    managed = build_strategy_map(session, s["manager"], "2025-T4")
    assert all(entry.previous_score != pytest.approx(0.123) for entry in managed.entries.values())
    assert session.scalar(select(Service.id).limit(1))


def test_the_reminders_job_runs_once_a_day_for_the_pilots(setting):
    from jobs.registry import BY_NAME, Context

    s = setting
    job = BY_NAME["action-reminders"]
    organisation = s["session"].get(Organisation, s["org"])
    ctx = Context(now=NOW, packs_folder=None)  # type: ignore[arg-type]
    assert job.due(s["session"], organisation, ctx) == ["2026-11-30"]
    action = AP.create_action(s["session"], s["direction"], _input(s), now=NOW)
    AP.add_milestone(s["session"], s["direction"], action, "Cette semaine", TODAY + timedelta(days=2))
    assert job.run(s["session"], organisation, "2026-11-30", ctx).endswith("pilote(s) prévenu(s)")
