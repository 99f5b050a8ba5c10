"""Budget arbitration in Chromium: finance cuts the envelope by 5 %, runs the scenario, reads why,
compares it with the same cut everywhere, proposes it, and an elected member adopts it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from models import BudgetDocument, CostLine, Scenario
from pilotis.database import write_session
from tests.browser.conftest import axe_violations, describe, nav_link, sign_in


@pytest.fixture
def restore(engine, demo):
    yield
    with write_session(engine) as session:
        session.execute(delete(Scenario).where(Scenario.organisation_id == demo.organisation_id))
        documents = list(
            session.scalars(
                select(BudgetDocument.id).where(
                    BudgetDocument.organisation_id == demo.organisation_id,
                    BudgetDocument.source_format == "scenario",
                )
            )
        )
        session.execute(delete(CostLine).where(CostLine.document_id.in_(documents)))
        session.execute(delete(BudgetDocument).where(BudgetDocument.id.in_(documents)))


def create(page, base: str, name: str, method: str | None = None) -> None:
    page.goto(base + "/scenarios")
    page.get_by_label("Nom du scénario").fill(name)
    page.get_by_label("Année budgétaire").fill("2027")
    page.get_by_label("Variation de l'enveloppe par rapport à aujourd'hui (%)").fill("-5")
    if method:
        page.get_by_label("Méthode").select_option(method)
    page.get_by_role("button", name="Créer et calculer").click()
    page.get_by_role("heading", name="Pourquoi cette proposition").wait_for(timeout=60_000)


def test_finance_runs_compares_proposes_and_an_elected_member_adopts(live_server, browser, page, restore):
    sign_in(page, live_server, "finances")
    nav_link(page, "Scénarios").click()
    create(page, live_server, "Optimisé -5 %")
    why = page.locator("section.mission").inner_text().replace("\u202f", " ").replace("\xa0", " ")
    assert "1 € de plus couvrirait" in why and "valable pour une enveloppe entre" in why
    # -5 % of the year's voted budget: the same cut everywhere is measured against today's costs
    assert re.search(r"Une variation uniforme de toutes les activités \([+-]?[\d,]+ %\)", why), why
    services = page.get_by_role("table", name="Budget actuel et proposé de chaque service", exact=False)
    assert "Pôle solidarité et insertion" in services.inner_text()

    create(page, live_server, "Même effort -5 %", method="uniform")
    page.get_by_role("link", name="Tous les scénarios").click()
    page.get_by_label("Comparer « Optimisé -5 % »").check()
    page.get_by_label("Comparer « Même effort -5 % »").check()
    page.get_by_role("button", name="Comparer les scénarios cochés").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Comparaison de scénarios"
    summary = page.get_by_role("table", name="Synthèse des scénarios comparés")
    cells = (
        summary.get_by_role("row", name="Personnes pondérées couvertes").get_by_role("cell").all_inner_texts()
    )
    names = summary.get_by_role("columnheader").all_inner_texts()[1:]
    value = dict(
        zip(
            names,
            (float(c.replace("\u202f", "").replace("\xa0", "").replace(" ", "")) for c in cells),
            strict=True,
        )
    )
    optimised, uniform = value["Optimisé -5 %"], value["Même effort -5 %"]
    assert optimised > uniform  # the optimizer does better than the same cut everywhere
    expect(page.locator("svg.bars")).to_be_visible()

    page.goto(live_server + "/scenarios")
    page.get_by_role("link", name="Optimisé -5 %").click()
    page.get_by_role("button", name="Proposer aux élus").click()
    assert "Scénario proposé aux élus" in page.get_by_role("status").inner_text()
    url = page.url

    elected = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}).new_page()
    sign_in(elected, live_server, "elu")
    elected.goto(url)
    assert elected.get_by_role("button", name="Proposer aux élus").count() == 0
    elected.get_by_role("button", name="Adopter ce scénario").click()
    assert "Scénario adopté" in elected.get_by_role("status").inner_text()
    assert "budget primitif 2027" in elected.get_by_role("status").inner_text()
    assert "adopté" in elected.locator("#etat").inner_text()
    elected.context.close()


def test_no_accessibility_violation_on_the_scenario_pages(live_server, page, restore):
    sign_in(page, live_server, "finances")
    create(page, live_server, "Accessibilité")
    problems = {"scenario": axe_violations(page)}
    page.goto(live_server + "/scenarios")
    problems["index"] = axe_violations(page)
    assert {k: v for k, v in problems.items() if v} == {}, describe(
        [v for vs in problems.values() for v in vs]
    )
