"""What the scorecard and reviews read (validated values), and the past that stays the past
(effective dates, closed periods), on the demo organisation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from models import (
    Frequency,
    Indicator,
    Measurement,
    MeasurementState,
    Organisation,
    Period,
    Perspective,
    Service,
    Target,
    ThresholdMode,
    User,
)
from pilotis import schema
from pilotis.database import make_engine
from services.collection import (
    CollectionError,
    Entry,
    collection_grid,
    decide,
    open_periods,
    pending_validation,
    save_entries,
)
from services.policy import Principal
from services.reviews import close_period, owed_values
from services.scorecard import build_scorecard
from services.steering import (
    ObjectiveInput,
    SteeringError,
    ThresholdInput,
    create_indicator,
    create_objective,
    set_trajectory,
)
from tests.integration.test_steering import indicator_input

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(db_session, demo):
    def principal(login: str) -> Principal:
        user = db_session.scalar(select(User).where(User.email == f"{login}@carcassonne.pilotis.example"))
        return Principal.of(user)

    def period(key: str) -> Period:
        return db_session.scalar(
            select(Period).where(Period.organisation_id == demo.organisation_id, Period.key == key)
        )

    def indicator(code: str) -> Indicator:
        return db_session.scalar(
            select(Indicator).where(Indicator.organisation_id == demo.organisation_id, Indicator.code == code)
        )

    def service(code: str) -> Service:
        return db_session.scalar(
            select(Service).where(Service.organisation_id == demo.organisation_id, Service.code == code)
        )

    return {
        "s": db_session,
        "org": db_session.get(Organisation, demo.organisation_id),
        "direction": principal("direction"),
        "manager": principal("responsable.seniors"),
        "period": period,
        "indicator": indicator,
        "service": service,
    }


def _line(view, code):
    return next(line for line in view.lines() if line.code == code)


def _target(s, indicator: Indicator, period: Period) -> float:
    return s.scalar(
        select(Target.value).where(Target.indicator_id == indicator.id, Target.period_id == period.id)
    )


# -- only validated values count -------------------------------------------------------------------
def test_a_draft_never_counts_and_a_submitted_value_is_shown_to_validate(ctx):
    s, direction = ctx["s"], ctx["direction"]
    month, meals = ctx["period"]("2026-10"), ctx["indicator"]("repas_livres")
    before = build_scorecard(s, direction, "2026-10")
    assert _line(before, "repas_livres").status == "missing"
    measurement = Measurement(
        organisation_id=ctx["org"].id,
        indicator_id=meals.id,
        period_id=month.id,
        value=_target(s, meals, month) * 1.1,  # well above its target: green once validated
        state=MeasurementState.DRAFT,
    )
    s.add(measurement)
    s.flush()

    drafted = build_scorecard(s, direction, "2026-10")
    line = _line(drafted, "repas_livres")
    assert (line.status, line.value, line.state) == ("missing", None, "draft")
    assert drafted.score == before.score and drafted.reported == before.reported

    measurement.state = MeasurementState.SUBMITTED
    s.flush()
    submitted = build_scorecard(s, direction, "2026-10")
    line = _line(submitted, "repas_livres")
    assert (line.status, line.status_label, line.state_label) == ("pending", "À valider", "à valider")
    assert line.value == measurement.value and line.provisional_status == "green"
    assert submitted.score == before.score and submitted.awaiting == before.awaiting + 1

    measurement.state = MeasurementState.VALIDATED
    s.flush()
    validated = build_scorecard(s, direction, "2026-10")
    assert _line(validated, "repas_livres").status == "green"
    assert validated.reported == before.reported + 1 and validated.score > before.score


def test_the_close_freezes_what_was_validated_and_lists_the_rest(ctx):
    """2026-09 awaits validation in the demo: its values are submitted."""
    s, direction = ctx["s"], ctx["direction"]
    month = ctx["period"]("2026-09")
    submitted = s.scalars(
        select(Measurement).where(
            Measurement.period_id == month.id,
            Measurement.state == MeasurementState.SUBMITTED,
            Measurement.territory_id.is_(None),
        )
    ).all()
    assert len(submitted) >= 3
    first, returned, waiting = submitted[0], submitted[1], submitted[2]
    decide(s, direction, [first.id], accept=True, comment="", now=NOW)
    decide(s, direction, [returned.id], accept=False, comment="Chiffre faux : recompter", now=NOW)
    returned_line = returned.indicator.code

    review = close_period(s, ctx["org"], "2026-09", now=NOW)
    snapshot = review.snapshot
    lines = {}
    for perspective in snapshot["perspectives"]:
        stack = list(perspective["objectives"])
        lines |= {line["code"]: line for line in perspective["indicators_without_objective"]}
        while stack:
            block = stack.pop()
            lines |= {line["code"]: line for line in block["indicators"]}
            stack.extend(block["children"])
    assert lines[first.indicator.code]["state"] == "validated"
    assert lines[first.indicator.code]["status"] in ("green", "amber", "red")
    assert lines[returned_line]["status"] == "returned"
    assert lines[returned_line]["status_label"] == "Renvoyée au service"
    assert lines[waiting.indicator.code]["status"] == "pending"
    # nothing that was not validated is shown as reached, nor counted as reported
    unsettled = [line for line in lines.values() if line["state"] in ("submitted", "returned", "draft")]
    assert unsettled and all(line["status"] not in ("green", "amber", "red") for line in unsettled)
    listed = {(line["code"], line["state"]) for line in snapshot["not_validated"]}
    assert (returned_line, "returned") in listed and (waiting.indicator.code, "submitted") in listed
    assert (first.indicator.code, "validated") not in listed
    assert snapshot["reported"] == sum(
        1 for line in lines.values() if line["status"] in ("green", "amber", "red")
    )

    # the closed period's values can no longer be validated, nor do they wait on the validation page
    with pytest.raises(CollectionError, match="2026-09 est close"):
        decide(s, direction, [waiting.id], accept=True, comment="", now=NOW)
    assert waiting.state is MeasurementState.SUBMITTED
    assert all(line.measurement.period_id != month.id for line in pending_validation(s, direction))


def test_every_status_label_agrees_with_the_rule(ctx):
    """Over the demo's closed quarter: a value short of its target is never "Atteint"."""
    view = build_scorecard(ctx["s"], ctx["direction"], "2026-T2")
    seen = set()
    for line in view.lines():
        if line.status != "green" or line.value is None:
            continue
        if line.direction == "band":
            met = (line.band_low is None or line.value >= line.band_low) and (
                line.band_high is None or line.value <= line.band_high
            )
        elif line.target is None:
            continue
        else:
            met = line.value >= line.target if line.direction == "higher" else line.value <= line.target
        assert line.status_label == ("Atteint" if met else "Dans la tolérance"), line
        seen.add(met)
    assert seen == {True, False}  # the demo has both cases
    assert view.status_label in ("Satisfaisant", "À surveiller", "Insuffisant", "Non renseigné")


