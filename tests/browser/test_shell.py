"""The interface shell in Chromium: each role signs in, navigates, is refused, signs out;
axe-core finds no WCAG 2.1 AA violation on any page of the shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Indicator, Service
from pilotis.database import write_session
from tests.browser.conftest import axe_violations, describe, sign_in

#: The grouped menu of each role: a link alone, or a group and its links.
NAVIGATION = {
    "admin": [
        "Accueil",
        "Piloter : Tableau de bord, Carte stratégique, Objectifs, Indicateurs, Fiches action",
        "Besoins et offre : Besoins, Cohérence offre-besoins, Services, Catalogue, Enquêtes",
        "Coûts et arbitrages : Coûts, Scénarios",
        "Revues",
        "Observatoire : Observatoire, Rapport ABS, Comparaison",
        "Administration : Journal, Tâches, Utilisateurs",
    ],
    "direction": [
        "Accueil",
        "Piloter : Tableau de bord, Carte stratégique, Objectifs, Indicateurs, Fiches action, Saisie, Validation",
        "Besoins et offre : Besoins, Cohérence offre-besoins, Services, Catalogue, Enquêtes",
        "Coûts et arbitrages : Coûts, Scénarios",
        "Revues",
        "Observatoire : Observatoire, Rapport ABS, Comparaison",
        "Journal",
    ],
    "responsable.seniors": [
        "Accueil",
        "Piloter : Tableau de bord, Carte stratégique, Objectifs, Indicateurs, Fiches action, Saisie",
        "Besoins et offre : Besoins, Cohérence offre-besoins, Services, Enquêtes",
        "Revues",
        "Observatoire : Observatoire, Rapport ABS, Comparaison",
    ],
    "finances": [
        "Accueil",
        "Piloter : Tableau de bord, Carte stratégique, Objectifs, Indicateurs, Fiches action",
        "Besoins et offre : Besoins, Cohérence offre-besoins, Services, Enquêtes",
        "Coûts et arbitrages : Coûts, Scénarios",
        "Revues",
        "Observatoire : Observatoire, Rapport ABS, Comparaison",
    ],
    "elu": [
        "Accueil",
        "Piloter : Tableau de bord, Carte stratégique, Objectifs, Indicateurs, Fiches action",
        "Besoins et offre : Besoins, Cohérence offre-besoins, Services, Enquêtes",
        "Coûts et arbitrages : Coûts, Scénarios",
        "Revues",
        "Observatoire : Observatoire, Rapport ABS, Comparaison",
    ],
    "partenaire": [
        "Accueil",
        "Piloter : Tableau de bord, Carte stratégique, Objectifs, Indicateurs, Fiches action",
        "Besoins et offre : Besoins, Cohérence offre-besoins, Services, Enquêtes",
        "Scénarios",
        "Revues",
        "Observatoire : Observatoire, Rapport ABS, Comparaison",
    ],
}

MENU = """els => els.map(li => {
  const summary = li.querySelector('summary');
  const links = [...li.querySelectorAll('a')].map(a => a.textContent.trim());
  return summary ? summary.childNodes[0].textContent.trim() + ' : ' + links.join(', ') : links[0];
})"""


@pytest.mark.parametrize("login", list(NAVIGATION))
def test_each_role_signs_in_and_sees_its_navigation(live_server, page, login, tmp_path: Path):
    sign_in(page, live_server, login)
    nav = page.get_by_role("navigation", name="Navigation principale")
    assert nav.locator(".nav-groups > li").evaluate_all(MENU) == NAVIGATION[login]
    # the page's own group is marked, and keyboard users open a group from its name
    assert nav.locator(".nav-group.is-current").count() == 0  # the home page belongs to no group
    nav.locator(".nav-group summary").first.focus()
    page.keyboard.press("Enter")
    expect(nav.get_by_role("link", name="Tableau de bord", exact=True)).to_be_visible()
    page.keyboard.press("Escape")
    assert not nav.get_by_role("link", name="Tableau de bord", exact=True).is_visible()
    assert page.get_by_role("heading", level=1).inner_text() == "CCAS de Carcassonne (démonstration)"
    assert page.get_by_role("status").inner_text().startswith("Bienvenue")
    page.screenshot(path=str(tmp_path / f"accueil-{login}.png"), full_page=True)


def test_a_manager_is_refused_another_services_page(live_server, page, engine, demo):
    with write_session(engine) as session:
        other = session.scalar(
            select(Indicator.id)
            .join(Service, Service.id == Indicator.service_id)
            .where(Indicator.organisation_id == demo.organisation_id, Service.code == "SOLIDARITE")
            .limit(1)
        )
    sign_in(page, live_server, "responsable.seniors")
    response = page.goto(f"{live_server}/indicateurs/{other}")
    assert response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Accès refusé"


def test_after_sign_out_the_old_cookie_no_longer_works(live_server, browser, page):
    sign_in(page, live_server, "direction")
    cookies = page.context.cookies()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(live_server + "/connexion")
    assert "Vous êtes déconnecté·e." in page.get_by_role("status").inner_text()
    replay = browser.new_context()
    replay.add_cookies(cookies)
    other = replay.new_page()
    other.goto(live_server + "/")
    assert other.url.startswith(live_server + "/connexion")
    replay.close()


def _shell_pages(engine, demo) -> dict[str, list[str]]:
    with write_session(engine) as session:
        service = session.scalar(
            select(Service.id).where(
                Service.organisation_id == demo.organisation_id, Service.code == "SENIORS"
            )
        )
        indicator = session.scalar(select(Indicator.id).where(Indicator.service_id == service).limit(1))
    return {
        "admin": [
            "/",
            "/admin/utilisateurs",
            "/admin/utilisateurs/nouveau",
            "/journal/",
            "/compte/mot-de-passe",
        ],
        "direction": [
            "/",
            "/services",
            f"/services/{service}",
            f"/indicateurs/{indicator}",
            "/page-inexistante",
        ],
        "responsable.seniors": ["/", f"/indicateurs/{indicator}"],
        "partenaire": ["/", f"/services/{service}"],
    }


def test_no_accessibility_violation_on_the_shell(live_server, page, engine, demo):
    page.goto(live_server + "/connexion")
    problems = {"/connexion": axe_violations(page)}
    page.get_by_role("button", name="Se connecter").click()  # the form with its errors
    problems["/connexion (erreurs)"] = axe_violations(page)
    for login, paths in _shell_pages(engine, demo).items():
        page.context.clear_cookies()
        sign_in(page, live_server, login)
        for path in paths:
            page.goto(live_server + path)
            problems[f"{login} {path}"] = axe_violations(page)
    assert {k: v for k, v in problems.items() if v} == {}, describe(
        [v for vs in problems.values() for v in vs]
    )


def test_the_shell_is_keyboard_usable(live_server, page):
    page.goto(live_server + "/connexion")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenu"
