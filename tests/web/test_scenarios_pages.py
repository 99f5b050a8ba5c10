"""The scenario pages: finance creates a scenario from the form and reads why while it is computed in
the background, proposes it, and only an elected member adopts it; the scenario, its problem and a
comparison download as files anyone can check; a wrong entry is refused with a French message."""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Callable, Iterator

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from models import (
    Activity,
    ActivityVolume,
    BudgetDocument,
    CostLine,
    Measurement,
    Period,
    Scenario,
    ScenarioState,
)
from models.base import utcnow
from optimizer import problem_from_dict
from pilotis.database import write_session
from services.budget import voted_budgets
from services.problem_files import read_problem_xlsx
from services.scenarios import ScenarioInput, create_scenario, current_problem, run_now, start_run
from tests.conftest import csrf_token

PREFIX = "Pages H4 "  # every scenario of this module starts with it and is deleted after each test
#: Adopted here only: other tests of the session may leave a scenario adopted for 2027 in the demo,
#: and a year has one adopted scenario.
ADOPTION_YEAR = 2032
SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def text(response) -> str:
    """The page as a person reads it: entities decoded, French number spaces as plain spaces."""
    return html.unescape(response.get_data(as_text=True)).translate(SPACES)


def flashes(response) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", m).strip()
        for m in re.findall(r'<p class="flash flash-\w+">(.*?)</p>', text(response), re.S)
    ]


def state_shown(page: str) -> str:
    match = re.search(r'<span id="etat">([^<]*)</span>', page)
    assert match, "no state on the page"
    return match.group(1)


def form_data(page: str, **fields: str) -> dict[str, str]:
    """The creation form as a person fills it (French numbers), with the page's CSRF token."""
    return {
        "csrf_token": csrf_token(page),
        "year": "2027",
        "cut": "-5",
        "min_change": "-10",
        "max_change": "15",
        "method": "optimise",
        "objective": "persons",
        "staff_limit": "",
        **fields,
    }


def wait_until_computed(client, scenario_id: int, timeout: float = 30.0) -> str:
    """Poll the scenario's page, as its refresh does, until the run is over; the last page."""
    deadline = time.monotonic() + timeout
    while True:
        page = text(client.get(f"/scenarios/{scenario_id}"))
        if state_shown(page) != "calcul en cours":
            return page
        assert time.monotonic() < deadline, "the background run did not end"
        assert '<meta http-equiv="refresh"' in page
        time.sleep(0.2)


def scenario_row(engine, scenario_id: int) -> Scenario:
    with write_session(engine) as session:
        scenario = session.get(Scenario, scenario_id)
        session.expunge(scenario)
        return scenario


@pytest.fixture
def cleanup(engine, demo) -> Iterator[None]:
    """Delete this module's scenarios and the budget their adoption wrote."""
    yield
    with write_session(engine) as session:
        documents = list(
            session.scalars(
                select(BudgetDocument.id).where(
                    BudgetDocument.organisation_id == demo.organisation_id,
                    BudgetDocument.source_format == "scenario",
                    BudgetDocument.source_name.contains(PREFIX),
                )
            )
        )
        session.execute(delete(CostLine).where(CostLine.document_id.in_(documents)))
        session.execute(delete(BudgetDocument).where(BudgetDocument.id.in_(documents)))
        # adoption also plans the year's volumes and computes its cost indicators
        activities = select(Activity.id).where(Activity.organisation_id == demo.organisation_id)
        session.execute(
            delete(ActivityVolume).where(
                ActivityVolume.year == ADOPTION_YEAR, ActivityVolume.activity_id.in_(activities)
            )
        )
        periods = select(Period.id).where(
            Period.organisation_id == demo.organisation_id, Period.key == str(ADOPTION_YEAR)
        )
        session.execute(delete(Measurement).where(Measurement.period_id.in_(periods)))
        session.execute(
            delete(Scenario).where(
                Scenario.organisation_id == demo.organisation_id, Scenario.name.startswith(PREFIX)
            )
        )


