"""The home page of each role, the health check and the error pages."""

from __future__ import annotations

import pytest


def test_anonymous_visitors_are_sent_to_sign_in(client, demo):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/connexion")
    page = client.get("/connexion").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Connexion" in page


def test_home_shows_the_organisation_in_french(login_as):
    page = login_as("direction").get("/").get_data(as_text=True)
    assert "CCAS de Carcassonne (démonstration)" in page
    assert "46\u202f119 habitants" in page  # French grouping: narrow no-break space
    assert "Besoins prioritaires" in page and "Allocataires du RSA" in page
    assert "Pôle seniors et maintien à domicile" in page
    assert "Usagers et citoyens" in page
    assert "INSEE" in page and "CNAF" in page  # sources cited


@pytest.mark.parametrize(
    ("login", "attention", "nav_in", "nav_out"),
    [
        ("admin", "Comptes verrouillés ou désactivés", ["Utilisateurs", "Journal"], []),
        ("direction", "Valeurs soumises à valider", ["Journal"], ["Utilisateurs"]),
        ("responsable.seniors", "indicateurs à saisir", ["Services"], ["Journal", "Utilisateurs"]),
        (
            "finances",
            "Exécution du budget 2026",
            ["Services", "Coûts", "Scénarios", "Rapport ABS", "Enquêtes", "Comparaison"],
            ["Journal", "Utilisateurs"],
        ),
        ("elu", "Besoins sans effectif connu", ["Services"], ["Journal", "Utilisateurs"]),
        ("partenaire", None, ["Services"], ["Journal", "Utilisateurs"]),
    ],
)
def test_each_role_has_its_home_and_navigation(login_as, login, attention, nav_in, nav_out):
    page = login_as(login).get("/").get_data(as_text=True)
    nav = page.split('aria-label="Navigation principale"')[1].split("</nav>")[0]
    for item in nav_in:
        assert f">{item}</a>" in nav
    for item in nav_out:
        assert f">{item}</a>" not in nav
    if attention:
        assert attention in page


def test_a_service_manager_is_told_what_they_owe_for_their_services_only(login_as):
    page = login_as("responsable.seniors").get("/").get_data(as_text=True)
    owed = page.split("indicateurs à saisir")[1].split("</article>")[0]
    assert "Pôle seniors" in owed and "2026-10" in owed
    assert "Pôle solidarité" not in owed


def test_health_check_is_public(client, demo):
    health = client.get("/sante").get_json()
    assert health["status"] == "ok" and health["database"] == "ok" and health["queue"]["ok"] is True


def test_unknown_page_is_a_french_404(login_as):
    response = login_as("direction").get("/nulle-part")
    assert response.status_code == 404
    assert "Page introuvable" in response.get_data(as_text=True)


def test_unreachable_database_is_a_french_503(make_app):
    client = make_app("postgresql://postgres@127.0.0.1:1/absent").test_client()
    response = client.get("/sante")
    assert response.status_code == 503
    assert "La base de données ne répond pas" in response.get_data(as_text=True)


def test_static_assets_are_served_locally(login_as):
    client = login_as("direction")
    response = client.get("/static/css/pilotis.css")
    assert response.status_code == 200
    response.close()
    page = client.get("/").get_data(as_text=True)
    assert "http://" not in page and "https://" not in page


def test_english_is_available(login_as):
    client = login_as("direction")
    page = client.get("/").get_data(as_text=True)
    from tests.conftest import csrf_token

    client.post("/langue", data={"csrf_token": csrf_token(page), "lang": "en", "next": "/"})
    english = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert ">Home</a>" in english and "Sign out" in english
