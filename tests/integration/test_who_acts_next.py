"""Who must act next is told: a returned value reaches its service's managers with the direction's
comment (kept apart from the manager's own), a proposed scenario reaches the élus; the entry grid
opens on the oldest period still owed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from models import (
    Indicator,
    Measurement,
    MeasurementState,
    Notification,
    Organisation,
    Period,
    Service,
    Target,
    User,
)
from pilotis import schema
from pilotis.database import make_engine
from services.collection import (
    CollectionError,
    Entry,
    collection_grid,
    decide,
    default_period,
    open_periods,
    owed_counts,
    pending_validation,
    save_entries,
)
from services.policy import Principal
from services.scenarios import propose
from tests.integration.test_scenarios_service import ADOPTION_YEAR, computed

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(db_session, demo):
    def user(login: str) -> User:
        return db_session.scalar(select(User).where(User.email == f"{login}@carcassonne.pilotis.example"))

    seniors = db_session.scalar(
        select(Service).where(Service.organisation_id == demo.organisation_id, Service.code == "SENIORS")
    )
    september = db_session.scalar(
        select(Period).where(Period.organisation_id == demo.organisation_id, Period.key == "2026-09")
    )
    submitted = db_session.scalars(
        select(Measurement)
        .where(
            Measurement.period_id == september.id,
            Measurement.state == MeasurementState.SUBMITTED,
            Measurement.territory_id.is_(None),
        )
        .order_by(Measurement.id)
    ).all()
    return {
        "s": db_session,
        "org": db_session.get(Organisation, demo.organisation_id),
        "user": user,
        "direction": Principal.of(user("direction")),
        "seniors": seniors,
        "september": september,
        "submitted_seniors": [m for m in submitted if m.indicator.service_id == seniors.id],
        "last_notification": db_session.scalar(select(func.max(Notification.id))) or 0,
    }


def _notes(ctx, user: User) -> list[Notification]:
    """The notifications ``user`` received during this test."""
    return list(
        ctx["s"].scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.id > ctx["last_notification"])
            .order_by(Notification.id)
        )
    )


def test_a_returned_value_keeps_the_managers_comment_and_tells_the_manager(ctx):
    s, manager = ctx["s"], ctx["user"]("responsable.seniors")
    first, second = ctx["submitted_seniors"][:2]
    first.comment = "Hausse due au plan canicule"
    s.flush()

    ids = [first.id, second.id]
    assert decide(s, ctx["direction"], ids, accept=False, comment="  Chiffre faux : recompter ", now=NOW) == 2

    assert first.state is MeasurementState.RETURNED
    assert first.comment == "Hausse due au plan canicule"  # no longer overwritten
    assert first.review_comment == second.review_comment == "Chiffre faux : recompter"
    assert second.comment is None or "Renvoyée" not in second.comment
    notes = _notes(ctx, manager)
    assert len(notes) == 1  # one message per service and period, not one per value
    note = notes[0]
    assert note.kind == "reminder"
    assert note.link == f"/saisie/?service={ctx['seniors'].id}&periode=2026-09"
    assert note.title.startswith("2 valeur(s) renvoyée(s) par la direction")
    assert f"- {first.indicator.label} : Chiffre faux : recompter" in note.body
    assert f"- {second.indicator.label} : Chiffre faux : recompter" in note.body
    # the direction, who returned them, and the managers of other services are not told
    assert _notes(ctx, ctx["user"]("direction")) == []
    assert _notes(ctx, ctx["user"]("responsable.solidarite")) == []

    # the manager corrects and resubmits: their comment is what they typed, the return stays apart
    grid = collection_grid(s, Principal.of(manager), ctx["seniors"].id, "2026-09")
    row = next(r for r in grid.rows if r.indicator.id == first.indicator_id)
    assert row.editable
    entry = Entry(value=str(first.value), comment="Recompté : plan canicule", version=first.version)
    result = save_entries(s, Principal.of(manager), grid, {first.indicator_id: entry}, submit=True, now=NOW)
    assert result.errors == {} and result.submitted == 1
    assert first.state is MeasurementState.SUBMITTED
    assert first.comment == "Recompté : plan canicule"
    assert first.review_comment == "Chiffre faux : recompter"


def _submitted_elsewhere(s, ctx) -> Measurement:
    """A value of the solidarity service submitted for 2026-09 (the demo submits only the seniors')."""
    solidarity = s.scalar(
        select(Service).where(Service.organisation_id == ctx["org"].id, Service.code == "SOLIDARITE")
    )
    indicator = s.scalar(
        select(Indicator)
        .where(
            Indicator.service_id == solidarity.id,
            Indicator.frequency == "monthly",
            Indicator.formula.is_(None),
        )
        .order_by(Indicator.code)
    )
    measurement = s.scalar(
        select(Measurement).where(
            Measurement.indicator_id == indicator.id,
            Measurement.period_id == ctx["september"].id,
            Measurement.territory_id.is_(None),
        )
    ) or Measurement(organisation_id=ctx["org"].id, indicator_id=indicator.id, period_id=ctx["september"].id)
    measurement.value, measurement.state = 12.0, MeasurementState.SUBMITTED
    s.add(measurement)
    s.flush()
    return measurement


def test_validating_tells_nobody_and_returns_are_grouped_by_service(ctx):
    s, manager = ctx["s"], ctx["user"]("responsable.seniors")
    decide(s, ctx["direction"], [ctx["submitted_seniors"][0].id], accept=True, comment="", now=NOW)
    assert _notes(ctx, manager) == []
    theirs = _submitted_elsewhere(s, ctx)
    ids = [ctx["submitted_seniors"][1].id, theirs.id]
    decide(s, ctx["direction"], ids, accept=False, comment="À revoir", now=NOW)
    assert [n.title[:2] for n in _notes(ctx, manager)] == ["1 "]
    service = s.get(Service, theirs.indicator.service_id)
    link = f"/saisie/?service={service.id}&periode=2026-09"
    told = {
        n.user_id
        for n in s.scalars(
            select(Notification).where(Notification.link == link, Notification.id > ctx["last_notification"])
        )
    }
    managers = {
        u.id
        for u in s.scalars(select(User).where(User.role == "service_manager", User.is_active.is_(True)))
        if service in u.services
    }
    entered = {theirs.entered_by_id} - {None, ctx["direction"].user_id}
    assert managers and told == managers | entered
    assert manager.id not in told


def test_a_proposed_scenario_tells_the_elus_with_a_link_to_it(ctx):
    s, org = ctx["s"], ctx["org"]
    scenario = computed(s, org.id, "Qui agit ensuite", year=ADOPTION_YEAR, cut=-0.05)
    elus = list(s.scalars(select(User).where(User.organisation_id == org.id, User.role == "elected")))
    assert elus
    before = {u.id: len(_notes(ctx, u)) for u in elus}
    propose(s, scenario, user_id=None, now=NOW)
    for elu in elus:
        notes = _notes(ctx, elu)
        assert len(notes) == before[elu.id] + 1
        assert notes[-1].kind == "review" and notes[-1].link == f"/scenarios/{scenario.id}"
        assert f"« Qui agit ensuite » pour {ADOPTION_YEAR}" in notes[-1].body
        assert "attend votre adoption" in notes[-1].body
    others = s.scalars(select(User).where(User.organisation_id == org.id, User.role != "elected")).all()
    assert all(not any(n.link == f"/scenarios/{scenario.id}" for n in _notes(ctx, u)) for u in others)


def test_the_migration_moves_the_directions_note_out_of_the_managers_comment(empty_database_url):
    engine = make_engine(empty_database_url)
    stamp = "2026-12-01 10:00:00"
    try:
        schema.upgrade(engine, "0014_scenario_sharing")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO organisations (id, slug, name, kind, created_at, updated_at, version, "
                    "costing_method, benchmark_named) VALUES (1, 'o', 'o', 'ccas', :t, :t, 1, 'direct', :f)"
                ),
                {"t": stamp, "f": False},
            )
            conn.execute(
                text(
                    "INSERT INTO indicators (id, organisation_id, code, label, type, unit, direction, frequency, "
                    "perspective, decimals, weight, created_at, updated_at, version) VALUES (1, 1, 'repas', "
                    "'Repas', 'output', 'repas', 'higher', 'monthly', 'users', 0, 1, :t, :t, 1)"
                ),
                {"t": stamp},
            )
            for period_id, key in ((1, "2026-09"), (2, "2026-10"), (3, "2026-11")):
                conn.execute(
                    text(
                        "INSERT INTO periods (id, organisation_id, key, kind, start_date, end_date, state, "
                        "created_at, updated_at) VALUES (:id, 1, :key, 'month', '2026-09-01', '2026-09-30', "
                        "'open', :t, :t)"
                    ),
                    {"id": period_id, "key": key, "t": stamp},
                )
            for period_id, comment in (
                (1, "Plan canicule\nRenvoyée par la direction : Chiffre faux"),
                (2, "Renvoyée par la direction : Recompter"),
                (3, "Rien à signaler"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO measurements (organisation_id, indicator_id, period_id, value, comment, "
                        "state, created_at, updated_at, version) VALUES (1, 1, :p, 3, :c, 'returned', :t, :t, 1)"
                    ),
                    {"p": period_id, "c": comment, "t": stamp},
                )
        schema.upgrade(engine, "0015_return_comment")
        query = text("SELECT period_id, comment, review_comment FROM measurements ORDER BY period_id")
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(query)] == [
                (1, "Plan canicule", "Chiffre faux"),
                (2, None, "Recompter"),
                (3, "Rien à signaler", None),
            ]
        schema.downgrade(engine, "0014_scenario_sharing")
        with engine.connect() as conn:
            assert [
                tuple(r) for r in conn.execute(text("SELECT comment FROM measurements ORDER BY period_id"))
            ] == [
                ("Plan canicule\nRenvoyée par la direction : Chiffre faux",),
                ("Renvoyée par la direction : Recompter",),
                ("Rien à signaler",),
            ]
    finally:
        engine.dispose()


