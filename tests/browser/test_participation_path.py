"""Citizen participation in Chromium: the direction publishes this year's satisfaction survey of the
meal delivery; a resident answers through the public link on a phone, with the keyboard only; the
direction closes the survey and its satisfaction rate appears in the service's scorecard; finance
builds a scenario with the consultation's weights and sees them beside the élus'."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from models import Indicator, Measurement, Period, Scenario, Service, Survey, SurveyResponse
from models.base import utcnow
from pilotis.database import write_session
from services.surveys import local_today
from tests.browser.conftest import axe_violations, describe, nav_link, sign_in

TITLE = "Satisfaction du portage de repas 2026"
LABEL = "Bénéficiaires du portage de repas satisfaits ou très satisfaits (enquête annuelle)"


@pytest.fixture
def restore(engine, demo):
    yield
    with write_session(engine) as session:
        survey = session.scalar(
            select(Survey).where(Survey.organisation_id == demo.organisation_id, Survey.title == TITLE)
        )
        if survey is not None:
            session.execute(delete(SurveyResponse).where(SurveyResponse.survey_id == survey.id))
            survey.state, survey.opened_at, survey.closed_at = "draft", None, None
        indicator = session.scalar(
            select(Indicator).where(
                Indicator.organisation_id == demo.organisation_id, Indicator.code == "satisfaction_portage"
            )
        )
        period = session.scalar(
            select(Period).where(
                Period.organisation_id == demo.organisation_id, Period.key == str(local_today(utcnow()).year)
            )
        )
        if indicator is not None and period is not None:
            session.execute(
                delete(Measurement).where(
                    Measurement.indicator_id == indicator.id, Measurement.period_id == period.id
                )
            )
        session.execute(delete(Scenario).where(Scenario.organisation_id == demo.organisation_id))


def answer_with_the_keyboard(page, score: str) -> None:
    """Tab to the first radio of question 1, arrow to the score, then fill the rest by keyboard."""
    page.get_by_role("radio", name="1 – pas du tout satisfait(e)").focus()
    for _ in range(int(score) - 1):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")  # to question 2
    page.keyboard.press("Space")  # "Toujours"
    page.keyboard.press("Tab")  # to question 3
    page.keyboard.press("Space")  # "Oui"
    page.keyboard.press("Tab")  # to question 4
    page.keyboard.press("ArrowDown")  # "Non": the conditional question stays hidden
    page.keyboard.press("Tab")  # to question 6 (free text)
    page.keyboard.type("Très bien, merci.")
    page.wait_for_timeout(3_100)  # an answer sent faster than a person reads is asked again
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")


def test_a_satisfaction_survey_feeds_the_scorecard_and_a_consultation_the_scenarios(
    live_server, browser, page, restore, engine, demo
):
    sign_in(page, live_server, "direction")
    nav_link(page, "Enquêtes").click()
    page.get_by_role("link", name=TITLE).click()
    violations = axe_violations(page)  # the questionnaire builder, as the direction sees it
    assert not violations, describe(violations)
    page.get_by_role("button", name="Publier l’enquête").click()
    assert "Enquête ouverte" in page.get_by_role("status").inner_text()
    link = page.locator("#lien-public").get_attribute("href")
    assert link and "/participer/" in link

    scores = ["5", "4", "2"]  # two satisfied out of three: 66.7 %
    for score in scores:
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
            extra_http_headers={"Accept-Language": "fr-FR,fr"},
        )  # fmt: skip
        resident = phone.new_page()
        resident.goto(link)
        assert resident.get_by_role("heading", level=1).inner_text() == TITLE
        assert "adresse IP" in resident.locator(".privacy").inner_text()
        assert not resident.get_by_text("Lequel ?").is_visible()  # conditional: asked only after « Oui »
        if score == scores[0]:
            violations = axe_violations(resident)
            assert not violations, describe(violations)
            width = resident.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
            resident.get_by_role("button", name="Envoyer mes réponses").click()  # nothing answered
            summary = resident.get_by_role("alert")
            assert "Votre questionnaire n'est pas encore envoyé" in summary.inner_text()
            violations = axe_violations(resident)  # the page with its errors, too
            assert not violations, describe(violations)
        answer_with_the_keyboard(resident, score)
        resident.wait_for_url("**/merci")
        heading = resident.get_by_role("heading", level=1).inner_text()
        assert heading == "Merci pour votre participation", resident.locator("main").inner_text()
        resident.goto(link)  # once per browser
        assert "Vous avez déjà répondu" in resident.locator("main").inner_text()
        phone.close()

    page.goto(live_server + "/enquetes")
    page.get_by_role("link", name=TITLE).click()
    page.get_by_role("button", name="Clore l'enquête").click()
    assert "1 valeur(s) d'indicateur mise(s) à jour" in page.get_by_role("status").inner_text()
    page.get_by_role("link", name="Résultats").first.click()
    expect(page.locator("main")).to_contain_text("3 répondant(s)", timeout=30_000)  # once loaded
    violations = axe_violations(page)
    assert not violations, describe(violations)
    for link in ("Réponses libres", "Saisie papier"):
        page.get_by_role("navigation", name="Cette enquête").get_by_role("link", name=link).click()
        violations = axe_violations(page)
        assert not violations, f"{link} : " + describe(violations)

    with write_session(engine) as session:
        seniors = session.scalar(
            select(Service.id).where(
                Service.organisation_id == demo.organisation_id, Service.code == "SENIORS"
            )
        )
    year = local_today(utcnow()).year  # the survey closed today: its value is this year's
    page.goto(f"{live_server}/tableau-de-bord/service/{seniors}?periode={year}")
    cells = page.get_by_role("row", name=LABEL).get_by_role("cell").all_inner_texts()
    assert cells[1].replace("\u202f", " ").replace("\xa0", " ").startswith("66,7"), cells
    assert "2 réponses positives sur 3" in cells[-1]

    # the consultation's weights, beside the élus', in a scenario
    sign_in(page, live_server, "finances")
    page.goto(live_server + "/scenarios")
    page.get_by_label("Nom du scénario").fill("Priorités des habitants")
    page.get_by_label("Année budgétaire").fill(str(date(2026, 11, 26).year + 1))
    page.get_by_label("Variation de l'enveloppe par rapport à aujourd'hui (%)").fill("-5")
    page.get_by_label("Poids de priorité des besoins").select_option(
        label="Ceux que propose la consultation « Consultation sur les priorités de l'action sociale 2027 »"
    )
    page.get_by_role("button", name="Créer et calculer").click()
    page.get_by_role("heading", name="Pourquoi cette proposition").wait_for(timeout=60_000)
    assert "ceux que propose la consultation" in page.locator("#ponderation").inner_text()
    table = page.get_by_role("table", name="Couverture de chaque besoin", exact=False)
    headers = table.get_by_role("columnheader").all_inner_texts()
    assert "Poids des élus" in headers and "Poids de la consultation" in headers
    row = table.get_by_role("row", name="Personnes sans domicile stable", exact=False).get_by_role("cell")
    texts = row.all_inner_texts()
    used, elected, consulted = texts[0], texts[1], texts[2]
    assert used == consulted and used != elected
