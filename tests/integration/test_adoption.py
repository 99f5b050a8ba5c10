"""Adopting a scenario writes exactly the scenario: on the demo, a 5 % cut adopted for a year gives
that year's budget, activity by activity and service by service, to the cent; the support
functions keep their lines; an annex budget of the same year stays; the cost indicators of the
year are computed; the envelope was measured against the current year's voted budget."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from models import (
    Activity,
    ActivityVolume,
    BudgetDocument,
    CostKind,
    CostLine,
    ImportMapping,
    Indicator,
    Measurement,
    Period,
    Scenario,
    ScenarioActivityResult,
    Service,
    ServiceKind,
)
from pilotis.database import write_session
from services.budget import execution, import_budget, save_mapping, voted_budgets
from services.scenarios import (
    ScenarioInput,
    adopt,
    create_scenario,
    propose,
    run_now,
    service_results,
)

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
#: Years adopted here only (other modules adopt 2027 and 2031; a year has one adopted scenario).
YEAR = 2029
WEB_YEAR = 2033
PREFIX = "Adoption H4 "
ANNEX = b"Compte;Budget;Fonction\n6022;1000;\n6411;5000;\n7311;8000;\n"


def cents(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def adopted(session, organisation_id: int, year: int, name: str) -> Scenario:
    """A -5 % scenario of the demo for ``year``, computed, proposed and adopted; an annex budget
    (an EHPAD's BP in M22) of the same year imported first."""
    save_mapping(
        session,
        organisation_id,
        {
            "name": "EHPAD",
            "columns": {"nature_code": "Compte", "planned_amount": "Budget", "function_code": "Fonction"},
            "defaults": {"document_type": "BP", "year": str(year), "nomenclature": "M22"},
        },
    )
    import_budget(session, organisation_id, ANNEX, f"ehpad_bp_{year}.csv", mapping_name="EHPAD", now=NOW)
    scenario = create_scenario(
        session, organisation_id, ScenarioInput(name=name, year=year, cut=-0.05), user_id=None
    )
    run_now(session, scenario, now=NOW, time_limit=10)
    propose(session, scenario, user_id=None, now=NOW)
    adopt(session, scenario, user_id=None, now=NOW)
    return scenario


def activity_costs(session, scenario: Scenario) -> dict[str, Decimal]:
    """The scenario's amount of each own activity (what the elected members adopted)."""
    return {
        name: Decimal(cost)
        for name, cost in session.execute(
            select(Activity.name, ScenarioActivityResult.cost)
            .join(Activity, Activity.id == ScenarioActivityResult.activity_id)
            .join(Service, Service.id == Activity.service_id)
            .where(ScenarioActivityResult.scenario_id == scenario.id, Service.kind == ServiceKind.OWN)
        )
    }


def test_the_adopted_budget_is_the_scenario_to_the_cent(db_session, demo):
    org = demo.organisation_id
    voted_2026 = voted_budgets(db_session, org)[2026]
    scenario = adopted(db_session, org, YEAR, "À adopter au centime")
    # the envelope: the voted budget of the current year (2026: BP + BS + DM) less 5 %, not the accounts
    assert scenario.parameters["baseline"] == {
        "year": 2026,
        "amount": float(voted_2026),
        "label": "budget voté 2026 (BP + BS + DM)",
    }
    assert cents(scenario.envelope) == cents(float(voted_2026) * 0.95)

    run = execution(db_session, org, YEAR)
    wanted = activity_costs(db_session, scenario)
    assert len(wanted) == 13 and sum(wanted.values()) > 3_000_000
    shown = {str(k): cents(v) for k, v in run.by_activity["budget"].items()}
    for name, amount in wanted.items():  # activity by activity, to the cent
        assert shown.get(name, Decimal(0)) == amount, name
    proposed = {row["name"]: cents(row["proposed"]) for row in service_results(db_session, scenario)}
    full = {str(k): cents(v) for k, v in run.by_service_full["budget"].items()}
    for name, amount in proposed.items():  # service by service (full cost), to the cent
        if amount:
            assert full[name] == amount, name
    assert cents(run.total["budget"]) == sum(wanted.values()) + Decimal("6000.00")  # + the annex's expenses

    # the support functions keep their lines: general administration has its own budget again
    by_line = {str(k): cents(v) for k, v in run.by_service["budget"].items()}
    administration = by_line["Direction et administration générale"]
    assert administration > Decimal("900000")
    operational = sum(
        v for k, v in by_line.items() if k not in ("Direction et administration générale", "Non affecté")
    )
    assert operational + administration == sum(wanted.values())
    # no service moves by more than its band against the scenario's today (the old adoption gave seniors +40 %)
    today = {row["name"]: row["current"] for row in service_results(db_session, scenario)}
    for name, amount in full.items():
        assert 0.89 * today[name] <= float(amount) <= 1.16 * today[name], name

    # the annex budget of the same year is still there, whole
    annex = db_session.scalars(
        select(BudgetDocument).where(BudgetDocument.organisation_id == org, BudgetDocument.year == YEAR)
    ).all()
    assert sorted((d.document_type, d.budget_kind, d.source_format) for d in annex) == [
        ("BP", "annexe", "EHPAD"),
        ("BP", "principal", "scenario"),
    ]
    ehpad = next(d for d in annex if d.budget_kind == "annexe")
    assert db_session.scalar(select(func.count()).where(CostLine.document_id == ehpad.id)) == 3

    # every amount is a cent, every line assigned to its activity
    principal = next(d for d in annex if d.budget_kind == "principal")
    lines = db_session.scalars(select(CostLine).where(CostLine.document_id == principal.id)).all()
    assert principal.line_count == len(lines) > 13
    assert all(line.amount == line.amount.quantize(Decimal("0.01")) > 0 for line in lines)
    assert all(sum(a.share for a in line.allocations) == 1 for line in lines)

    # the year's cost indicators are computed, from the planned volumes the scenario set
    meal = db_session.scalar(
        select(Measurement.value)
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(Period, Period.id == Measurement.period_id)
        .where(
            Indicator.organisation_id == org, Indicator.code == "cout_complet_repas", Period.key == str(YEAR)
        )
    )
    portage = db_session.scalar(
        select(Activity).where(Activity.organisation_id == org, Activity.code == "A_PORTAGE")
    )
    planned = db_session.scalar(
        select(ActivityVolume.planned_volume).where(
            ActivityVolume.activity_id == portage.id, ActivityVolume.year == YEAR
        )
    )
    assert planned and meal == pytest.approx(float(wanted[portage.name]) / planned, abs=0.01)


@pytest.fixture
def committed(engine, demo) -> Iterator[None]:
    """Remove what the web test commits: its scenario, the year's documents, volumes and values."""
    yield
    with write_session(engine) as session:
        org = demo.organisation_id
        documents = list(
            session.scalars(
                select(BudgetDocument.id).where(
                    BudgetDocument.organisation_id == org, BudgetDocument.year == WEB_YEAR
                )
            )
        )
        session.execute(delete(CostLine).where(CostLine.document_id.in_(documents)))
        session.execute(delete(BudgetDocument).where(BudgetDocument.id.in_(documents)))
        session.execute(
            delete(Scenario).where(Scenario.organisation_id == org, Scenario.name.startswith(PREFIX))
        )
        activities = select(Activity.id).where(Activity.organisation_id == org)
        session.execute(
            delete(ActivityVolume).where(
                ActivityVolume.year == WEB_YEAR, ActivityVolume.activity_id.in_(activities)
            )
        )
        period = select(Period.id).where(Period.organisation_id == org, Period.key == str(WEB_YEAR))
        session.execute(delete(Measurement).where(Measurement.period_id.in_(period)))
        session.execute(delete(Period).where(Period.organisation_id == org, Period.key == str(WEB_YEAR)))
        session.execute(
            delete(ImportMapping).where(ImportMapping.organisation_id == org, ImportMapping.name == "EHPAD")
        )


def row_amounts(page: str, table: str) -> dict[str, Decimal]:
    """The budget column of a table of the execution page, to the cent, by row label."""
    body = page.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    out = {}
    for label, amount in re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+) €</td>', body):
        number = amount.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", ".")
        out[label.replace("&#39;", "'")] = Decimal(number)
    return out


