"""The demo holds the real figures of its commune, and building it twice changes nothing."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from models import (
    CostAllocation,
    CostKind,
    CostLine,
    Frequency,
    Indicator,
    Measurement,
    Need,
    Objective,
    Organisation,
    Period,
    Perspective,
    Role,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
    User,
)
from services import territorial_data as data
from services.demo import build_demo
from tests.conftest import DEMO_AS_OF, DEMO_COMMUNE


def _stat(session, org_id, territory_code, variable):
    return session.scalar(
        select(TerritoryStatistic)
        .join(Territory, Territory.id == TerritoryStatistic.territory_id)
        .where(
            TerritoryStatistic.organisation_id == org_id,
            Territory.code == territory_code,
            TerritoryStatistic.variable == variable,
        )
    )


def test_census_and_filosofi_figures_are_the_source_files(db_session, demo):
    communes = data.read_communes()
    for variable, column in (("population", "pop_rp2021"), ("pop_80p", "pop_80p"), ("pop_0_2", "pop_0_2"),
                             ("pop_75p", "pop_75p")):  # fmt: skip
        stat = _stat(db_session, demo.organisation_id, DEMO_COMMUNE, variable)
        assert stat.value == communes.loc[DEMO_COMMUNE, column]
        assert (stat.source, stat.vintage) == ("INSEE RP", 2021)
    assert _stat(db_session, demo.organisation_id, DEMO_COMMUNE, "pop_80p").value == 3619
    median = _stat(db_session, demo.organisation_id, DEMO_COMMUNE, "filo_mediane_uc")
    assert (median.value, median.source, median.vintage) == (18450, "INSEE Filosofi", 2019)
    poverty = _stat(db_session, demo.organisation_id, "110690902", "filo_taux_pauvrete_60")
    assert poverty.value == 48.0  # Saint-Jacques-Le Viguier


def test_caf_figures_by_iris_and_secret_cells(db_session, demo):
    caf = data.read_caf_iris().set_index("CODGEO")
    for iris in ("110690101", "110690902", "110690301"):
        stat = _stat(db_session, demo.organisation_id, iris, "caf_rsa_socle")
        assert stat.value == caf.loc[iris, "ARSAS"]
    secret = _stat(db_session, demo.organisation_id, "110690601", "caf_rsa_socle")
    assert secret.is_secret and secret.value is None
    blank_cell = _stat(db_session, demo.organisation_id, "110690401", "caf_aah")
    assert not blank_cell.is_secret and blank_cell.value == 70


def test_needs_are_sized_from_the_statistics(db_session, demo):
    needs = {
        n.code: n
        for n in db_session.scalars(select(Need).where(Need.organisation_id == demo.organisation_id))
    }
    communes = data.read_communes()
    assert needs["PA80"].size == 3619
    # CAF sums over the IRIS equal the joined table's (a lower bound with one secret IRIS)
    assert needs["AAH"].size == communes.loc[DEMO_COMMUNE, "caf20_alloc_aah"]
    assert needs["MONOPARENTS"].size == communes.loc[DEMO_COMMUNE, "caf20_alloc_monoparents"]
    rsa_iris = [n for c, n in needs.items() if c.startswith("RSA_")]
    published = [n.size for n in rsa_iris if n.size is not None]
    assert sum(published) == communes.loc[DEMO_COMMUNE, "caf20_alloc_rsa_socle"]
    assert needs["RSA_110690601"].size is None  # secret: unknown, never 0
    assert needs["RSA_110690902"].priority == 5  # poverty rate 48 %
    assert all(n.evidence for c, n in needs.items() if c != "SDF")
    assert needs["SDF"].evidence_note


def test_territory_tree_and_iris_as_quartiers(db_session, demo):
    iris = db_session.scalars(
        select(Territory).where(
            Territory.organisation_id == demo.organisation_id, Territory.kind == TerritoryKind.IRIS
        )
    ).all()
    assert len(iris) == 21
    assert all(t.parent.code == DEMO_COMMUNE for t in iris)
    assert iris[0].parent.parent.kind is TerritoryKind.EPCI
    assert {t.name for t in iris} >= {"Saint-Jacques-Le Viguier", "Centre Ville 1"}


def test_scorecard_content(db_session, demo):
    org_id = demo.organisation_id
    indicators = db_session.scalars(select(Indicator).where(Indicator.organisation_id == org_id)).all()
    assert len(indicators) >= 40
    assert {i.perspective for i in indicators} == set(Perspective)
    objectives = db_session.scalars(select(Objective).where(Objective.organisation_id == org_id)).all()
    assert {o.perspective for o in objectives} == set(Perspective)
    assert all(o.parent_id for o in objectives if o.code.startswith("OO"))
    monthly = [i for i in indicators if i.frequency is Frequency.MONTHLY and not i.formula]
    for ind in monthly:
        count = db_session.scalar(
            select(func.count()).select_from(Measurement).where(Measurement.indicator_id == ind.id)
        )
        assert count == 36, ind.code
    quarterly = [i for i in indicators if i.frequency is Frequency.QUARTERLY]
    for ind in quarterly:
        count = db_session.scalar(
            select(func.count()).select_from(Measurement).where(Measurement.indicator_id == ind.id)
        )
        assert count == 12, ind.code
    computed = [i for i in indicators if i.formula]
    assert computed and all(
        not db_session.scalar(
            select(func.count()).select_from(Measurement).where(Measurement.indicator_id == i.id)
        )
        for i in computed
    )
    periods = {p.key: p for p in db_session.scalars(select(Period).where(Period.organisation_id == org_id))}
    assert periods["2026-T3"].state.value == "open" and periods["2026-T2"].state.value == "closed"
    assert "2026-11" in periods  # the current month is open for collection


def test_one_user_per_role_and_managers_have_services(db_session, demo):
    users = db_session.scalars(select(User).where(User.organisation_id == demo.organisation_id)).all()
    assert {u.role for u in users} == set(Role)
    managers = [u for u in users if u.role is Role.SERVICE_MANAGER]
    assert managers and all(u.services for u in managers)
    assert all(u.password_hash and u.password_hash.startswith("scrypt:") for u in users)


def test_costs_are_exact_plausible_and_allocated(db_session, demo):
    org_id = demo.organisation_id
    actual_2025 = db_session.scalar(
        select(func.sum(CostLine.amount)).where(
            CostLine.organisation_id == org_id,
            CostLine.kind == CostKind.ACTUAL,
            CostLine.year == 2025,
            CostLine.flow == "depense",
        )
    )
    per_inhabitant = Decimal(actual_2025) / 46119
    assert Decimal(50) < per_inhabitant < Decimal(150)  # DOMAIN.md: ~6.3 bn EUR for France
    shares = db_session.execute(
        select(CostAllocation.cost_line_id, func.sum(CostAllocation.share))
        .join(CostLine)
        .where(CostLine.organisation_id == org_id)
        .group_by(CostAllocation.cost_line_id)
    ).all()
    assert shares and all(Decimal("0.99") <= total <= 1 for _, total in shares)


def test_building_again_changes_nothing_and_leaves_one_demo(demo_database_url, demo):
    """On a fresh copy of what ``pilotis demo`` wrote (the session's shared demo is touched by other
    tests, in any order): building it again writes nothing."""
    from sqlalchemy.orm import Session as OrmSession

    from pilotis.database import make_engine

    engine = make_engine(demo_database_url)
    try:
        with OrmSession(engine) as session:
            before = session.scalar(select(func.count()).select_from(Organisation))
            again = build_demo(session, DEMO_COMMUNE, as_of=DEMO_AS_OF)
            assert again.stats.changed == 0, again.stats
            assert again.counts == demo.counts
            assert session.scalar(select(func.count()).select_from(Organisation)) == before
            session.rollback()
    finally:
        engine.dispose()


def test_another_commune_gets_its_own_scaled_demo(db_session, demo):
    other = build_demo(db_session, "12202", as_of=DEMO_AS_OF)  # Rodez
    assert other.organisation_id != demo.organisation_id
    assert other.counts["indicators"] == demo.counts["indicators"]
    pa80 = db_session.scalar(
        select(Need).where(Need.organisation_id == other.organisation_id, Need.code == "PA80")
    )
    assert pa80.size == data.read_communes().loc["12202", "pop_80p"]


def test_the_demo_surveys_feed_last_years_satisfaction_rate_and_propose_weights(db_session, demo):
    from models import Indicator, Measurement, Period, Survey
    from services.survey_results import consultation_weights

    org_id = demo.organisation_id
    states = dict(
        db_session.execute(select(Survey.title, Survey.state).where(Survey.organisation_id == org_id)).all()
    )
    assert states == {
        "Satisfaction du portage de repas 2025": "closed",
        "Satisfaction du portage de repas 2026": "draft",
        "Baromètre des besoins sociaux 2026": "closed",
        "Consultation sur les priorités de l'action sociale 2027": "closed",
    }
    value = db_session.scalar(
        select(Measurement.value)
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(Period, Period.id == Measurement.period_id)
        .where(
            Indicator.organisation_id == org_id,
            Indicator.code == "satisfaction_portage",
            Period.key == "2025",
        )
    )
    assert value is not None and 60 <= value <= 95  # 109 satisfied of 138 in the seeded answers
    consultation = db_session.scalar(
        select(Survey).where(Survey.organisation_id == org_id, Survey.kind == "consultation")
    )
    weights = consultation_weights(db_session, consultation)
    assert len(weights) == 7 and all(w.respondents == 426 for w in weights)
    assert all(w.proposed_weight is not None and w.public_description for w in weights)
