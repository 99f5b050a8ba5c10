"""One Flask handler turns a user error a view did not catch into its French page, or JSON."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask
from flask.testing import FlaskClient

from scorecard.errors import ConflictError, Located, UserError


def _signed_in_with_refusals(app: Flask, login_as: Callable[[str], FlaskClient]) -> FlaskClient:
    page = Blueprint("refusal_test", __name__)
    api = Blueprint("api_refusal_test", __name__, url_prefix="/api/test-refusal")

    @page.route("/test-refusal")
    def refuse() -> str:
        raise UserError(problems=[Located("Budget", 4, "Montant", "montant illisible"), "fichier incomplet"])

    @page.route("/test-conflict")
    def conflict() -> str:
        raise ConflictError("la cible a été modifiée entre-temps")

    @api.route("")
    def refuse_json() -> str:
        raise UserError(problems=[Located.at_field("value", "nombre attendu")])

    app.register_blueprint(page)
    app.register_blueprint(api, name="api_refusal_test")
    return login_as("direction")


def test_an_uncaught_user_error_is_a_400_page_listing_where_each_problem_is(
    app: Flask, login_as: Callable[[str], FlaskClient]
) -> None:
    client = _signed_in_with_refusals(app, login_as)
    response = client.get("/test-refusal", headers={"Referer": "http://localhost/besoins/"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Saisie refusée" in html
    assert "Rien n'a été enregistré" in html
    assert "feuille « Budget », ligne 4, colonne « Montant »" in html
    assert "montant illisible" in html and "fichier incomplet" in html
    assert 'href="http://localhost/besoins/"' in html


def test_the_way_back_never_leaves_the_site(app: Flask, login_as: Callable[[str], FlaskClient]) -> None:
    client = _signed_in_with_refusals(app, login_as)
    html = client.get("/test-refusal", headers={"Referer": "https://evil.example/x"}).get_data(as_text=True)
    assert "evil.example" not in html


def test_a_conflict_is_a_409(app: Flask, login_as: Callable[[str], FlaskClient]) -> None:
    client = _signed_in_with_refusals(app, login_as)
    response = client.get("/test-conflict")
    assert response.status_code == 409
    assert "Modification concurrente" in response.get_data(as_text=True)


def test_under_the_api_it_is_json_with_each_problem_and_its_place(
    app: Flask, login_as: Callable[[str], FlaskClient]
) -> None:
    client = _signed_in_with_refusals(app, login_as)
    response = client.get("/api/test-refusal")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "champ « value » : nombre attendu",
        "problems": [{"message": "nombre attendu", "where": "champ « value »"}],
        "status": 400,
    }
