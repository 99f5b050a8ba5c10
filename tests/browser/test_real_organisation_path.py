"""A real organisation sets itself up, in Chromium (issue 15, « How it is shown »): a server
administrator creates the CCAS of Quimper (a commune of Brittany, not one of the demo's) in the
set-up wizard; its first administrator signs in with the temporary password shown once, replaces it,
ticks the starter catalogue, adjusts two activities, adds a partner, links an activity to a need,
reads the needs register, the coherence page and the scorecard, then takes the model workbook out,
changes a volume in it and brings it back, and finds the change in the journal."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import func, select

from models import Activity, ActivityVolume, Organisation, User
from pilotis.database import write_session
from tests.browser.conftest import axe_violations, describe, nav_link
from tests.conftest import rows_added_are_removed

QUIMPER = "29232"  # not a demo commune, nor the one other tests set up (Lannion)
ADMIN_EMAIL = "direction@ccas-quimper.example.org"
NEW_PASSWORD = "la baie sous la pluie de novembre"


def _text(locator: Any) -> str:
    """What a person reads: narrow and ordinary no-break spaces as spaces."""
    return str(locator.inner_text()).replace("\u202f", " ").replace("\xa0", " ")


@pytest.fixture
def server_admin(runner, engine, demo) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """A server administrator of no organisation, made by ``pilotis users create --superadmin``.
    Whatever the test adds (the organisation, its users, its value chain, the journal) is removed
    afterwards, even when it fails, so that later tests see the demo alone."""
    email = f"dsi-{uuid.uuid4().hex[:8]}@quimper-cornouaille.example.org"
    cleanup = rows_added_are_removed(engine)
    cleanup.__enter__()
    try:
        result = runner.invoke(
            args=["users", "create", email, "--name", "Service informatique", "--superadmin"]
        )
        assert result.exit_code == 0, result.output
        found = re.search(
            r"Mot de passe temporaire \(à changer à la première connexion\) : (\S+)", result.output
        )
        assert found is not None, result.output
        yield email, found.group(1)
    finally:
        cleanup.__exit__(None, None, None)
    with write_session(engine) as session:
        assert session.scalar(select(Organisation).where(Organisation.insee_code == QUIMPER)) is None
        assert session.scalar(select(func.count()).select_from(User).where(User.email == ADMIN_EMAIL)) == 0


def _sign_in_first_time(page: Any, base: str, email: str, temporary: str) -> None:
    """Sign in with a temporary password, which must be replaced before anything else."""
    page.goto(base + "/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe", exact=True).fill(temporary)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(base + "/compte/mot-de-passe")
    assert "Votre mot de passe est temporaire" in _text(page.get_by_role("status"))
    page.get_by_label("Mot de passe actuel").fill(temporary)
    page.get_by_label("Nouveau mot de passe (12 caractères au moins)").fill(NEW_PASSWORD)
    page.get_by_label("Confirmation du nouveau mot de passe").fill(NEW_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer").click()
    assert not page.url.endswith("/compte/mot-de-passe"), _text(page.locator("main"))


def _flash(page: Any) -> str:
    return _text(page.locator(".flashes"))


def _open_activity(page: Any, base: str, name: str) -> str:
    page.goto(base + "/activites")
    page.get_by_role("link", name=name, exact=True).click()
    page.wait_for_url(re.compile(r"/activites/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == name
    return str(page.url)


def _with_actual_volume(content: bytes, code: str, year: int, actual: float) -> bytes:
    """The workbook with the « Volume réalisé » of activity ``code`` in ``year`` changed, as in Excel."""
    book = load_workbook(io.BytesIO(content))
    sheet = book["Volumes annuels"]
    headers = [c.value for c in sheet[1]]
    changed = 0
    for row in sheet.iter_rows(min_row=2):
        cells = dict(zip(headers, row, strict=False))
        if cells["Code activité"].value == code and cells["Année"].value == year:
            cells["Volume réalisé"].value = actual
            changed += 1
    assert changed == 1, f"{code} {year} absent de la feuille « Volumes annuels »"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_ccas_of_brittany_sets_itself_up_and_brings_its_model_back(
    server_admin, live_server, page, engine, tmp_path: Path
):
    base = live_server
    email, temporary = server_admin

    # 1. the server administrator creates the CCAS of Quimper in the wizard
    _sign_in_first_time(page, base, email, temporary)
    page.wait_for_url(base + "/installation/")  # of no organisation: the wizard is all there is
    page.get_by_role("radio", name=re.compile(r"^CCAS")).check()
    page.get_by_label("Territoire : nom ou code", exact=False).fill("Quimper")
    page.get_by_role("button", name="Chercher").click()
    found = page.get_by_role("table", name="Territoires correspondant à « Quimper »")
    assert "Finistère" in _text(found)
    found.get_by_role("link", name=f"Choisir Quimper ({QUIMPER})").click()
    assert page.get_by_label("Nom de l'organisation").input_value() == "CCAS de Quimper"
    page.get_by_label("Adresse du premier administrateur de l'organisation").fill(ADMIN_EMAIL)
    page.get_by_label("Nom complet de cet administrateur").fill("Gwenaëlle Le Bihan")
    page.get_by_role("button", name="Créer l'organisation").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Organisation créée"
    created = _text(page.locator("main"))
    assert "ccas-quimper" in created and "IRIS" in created and "CNAF" in created
    admin_password = page.locator(".secret-box code").inner_text().strip()
    assert len(admin_password) >= 12
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(base + "/connexion")

    # 2. its administrator signs in, replaces the temporary password, ticks the catalogue
    _sign_in_first_time(page, base, ADMIN_EMAIL, admin_password)
    page.wait_for_url(base + "/")
    assert "Mot de passe modifié" in _flash(page)
    nav_link(page, "Catalogue").click()
    assert "Cochez ce que fait CCAS de Quimper" in _text(page.locator("main"))
    for name, code in (
        ("activite", "A_PORTAGE"),
        ("activite", "A_EPICERIE"),
        ("activite", "A_AIDES_FAC"),
        ("besoin", "PA80"),
        ("besoin", "AAH"),
        ("besoin", "MONOPARENTS"),
        ("besoin", "RSA_ENSEMBLE"),
    ):
        page.locator(f"input[name={name}][value={code}]").check()
    page.get_by_role("button", name="Créer ce qui est coché").click()
    page.wait_for_url(base + "/catalogue")
    applied = _flash(page)
    assert "Créés : 3 activité(s)" in applied and "4 besoin(s)" in applied, applied
    assert page.locator("input[name=activite][value=A_PORTAGE]").is_disabled()  # « déjà présent »

    # 3. two activities adjusted: the portage's volumes, the épicerie's territories served
    portage = _open_activity(page, base, "Portage de repas à domicile")
    page.get_by_label("Volume annuel retenu pour la couverture et les scénarios").fill("8 700")
    page.get_by_label("Coût unitaire (€, vide : inconnu)").fill("9,50")
    page.locator("section[aria-labelledby=definition]").get_by_role(
        "button", name="Enregistrer", exact=True
    ).click()
    assert "Activité enregistrée." in _flash(page)
    page.get_by_label("Année, ligne 1").fill("2025")
    page.get_by_label("Volume prévu, ligne 1").fill("9 000")
    page.get_by_label("Volume réalisé, ligne 1").fill("8 700")
    page.get_by_role("button", name="Enregistrer les volumes").click()
    assert "Volumes enregistrés : 1 année(s) modifiée(s)." in _flash(page)
    assert page.get_by_label("Volume réalisé, ligne 1").input_value() == "8700"

    _open_activity(page, base, "Épicerie sociale")
    page.get_by_label("Volume annuel retenu pour la couverture et les scénarios").fill("4 000")
    page.locator("section[aria-labelledby=definition]").get_by_role(
        "button", name="Enregistrer", exact=True
    ).click()
    assert "Activité enregistrée." in _flash(page)
    page.get_by_role("radio", name="Certains territoires", exact=False).check()
    first = page.get_by_label("Territoire, ligne 1")
    iris = [o for o in first.locator("option").all_inner_texts() if "(IRIS " in o]
    assert len(iris) >= 2, iris
    first.select_option(label=iris[0])
    page.get_by_label("Part en pourcentage, ligne 1").fill("60")
    page.get_by_label("Territoire, ligne 2").select_option(label=iris[1])
    page.get_by_label("Part en pourcentage, ligne 2").fill("40")
    page.get_by_role("button", name="Enregistrer les territoires").click()
    assert "Territoires desservis enregistrés." in _flash(page)
    assert "2 territoire(s)" in _text(page.locator("dl.facts"))
    page.set_viewport_size({"width": 375, "height": 800})
    page.screenshot(path=str(tmp_path / "activite-375.png"), full_page=True)
    activity_axe = axe_violations(page)
    page.set_viewport_size({"width": 1366, "height": 900})

    # 4. a partner service
    page.goto(base + "/services/nouveau")
    page.get_by_label("Nom", exact=True).fill("CAF des Finistère")
    page.get_by_label("Nature").select_option(label="Partenaire")
    page.get_by_label("Type de partenaire").select_option(label="CAF")
    page.get_by_role("button", name="Créer").click()
    assert "« CAF des Finistère » créé." in _flash(page)
    page.goto(base + "/services")
    expect(page.get_by_role("link", name="CAF des Finistère")).to_be_visible()

    # 5. the portage also covers the AAH recipients
    page.goto(portage)
    page.get_by_label("Besoin couvert", exact=True).select_option(label="Allocataires de l'AAH")
    page.get_by_label("Coefficient", exact=False).fill("0,001")
    page.get_by_role("button", name="Enregistrer la couverture").click()
    assert "Couverture de « Allocataires de l'AAH » enregistrée." in _flash(page)
    links = _text(page.get_by_role("table", name="Besoins couverts par l'activité"))
    assert "Allocataires de l'AAH" in links and "Personnes âgées de 80 ans et plus" in links

    # 6. the needs register, the coherence page and the scorecard of this organisation
    nav_link(page, "Besoins").click()
    register = page.get_by_role("table", name="Besoins sociaux, leur effectif", exact=False)
    rows = _text(register)
    for label in (
        "Allocataires de l'AAH",
        "Personnes âgées de 80 ans et plus",
        "Familles monoparentales allocataires",
        "Allocataires du RSA",
    ):
        assert label in rows, rows
    assert "Quimper" in rows and "Carcassonne" not in rows
    aah = register.get_by_role("row").filter(has=page.get_by_role("link", name="Allocataires de l'AAH"))
    assert re.search(r"\d+ ", _text(aah)), _text(aah)  # sized from the CNAF 2020 file shipped

    page.get_by_role("link", name="Cohérence offre-besoins").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Cohérence de l'offre et des besoins"
    matrix = page.get_by_role("table", name="Taux de couverture par public", exact=False)
    assert "Quimper" in _text(matrix)
    page.screenshot(path=str(tmp_path / "coherence-1366.png"), full_page=True)
    coherence_axe = axe_violations(page)

    nav_link(page, "Tableau de bord").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Tableau de bord"
    board = _text(page.locator("main"))
    # the standard indicators of the three activities ticked, none measured yet
    assert "0 indicateur(s) validé(s) sur 12" in board, board[:800]
    for label in ("Repas livrés à domicile", "Paniers distribués par l'épicerie sociale"):
        expect(page.get_by_role("link", name=label, exact=True)).to_be_visible()
    # a band indicator with no band yet reads « — » like the others, not a lone « – »
    amount = page.get_by_role("row").filter(
        has=page.get_by_role("link", name="Montant des aides facultatives versées")
    )
    assert amount.locator("td").nth(2).inner_text().strip() == "—"

    # 7. the model workbook out, a volume changed in it, back in, and the change in the journal
    page.goto(base + "/modele/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Télécharger le modèle (.xlsx)").click()
    download = download_info.value
    assert download.suggested_filename == "modele-ccas-quimper.xlsx"
    original = Path(download.path()).read_bytes()
    edited = tmp_path / "modele-ccas-quimper.xlsx"
    edited.write_bytes(_with_actual_volume(original, "A_PORTAGE", 2025, 8850))
    page.get_by_label("Classeur du modèle (.xlsx)").set_input_files(str(edited))
    page.get_by_role("button", name="Importer").click()
    page.wait_for_url(base + "/modele/")
    assert "Modèle mis à jour (voir le journal) : Volumes annuels : 1 modification" in _flash(page)
    page.get_by_role("link", name="Voir le journal des modifications").click()
    latest = _text(
        page.get_by_role("table", name="Modifications, les plus récentes d'abord").get_by_role("row").nth(1)
    )
    assert "Gwenaëlle Le Bihan" in latest and "8 700" in latest and "8 850" in latest, latest
    with write_session(engine) as session:
        assert (
            session.scalar(
                select(ActivityVolume.actual_volume)
                .join(Activity, Activity.id == ActivityVolume.activity_id)
                .join(Organisation, Organisation.id == Activity.organisation_id)
                .where(
                    Organisation.slug == "ccas-quimper",
                    Activity.code == "A_PORTAGE",
                    ActivityVolume.year == 2025,
                )
            )
            == 8850
        )

    assert {"activité": activity_axe, "cohérence": coherence_axe} == {"activité": [], "cohérence": []}, (
        describe(activity_axe + coherence_axe)
    )