@pytest.fixture
def solved(engine, demo, cleanup) -> Callable[..., int]:
    """``solved(name, **options)``: a scenario of the demo computed and committed; its id."""

    def factory(name: str, **options) -> int:
        with write_session(engine) as session:
            scenario = create_scenario(
                session,
                demo.organisation_id,
                ScenarioInput(name=PREFIX + name, **{"year": 2027, "cut": -0.05, **options}),
                user_id=None,
            )
            run_now(session, scenario, now=utcnow(), time_limit=10)
            assert scenario.state is ScenarioState.SOLVED
            return scenario.id

    return factory


def post(client, url: str, **data: str):
    """A button of a scenario page (its form carries the page's CSRF token)."""
    token = csrf_token(client.get("/scenarios").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


# --- Create and read -------------------------------------------------------------------------------------


def test_finance_creates_a_scenario_and_reads_why(login_as, engine, demo, cleanup):
    client = login_as("finances")
    page = client.get("/scenarios").get_data(as_text=True)
    assert "Nouveau scénario" in page and "Créer et calculer" in page
    response = client.post("/scenarios", data=form_data(page, name=PREFIX + "Optimisé -5 %"))
    assert response.status_code == 303
    scenario_id = int(re.fullmatch(r"/scenarios/(\d+)", response.headers["Location"]).group(1))

    page = wait_until_computed(client, scenario_id)
    assert state_shown(page) == "calculé"
    assert '<meta http-equiv="refresh"' not in page
    assert "Pourquoi cette proposition" in page
    assert "1 € de plus couvrirait" in page
    assert "Une variation uniforme de toutes les activités (" in page
    assert "budget voté 2026 (BP + BS + DM)" in page  # what the -5 % is measured against
    assert "Pôle solidarité et insertion" in page and '<svg class="chart bars"' in page
    assert "Proposer aux élus" in page and "Adopter ce scénario" not in page

    scenario = scenario_row(engine, scenario_id)
    with write_session(engine) as session:
        today = current_problem(session, demo.organisation_id)
        voted = voted_budgets(session, demo.organisation_id)[2026]
    assert scenario.state is ScenarioState.SOLVED and scenario.parameters["cut"] == pytest.approx(-0.05)
    assert float(scenario.envelope) == pytest.approx(float(voted) * 0.95, abs=0.01)  # not today's costs
    assert today.envelope != pytest.approx(float(voted), abs=1.0)
    assert scenario.year == 2027 and scenario.method == "optimise"
    listing = text(client.get("/scenarios"))
    assert PREFIX + "Optimisé -5 %" in listing


def test_the_form_carries_the_what_ifs_and_the_method(login_as, engine, cleanup):
    client = login_as("finances")
    page = client.get("/scenarios").get_data(as_text=True)
    response = client.post(
        "/scenarios",
        data=form_data(
            page,
            name=PREFIX + "Hypothèses",
            cut="-2,5",
            min_change="-8",
            max_change="12,5",
            method="uniform",
            **{
                "priorities-0-need": "AIDE_LOGEMENT",
                "priorities-0-weight": "7,5",
                "priorities-1-need": "PA80",
                "priorities-1-weight": "9",
                "unit_costs-0-activity": "A_EPICERIE",
                "unit_costs-0-cost": "30,5",
                "unit_costs-2-activity": "A_PORTAGE",
                "unit_costs-2-cost": "12",
            },
        ),
    )
    assert response.status_code == 303
    scenario_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = wait_until_computed(client, scenario_id)
    assert "même effort partout" in page
    scenario = scenario_row(engine, scenario_id)
    assert scenario.method == "uniform" and scenario.state is ScenarioState.SOLVED
    assert scenario.parameters["cut"] == pytest.approx(-0.025)
    assert scenario.parameters["min_change"] == pytest.approx(-0.08)
    assert scenario.parameters["max_change"] == pytest.approx(0.125)
    problem = problem_from_dict(scenario.problem)
    priorities = {n.code: n.priority for n in problem.needs}
    assert priorities["AIDE_LOGEMENT"] == 7.5 and priorities["PA80"] == 9
    costs = {a.code: a.unit_cost for a in problem.activities}
    assert costs["A_EPICERIE"] == 30.5 and costs["A_PORTAGE"] == 12
    assert {s.code: s.min_change for s in problem.services}["SENIORS"] == pytest.approx(-0.08)


def test_the_form_sets_equity_floors_and_a_need_minimum(login_as, engine, cleanup):
    """A floor over a territory's needs (a priority quarter), one over a public, and a need's own
    minimum reach the problem; an unknown territory is refused with its name."""
    client = login_as("finances")
    page = client.get("/scenarios").get_data(as_text=True)
    assert 'name="equity-0-target"' in page and "Territoire : Saint-Jacques-Le Viguier" in page
    response = client.post(
        "/scenarios",
        data=form_data(
            page,
            name=PREFIX + "Équité",
            **{
                "equity-0-target": "territory:Saint-Jacques-Le Viguier",
                "equity-0-rate": "60",
                "equity-1-target": "group:Personnes âgées",
                "equity-1-rate": "40",
                "equity-1-soft": "y",
                "need_floors-0-need": "SDF",
                "need_floors-0-rate": "90",
            },
        ),
    )
    assert response.status_code == 303, flashes(response)
    scenario_id = int(response.headers["Location"].rsplit("/", 1)[1])
    wait_until_computed(client, scenario_id)
    scenario = scenario_row(engine, scenario_id)
    problem = problem_from_dict(scenario.problem)
    floors = {(f.scope, f.target): (f.min_rate, f.soft) for f in problem.equity_floors}
    assert floors == {
        ("territory", "Saint-Jacques-Le Viguier"): (pytest.approx(0.6), False),
        ("group", "Personnes âgées"): (pytest.approx(0.4), True),
    }
    sdf = next(n for n in problem.needs if n.code == "SDF")
    assert sdf.min_coverage_rate == pytest.approx(0.9) and not sdf.min_coverage_soft
    assert scenario.parameters["need_floors"] == [
        {"code": "SDF", "min_rate": pytest.approx(0.9), "soft": False}
    ]

    refused = client.post(
        "/scenarios",
        data=form_data(
            page,
            name=PREFIX + "Équité inconnue",
            **{"equity-0-target": "territory:Atlantis", "equity-0-rate": "50"},
        ),
    )
    assert refused.status_code == 400 and "territoire « Atlantis » inconnu" in text(refused)


def test_a_bad_number_is_refused_on_its_field(login_as, engine, demo, cleanup):
    client = login_as("finances")
    page = client.get("/scenarios").get_data(as_text=True)
    response = client.post("/scenarios", data=form_data(page, name=PREFIX + "Mauvais nombre", cut="abc"))
    assert response.status_code == 400
    body = text(response)
    error = re.search(r'<p class="field-error" id="cut-err">([^<]*)</p>', body)
    assert error and "« abc » n'est pas un nombre" in error.group(1)
    with write_session(engine) as session:
        assert not session.scalar(select(Scenario.id).where(Scenario.name == PREFIX + "Mauvais nombre"))


def test_a_refused_scenario_says_why_and_changes_nothing(login_as, engine, solved):
    solved("Déjà là")
    client = login_as("finances")
    page = client.get("/scenarios").get_data(as_text=True)
    with write_session(engine) as session:
        before = session.scalar(select(func.count()).select_from(Scenario))
    response = client.post("/scenarios", data=form_data(page, name=PREFIX + "Déjà là"))
    assert response.status_code == 400
    assert f"Scénario non créé : un scénario « {PREFIX}Déjà là » existe déjà." in flashes(response)[0]
    response = client.post(
        "/scenarios", data=form_data(page, name=PREFIX + "Bande fausse", min_change="5")
    )  # a band that does not contain 0 %: refused by the form
    assert response.status_code == 400
    with write_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Scenario)) == before