def test_the_execution_page_shows_the_adopted_scenario(login_as, engine, demo, committed):
    org = demo.organisation_id
    with write_session(engine) as session:
        scenario = adopted(session, org, WEB_YEAR, PREFIX + "affiché")
        wanted = activity_costs(session, scenario)
        proposed = {row["name"]: cents(row["proposed"]) for row in service_results(session, scenario)}
    page = login_as("elu").get(f"/couts/execution?annee={WEB_YEAR}").get_data(as_text=True)
    by_activity = row_amounts(page, "par-activite")
    for name, amount in wanted.items():
        assert by_activity[name] == amount, name
    by_service = row_amounts(page, "par-service-complet")
    for name, amount in proposed.items():
        if amount:
            assert by_service[name] == amount, name
    assert row_amounts(page, "par-service")["Direction et administration générale"] > Decimal("900000")
    documents = login_as("finances").get("/couts/import").get_data(as_text=True)
    assert f"ehpad_bp_{WEB_YEAR}.csv" in documents  # the annex budget is still listed
    costs = login_as("elu").get(f"/couts?annee={WEB_YEAR}").get_data(as_text=True)
    assert 'data-activity="A_PORTAGE"' in costs


def test_an_adoption_is_the_budget_writer_s_kind_of_document(db_session, demo):
    """The budget kept beside: lines of the replaced BP that the scenario does not arbitrate (revenues)."""
    org = demo.organisation_id
    year = 2026  # the demo's BP 2026 holds revenues (contributions of users, grants)
    revenues = db_session.scalar(
        select(func.sum(CostLine.amount)).where(
            CostLine.organisation_id == org,
            CostLine.year == year,
            CostLine.document_type == "BP",
            CostLine.kind == CostKind.BUDGET,
            CostLine.flow == "recette",
        )
    )
    assert revenues and revenues > 0
    scenario = create_scenario(
        db_session, org, ScenarioInput(name="Pour l'année en cours", year=year, cut=-0.02), user_id=None
    )
    run_now(db_session, scenario, now=NOW, time_limit=10)
    propose(db_session, scenario, user_id=None, now=NOW)
    adopt(db_session, scenario, user_id=None, now=NOW)
    kept = db_session.scalar(
        select(func.sum(CostLine.amount)).where(
            CostLine.organisation_id == org,
            CostLine.year == year,
            CostLine.document_type == "BP",
            CostLine.kind == CostKind.BUDGET,
            CostLine.flow == "recette",
        )
    )
    assert kept == revenues
    expenses = db_session.scalar(
        select(func.sum(CostLine.amount)).where(
            CostLine.organisation_id == org,
            CostLine.year == year,
            CostLine.document_type == "BP",
            CostLine.flow == "depense",
        )
    )
    assert expenses == sum(activity_costs(db_session, scenario).values())
