"""The first page, the health check and the error pages, through the test client."""

from __future__ import annotations


def test_home_shows_the_demo_organisation_in_french(client, demo):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "CCAS de Carcassonne (démonstration)" in page
    assert "46\u202f119 habitants" in page  # French grouping: narrow no-break space
    assert "Besoins prioritaires" in page and "Allocataires du RSA" in page
    assert "Pôle seniors et maintien à domicile" in page
    assert "Usagers et citoyens" in page
    assert "INSEE" in page and "CNAF" in page  # sources cited


def test_home_on_an_empty_database_explains_how_to_start(make_app, empty_database_url):
    from pilotis import schema
    from pilotis.database import make_engine

    engine = make_engine(empty_database_url)
    schema.upgrade(engine)
    engine.dispose()
    page = make_app(empty_database_url).test_client().get("/").get_data(as_text=True)
    assert "aucune organisation" in page and "pilotis demo --serve" in page


def test_health_check(client, demo):
    assert client.get("/sante").get_json() == {"status": "ok"}


def test_unknown_page_is_a_french_404(client):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert "Page introuvable" in response.get_data(as_text=True)


def test_unreachable_database_is_a_french_503(make_app):
    client = make_app("postgresql://postgres@127.0.0.1:1/absent").test_client()
    response = client.get("/")
    assert response.status_code == 503
    assert "La base de données ne répond pas" in response.get_data(as_text=True)


def test_static_assets_are_served_locally(client):
    response = client.get("/static/css/pilotis.css")
    assert response.status_code == 200
    response.close()
    page = client.get("/").get_data(as_text=True)
    assert "http://" not in page.replace("http://127.0.0.1", "") and "https://" not in page
