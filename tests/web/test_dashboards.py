"""Dashboards: the scorecard's visual summary and what each role's home page leads with."""

from __future__ import annotations

import html as markup
import re
from datetime import timedelta

from sqlalchemy import delete, select

from models import ActionPlan, Objective, Scenario, ScenarioState
from models.base import utcnow
from pilotis.database import write_session
from services.dashboards import Spark, SparkPoint, StatusCounts, next_review

PERIOD = "2025-T4"


def text(response) -> str:
    return markup.unescape(response.get_data(as_text=True))


def test_the_summary_shows_counts_per_perspective_and_service_and_a_sparkline_per_indicator(login_as):
    response = login_as("direction").get(f"/tableau-de-bord/synthese?periode={PERIOD}")
    assert response.status_code == 200
    page = text(response)
    assert "Synthèse du tableau de bord — 2025-T4" in page
    for label in ("Usagers et citoyens", "Finances", "Processus internes", "Apprentissage et organisation"):
        assert f"<h3>{label}</h3>" in page
    # each stacked bar is an image named by its counts, in words
    assert re.search(
        r'<title id="bar-p1">Usagers et citoyens : (\d+ (rouges?|orange|verts?|non renseignés?|à valider)[, ]*)+ sur \d+</title>',
        page,
    )
    assert "Par service" in page
    assert '<th scope="row">Pôle seniors et maintien à domicile</th>' in page
    # sparklines: one per indicator, with all its values as text, French numbers
    sparks = re.findall(
        r'<svg class="spark" viewBox="0 0 120 28" role="img" aria-labelledby="spark-\d+">', page
    )
    assert len(sparks) > 20
    title = re.search(r'<title id="spark-1">([^<]+)</title>', page).group(1)
    assert re.search(r"\d+ périodes : \d{4}", title)
    assert (
        "." not in re.sub(r"\d{4}-(T\d|\d\d)", "", title.split(" : ", 1)[1]).replace("…", "") or "," in title
    )
    # the reds come first
    statuses = re.findall(r'<td><span class="status status-(\w+)">', page)
    if "red" in statuses:
        assert statuses[0] == "red"
    assert ' style="' not in page  # the CSP forbids inline styles
    # a table gives the perspectives' scores over the last quarters
    assert "Score de chaque perspective sur les derniers trimestres" in page
    assert "2025-T1" in page and "2025-T4" in page


def test_a_bad_period_is_refused_in_french(login_as):
    response = login_as("elu").get("/tableau-de-bord/synthese?periode=2025-T9")
    assert response.status_code == 400
    assert "Erreur" in text(response)


def test_the_direction_home_leads_with_reds_without_action_validation_and_late_actions(
    login_as, engine, demo
):
    page = text(login_as("direction").get("/"))
    assert "À décider ou à relancer" in page
    assert "Objectifs en rouge sans action en cours" in page
    # the demo's food-aid indicator has been red two quarters running with no action on it: first
    reds = page.split("Objectifs en rouge sans action en cours")[1].split("</ul>")[0]
    assert (
        "rouge deux périodes de suite : Paniers distribués par l'épicerie sociale" in reds.split("</li>")[0]
    )
    assert "Valeurs soumises à valider" in page
    assert "Fiches action en retard" in page
    assert "Prochaine revue :" in page
    assert "Score de chaque perspective" in page
    assert "En chiffres" in page  # the direction keeps the organisation's figures


def test_a_late_action_shows_on_the_direction_and_pilot_homes(login_as, engine, demo):
    with write_session(engine) as session:
        objective = session.scalar(
            select(Objective).where(
                Objective.organisation_id == demo.organisation_id, Objective.code == "OO1.1"
            )
        )
        pilot = session.scalar(select(Objective.owner_id).where(Objective.id == objective.id))
        late = ActionPlan(
            organisation_id=demo.organisation_id,
            objective_id=objective.id,
            service_id=objective.service_id,
            code="TEST-DASH-RETARD",
            title="Action en retard du test",
            owner_id=pilot,
            start_date=utcnow().date() - timedelta(days=90),
            due_date=utcnow().date() - timedelta(days=3),
            status="in_progress",
            progress=40,
        )
        session.add(late)
    try:
        for login in ("direction", "responsable.seniors"):
            page = text(login_as(login).get("/"))
            assert "TEST-DASH-RETARD — Action en retard du test" in page, login
            assert "échéance du" in page and "dépassée" in page
    finally:
        with write_session(engine) as session:
            session.execute(delete(ActionPlan).where(ActionPlan.code == "TEST-DASH-RETARD"))


def test_the_elected_home_leads_with_the_scenario_to_adopt_and_the_least_covered_needs(
    login_as, engine, demo
):
    with write_session(engine) as session:
        proposed = session.scalar(
            select(Scenario).where(
                Scenario.organisation_id == demo.organisation_id, Scenario.state == ScenarioState.PROPOSED
            )
        )
    page = text(login_as("elu").get("/"))
    assert "À décider" in page
    assert "Scénario budgétaire à adopter" in page
    if proposed is not None:
        assert proposed.name in page and "Examiner le scénario" in page
    assert "Besoins prioritaires les moins couverts" in page
    assert "couverture" in page and "priorité" in page
    assert "Score de chaque perspective" in page
    assert "En chiffres" not in page  # no « 1 016 mesures » for an élu


def test_finance_service_manager_and_partner_homes(login_as):
    finance = text(login_as("finances").get("/"))
    assert "Budget et arbitrages" in finance and "Scénarios en cours" in finance
    assert "Exécution du budget" in finance
    manager = text(login_as("responsable.seniors").get("/"))
    assert "À faire pour vos services" in manager
    assert "Valeurs renvoyées par la direction" in manager and "Vos objectifs à redresser" in manager
    partner = text(login_as("partenaire").get("/"))
    assert "Le diagnostic partagé" in partner and "Scénarios partagés avec les partenaires" in partner


def test_status_counts_and_sparkline_geometry():
    counts = StatusCounts("Seniors", {"green": 2, "red": 1, "missing": 1})
    assert counts.sentence() == "1 rouge, 2 verts, 1 non renseigné sur 4"
    segments = counts.segments()
    assert [s[0] for s in segments] == ["red", "green", "missing"]
    assert [s[2] for s in segments] == [25.0, 50.0, 25.0] and segments[-1][1] == 75.0
    assert StatusCounts("Vide", {}).sentence() == "aucun indicateur"

    class Line:
        target = 10.0

    spark = Spark(Line(), "Finances", [SparkPoint("2025-T1", 0.0), SparkPoint("2025-T2", 20.0)])  # type: ignore[arg-type]
    geometry = spark.path(width=100, height=20, pad=0)
    assert geometry["points"] == "0.0,20.0 100.0,0.0"
    assert geometry["target_y"] == 10.0 and geometry["last"] == (100.0, 0.0)
    assert Spark(Line(), "Finances", []).path()["points"] == ""  # type: ignore[arg-type]


def test_the_next_review_is_the_quarter_not_frozen_yet():
    from datetime import date

    assert next_review(date(2026, 1, 10)).startswith("Revue de 2025-T4 : période close le 31/12/2025")
    assert "revue figée vers le 15/01/2026" in next_review(date(2026, 1, 10))
    assert next_review(date(2026, 2, 1)).startswith("Revue de 2026-T1")