# -- the entry grid opens on the oldest period still owed ------------------------------------------
def test_the_grid_opens_on_the_oldest_period_still_owed(ctx):
    s, seniors = ctx["s"], ctx["seniors"]
    periods = open_periods(s, ctx["org"].id, today=NOW.date())
    owed = owed_counts(s, seniors.id, periods)
    assert {p.key: owed[p.key] for p in periods} == {
        "2026": 1,
        "2026-T3": 0,
        "2026-09": 0,
        "2026-10": 6,
        "2026-T4": 3,
        "2026-11": 6,
    }  # the demo's 2026-09 and third quarter are submitted
    assert default_period(periods, owed).key == "2026-10"  # overdue, before 2026-11 and the running year

    # a draft and a returned value are still owed; a submitted one is not
    october = next(p for p in periods if p.key == "2026-10")
    grid = collection_grid(s, Principal.of(ctx["user"]("responsable.seniors")), seniors.id, "2026-10")
    values = {r.indicator.id: Entry(value="1", comment="c", version=None) for r in grid.rows}
    assert (
        save_entries(s, Principal.of(ctx["user"]("direction")), grid, values, submit=True, now=NOW).errors
        == {}
    )
    assert owed_counts(s, seniors.id, [october]) == {"2026-10": 0}
    first = ctx["submitted_seniors"][0]
    decide(s, ctx["direction"], [first.id], accept=False, comment="Recompter", now=NOW)
    owed = owed_counts(s, seniors.id, periods)
    assert owed["2026-09"] == 1 and default_period(periods, owed).key == "2026-09"

    nothing = {p.key: 0 for p in periods}
    assert default_period(periods, nothing).key == "2026-11"  # the most recent: started last
    assert default_period([], {}) is None


