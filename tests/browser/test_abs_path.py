"""The ABS report in Chromium: the director opens the report, writes the analysis of the portrait,
finds it saved in the page, downloads the PDF, and axe-core finds no accessibility violation."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete

from models import ReportText
from pilotis.database import write_session
from tests.browser.conftest import axe_violations, describe, sign_in


@pytest.fixture
def texts(engine, demo):
    yield
    with write_session(engine) as session:
        session.execute(delete(ReportText).where(ReportText.organisation_id == demo.organisation_id))


def test_the_director_writes_the_analysis_and_downloads_the_pdf(live_server, page, texts, tmp_path):
    sign_in(page, live_server, "direction")
    page.goto(live_server + "/abs?annee=2027")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Analyse des besoins sociaux 2027 — diagnostic complet"
    )
    assert "à présenter au conseil d'administration" in page.locator(".calendar").inner_text()
    violations = axe_violations(page)
    assert violations == [], describe(violations)

    portrait = page.locator("#section-portrait")
    table = portrait.get_by_role("table", name="Population et vieillissement")
    assert "46 119" in table.inner_text().replace("\u202f", " ")
    portrait.get_by_label("Analyse de la direction — Portrait socio-démographique du territoire").fill(
        "La population vieillit : 12,4 % d'habitants de 75 ans et plus."
    )
    portrait.get_by_role("button", name="Enregistrer l'analyse").click()
    assert "Analyse enregistrée." in page.get_by_role("status").inner_text()
    field = page.get_by_label("Analyse de la direction — Portrait socio-démographique du territoire")
    assert field.input_value() == "La population vieillit : 12,4 % d'habitants de 75 ans et plus."
    assert "version 1" in page.locator("#aide-portrait").inner_text()

    # the PDF is prepared by a worker: its page asks for it, the task's page follows it until it is
    # ready (seconds, ten times as long on a loaded machine), then the file is downloaded
    page.get_by_role("link", name="Télécharger le rapport (PDF)").click()
    # « Préparer une version à jour » when this person already asked for one (another test did)
    page.get_by_role("button", name=re.compile(r"^Préparer (le document|une version à jour)$")).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Rapport de l'ABS (PDF)"
    ready = page.get_by_role("link", name="Télécharger abs-2027-diagnostic.pdf")
    ready.wait_for(timeout=120_000)
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    with page.expect_download() as info:
        ready.click()
    download = info.value
    assert download.suggested_filename == "abs-2027-diagnostic.pdf"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.read_bytes().startswith(b"%PDF")
    page.goto(live_server + "/abs?annee=2027")

    page.get_by_label("Rapport à afficher").select_option(label="Analyse thématique — Personnes âgées")
    page.get_by_role("button", name="Afficher").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Analyse thématique 2027 — Personnes âgées"
    violations = axe_violations(page)
    assert violations == [], describe(violations)