# -- effective dates ---------------------------------------------------------------------------
def test_an_objective_and_indicator_created_today_leave_a_closed_quarter_alone(ctx):
    s, direction = ctx["s"], ctx["direction"]
    assert ctx["period"]("2026-T2").state.value == "closed"
    before = build_scorecard(s, direction, "2026-T2")
    objective = create_objective(
        s,
        direction,
        ObjectiveInput(
            code="OS9",
            title="Nouvel axe",
            description=None,
            perspective=Perspective.USERS,
            parent_id=None,
            service_id=None,
            owner_id=None,
            deadline=None,
            weight=3.0,
            need_ids=[],
            activity_ids=[],
        ),
    )
    indicator = create_indicator(
        s,
        direction,
        indicator_input(
            code="nouvel_indicateur",
            frequency=Frequency.QUARTERLY,
            objective_id=objective.id,
            service_id=ctx["service"]("SENIORS").id,
        ),
    )
    assert objective.effective_from == indicator.effective_from == datetime.now(UTC).date()
    after = build_scorecard(s, direction, "2026-T2")
    assert (after.score, after.reported, after.total) == (before.score, before.reported, before.total)
    assert "nouvel_indicateur" not in {line.code for line in after.lines()}
    # in the quarter it starts, it counts (and its value is owed)
    current = build_scorecard(s, direction, "2026-T4")
    assert _line(current, "nouvel_indicateur").status == "missing"


def test_dates_and_targets_of_a_closed_period_cannot_be_changed(ctx):
    s, direction = ctx["s"], ctx["direction"]
    with pytest.raises(SteeringError, match=r"période close.*après le 31/08/2026") as info:
        create_indicator(s, direction, indicator_input(code="retro", effective_from=date(2025, 1, 1)))
    assert info.value.field == "effective_from"
    meals = ctx["indicator"]("repas_livres")
    with pytest.raises(SteeringError, match=r"2026-08.*commencez la trajectoire à 2026-09"):
        set_trajectory(
            s,
            direction,
            meals,
            start_key="2026-06",
            end_key="2026-12",
            start_value=1,
            end_value=2,
            shape="linear",
            band=None,
            thresholds=ThresholdInput(ThresholdMode.RELATIVE, 0.05, 0.1),
        )
    assert _target(s, meals, ctx["period"]("2026-06")) != 1


