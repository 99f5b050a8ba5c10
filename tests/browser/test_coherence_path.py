"""The ABS as a decision tool, in Chromium: a director imports a new CAF file, sees the needs
re-sized, opens the matrix, finds the least covered priority need and drills down to why."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from models import Need, TerritoryStatistic
from pilotis.database import write_session
from services.needs import resize_needs
from tests.browser.conftest import axe_violations, describe, nav_link, sign_in
from tests.integration.test_statistics_import import caf_file, grown


@pytest.fixture
def restore(engine, demo):
    yield
    with write_session(engine) as session:
        session.execute(delete(TerritoryStatistic).where(
            TerritoryStatistic.organisation_id == demo.organisation_id, TerritoryStatistic.vintage == 2021,
            TerritoryStatistic.source == "CNAF",  # the census is 2021 too: keep it
        ))  # fmt: skip
        session.flush()
        resize_needs(session, demo.organisation_id)


def test_import_resize_matrix_and_drill_down(live_server, page, engine, demo, restore, tmp_path: Path):
    new_file = tmp_path / "data_CAF_2021_IRIS.csv"
    new_file.write_bytes(caf_file(grown))
    sign_in(page, live_server, "direction")
    nav_link(page, "Besoins").click()
    aah_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Allocataires de l'AAH"))
    assert "1 818" in aah_row.inner_text().replace("\u202f", " ")
    page.get_by_role("link", name="Importer des statistiques").click()
    page.get_by_label("Fichier publié (.csv)").set_input_files(str(new_file))
    page.get_by_label("Source").select_option("caf")
    page.get_by_role("button", name="Importer").click()
    status = page.get_by_role("status").inner_text()
    assert (
        "Millésime 2021 importé : 189 chiffre(s) ajouté(s)" in status
        and "besoin(s) redimensionné(s)" in status
    )
    assert "2 000" in aah_row.inner_text().replace("\u202f", " ")  # re-sized from the 2021 figures

    page.get_by_role("link", name="Cohérence offre-besoins").click()
    expect(page.get_by_role("table", name="Taux de couverture par public", exact=False)).to_be_visible()
    least = page.locator(".mission").filter(has_text="Besoin prioritaire le moins couvert")
    assert "Allocataires de l'AAH" in least.inner_text()
    least.get_by_role("link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Allocataires de l'AAH"
    why = page.get_by_role("table", name="Activités qui répondent au besoin")
    assert "Accompagnement des personnes handicapées" in why.inner_text()
    history = page.get_by_role(
        "table", name="Effectif du besoin selon le millésime des statistiques"
    ).inner_text()
    assert "2020" in history and "2021" in history
    with write_session(engine) as session:
        assert (
            session.scalar(
                select(Need.size).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
            )
            == 2000
        )


def test_no_accessibility_violation_on_the_coherence_pages(live_server, page, engine, demo):
    with write_session(engine) as session:
        need = session.scalar(
            select(Need.id).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
        )
    sign_in(page, live_server, "direction")
    problems = {}
    for path in ("/besoins", f"/besoins/{need}", "/coherence", "/statistiques/import"):
        page.goto(live_server + path)
        problems[path] = axe_violations(page)
    assert {k: v for k, v in problems.items() if v} == {}, describe(
        [v for vs in problems.values() for v in vs]
    )