# -- the validation list ---------------------------------------------------------------------------
def test_the_validation_list_is_newest_first_or_by_service_with_targets_and_statuses(ctx):
    s = ctx["s"]
    seniors = ctx["submitted_seniors"]
    for hours, measurement in enumerate(seniors):
        measurement.submitted_at = NOW.replace(hour=1 + hours)
    latest = _submitted_elsewhere(s, ctx)
    latest.submitted_at = NOW.replace(hour=23)
    s.flush()
    recent = pending_validation(s, ctx["direction"], "2026-09")
    assert [line.measurement.id for line in recent] == [latest.id, *[m.id for m in reversed(seniors)]]
    by_service = pending_validation(s, ctx["direction"], "2026-09", order="service")
    names = [line.service.name for line in by_service]
    assert names == sorted(names) and set(names) == {ctx["seniors"].name, "Pôle solidarité et insertion"}
    for line in by_service:
        target = s.scalar(
            select(Target).where(
                Target.indicator_id == line.indicator.id, Target.period_id == ctx["september"].id
            )
        )
        assert line.target is target
        assert line.status in (
            {"green", "amber", "red"} if target is not None and target.value is not None else {"untargeted"}
        )
    with pytest.raises(CollectionError, match="Ordre « hasard » inconnu"):
        pending_validation(s, ctx["direction"], order="hasard")