def test_a_new_indicator_is_owed_from_its_start_only(ctx):
    s, direction, manager = ctx["s"], ctx["direction"], ctx["manager"]
    seniors = ctx["service"]("SENIORS")
    create_indicator(
        s,
        direction,
        indicator_input(
            code="visites_a_domicile",
            label="Visites à domicile",
            frequency=Frequency.MONTHLY,
            service_id=seniors.id,
            effective_from=date(2026, 11, 1),
        ),
    )
    owed = {o.user.email: o.lines for o in owed_values(s, ctx["org"].id, "2026-10")}
    assert not any(
        "Visites à domicile" in line for line in owed["responsable.seniors@carcassonne.pilotis.example"]
    )
    owed = {o.user.email: o.lines for o in owed_values(s, ctx["org"].id, "2026-11")}
    assert any(
        "Visites à domicile" in line for line in owed["responsable.seniors@carcassonne.pilotis.example"]
    )
    october = collection_grid(s, manager, seniors.id, "2026-10")
    assert "visites_a_domicile" not in {r.indicator.code for r in october.rows}
    november = collection_grid(s, manager, seniors.id, "2026-11")
    assert "visites_a_domicile" in {r.indicator.code for r in november.rows}
    # entering it for October anyway (API, workbook) is refused as not in the grid
    result = save_entries(
        s,
        manager,
        october,
        {s.scalar(select(Indicator.id).where(Indicator.code == "visites_a_domicile")): Entry("3", "", None)},
        submit=False,
        now=NOW,
    )
    assert list(result.errors.values()) == ["Indicateur absent de cette grille."]


def test_a_trajectory_does_not_open_entry_years_ahead(ctx):
    s, direction, manager = ctx["s"], ctx["direction"], ctx["manager"]
    meals = ctx["indicator"]("repas_livres")
    set_trajectory(
        s,
        direction,
        meals,
        start_key="2026-12",
        end_key="2028-12",
        start_value=3000,
        end_value=3400,
        shape="linear",
        band=None,
        thresholds=ThresholdInput(ThresholdMode.RELATIVE, 0.05, 0.1),
    )
    keys = [p.key for p in open_periods(s, ctx["org"].id, today=NOW.date())]
    assert "2026-12" in keys and "2026-10" in keys
    assert not [k for k in keys if k.startswith(("2027", "2028"))]
    grid = collection_grid(s, manager, ctx["service"]("SENIORS").id, "2027-06")
    result = save_entries(s, manager, grid, {meals.id: Entry("3 100", "", None)}, submit=False, now=NOW)
    assert result.errors == {0: "La période 2027-06 n'a pas commencé : la saisie ouvrira le 01/06/2027."}
    assert s.scalar(select(Measurement.id).where(Measurement.period_id == grid.period.id)) is None


# -- the migration keeps the history -----------------------------------------------------------
def test_the_migration_dates_existing_rows_from_their_organisations_first_period(empty_database_url):
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine, "0008")
        stamp = "2026-12-01 10:00:00"
        with engine.begin() as conn:
            for org_id, slug in ((1, "avec-periodes"), (2, "sans-periode")):
                conn.execute(
                    text(
                        "INSERT INTO organisations (id, slug, name, kind, created_at, updated_at, version, "
                        "costing_method, benchmark_named) VALUES (:id, :slug, :slug, 'ccas', :t, :t, 1, 'direct', "
                        ":false)"
                    ),
                    {"id": org_id, "slug": slug, "t": stamp, "false": False},
                )
                conn.execute(
                    text(
                        "INSERT INTO objectives (organisation_id, code, title, level, perspective, weight, status, "
                        "created_at, updated_at, version) VALUES (:org, 'OS1', 'Axe', 'strategic', 'users', 1, "
                        "'active', :t, :t, 1)"
                    ),
                    {"org": org_id, "t": stamp},
                )
                conn.execute(
                    text(
                        "INSERT INTO indicators (organisation_id, code, label, type, unit, direction, frequency, "
                        "perspective, decimals, weight, created_at, updated_at, version) VALUES (:org, 'repas', "
                        "'Repas', 'output', 'repas', 'higher', 'monthly', 'users', 0, 1, :t, :t, 1)"
                    ),
                    {"org": org_id, "t": stamp},
                )
            for key, start, end in (
                ("2024-03", "2024-03-01", "2024-03-31"),
                ("2023-T1", "2023-01-01", "2023-03-31"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO periods (organisation_id, key, kind, start_date, end_date, state, created_at, "
                        "updated_at) VALUES (1, :key, 'month', :start, :end, 'closed', :t, :t)"
                    ),
                    {"key": key, "start": start, "end": end, "t": stamp},
                )
        schema.upgrade(engine, "0009_effective_dates")
        with engine.connect() as conn:
            for table in ("objectives", "indicators"):
                rows = dict(
                    conn.execute(
                        text(f"SELECT organisation_id, effective_from FROM {table} ORDER BY 1")
                    ).all()
                )
                assert {k: str(v) for k, v in rows.items()} == {1: "2023-01-01", 2: "2026-12-01"}
        schema.downgrade(engine, "0008")
        schema.upgrade(engine, "0009_effective_dates")
    finally:
        engine.dispose()