# --- Who does what ---------------------------------------------------------------------------------------


def test_an_elected_member_neither_creates_nor_proposes(login_as, engine, solved):
    scenario_id = solved("Pour les élus")
    client = login_as("elu")
    page = client.get("/scenarios").get_data(as_text=True)
    assert PREFIX + "Pour les élus" in html.unescape(page)
    assert "Créer et calculer" not in page
    response = client.post("/scenarios", data=form_data(page, name=PREFIX + "Par un élu"))
    assert response.status_code == 403
    show = client.get(f"/scenarios/{scenario_id}").get_data(as_text=True)
    assert "Proposer aux élus" not in show and "Recalculer" not in show
    assert post(client, f"/scenarios/{scenario_id}/proposer").status_code == 403
    assert post(client, f"/scenarios/{scenario_id}/calculer").status_code == 403
    assert scenario_row(engine, scenario_id).state is ScenarioState.SOLVED
    with write_session(engine) as session:
        assert not session.scalar(select(Scenario.id).where(Scenario.name == PREFIX + "Par un élu"))


def test_finance_proposes_and_an_elected_member_adopts(login_as, engine, demo, solved):
    scenario_id = solved("Proposé puis adopté", year=ADOPTION_YEAR)
    finances = login_as("finances")
    response = post(finances, f"/scenarios/{scenario_id}/proposer")
    assert response.status_code == 303 and response.headers["Location"] == f"/scenarios/{scenario_id}"
    page = finances.get(f"/scenarios/{scenario_id}")
    assert "Scénario proposé aux élus." in flashes(page)
    assert state_shown(text(page)) == "proposé par les finances"
    assert "Adopter ce scénario" not in text(page)
    assert post(finances, f"/scenarios/{scenario_id}/adopter").status_code == 403  # finance proposes only

    elu = login_as("elu")
    assert "Adopter ce scénario" in text(elu.get(f"/scenarios/{scenario_id}"))
    response = post(elu, f"/scenarios/{scenario_id}/adopter")
    assert response.status_code == 303
    page = elu.get(f"/scenarios/{scenario_id}")
    [message] = flashes(page)
    assert re.fullmatch(
        rf"Scénario adopté : \d+ ligne\(s\) du budget primitif {ADOPTION_YEAR} créées\.", message
    )
    assert state_shown(text(page)) == "adopté"
    with write_session(engine) as session:
        document = session.scalar(
            select(BudgetDocument).where(
                BudgetDocument.organisation_id == demo.organisation_id,
                BudgetDocument.source_name == f"Scénario adopté : {PREFIX}Proposé puis adopté",
            )
        )
        assert (
            document.source_format == "scenario"
            and document.year == ADOPTION_YEAR
            and document.document_type == "BP"
        )
        lines = session.scalar(
            select(func.count()).select_from(CostLine).where(CostLine.document_id == document.id)
        )
    assert str(lines) in message


