"""Costs in Chromium: finance imports the compte administratif, adjusts a driver, and sees the
cost per meal delivered and the cost per person housed in emergency change in the scorecard."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete

from models import BudgetDocument, Scenario
from pilotis.database import write_session
from services.demo import build_demo
from tests.browser.conftest import axe_violations, describe, nav_link, sign_in

CA_FILE = Path(__file__).resolve().parents[2] / "services" / "data" / "demo" / "ca_2025_ccas_carcassonne.csv"
MEAL = "Coût complet d'un repas livré (comptabilité analytique)"
HOUSED = "Coût complet par personne hébergée en urgence"


@pytest.fixture
def restore(engine, demo):
    yield
    with write_session(engine) as session:
        session.execute(delete(Scenario).where(Scenario.organisation_id == demo.organisation_id))
        session.execute(delete(BudgetDocument).where(BudgetDocument.organisation_id == demo.organisation_id))
        session.flush()
        build_demo(session, "11069", as_of=date(2026, 11, 26))  # seeded accounts and drivers come back


def scorecard_value(page, base: str, label: str) -> str:
    page.goto(f"{base}/tableau-de-bord/?periode=2025")
    cells = page.get_by_role("row", name=label).get_by_role("cell").all_inner_texts()
    return cells[1].replace("\u202f", " ").strip()


def scenario_meal_cost(page, base: str, name: str) -> float:
    """Create a scenario and read the unit cost of a meal the optimizer works with."""
    page.goto(base + "/scenarios")
    page.get_by_label("Nom du scénario").fill(name)
    page.get_by_label("Variation de l'enveloppe par rapport à aujourd'hui (%)").fill("-5")
    page.get_by_role("button", name="Créer et calculer").click()
    page.get_by_role("heading", name="Pourquoi cette proposition").wait_for(timeout=60_000)
    assert page.locator("#etat").inner_text() == "calculé", page.locator("section.mission").inner_text()
    text = page.locator("tr[data-activity=A_PORTAGE] td.unit-cost").inner_text()
    return float(text.replace("€", "").replace("\u202f", "").replace("\xa0", "").replace(",", ".").strip())


def test_finance_imports_the_accounts_and_adjusts_a_driver(live_server, page, restore, tmp_path: Path):
    sign_in(page, live_server, "finances")
    scenario_before = scenario_meal_cost(page, live_server, "Avant le compte administratif")
    meal_before = scorecard_value(page, live_server, MEAL)
    housed_before = scorecard_value(page, live_server, HOUSED)

    nav_link(page, "Coûts").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Coûts des activités — 2025"
    expect(page.locator("svg.sankey")).to_be_visible()
    page.get_by_role("link", name="Budgets et comptes importés").click()
    page.get_by_label("Fichier du budget ou du compte (.csv, .xlsx)").set_input_files(str(CA_FILE))
    page.get_by_role("button", name="Importer").click()
    status = page.get_by_role("status").inner_text()
    assert "Compte administratif 2025 importé : 83 ligne(s)" in status
    assert (
        "ca_2025_ccas_carcassonne.csv"
        in page.get_by_role("table", name="Documents budgétaires", exact=False).inner_text()
    )

    meal_imported = scorecard_value(page, live_server, MEAL)
    housed_imported = scorecard_value(page, live_server, HOUSED)
    assert meal_imported != meal_before and housed_imported != housed_before

    nav_link(page, "Coûts").click()
    page.get_by_role("link", name="Modèle de coûts").click()
    seniors = page.locator("#centre-SENIORS")
    quantity = seniors.get_by_label("Portage de repas à domicile")
    doubled = float(quantity.input_value().replace("\u202f", "").replace(" ", "").replace(",", ".")) * 2
    quantity.fill(f"{doubled:.0f}")
    seniors.get_by_role("button", name="Enregistrer les inducteurs").click()
    assert "Inducteurs enregistrés" in page.get_by_role("status").inner_text()

    meal_adjusted = scorecard_value(page, live_server, MEAL)
    assert meal_adjusted != meal_imported
    assert float(meal_adjusted.replace(",", ".")) > float(meal_imported.replace(",", "."))
    assert scorecard_value(page, live_server, HOUSED) == housed_imported  # another service: unchanged

    page.goto(f"{live_server}/couts?annee=2025")
    row = page.locator("tr[data-activity=A_PORTAGE]").inner_text().replace("\u202f", " ")
    assert meal_adjusted in row
    # the next arbitration scenario works with the new cost of a meal
    assert scenario_meal_cost(page, live_server, "Après le nouvel inducteur") > scenario_before


def test_no_accessibility_violation_on_the_cost_pages(live_server, page):
    sign_in(page, live_server, "finances")
    problems = {}
    for path in ("/couts", "/couts/execution?annee=2026", "/couts/modele", "/couts/import"):
        page.goto(live_server + path)
        problems[path] = axe_violations(page)
    assert {k: v for k, v in problems.items() if v} == {}, describe(
        [v for vs in problems.values() for v in vs]
    )
