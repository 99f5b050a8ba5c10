"""The periodic review in Chromium: a manager fills the Excel template and uploads it, the
scorecard changes, the direction validates, an élu reads the scorecard and exports it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import delete, select

from models import Indicator, Measurement, Period, Service
from pilotis.database import write_session
from tests.browser.conftest import axe_violations, describe, nav_link, sign_in

MONTH = "2026-10"


@pytest.fixture
def clean_month(engine, demo):
    yield
    with write_session(engine) as session:
        period = session.scalar(
            select(Period.id).where(Period.organisation_id == demo.organisation_id, Period.key == MONTH)
        )
        seniors = (
            select(Indicator.id)
            .join(Service, Service.id == Indicator.service_id)
            .where(Service.organisation_id == demo.organisation_id, Service.code == "SENIORS")
        )
        session.execute(
            delete(Measurement).where(Measurement.period_id == period, Measurement.indicator_id.in_(seniors))
        )


def _unreported(page) -> int:
    return page.locator("table.scorecard-table .status-missing").count()


def test_template_upload_scorecard_validation_and_export(live_server, browser, clean_month, tmp_path: Path):
    manager = browser.new_context(locale="fr-FR", accept_downloads=True).new_page()
    sign_in(manager, live_server, "responsable.seniors")
    manager.goto(f"{live_server}/tableau-de-bord/?periode={MONTH}")
    before = _unreported(manager)
    assert before >= 6  # the seniors' monthly values for October are still owed

    nav_link(manager, "Saisie").click()
    manager.get_by_label("Période ouverte").select_option(MONTH)
    manager.get_by_role("button", name="Afficher").click()
    with manager.expect_download() as download:
        manager.get_by_role("link", name="Télécharger le modèle Excel de cette grille").click()
    template = tmp_path / "modele.xlsx"
    download.value.save_as(template)
    book = load_workbook(template)
    sheet = book["Saisie"]
    values = {"beneficiaires_portage": 205, "cout_portage": "33 500,50", "cout_saad": 55000,
              "heures_aide_domicile": "1 900", "beneficiaires_saad": 212, "repas_livres": 3150}  # fmt: skip
    for row in sheet.iter_rows(min_row=4):
        if row[0].value in values:
            row[5].value = values[row[0].value]
    filled = tmp_path / "rempli.xlsx"
    book.save(filled)

    manager.get_by_role("link", name="Déposer un fichier rempli").click()
    manager.get_by_label("Classeur rempli (.xlsx)").set_input_files(str(filled))
    manager.get_by_label("Soumettre directement à la direction").check()
    manager.get_by_role("button", name="Importer").click()
    assert "6 valeur(s) importée(s)" in manager.get_by_role("status").inner_text()

    manager.goto(f"{live_server}/tableau-de-bord/?periode={MONTH}")
    # the 6 values now show, and so do the computed indicators built on them (cost per meal, per
    # hour); the yearly satisfaction rate shows last year's survey until this year's closes
    assert before == 8 and _unreported(manager) == 0
    assert (
        manager.get_by_role("row", name="Coût de revient d'un repas livré").get_by_text("10,64").is_visible()
    )

    direction = browser.new_context(locale="fr-FR").new_page()
    sign_in(direction, live_server, "direction")
    nav_link(direction, "Validation").click()
    for label in ("Bénéficiaires du portage de repas", "Coût du portage de repas", "Repas livrés à domicile"):
        direction.get_by_label(f"Choisir : {label}, Pôle seniors et maintien à domicile, {MONTH}").check()
    direction.get_by_role("button", name="Valider la sélection").click()
    assert "3 valeur(s) validée(s)" in direction.get_by_role("status").inner_text()

    elected = browser.new_context(locale="fr-FR", accept_downloads=True).new_page()
    sign_in(elected, live_server, "elu")
    nav_link(elected, "Tableau de bord").click()
    elected.get_by_label("Période", exact=True).fill("2025-T4")
    elected.get_by_role("button", name="Afficher").click()
    expect(elected.get_by_role("heading", name="Ensemble — période 2025-T4")).to_be_visible(timeout=30_000)
    expect(elected.get_by_role("heading", name="Usagers et citoyens", exact=False).first).to_be_visible()
    with elected.expect_download() as download:
        elected.get_by_role("link", name="Exporter ce tableau de bord (Excel)").click()
    export = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert export.sheetnames == ["Synthèse", "Indicateurs"]
    assert export["Indicateurs"].max_row == 50  # a header and 49 indicators
    elected.screenshot(path=str(tmp_path / "tableau-de-bord-elu.png"), full_page=True)


def test_no_accessibility_violation_on_the_steering_pages(live_server, page, engine, demo):
    with write_session(engine) as session:
        indicator = session.scalar(select(Indicator.id).where(Indicator.organisation_id == demo.organisation_id,
                                                              Indicator.code == "repas_livres"))  # fmt: skip
    sign_in(page, live_server, "direction")
    problems = {}
    for path in ("/tableau-de-bord/?periode=2025-T4", "/saisie/?periode=2026-10", "/saisie/validation",
                 "/saisie/excel/depot", "/objectifs", "/objectifs/nouveau", "/indicateurs", "/indicateurs/nouveau",
                 f"/indicateurs/{indicator}", f"/indicateurs/{indicator}/definition",
                 f"/indicateurs/{indicator}/cibles"):  # fmt: skip
        page.goto(live_server + path)
        problems[path] = axe_violations(page)
    assert {k: v for k, v in problems.items() if v} == {}, describe(
        [v for vs in problems.values() for v in vs]
    )