def test_propose_and_cancel_refused_with_a_french_message(login_as, engine, solved):
    scenario_id = solved("Déjà calculé")
    client = login_as("finances")
    response = post(client, f"/scenarios/{scenario_id}/annuler")
    assert response.status_code == 303
    assert flashes(client.get(f"/scenarios/{scenario_id}")) == [
        "Erreur : aucun calcul en cours pour ce scénario."
    ]
    post(client, f"/scenarios/{scenario_id}/proposer")
    client.get(f"/scenarios/{scenario_id}")  # reads the flash
    response = post(client, f"/scenarios/{scenario_id}/proposer")
    assert response.status_code == 303
    assert flashes(client.get(f"/scenarios/{scenario_id}")) == [
        "Erreur : seul un scénario calculé et réalisable peut être proposé."
    ]
    assert scenario_row(engine, scenario_id).state is ScenarioState.PROPOSED


def test_a_running_scenario_refreshes_and_can_be_cancelled(login_as, engine, demo, cleanup):
    with write_session(engine) as session:
        scenario = create_scenario(
            session,
            demo.organisation_id,
            ScenarioInput(name=PREFIX + "En cours", year=2027, cut=-0.05),
            user_id=None,
        )
        start_run(session, scenario, now=utcnow())  # no worker: it stays running
        scenario_id = scenario.id
    client = login_as("finances")
    page = text(client.get(f"/scenarios/{scenario_id}"))
    assert state_shown(page) == "calcul en cours"
    assert '<meta http-equiv="refresh" content="2">' in page and "Annuler le calcul" in page
    assert "Pourquoi cette proposition" not in page
    response = post(client, f"/scenarios/{scenario_id}/annuler")
    assert response.status_code == 303
    page = client.get(f"/scenarios/{scenario_id}")
    assert flashes(page) == ["Calcul annulé."]
    assert state_shown(text(page)) == "annulé" and "Recalculer" in text(page)
    assert scenario_row(engine, scenario_id).state is ScenarioState.CANCELLED


# --- Files and comparison --------------------------------------------------------------------------------


def test_the_scenario_downloads_as_a_workbook(login_as, solved):
    scenario_id = solved("Exporté")
    response = login_as("direction").get(f"/scenarios/{scenario_id}/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == [
        "Scénario",
        "Budget par service",
        "Budget par activité",
        "Couverture des besoins",
    ]
    summary = {row[0]: row[1] for row in book["Scénario"].iter_rows(values_only=True) if row[0]}
    assert summary["Scénario"] == PREFIX + "Exporté" and summary["Année"] == 2027
    services = [row[0] for row in book["Budget par service"].iter_rows(min_row=2, values_only=True)]
    assert "Pôle solidarité et insertion" in services
    needs = list(book["Couverture des besoins"].iter_rows(min_row=2, values_only=True))
    assert len(needs) == 29 and all(0 <= row[6] <= 1.000001 for row in needs)


def test_the_problem_downloads_as_a_file_the_optimizer_reads(login_as, engine, solved):
    scenario_id = solved("Problème")
    client = login_as("finances")
    response = client.get(f"/scenarios/{scenario_id}/probleme.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    problem = problem_from_dict(json.loads(response.get_data(as_text=True)))
    scenario = scenario_row(engine, scenario_id)
    assert problem.envelope == pytest.approx(float(scenario.envelope), abs=0.01)
    assert problem.name == PREFIX + "Problème" and problem.year == 2027
    response = client.get(f"/scenarios/{scenario_id}/probleme.xlsx")
    assert response.status_code == 200
    from_excel = read_problem_xlsx(response.data)  # numbers kept to Excel's 15 significant digits
    assert from_excel.envelope == problem.envelope and from_excel.name == problem.name
    assert [
        (a.code, a.service, a.unit_cost, a.fixed_cost, a.current_volume) for a in from_excel.activities
    ] == [(a.code, a.service, a.unit_cost, a.fixed_cost, a.current_volume) for a in problem.activities]
    assert [(n.code, n.size, n.priority) for n in from_excel.needs] == [
        (n.code, n.size, n.priority) for n in problem.needs
    ]
    assert [c.coefficient for c in from_excel.coverages] == pytest.approx(
        [c.coefficient for c in problem.coverages], rel=1e-12
    )
    assert client.get(f"/scenarios/{scenario_id}/probleme.csv").status_code == 404


def test_two_scenarios_compare_side_by_side(login_as, solved):
    optimised = solved("Comparé optimisé")
    uniform = solved("Comparé même effort", method="uniform")
    client = login_as("direction")
    response = client.get(f"/scenarios/comparer?ids={optimised}&ids={uniform}")
    assert response.status_code == 200
    page = text(response)
    assert "Comparaison de scénarios" in page
    assert PREFIX + "Comparé optimisé" in page and PREFIX + "Comparé même effort" in page
    assert '<svg class="chart bars"' in page
    response = client.get(f"/scenarios/comparer.xlsx?ids={optimised}&ids={uniform}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Synthèse", "Budget par service", "Couverture par besoin"]
    header = next(book["Synthèse"].iter_rows(max_row=1, values_only=True))
    assert list(header[1:]) == [PREFIX + "Comparé optimisé", PREFIX + "Comparé même effort"]
    response = client.get(f"/scenarios/comparer?ids={optimised}")
    assert response.status_code == 303
    assert flashes(client.get("/scenarios")) == ["Erreur : Cochez au moins deux scénarios à comparer."]


def test_the_comparison_names_the_limiting_constraints_in_french(login_as, engine, demo, solved):
    with write_session(engine) as session:
        today = current_problem(session, demo.organisation_id).envelope
    optimised = solved("Limites optimisé", envelope=today * 0.95)  # 5 % less than today's costs
    other = solved("Limites -3 %", envelope=today * 0.97)
    page = text(login_as("direction").get(f"/scenarios/comparer?ids={optimised}&ids={other}"))
    row = re.search(r'<th scope="row">Contraintes limitantes</th>(.*?)</tr>', page, re.S)
    assert row
    assert "la baisse maximale du service « Pôle seniors et maintien à domicile »" in row.group(1)
    assert "service_min[" not in row.group(1)
